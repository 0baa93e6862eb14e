//! Label selectors as controllers evaluate them against cached objects
//! (`metav1.LabelSelectorAsSelector` semantics): a missing selector selects nothing,
//! an empty one selects everything.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Nothing,
    Requirements(Vec<Requirement>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

impl Selector {
    /// Parses a selector; `None` selects nothing.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Selector, InvalidSelector> {
        let Some(selector) = selector else { return Ok(Selector::Nothing) };
        let mut reqs = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            reqs.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for expr in selector.match_expressions.iter().flatten() {
            reqs.push(requirement(expr)?);
        }
        Ok(Selector::Requirements(reqs))
    }

    /// A selector from a plain map (ReplicationController, Service): `None` or an empty
    /// map selects nothing, as upstream's `SelectorFromValidatedSet` of an empty set is
    /// treated by those controllers.
    pub fn from_map(map: Option<&BTreeMap<String, String>>) -> Selector {
        match map {
            Some(m) if !m.is_empty() => {
                Selector::Requirements(m.iter().map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()])).collect())
            }
            _ => Selector::Nothing,
        }
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let empty = BTreeMap::new();
        let labels = labels.unwrap_or(&empty);
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Whether it selects every object (an empty selector).
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }
}

fn requirement(expr: &LabelSelectorRequirement) -> Result<Requirement, InvalidSelector> {
    let key = expr.key.clone();
    let values = expr.values.clone().unwrap_or_default();
    match expr.operator.as_str() {
        "In" | "NotIn" if values.is_empty() => {
            Err(InvalidSelector(format!("for 'in', 'notin' operators, values set can't be empty (key {key:?})")))
        }
        "In" => Ok(Requirement::In(key, values)),
        "NotIn" => Ok(Requirement::NotIn(key, values)),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            Err(InvalidSelector(format!("values set must be empty for exists and does not exist (key {key:?})")))
        }
        "Exists" => Ok(Requirement::Exists(key)),
        "DoesNotExist" => Ok(Requirement::DoesNotExist(key)),
        other => Err(InvalidSelector(format!("{other:?} is not a valid label selector operator"))),
    }
}

/// Whether every label of `want` is present with the same value in `have`.
pub fn contains_all(have: Option<&BTreeMap<String, String>>, want: Option<&BTreeMap<String, String>>) -> bool {
    want.into_iter().flatten().all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                },
                LabelSelectorRequirement { key: "canary".into(), operator: "DoesNotExist".into(), values: None },
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "b")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "c")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "a"), ("canary", "1")]))));
        assert!(!s.matches(None));
    }

    #[test]
    fn missing_selects_nothing_empty_selects_everything() {
        assert!(!Selector::from_label_selector(None).unwrap().matches(Some(&labels(&[("a", "b")]))));
        let all = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(all.is_everything());
        assert!(all.matches(None));
        assert!(!Selector::from_map(Some(&BTreeMap::new())).matches(None));
    }

    #[test]
    fn bad_operators_are_errors() {
        let sel = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "x".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&sel)).is_err());
    }

    #[test]
    fn contains_all_labels() {
        assert!(contains_all(Some(&labels(&[("a", "1"), ("b", "2")])), Some(&labels(&[("a", "1")]))));
        assert!(!contains_all(Some(&labels(&[("a", "2")])), Some(&labels(&[("a", "1")]))));
        assert!(contains_all(None, None));
    }
}
