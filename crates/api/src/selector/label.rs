//! Label selectors: the query-string syntax (`app=web,tier!=db,env in (a,b),!legacy`)
//! and the `LabelSelector` object form (`matchLabels`/`matchExpressions`).

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    pub key: String,
    pub op: Operator,
    pub values: Vec<String>,
}

impl LabelRequirement {
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key)).and_then(Value::as_str);
        match self.op {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.first()) else {
                    return false;
                };
                let Ok(bound) = bound.parse::<i64>() else { return false };
                if self.op == Operator::GreaterThan { v > bound } else { v < bound }
            }
        }
    }
}

/// A conjunction of requirements; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
    /// A selector that matches nothing (a `LabelSelector` object that is null).
    pub nothing: bool,
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

impl LabelSelector {
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty() && !self.nothing
    }

    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Parses the `labelSelector` query parameter syntax.
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut p = Parser { s: input, pos: 0 };
        let mut requirements = Vec::new();
        p.skip_ws();
        if p.at_end() {
            return Ok(LabelSelector::default());
        }
        loop {
            requirements.push(p.requirement()?);
            p.skip_ws();
            if p.at_end() {
                break;
            }
            p.expect(',')?;
        }
        for r in &requirements {
            let errs = crate::validation::names::qualified_name(&r.key);
            if let Some(e) = errs.first() {
                return Err(format!("unable to parse requirement: invalid label key {:?}: {e}", r.key));
            }
            for v in &r.values {
                let errs = crate::validation::names::label_value(v);
                if let Some(e) = errs.first() {
                    return Err(format!("unable to parse requirement: invalid label value: {v:?}: {e}"));
                }
            }
        }
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// Converts a `metav1.LabelSelector` object. `None` (a null selector) selects nothing;
    /// an empty object selects everything.
    pub fn from_object(obj: Option<&Value>) -> Result<Self, String> {
        let Some(obj) = obj.filter(|v| !v.is_null()) else {
            return Ok(LabelSelector { requirements: Vec::new(), nothing: true });
        };
        let mut requirements = Vec::new();
        if let Some(Value::Object(m)) = obj.get("matchLabels") {
            for (k, v) in m {
                let v = v.as_str().ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                requirements.push(LabelRequirement { key: k.clone(), op: Operator::Equals, values: vec![v.into()] });
            }
        }
        if let Some(Value::Array(exprs)) = obj.get("matchExpressions") {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).ok_or("matchExpressions[].key is required")?;
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default();
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Operator::In,
                    Some("NotIn") => Operator::NotIn,
                    Some("Exists") => Operator::Exists,
                    Some("DoesNotExist") => Operator::DoesNotExist,
                    other => return Err(format!("{other:?} is not a valid label selector operator")),
                };
                if matches!(op, Operator::In | Operator::NotIn) && values.is_empty() {
                    return Err(format!(
                        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty (key {key:?})"
                    ));
                }
                requirements.push(LabelRequirement { key: key.to_string(), op, values });
            }
        }
        Ok(LabelSelector { requirements, nothing: false })
    }

    /// The query-string form, as `status.selector` of scalable kinds carries it.
    pub fn to_query(&self) -> String {
        let mut parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r.op {
                Operator::Equals => format!("{}={}", r.key, r.values.join("")),
                Operator::NotEquals => format!("{}!={}", r.key, r.values.join("")),
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
                Operator::GreaterThan => format!("{}>{}", r.key, r.values.join("")),
                Operator::LessThan => format!("{}<{}", r.key, r.values.join("")),
            })
            .collect();
        parts.sort();
        parts.join(",")
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("unable to parse requirement: found '{}', expected: '{c}'", self.rest_token()))
        }
    }

    fn rest_token(&self) -> &str {
        let rest = &self.s[self.pos..];
        rest.split([',', ' ']).next().unwrap_or(rest)
    }

    fn word(&mut self) -> &str {
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.s[self.pos..].starts_with(prefix)
    }

    fn requirement(&mut self) -> Result<LabelRequirement, String> {
        self.skip_ws();
        if self.peek() == Some('!') {
            self.pos += 1;
            let key = self.word().to_string();
            if key.is_empty() {
                return Err("unable to parse requirement: expected a key after '!'".into());
            }
            return Ok(LabelRequirement { key, op: Operator::DoesNotExist, values: vec![] });
        }
        let key = self.word().to_string();
        if key.is_empty() {
            return Err(format!("unable to parse requirement: found '{}', expected: identifier", self.rest_token()));
        }
        self.skip_ws();
        let op = if self.starts_with("==") {
            self.pos += 2;
            Operator::Equals
        } else if self.starts_with("!=") {
            self.pos += 2;
            Operator::NotEquals
        } else if self.starts_with("=") {
            self.pos += 1;
            Operator::Equals
        } else if self.starts_with(">") {
            self.pos += 1;
            Operator::GreaterThan
        } else if self.starts_with("<") {
            self.pos += 1;
            Operator::LessThan
        } else if self.at_end() || self.peek() == Some(',') {
            return Ok(LabelRequirement { key, op: Operator::Exists, values: vec![] });
        } else {
            let w = self.word().to_string();
            match w.as_str() {
                "in" => Operator::In,
                "notin" => Operator::NotIn,
                _ => {
                    return Err(format!(
                        "unable to parse requirement: found '{w}', expected: in, notin, =, ==, !=, gt, lt"
                    ));
                }
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => {
                self.expect('(')?;
                let mut values = Vec::new();
                loop {
                    let v = self.word().to_string();
                    values.push(v);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(')') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err("unable to parse requirement: expected ',' or ')' in value set".into()),
                    }
                }
                values.retain(|v| !v.is_empty());
                if values.is_empty() {
                    return Err(format!("unable to parse requirement: values for {key:?} must not be empty"));
                }
                values
            }
            _ => vec![self.word().to_string()],
        };
        Ok(LabelRequirement { key, op, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn equality_and_sets() {
        let l = labels(json!({"app": "web", "tier": "front", "env": "prod"}));
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=web,tier=back", false),
            ("env in (prod, staging)", true),
            ("env notin (prod)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("missing!=x", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(Some(&l)), want, "{sel}");
        }
    }

    #[test]
    fn bad_selectors_are_errors() {
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("=x").is_err());
        assert!(LabelSelector::parse("a=-bad").is_err());
    }

    #[test]
    fn object_form() {
        let sel = LabelSelector::from_object(Some(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]
        })))
        .unwrap();
        assert!(sel.matches(Some(&labels(json!({"app": "web", "env": "prod"})))));
        assert!(!sel.matches(Some(&labels(json!({"app": "web"})))));
        assert!(!LabelSelector::from_object(None).unwrap().matches(Some(&labels(json!({})))));
        assert!(LabelSelector::from_object(Some(&json!({}))).unwrap().matches(None));
        assert_eq!(sel.to_query(), "app=web,env in (prod)");
    }
}
