//! How field management sees a value at a schema position: a leaf owned as a
//! whole, an object whose fields are owned one by one, a list whose items are
//! identified by key fields, or a set-like list of scalars.
//!
//! The schema decides granularity (`x-kubernetes-map-type: atomic`,
//! `x-kubernetes-list-type`); the value decides what it actually is. Free-form
//! parts (`x-kubernetes-preserve-unknown-fields`, fields the schema does not
//! know) are granular for objects and atomic for lists.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement};
use crate::schema::{ListType, SchemaNode};

#[derive(Debug, Clone)]
pub(crate) enum Shape<'a> {
    /// Owned as a whole: scalars, atomic lists/maps/structs.
    Leaf,
    /// An object whose fields are owned one by one. `is_map` is false for
    /// structs with named fields (their presence is not tracked on its own).
    Fields { schema: Option<SchemaNode<'a>>, is_map: bool },
    /// A list of objects identified by the values of `keys`.
    Keyed { keys: Vec<String>, items: Option<SchemaNode<'a>> },
    /// A list of unique scalars.
    Set,
}

/// The shape of `value` at `schema` (`None`: nothing known about it).
pub(crate) fn shape_of<'a>(schema: Option<SchemaNode<'a>>, value: &Value) -> Shape<'a> {
    match value {
        Value::Object(_) => match schema {
            None => Shape::Fields { schema: None, is_map: true },
            Some(node) if node.is_atomic_map() => Shape::Leaf,
            Some(node) if node.has_properties() => Shape::Fields { schema: Some(node), is_map: false },
            Some(node)
                if node.ty() == Some("object") || node.additional_properties().is_some() || node.is_free_form() =>
            {
                Shape::Fields { schema: Some(node), is_map: true }
            }
            // The schema says scalar: keep the odd value whole.
            Some(_) => Shape::Leaf,
        },
        Value::Array(items) => {
            let Some(node) = schema.filter(|n| n.is_array()) else { return Shape::Leaf };
            match node.list_type() {
                ListType::Set if items.iter().all(is_scalar) => Shape::Set,
                ListType::Map(keys) if !keys.is_empty() && items.iter().all(Value::is_object) => {
                    Shape::Keyed { keys, items: node.items() }
                }
                _ => Shape::Leaf,
            }
        }
        _ => Shape::Leaf,
    }
}

pub(crate) fn is_scalar(v: &Value) -> bool {
    !v.is_object() && !v.is_array()
}

/// Whether a value counts as empty for field management: an empty object or
/// list is owned as a leaf, so that `emptyDir: {}` still has an owner.
pub(crate) fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The schema of field `key` of an object at `schema`.
pub(crate) fn child_schema<'a>(schema: Option<SchemaNode<'a>>, key: &str) -> Option<SchemaNode<'a>> {
    let node = schema?;
    node.property(key).or_else(|| node.additional_properties())
}

/// Key fields that upstream's published schemas give a default (our generated
/// schemas carry no defaults), so list items that omit them still have an
/// identity: `(item definition or any, key, default)`.
const KEY_DEFAULTS: &[(Option<&str>, &str, &str)] = &[
    // Container and service ports without `protocol`.
    (None, "protocol", "TCP"),
    // `imagePullSecrets: [{}]`.
    (Some("io.k8s.api.core.v1.LocalObjectReference"), "name", ""),
];

/// The path element identifying a keyed list item.
pub(crate) fn item_key(
    item: &Map<String, Value>,
    keys: &[String],
    items: Option<SchemaNode<'_>>,
) -> Result<PathElement, String> {
    let mut fields: Vec<(&str, Value)> = Vec::with_capacity(keys.len());
    for key in keys {
        let value = match item.get(key) {
            Some(v) if !v.is_null() => v.clone(),
            _ => default_for_key(key, items).ok_or_else(|| {
                format!(
                    "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                )
            })?,
        };
        fields.push((key.as_str(), value));
    }
    Ok(PathElement::key(fields.iter().map(|(k, v)| (*k, v))))
}

fn default_for_key(key: &str, items: Option<SchemaNode<'_>>) -> Option<Value> {
    if let Some(default) = items.and_then(|n| n.property(key)).and_then(|p| p.schema().get("default")) {
        return Some(default.clone());
    }
    let definition = items.and_then(|n| n.definition_name());
    KEY_DEFAULTS
        .iter()
        .find(|(def, k, _)| *k == key && def.is_none_or(|d| Some(d) == definition))
        .map(|(_, _, v)| Value::String(v.to_string()))
}

/// The items of a keyed list with their identities; later duplicates of a key
/// are skipped (the first occurrence identifies the item).
pub(crate) fn keyed_items<'v>(
    list: &'v [Value],
    keys: &[String],
    items: Option<SchemaNode<'_>>,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let mut seen = HashSet::with_capacity(list.len());
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for item in list {
        let Some(map) = item.as_object() else { return Err("list item is not an object".into()) };
        let pe = item_key(map, keys, items)?;
        if seen.insert(pe.clone()) {
            out.push((pe, item));
        }
    }
    Ok(out)
}

/// Items by identity, for lookups.
pub(crate) fn index<'i, 'v>(items: &'i [(PathElement, &'v Value)]) -> HashMap<&'i PathElement, &'v Value> {
    items.iter().map(|(pe, v)| (pe, *v)).collect()
}

/// The set items of a list of scalars, first occurrences only.
pub(crate) fn set_items(list: &[Value]) -> Vec<(PathElement, &Value)> {
    let mut seen = HashSet::with_capacity(list.len());
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for item in list {
        let pe = PathElement::value(item);
        if seen.insert(pe.clone()) {
            out.push((pe, item));
        }
    }
    out
}

impl FieldSet {
    /// The fields an object sets: every leaf, every map key, every keyed list
    /// item (the item itself and its fields), set values, and atomic parts as
    /// single leaves. Empty objects and lists are leaves too.
    pub fn from_object(obj: &Value, schema: SchemaNode<'_>) -> Result<FieldSet, String> {
        let mut set = FieldSet::new();
        let Value::Object(map) = obj else { return Err("expected a JSON object".into()) };
        collect_fields(map, Some(schema), &mut Vec::new(), &mut set)?;
        Ok(set)
    }
}

fn collect_fields(
    map: &Map<String, Value>,
    schema: Option<SchemaNode<'_>>,
    path: &mut Vec<PathElement>,
    out: &mut FieldSet,
) -> Result<(), String> {
    for (key, value) in map {
        if value.is_null() {
            continue;
        }
        path.push(PathElement::field(key));
        collect_value(value, child_schema(schema, key), path, out)?;
        path.pop();
    }
    Ok(())
}

pub(crate) fn collect_value(
    value: &Value,
    schema: Option<SchemaNode<'_>>,
    path: &mut Vec<PathElement>,
    out: &mut FieldSet,
) -> Result<(), String> {
    if is_empty_container(value) {
        out.insert(path);
        return Ok(());
    }
    match (shape_of(schema, value), value) {
        (Shape::Fields { schema, .. }, Value::Object(map)) => collect_fields(map, schema, path, out)?,
        (Shape::Keyed { keys, items }, Value::Array(list)) => {
            for (pe, item) in keyed_items(list, &keys, items).map_err(|e| at(path, e))? {
                path.push(pe);
                out.insert(path);
                // An atomic item is owned whole; otherwise its fields are owned too.
                if let (Shape::Fields { schema, .. }, Value::Object(fields)) = (shape_of(items, item), item) {
                    collect_fields(fields, schema, path, out)?;
                }
                path.pop();
            }
        }
        (Shape::Set, Value::Array(list)) => {
            for (pe, _) in set_items(list) {
                path.push(pe);
                out.insert(path);
                path.pop();
            }
        }
        _ => out.insert(path),
    }
    Ok(())
}

/// Prefixes an error with the path it happened at.
pub(crate) fn at(path: &[PathElement], error: String) -> String {
    let rendered: String = path.iter().map(|pe| pe.to_string()).collect();
    if rendered.is_empty() { error } else { format!("{rendered}: {error}") }
}
