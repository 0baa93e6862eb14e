//! Typed label selectors for the scheduling rules (pod affinity terms, topology spread
//! constraints, disruption budgets), matched against typed label maps. A missing selector
//! matches nothing, an empty one everything, and a malformed one nothing (upstream fails
//! the conversion and the caller treats the term as unsatisfiable).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

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

    /// Compiles a `metav1.LabelSelector`.
    pub fn new(selector: Option<&LabelSelector>) -> Self {
        let Some(sel) = selector else { return Self::nothing() };
        let mut m = Self::everything();
        for (k, v) in sel.match_labels.iter().flatten() {
            m.requirements.push(Requirement { key: k.clone(), op: Op::In, values: vec![v.clone()] });
        }
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let op = match e.operator.as_str() {
                "In" if !values.is_empty() => Op::In,
                "NotIn" if !values.is_empty() => Op::NotIn,
                "Exists" if values.is_empty() => Op::Exists,
                "DoesNotExist" if values.is_empty() => Op::DoesNotExist,
                _ => return Self::nothing(),
            };
            m.requirements.push(Requirement { key: e.key.clone(), op, values });
        }
        m
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
