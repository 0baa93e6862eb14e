//! Validation of `metadata` shared by every kind (upstream `ValidateObjectMeta`).

use serde_json::Value;

use super::{FieldError, names};

const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Checks labels, annotations, finalizers, owner references and the namespace rule.
/// The name itself is checked by the caller with the kind's own name rule.
pub fn validate_object_meta(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = obj.get("metadata");
    let ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).unwrap_or("");
    if namespaced && ns.is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    }
    if !namespaced && !ns.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    if let Some(Value::Object(labels)) = meta.and_then(|m| m.get("labels")) {
        for (k, v) in labels {
            for e in names::qualified_name(k) {
                errs.push(FieldError::invalid("metadata.labels", k.clone(), e));
            }
            let value = v.as_str().unwrap_or_default();
            for e in names::label_value(value) {
                errs.push(FieldError::invalid("metadata.labels", value, e));
            }
        }
    }
    if let Some(Value::Object(annotations)) = meta.and_then(|m| m.get("annotations")) {
        let mut total = 0;
        for (k, v) in annotations {
            for e in names::qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", k.clone(), e));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(FieldError::too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT));
        }
    }
    if let Some(Value::Array(finalizers)) = meta.and_then(|m| m.get("finalizers")) {
        for (i, f) in finalizers.iter().enumerate() {
            let f = f.as_str().unwrap_or_default();
            for e in names::qualified_name(f) {
                errs.push(FieldError::invalid(format!("metadata.finalizers[{i}]"), f, e));
            }
        }
    }
    if let Some(Value::Array(owners)) = meta.and_then(|m| m.get("ownerReferences")) {
        let mut controllers = 0;
        for (i, o) in owners.iter().enumerate() {
            let path = format!("metadata.ownerReferences[{i}]");
            for field in ["apiVersion", "kind", "name", "uid"] {
                if o.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                    errs.push(FieldError::invalid(format!("{path}.{field}"), "", format!("{field} must not be empty")));
                }
            }
            if o.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers += 1;
            }
        }
        if controllers > 1 {
            errs.push(FieldError::invalid(
                "metadata.ownerReferences",
                Value::Array(owners.clone()),
                "Only one reference can have Controller set to true",
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_namespace() {
        let obj = json!({"metadata": {"name": "x", "labels": {"bad key!": "v", "ok": "-bad"}}});
        let errs = validate_object_meta(&obj, true);
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text[0].starts_with("metadata.namespace: Required value"), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("metadata.labels: Invalid value: \"bad key!\"")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("metadata.labels: Invalid value: \"-bad\"")), "{text:?}");
        assert!(validate_object_meta(&json!({"metadata": {"name": "x", "namespace": "d"}}), true).is_empty());
    }
}
