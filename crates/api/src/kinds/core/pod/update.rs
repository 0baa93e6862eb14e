//! What a pod update may change: container images, a shorter `activeDeadlineSeconds`,
//! added tolerations, and little else (upstream's `ValidatePodUpdate`).

use k8s_openapi::api::core::v1::{PodSpec, Toleration};
use serde_json::{Map, Value};

use crate::validation::{FieldError, FieldPath};

/// Upstream's list of what may change, in its wording.
const UPDATABLE_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

pub fn validate_spec_update(new: &PodSpec, old: &PodSpec) -> Vec<FieldError> {
    let spec_path = FieldPath::root("spec");
    let mut errs = Vec::new();
    let new_init = new.init_containers.as_deref().unwrap_or_default();
    let old_init = old.init_containers.as_deref().unwrap_or_default();
    if new.containers.len() != old.containers.len() {
        errs.push(FieldError::forbidden(spec_path.child("containers"), "pod updates may not add or remove containers"));
        return errs;
    }
    if new_init.len() != old_init.len() {
        errs.push(FieldError::forbidden(
            spec_path.child("initContainers"),
            "pod updates may not add or remove containers",
        ));
        return errs;
    }

    let deadline_path = spec_path.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(&deadline_path, n, "must be between 0 and 2147483647, inclusive"));
            return errs;
        }
        (Some(n), Some(o)) if n > o => {
            errs.push(FieldError::invalid(&deadline_path, n, "must be less than or equal to previous value"));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &deadline_path,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    errs.extend(validate_only_added_tolerations(
        new.tolerations.as_deref().unwrap_or_default(),
        old.tolerations.as_deref().unwrap_or_default(),
        &spec_path.child("tolerations"),
    ));

    let (Ok(mut munged), Ok(old_value)) = (serde_json::to_value(new), serde_json::to_value(old)) else {
        return errs;
    };
    munge_updatable_fields(&mut munged, &old_value);
    if munged != old_value {
        let diff = describe_difference(&old_value, &munged);
        errs.push(FieldError::forbidden(
            &spec_path,
            format!("pod updates may not change fields other than {}\n{diff}", UPDATABLE_FIELDS.join(",")),
        ));
    }
    errs
}

/// Copies the fields an update may change from the old spec into the new one, so what
/// remains different is forbidden.
fn munge_updatable_fields(new: &mut Value, old: &Value) {
    for list in ["containers", "initContainers"] {
        if let (Some(Value::Array(n)), Some(Value::Array(o))) = (new.get_mut(list), old.get(list)) {
            for (nc, oc) in n.iter_mut().zip(o) {
                copy_key(nc, oc, "image");
            }
        }
    }
    for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
        copy_key(new, old, key);
    }
    let old_grace = old.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    let new_grace = new.get("terminationGracePeriodSeconds").and_then(Value::as_i64);
    if old_grace.is_some_and(|g| g < 0) && new_grace == Some(1) {
        copy_key(new, old, "terminationGracePeriodSeconds");
    }
}

fn copy_key(new: &mut Value, old: &Value, key: &str) {
    let Some(map) = new.as_object_mut() else { return };
    match old.get(key) {
        Some(v) => {
            map.insert(key.to_string(), v.clone());
        }
        None => {
            map.remove(key);
        }
    }
}

/// Old and new values of each top-level spec field that differs, one per line.
fn describe_difference(old: &Value, new: &Value) -> String {
    let empty = Map::new();
    let o = old.as_object().unwrap_or(&empty);
    let n = new.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut lines = Vec::new();
    for k in keys {
        let (ov, nv) = (o.get(k), n.get(k));
        if ov != nv {
            if let Some(v) = ov {
                lines.push(format!("  - {k}: {v}"));
            }
            if let Some(v) = nv {
                lines.push(format!("  + {k}: {v}"));
            }
        }
    }
    lines.join("\n")
}

/// Existing tolerations must stay (only their `tolerationSeconds` may change).
fn validate_only_added_tolerations(new: &[Toleration], old: &[Toleration], path: &FieldPath) -> Vec<FieldError> {
    for o in old {
        let kept = new.iter().any(|n| {
            let mut clone = o.clone();
            clone.toleration_seconds = n.toleration_seconds;
            clone == *n
        });
        if !kept {
            return vec![FieldError::forbidden(
                path,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    crate::kinds::common::pod_spec::validate_tolerations(new, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> Value {
        json!({
            "containers": [{"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]}],
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}],
            "activeDeadlineSeconds": 100,
            "dnsPolicy": "ClusterFirst"
        })
    }

    #[test]
    fn image_deadline_and_toleration_changes_are_allowed() {
        let mut new = base();
        new["containers"][0]["image"] = json!("nginx:2");
        new["activeDeadlineSeconds"] = json!(50);
        new["tolerations"][0]["tolerationSeconds"] = json!(10);
        new["tolerations"].as_array_mut().unwrap().push(json!({"key": "x", "operator": "Exists"}));
        assert!(validate_spec_update(&spec(new), &spec(base())).is_empty());
    }

    #[test]
    fn other_changes_are_forbidden() {
        let mut new = base();
        new["dnsPolicy"] = json!("Default");
        let errs = validate_spec_update(&spec(new), &spec(base()));
        assert_eq!(errs.len(), 1);
        let msg = errs[0].to_string();
        assert!(msg.starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"), "{msg}");
        assert!(msg.contains("- dnsPolicy: \"ClusterFirst\"") && msg.contains("+ dnsPolicy: \"Default\""), "{msg}");
    }

    #[test]
    fn specific_update_errors() {
        let mut more = base();
        more["containers"].as_array_mut().unwrap().push(json!({"name": "b", "image": "x"}));
        assert_eq!(
            validate_spec_update(&spec(more), &spec(base()))[0].to_string(),
            "spec.containers: Forbidden: pod updates may not add or remove containers"
        );
        let mut longer = base();
        longer["activeDeadlineSeconds"] = json!(200);
        assert_eq!(
            validate_spec_update(&spec(longer), &spec(base()))[0].to_string(),
            "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value"
        );
        let mut removed = base();
        removed["tolerations"] = json!([]);
        assert_eq!(
            validate_spec_update(&spec(removed), &spec(base()))[0].to_string(),
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        );
    }
}
