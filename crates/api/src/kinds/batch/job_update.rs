//! What an update may change in a Job's spec: almost nothing once it exists, with
//! the exceptions upstream makes (elastic Indexed Jobs, scheduling directives of
//! suspended Jobs that never started).

use serde_json::{Map, Value, json};

use crate::kinds::support::checks::{IMMUTABLE, immutable_at};
use crate::kinds::support::json::object_mut;
use crate::validation::{FieldError, FieldPath};

pub fn validate_spec_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    errs.extend(validate_completions_update(new, old));
    errs.extend(immutable_at(new, old, "/spec/selector", &spec.child("selector")));
    errs.extend(validate_template_update(new, old));
    for field in ["completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"] {
        errs.extend(immutable_at(new, old, &format!("/spec/{field}"), &spec.child(field)));
    }
    errs
}

/// Completions are immutable, except that an Indexed Job may change them together
/// with parallelism (elastic Indexed Jobs).
fn validate_completions_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let path = FieldPath::root("spec").child("completions");
    let indexed = new.pointer("/spec/completionMode").and_then(Value::as_str) == Some("Indexed");
    if !indexed {
        return immutable_at(new, old, "/spec/completions", &path).into_iter().collect();
    }
    let completions = new.pointer("/spec/completions").and_then(Value::as_i64);
    if completions == old.pointer("/spec/completions").and_then(Value::as_i64) {
        return Vec::new();
    }
    match completions {
        Some(c) if Some(c) != new.pointer("/spec/parallelism").and_then(Value::as_i64) => {
            vec![FieldError::invalid(path, c, "can only be modified in tandem with spec.parallelism")]
        }
        _ => Vec::new(),
    }
}

/// The template is immutable, but a suspended Job that never started may change its
/// scheduling directives (node affinity, node selector, tolerations, scheduling
/// gates) and the template's labels and annotations.
fn validate_template_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let path = FieldPath::root("spec").child("template");
    let new_template = new.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let mut old_template = old.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let suspended = old.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let never_started = old.pointer("/status/startTime").is_none_or(Value::is_null);
    if suspended && never_started {
        allow_scheduling_changes(&mut old_template, &new_template);
    }
    if normalized(&new_template) == normalized(&old_template) {
        Vec::new()
    } else {
        vec![FieldError::invalid(path, new_template, IMMUTABLE)]
    }
}

/// Copies the mutable scheduling directives of `new` into `old`, so comparing the two
/// only sees other changes.
fn allow_scheduling_changes(old: &mut Value, new: &Value) {
    let take = |v: &Value, p: &str| v.pointer(p).filter(|x| !x.is_null()).cloned();
    let new_affinity = take(new, "/spec/affinity");
    let mut old_affinity = take(old, "/spec/affinity");
    match (&new_affinity, &mut old_affinity) {
        (None, Some(old_aff)) => {
            // The affinity may be dropped if node affinity was all it had.
            if let Some(m) = old_aff.as_object_mut() {
                m.remove("nodeAffinity");
                if m.values().all(Value::is_null) {
                    old_affinity = None;
                }
            }
        }
        (Some(new_aff), None) => {
            old_affinity = new_aff.get("nodeAffinity").map(|na| json!({"nodeAffinity": na}));
        }
        (Some(new_aff), Some(old_aff)) => {
            if let Some(m) = old_aff.as_object_mut() {
                match new_aff.get("nodeAffinity") {
                    Some(na) => m.insert("nodeAffinity".into(), na.clone()),
                    None => m.remove("nodeAffinity"),
                };
            }
        }
        (None, None) => {}
    }
    let set = |old: &mut Value, key: &str, value: Option<Value>, parent: &[&str]| {
        if let Some(map) = object_mut(old, parent) {
            match value {
                Some(v) => map.insert(key.to_string(), v),
                None => map.remove(key),
            };
        }
    };
    set(old, "affinity", old_affinity, &["spec"]);
    set(old, "nodeSelector", take(new, "/spec/nodeSelector"), &["spec"]);
    set(old, "tolerations", take(new, "/spec/tolerations"), &["spec"]);
    set(old, "schedulingGates", take(new, "/spec/schedulingGates"), &["spec"]);
    set(old, "annotations", take(new, "/metadata/annotations"), &["metadata"]);
    set(old, "labels", take(new, "/metadata/labels"), &["metadata"]);
}

/// Drops nulls and empty objects so that "absent" and "empty" compare equal, as Go's
/// semantic equality treats nil and empty maps.
fn normalized(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let out: Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), normalized(v)))
                .filter(|(_, v)| !(v.is_null() || v.as_object().is_some_and(Map::is_empty)))
                .collect();
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
        other => other.clone(),
    }
}
