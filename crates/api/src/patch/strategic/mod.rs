//! Strategic merge patch (`application/strategic-merge-patch+json`), the
//! default of `kubectl patch`, `kubectl apply` (client-side), `set image` and
//! `rollout restart`.
//!
//! Like a JSON merge patch (objects merge, `null` deletes), except that lists
//! whose schema says `x-kubernetes-patch-strategy: merge` merge: lists of
//! objects item by item on `x-kubernetes-patch-merge-key`, lists of scalars as
//! sets. Other lists replace. Directives refine this:
//!
//! - `$patch: replace | delete | merge` in an object replaces it, deletes it,
//!   or merges it (the default); as a list element, `{"$patch": "replace"}`
//!   replaces the whole list and `{"<key>": v, "$patch": "delete"}` deletes
//!   the item with that key;
//! - `$setElementOrder/<list>: [...]` gives the order of the merged list;
//! - `$deleteFromPrimitiveList/<list>: [...]` removes values from a list of scalars;
//! - `$retainKeys: [...]` clears every field of the object not listed (kubectl
//!   sends it for fields with the `retainKeys` strategy, e.g. volumes and a
//!   Deployment's strategy, so switching a volume source or the strategy type
//!   drops the old one).
//!
//! Fields the schema does not describe merge like a JSON merge patch (objects
//! merge, lists replace).

mod list;

use serde_json::{Map, Value};

use super::PatchError;
use super::shape::child_schema;
use crate::schema::SchemaNode;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` (a JSON object) to `doc`, the object whose schema is `schema`.
pub fn apply(doc: &Value, patch: &Value, schema: SchemaNode<'_>) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(bad("invalid JSON document: a strategic merge patch must be a JSON object"));
    };
    let original = doc.as_object().cloned().unwrap_or_default();
    let merged = merge_map(original, patch.clone(), Some(schema))?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

fn bad(message: impl Into<String>) -> PatchError {
    PatchError::BadRequest(message.into())
}

/// Merges `patch` into `original`; `None` when the patch deletes the object.
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Option<SchemaNode<'_>>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => return merge_map(Map::new(), patch, schema),
            Some("delete") => return Ok(None),
            // Merging is what happens anyway.
            Some("merge") => {}
            _ => return Err(bad(format!("unknown patch type: {directive} in map: {}", Value::Object(patch)))),
        }
    }
    if let Some(retain) = patch.remove(RETAIN_KEYS) {
        retain_keys(&mut original, &patch, &retain)?;
    }
    let directive_keys: Vec<String> = patch.keys().filter(|k| k.starts_with('$')).cloned().collect();
    for key in &directive_keys {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let values = patch.remove(key).unwrap_or_default();
            let Value::Array(values) = values else { return Err(bad("invalid patch format of primitive list")) };
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|v| !values.contains(v));
            }
        }
    }
    for key in &directive_keys {
        if let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) {
            if field.is_empty() {
                return Err(bad("invalid patch format of setElementOrder list"));
            }
            let order = patch.remove(key).unwrap_or_default();
            list::apply_element_order(&mut original, &mut patch, field, order, child_schema(schema, field))?;
        }
    }
    for (key, value) in patch {
        if value.is_null() {
            original.remove(&key);
            continue;
        }
        let field_schema = child_schema(schema, &key);
        let merged = match original.remove(&key) {
            Some(current) => merge_value(current, value, field_schema)?,
            None => fresh(value, field_schema)?,
        };
        if let Some(merged) = merged {
            original.insert(key, merged);
        }
    }
    Ok(Some(original))
}

/// Merges one field's patch value into its current value; `None` deletes it.
fn merge_value(current: Value, patch: Value, schema: Option<SchemaNode<'_>>) -> Result<Option<Value>, PatchError> {
    match (current, patch) {
        (Value::Object(current), Value::Object(patch)) => {
            if has_strategy(schema, "replace") {
                return fresh(Value::Object(patch), schema);
            }
            Ok(merge_map(current, patch, schema)?.map(Value::Object))
        }
        (Value::Array(current), Value::Array(patch)) => {
            Ok(Some(Value::Array(list::merge_list(current, patch, schema)?)))
        }
        (_, patch) => fresh(patch, schema),
    }
}

/// The value a patch gives a field that has none: the patch with its
/// directives carried out against nothing and its nulls dropped.
fn fresh(patch: Value, schema: Option<SchemaNode<'_>>) -> Result<Option<Value>, PatchError> {
    match patch {
        Value::Object(patch) => Ok(merge_map(Map::new(), patch, schema)?.map(Value::Object)),
        Value::Array(patch) => Ok(Some(Value::Array(list::merge_list(Vec::new(), patch, schema)?))),
        Value::Null => Ok(None),
        scalar => Ok(Some(scalar)),
    }
}

fn has_strategy(schema: Option<SchemaNode<'_>>, strategy: &str) -> bool {
    schema.is_some_and(|s| s.patch_strategies().contains(&strategy))
}

/// `$retainKeys`: every field of the patch must be listed; fields of the
/// original that are not listed are cleared.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    retain: &Value,
) -> Result<(), PatchError> {
    let invalid = || bad("invalid patch format of retainKeys");
    let keys: Vec<&str> =
        retain.as_array().ok_or_else(invalid)?.iter().map(Value::as_str).collect::<Option<_>>().ok_or_else(invalid)?;
    for (key, value) in patch {
        if value.is_null() || key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !keys.contains(&key.as_str()) {
            return Err(bad(format!("invalid patch format of retainKeys: {key:?} is not in the $retainKeys list")));
        }
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

#[cfg(test)]
mod tests;
