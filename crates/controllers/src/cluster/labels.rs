//! Label selector matching on typed objects, with apimachinery's semantics:
//! a missing `LabelSelector` selects nothing, an empty one selects everything.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Selects nothing (a missing selector).
    Nothing,
    /// Selects what meets every requirement (none: everything).
    All(Vec<RequirementSet>),
}

/// Opaque wrapper so callers cannot build invalid requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementSet(Requirement);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector: {0}")]
pub struct InvalidSelector(pub String);

impl Selector {
    /// `metav1.LabelSelectorAsSelector`.
    pub fn from_label_selector(selector: Option<&LabelSelector>) -> Result<Selector, InvalidSelector> {
        let Some(selector) = selector else { return Ok(Selector::Nothing) };
        let mut reqs = Vec::new();
        for (k, v) in selector.match_labels.iter().flatten() {
            reqs.push(RequirementSet(Requirement::Equals(k.clone(), v.clone())));
        }
        for expr in selector.match_expressions.iter().flatten() {
            let values = expr.values.clone().unwrap_or_default();
            let key = expr.key.clone();
            let req = match expr.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(InvalidSelector(format!("values for {key:?} {} must not be empty", expr.operator)));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(InvalidSelector(format!("values for {key:?} {} must be empty", expr.operator)));
                }
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => return Err(InvalidSelector(format!("{other:?} is not a valid label selector operator"))),
            };
            reqs.push(RequirementSet(req));
        }
        Ok(Selector::All(reqs))
    }

    /// A Service-style selector map: every pair must match. An empty map selects everything.
    pub fn from_map(selector: &BTreeMap<String, String>) -> Selector {
        Selector::All(selector.iter().map(|(k, v)| RequirementSet(Requirement::Equals(k.clone(), v.clone()))).collect())
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        let labels = labels.unwrap_or(&EMPTY);
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| r.0.matches(labels)),
        }
    }

    /// Whether this selects everything (no requirement at all).
    pub fn is_everything(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }
}

/// Whether the map `selector` selects `labels` (Services, ReplicationControllers).
pub fn map_selects(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn missing_selects_nothing_and_empty_selects_everything() {
        let none = Selector::from_label_selector(None).unwrap();
        assert!(!none.matches(Some(&labels(&[("a", "b")]))));
        let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.matches(None));
        assert!(empty.is_everything());
    }

    #[test]
    fn match_labels_and_expressions_all_apply() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", &["front", "edge"]),
                expr("canary", "DoesNotExist", &[]),
                expr("zone", "NotIn", &["b"]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel)).unwrap();
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x"), ("canary", "1")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x"), ("zone", "b")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "edge")]))));
    }

    #[test]
    fn bad_operators_and_values_are_rejected() {
        for e in [expr("a", "Maybe", &[]), expr("a", "In", &[]), expr("a", "Exists", &["x"])] {
            let sel = LabelSelector { match_expressions: Some(vec![e]), ..Default::default() };
            assert!(Selector::from_label_selector(Some(&sel)).is_err());
        }
    }

    #[test]
    fn map_selectors_need_every_pair() {
        let sel = labels(&[("app", "web"), ("tier", "front")]);
        assert!(map_selects(&sel, Some(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")]))));
        assert!(!map_selects(&sel, Some(&labels(&[("app", "web")]))));
        assert!(!map_selects(&sel, None));
        assert!(Selector::from_map(&sel).matches(Some(&labels(&[("app", "web"), ("tier", "front")]))));
    }
}
