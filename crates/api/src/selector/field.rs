//! Field selectors (`status.phase==Running,spec.nodeName=node1,metadata.name!=x`).
//! Which fields a kind supports is the kind's strategy's business (`field_label`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub value: String,
    pub negated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for part in split_unescaped_commas(input) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(format!("invalid selector: '{input}'; can't understand '{part}'"));
            };
            requirements.push(FieldRequirement {
                field: field.trim().to_string(),
                value: unescape(value.trim()),
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches, given a lookup of field values (`None` = unsupported field).
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<bool, String> {
        for r in &self.requirements {
            let Some(actual) = lookup(&r.field) else {
                return Err(format!("field label not supported: {}", r.field));
            };
            if (actual == r.value) == r.negated {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The value an equality requirement pins a field to (e.g. `metadata.name` for single-object watches).
    pub fn exact(&self, field: &str) -> Option<&str> {
        self.requirements.iter().find(|r| r.field == field && !r.negated).map(|r| r.value.as_str())
    }
}

fn split_unescaped_commas(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let sel = FieldSelector::parse("status.phase==Running,spec.nodeName!=n2,metadata.name=x").unwrap();
        assert_eq!(sel.requirements.len(), 3);
        let lookup = |f: &str| match f {
            "status.phase" => Some("Running".to_string()),
            "spec.nodeName" => Some("n1".to_string()),
            "metadata.name" => Some("x".to_string()),
            _ => None,
        };
        assert!(sel.matches(lookup).unwrap());
        assert_eq!(sel.exact("metadata.name"), Some("x"));
        let bad = FieldSelector::parse("spec.foo=1").unwrap();
        assert_eq!(bad.matches(lookup).unwrap_err(), "field label not supported: spec.foo");
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
