//! Label selectors (`metav1.LabelSelector`): validation with upstream's messages,
//! conversion to a requirement list, matching against labels, and the string form
//! kubectl prints (`app=web,tier in (a,b)`).

use serde_json::{Map, Value};

use crate::validation::names;
use crate::validation::{FieldError, FieldPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted, as upstream keeps them.
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let value = labels.and_then(|m| m.get(&self.key)).map(|v| v.as_str().unwrap_or_default());
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, self.values.first().map(String::as_str).unwrap_or("")),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A parsed selector, as `metav1.LabelSelectorAsSelector` builds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// A missing selector: matches nothing.
    Nothing,
    /// Requirements sorted by key; empty means everything matches.
    Requirements(Vec<Requirement>),
}

/// Why a selector could not be turned into requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSelector(pub String);

impl Selector {
    /// Parses a `LabelSelector` object (`None` or `null` is the empty-handed "nothing").
    pub fn parse(selector: Option<&Value>) -> Result<Selector, InvalidSelector> {
        let Some(sel) = selector.filter(|v| !v.is_null()) else { return Ok(Selector::Nothing) };
        let mut reqs = Vec::new();
        if let Some(Value::Object(labels)) = sel.get("matchLabels") {
            for (k, v) in labels {
                let v = v.as_str().unwrap_or_default().to_string();
                reqs.push(requirement(k, Operator::Equals, vec![v])?);
            }
        }
        if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
                let op = e.get("operator").and_then(Value::as_str).unwrap_or_default();
                let operator = match op {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => return Err(InvalidSelector(format!("{other:?} is not a valid label selector operator"))),
                };
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_string()).collect())
                    .unwrap_or_default();
                reqs.push(requirement(key, operator, values)?);
            }
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector::Requirements(reqs))
    }

    /// Whether a label map (a `metadata.labels` value) satisfies the selector.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let labels = labels.and_then(Value::as_object);
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Selector::Nothing => Ok(()),
            Selector::Requirements(reqs) => {
                let parts: Vec<String> = reqs.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

fn requirement(key: &str, operator: Operator, mut values: Vec<String>) -> Result<Requirement, InvalidSelector> {
    if let Some(msg) = names::qualified_name(key).into_iter().next() {
        return Err(InvalidSelector(format!("key: Invalid value: {key:?}: {msg}")));
    }
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            return Err(InvalidSelector(
                "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty".into(),
            ));
        }
        Operator::Equals if values.len() != 1 => {
            return Err(InvalidSelector(
                "values: Invalid value: exact-match compatibility requires one single value".into(),
            ));
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            return Err(InvalidSelector(
                "values: Invalid value: values set must be empty for exists and does not exist".into(),
            ));
        }
        _ => {}
    }
    for v in &values {
        if let Some(msg) = names::label_value(v).into_iter().next() {
            return Err(InvalidSelector(format!("values[0]: Invalid value: {v:?}: {msg}")));
        }
    }
    values.sort();
    Ok(Requirement { key: key.to_string(), operator, values })
}

/// `metav1.FormatLabelSelector`: `<none>` for nothing or everything, `<error>` when invalid.
pub fn format_label_selector(selector: Option<&Value>) -> String {
    match Selector::parse(selector) {
        Ok(s) => {
            let text = s.to_string();
            if text.is_empty() { "<none>".to_string() } else { text }
        }
        Err(_) => "<error>".to_string(),
    }
}

/// `selector.String()` of a parsed selector, `<invalid>` when it does not parse
/// (Deployment and ReplicaSet wide columns).
pub fn selector_string_or_invalid(selector: Option<&Value>) -> String {
    Selector::parse(selector).map(|s| s.to_string()).unwrap_or_else(|_| "<invalid>".to_string())
}

/// `metav1validation.ValidateLabels`.
pub fn validate_labels(labels: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(Value::Object(map)) = labels else { return errs };
    for (k, v) in map {
        for msg in names::qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        let v = v.as_str().unwrap_or_default();
        for msg in names::label_value(v) {
            errs.push(FieldError::invalid(path, v, msg));
        }
    }
    errs
}

/// `metav1validation.ValidateLabelSelector` (strict label values).
pub fn validate_label_selector(selector: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(sel) = selector.filter(|v| !v.is_null()) else { return errs };
    errs.extend(validate_labels(sel.get("matchLabels"), &path.child("matchLabels")));
    if let Some(Value::Array(exprs)) = sel.get("matchExpressions") {
        for (i, e) in exprs.iter().enumerate() {
            let ep = path.child("matchExpressions").index(i);
            let op = e.get("operator").and_then(Value::as_str).unwrap_or_default();
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default()).collect())
                .unwrap_or_default();
            match op {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        errs.push(FieldError::required(
                            ep.child("values"),
                            "must be specified when `operator` is 'In' or 'NotIn'",
                        ));
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        errs.push(FieldError::forbidden(
                            ep.child("values"),
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        ));
                    }
                }
                other => errs.push(FieldError::invalid(ep.child("operator"), other, "not a valid selector operator")),
            }
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            for msg in names::qualified_name(key) {
                errs.push(FieldError::invalid(ep.child("key"), key, msg));
            }
            for (vi, v) in values.iter().enumerate() {
                for msg in names::label_value(v) {
                    errs.push(FieldError::invalid(ep.child("values").index(vi), *v, msg));
                }
            }
        }
    }
    errs
}

/// Whether the selector has neither `matchLabels` nor `matchExpressions` entries.
pub fn is_empty_selector(selector: &Value) -> bool {
    let labels = selector.get("matchLabels").and_then(Value::as_object).map_or(0, Map::len);
    let exprs = selector.get("matchExpressions").and_then(Value::as_array).map_or(0, Vec::len);
    labels + exprs == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_sorts_and_matches() {
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]
        });
        let s = Selector::parse(Some(&sel)).unwrap();
        assert_eq!(s.to_string(), "app=shop,env in (dev,prod),tier=web");
        assert!(s.matches(Some(&json!({"app": "shop", "tier": "web", "env": "dev", "x": "y"}))));
        assert!(!s.matches(Some(&json!({"app": "shop", "tier": "web"}))));
        let notin = Selector::parse(Some(&json!({"matchExpressions": [
            {"key": "a", "operator": "NotIn", "values": ["x"]},
            {"key": "b", "operator": "DoesNotExist"}
        ]})))
        .unwrap();
        assert_eq!(notin.to_string(), "a notin (x),!b");
        assert!(notin.matches(None));
        assert!(!notin.matches(Some(&json!({"b": ""}))));
    }

    #[test]
    fn nothing_and_everything() {
        assert!(!Selector::parse(None).unwrap().matches(Some(&json!({"a": "b"}))));
        let all = Selector::parse(Some(&json!({}))).unwrap();
        assert_eq!(all, Selector::Requirements(Vec::new()));
        assert!(all.matches(None));
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchExpressions": [{"key": "a", "operator": "Bad"}]}))),
            "<error>"
        );
    }

    #[test]
    fn validation_messages() {
        let sel = json!({
            "matchLabels": {"-bad": "ok"},
            "matchExpressions": [
                {"key": "a", "operator": "In"},
                {"key": "b", "operator": "Exists", "values": ["x"]},
                {"key": "c", "operator": "Near"}
            ]
        });
        let errs: Vec<String> = validate_label_selector(Some(&sel), &FieldPath::root("spec").child("selector"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(errs[0].starts_with("spec.selector.matchLabels: Invalid value: \"-bad\": name part must consist"));
        assert!(errs.contains(
            &"spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
                .to_string()
        ));
        assert!(errs.contains(&"spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_string()));
        assert!(
            errs.contains(
                &"spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator"
                    .to_string()
            )
        );
    }
}
