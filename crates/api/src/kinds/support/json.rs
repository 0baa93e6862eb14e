//! Reading and defaulting fields of objects held as JSON.
//!
//! Strategies work on `serde_json::Value` after `normalize` has checked the shape,
//! but a value may still be absent or `null`; these helpers treat both alike and
//! never panic on unexpected shapes.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// The value at a JSON pointer unless it is absent or `null`.
pub fn present<'a>(obj: &'a Value, pointer: &str) -> Option<&'a Value> {
    obj.pointer(pointer).filter(|v| !v.is_null())
}

/// The object at `path`, created (with its parents) when absent or `null`. `None`
/// when something on the way is not an object (the shape check reports that).
pub fn object_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = obj;
    if cur.is_null() {
        *cur = Value::Object(Map::new());
    }
    for key in path {
        let map = cur.as_object_mut()?;
        let entry = map.entry(key.to_string()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        cur = entry;
    }
    cur.as_object_mut()
}

/// The object at `path` when it exists; never creates anything.
pub fn existing_object_mut<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = obj;
    for key in path {
        cur = cur.as_object_mut()?.get_mut(*key)?;
    }
    cur.as_object_mut()
}

/// Sets `key` in `map` unless it holds a non-null value already.
pub fn default_key(map: &mut Map<String, Value>, key: &str, value: Value) {
    match map.get(key) {
        Some(v) if !v.is_null() => {}
        _ => {
            map.insert(key.to_string(), value);
        }
    }
}

/// Sets a string field that is missing, `null` or empty, as upstream defaults string
/// enums (`if x.Type == "" { ... }`).
pub fn default_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    if map.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// Sets the field at `path` (the last element is the field) unless it has a value,
/// creating parent objects as needed.
pub fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    if let Some(map) = object_mut(obj, parents) {
        default_key(map, last, value);
    }
}

/// A typed round trip that keeps fields absent which were absent in the input.
///
/// k8s-openapi fills required fields that are pointers in Go (a Deployment's
/// `spec.selector`) with their default when missing; upstream sees `nil` there and
/// reports "Required value", so the listed pointers stay absent if they were.
pub fn normalize_keeping_absent<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    keep_absent: &[&str],
) -> Result<(), String> {
    let absent: Vec<&str> = keep_absent.iter().copied().filter(|p| present(obj, p).is_none()).collect();
    crate::strategy::normalize_as::<T>(obj)?;
    for pointer in absent {
        remove_at(obj, pointer);
    }
    Ok(())
}

/// Removes the field at a JSON pointer, if there is one.
pub fn remove_at(obj: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let parent = if parent.is_empty() { Some(obj) } else { obj.pointer_mut(parent) };
    parent?.as_object_mut()?.remove(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_missing_or_null_fields() {
        let mut obj = json!({"spec": {"replicas": 3, "paused": null}});
        default_at(&mut obj, &["spec", "replicas"], json!(1));
        default_at(&mut obj, &["spec", "paused"], json!(false));
        default_at(&mut obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
        assert_eq!(obj, json!({"spec": {"replicas": 3, "paused": false, "strategy": {"type": "RollingUpdate"}}}));
    }

    #[test]
    fn string_enums_default_when_empty() {
        let mut map = Map::new();
        map.insert("type".into(), json!(""));
        default_str(&mut map, "type", "RollingUpdate");
        default_str(&mut map, "policy", "Allow");
        map.insert("kept".into(), json!("OnDelete"));
        default_str(&mut map, "kept", "RollingUpdate");
        assert_eq!(Value::Object(map), json!({"type": "RollingUpdate", "policy": "Allow", "kept": "OnDelete"}));
    }

    #[test]
    fn wrong_shapes_are_left_alone() {
        let mut obj = json!({"spec": "oops"});
        default_at(&mut obj, &["spec", "replicas"], json!(1));
        assert_eq!(obj, json!({"spec": "oops"}));
        assert!(existing_object_mut(&mut obj, &["spec"]).is_none());
    }

    #[test]
    fn remove_at_takes_nested_fields() {
        let mut obj = json!({"spec": {"selector": {}}});
        assert_eq!(remove_at(&mut obj, "/spec/selector"), Some(json!({})));
        assert_eq!(obj, json!({"spec": {}}));
        assert_eq!(remove_at(&mut obj, "/nothing/here"), None);
    }
}
