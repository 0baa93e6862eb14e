//! Typed label selectors (`metav1.LabelSelectorAsSelector` semantics) for the scheduling
//! rules (pod affinity terms, topology spread constraints) and the controllers (workload
//! and disruption budget selectors), matched against typed label maps. A missing selector
//! matches nothing and an empty one everything. A malformed one is an error to
//! [`LabelMatcher::parse`] and matches nothing through [`LabelMatcher::new`] (the
//! scheduler treats such a term as unsatisfiable, as upstream does).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A compiled label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelMatcher {
    pub fn everything() -> Self {
        LabelMatcher { requirements: Vec::new(), nothing: false }
    }

    pub fn nothing() -> Self {
        LabelMatcher { requirements: Vec::new(), nothing: true }
    }

    /// Compiles a `metav1.LabelSelector`; a malformed one matches nothing.
    pub fn new(selector: Option<&LabelSelector>) -> Self {
        Self::parse(selector).unwrap_or_else(|_| Self::nothing())
    }

    /// Compiles a `metav1.LabelSelector`, saying what is wrong with a malformed one.
    pub fn parse(selector: Option<&LabelSelector>) -> Result<Self, InvalidSelector> {
        let Some(sel) = selector else { return Ok(Self::nothing()) };
        let mut m = Self::everything();
        for (k, v) in sel.match_labels.iter().flatten() {
            m.require_equal(k, v);
        }
        for e in sel.match_expressions.iter().flatten() {
            let key = &e.key;
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    let msg = format!("for 'in', 'notin' operators, values set can't be empty (key {key:?})");
                    return Err(InvalidSelector(msg));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    let msg = format!("values set must be empty for exists and does not exist (key {key:?})");
                    return Err(InvalidSelector(msg));
                }
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => return Err(InvalidSelector(format!("{other:?} is not a valid label selector operator"))),
            };
            m.requirements.push(Requirement { key: key.clone(), op, values });
        }
        Ok(m)
    }

    /// Adds `key = value` (topology spread's `matchLabelKeys`, pod affinity's `matchLabelKeys`).
    pub fn require_equal(&mut self, key: &str, value: &str) {
        self.requirements.push(Requirement { key: key.to_string(), op: Op::In, values: vec![value.to_string()] });
    }

    /// Adds `key != value` (pod affinity's `mismatchLabelKeys`).
    pub fn require_not_equal(&mut self, key: &str, value: &str) {
        self.requirements.push(Requirement { key: key.to_string(), op: Op::NotIn, values: vec![value.to_string()] });
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.nothing {
            return false;
        }
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key));
            match r.op {
                Op::In => value.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Whether this selector matches nothing whatever the labels.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether this selector matches everything (an empty selector).
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: serde_json::Value) -> LabelMatcher {
        LabelMatcher::new(Some(&serde_json::from_value(v).unwrap()))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn nil_empty_and_malformed() {
        let l = labels(&[("app", "web")]);
        assert!(!LabelMatcher::new(None).matches(Some(&l)));
        assert!(sel(json!({})).matches(Some(&l)));
        assert!(sel(json!({})).matches(None));
        assert!(!sel(json!({"matchExpressions": [{"key": "app", "operator": "In"}]})).matches(Some(&l)));
        assert!(
            !sel(json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]})).matches(Some(&l))
        );
    }

    #[test]
    fn parse_says_what_is_malformed() {
        let parse = |v: serde_json::Value| LabelMatcher::parse(Some(&serde_json::from_value(v).unwrap()));
        let err = parse(json!({"matchExpressions": [{"key": "app", "operator": "In"}]})).unwrap_err();
        assert!(err.to_string().contains("values set can't be empty"), "{err}");
        assert!(parse(json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]})).is_err());
        assert!(parse(json!({"matchExpressions": [{"key": "app", "operator": "Near"}]})).is_err());
        assert!(LabelMatcher::parse(None).unwrap().is_nothing());
        let all = parse(json!({})).unwrap();
        assert!(all.is_everything() && !LabelMatcher::nothing().is_everything());
    }

    #[test]
    fn requirements() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        assert!(sel(json!({"matchLabels": {"app": "web"}})).matches(Some(&l)));
        assert!(!sel(json!({"matchLabels": {"app": "db"}})).matches(Some(&l)));
        let expr = |op: &str, values: serde_json::Value| {
            sel(json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]})).matches(Some(&l))
        };
        assert!(expr("In", json!(["front", "back"])));
        assert!(!expr("NotIn", json!(["front"])));
        assert!(expr("Exists", json!([])));
        assert!(!expr("DoesNotExist", json!([])));
        let mut m = sel(json!({"matchLabels": {"app": "web"}}));
        m.require_equal("tier", "back");
        assert!(!m.matches(Some(&l)));
        let mut m = LabelMatcher::everything();
        m.require_not_equal("tier", "back");
        assert!(m.matches(Some(&l)));
    }
}
