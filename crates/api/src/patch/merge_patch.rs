//! JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge
//! recursively, `null` deletes, anything else (lists included) replaces.

use serde_json::{Map, Value};

use super::PatchError;

/// Applies `patch` to `doc`. A Kubernetes object can only be patched into
/// another object, so a patch that is not a JSON object is refused.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::BadRequest("a JSON merge patch must be a JSON object".into()));
    }
    Ok(merge(doc.clone(), patch))
}

/// RFC 7386 `MergePatch(target, patch)`.
pub fn merge(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else { return patch.clone() };
    let mut target = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            let current = target.remove(key).unwrap_or(Value::Null);
            target.insert(key.clone(), merge(current, value));
        }
    }
    Value::Object(target)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc_7386_examples() {
        // The examples of RFC 7386, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(merge(doc.clone(), &patch), want, "doc {doc} patch {patch}");
        }
    }

    #[test]
    fn kubectl_scale_and_label() {
        let deploy =
            json!({"metadata": {"name": "web", "labels": {"app": "web", "tier": "fe"}}, "spec": {"replicas": 1}});
        let scaled = apply(&deploy, &json!({"spec": {"replicas": 10}})).unwrap();
        assert_eq!(scaled["spec"]["replicas"], 10);
        assert_eq!(scaled["metadata"], deploy["metadata"]);
        let labelled = apply(&deploy, &json!({"metadata": {"labels": {"tier": null, "env": "prod"}}})).unwrap();
        assert_eq!(labelled["metadata"]["labels"], json!({"app": "web", "env": "prod"}));
    }

    #[test]
    fn non_object_patch_is_refused() {
        for patch in [json!(null), json!([1]), json!("x")] {
            assert!(matches!(apply(&json!({}), &patch), Err(PatchError::BadRequest(_))), "{patch}");
        }
    }
}
