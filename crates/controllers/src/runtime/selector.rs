//! Label selectors as controllers evaluate them against cached objects: a
//! `LabelSelector` compiles to k3rs-api's [`LabelMatcher`] (`metav1.LabelSelectorAsSelector`
//! semantics: a missing selector selects nothing, an empty one everything), and plain
//! label maps (ReplicationController and Service selectors) are matched here.

use std::collections::BTreeMap;

pub use k3rs_api::scheduling::label_selector::{InvalidSelector, LabelMatcher};

/// A selector from a plain map (ReplicationController, Service): `None` or an empty
/// map selects nothing, as upstream's `SelectorFromValidatedSet` of an empty set is
/// treated by those controllers.
pub fn from_map(map: Option<&BTreeMap<String, String>>) -> LabelMatcher {
    match map {
        Some(m) if !m.is_empty() => {
            let mut matcher = LabelMatcher::everything();
            for (k, v) in m {
                matcher.require_equal(k, v);
            }
            matcher
        }
        _ => LabelMatcher::nothing(),
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
    fn maps_need_every_pair_and_an_empty_one_selects_nothing() {
        let sel = from_map(Some(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(sel.matches(Some(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")]))));
        assert!(!sel.matches(Some(&labels(&[("app", "web")]))));
        assert!(!from_map(Some(&BTreeMap::new())).matches(None));
        assert!(!from_map(None).matches(Some(&labels(&[("a", "b")]))));
    }

    #[test]
    fn contains_all_labels() {
        assert!(contains_all(Some(&labels(&[("a", "1"), ("b", "2")])), Some(&labels(&[("a", "1")]))));
        assert!(!contains_all(Some(&labels(&[("a", "2")])), Some(&labels(&[("a", "1")]))));
        assert!(contains_all(None, None));
    }
}
