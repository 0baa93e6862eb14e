//! Label and annotation maps inside objects (pod template metadata, service and
//! replication-controller selectors), validated with upstream's messages, and
//! equality-based selector matching.

use std::collections::BTreeMap;

use crate::validation::names::{label_value, qualified_name};
use crate::validation::{FieldError, FieldPath};

/// Upstream's limit on the summed size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Checks every key (qualified name) and value (label value) of a label map.
/// Errors point at the map itself, as upstream's `ValidateLabels` does.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (k, v) in labels {
        for msg in qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        for msg in label_value(v) {
            errs.push(FieldError::invalid(path, v.as_str(), msg));
        }
    }
    errs
}

/// Checks annotation keys (qualified names, compared lower-cased) and the total size.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        for msg in qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// Whether every `key=value` pair of an equality selector is in `labels`.
/// An empty selector matches everything.
pub fn selector_matches(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// `k=v,k2=v2` sorted by key, as upstream's `labels.FormatLabels`; `<none>` when empty.
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels {
        Some(m) if !m.is_empty() => m.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        _ => "<none>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_errors_name_the_map() {
        let errs = validate_labels(&map(&[("app", "web"), ("bad key", "x"), ("ok", "-bad")]), &FieldPath::root("sel"));
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.field == "sel"));
        assert!(errs[0].to_string().starts_with("sel: Invalid value: \"bad key\": name part must consist of"));
        assert!(errs[1].to_string().contains("a valid label must be an empty string"));
    }

    #[test]
    fn annotation_size_limit() {
        let big = map(&[("a", &"x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT))]);
        let errs = validate_annotations(&big, &FieldPath::root("metadata").child("annotations"));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].to_string(), "metadata.annotations: Too long: may not be more than 262144 bytes");
    }

    #[test]
    fn selectors_match_subsets() {
        let labels = map(&[("app", "web"), ("tier", "fe")]);
        assert!(selector_matches(&map(&[("app", "web")]), Some(&labels)));
        assert!(!selector_matches(&map(&[("app", "db")]), Some(&labels)));
        assert!(selector_matches(&map(&[]), None));
        assert_eq!(format_labels(Some(&labels)), "app=web,tier=fe");
        assert_eq!(format_labels(None), "<none>");
    }
}
