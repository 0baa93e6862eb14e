//! What changed between two versions of an object, as field sets: the fields
//! added, removed and modified. Field management moves ownership of exactly
//! these fields to the writer.
//!
//! Leaves compare by value. A keyed list item or a map that appears or
//! disappears is itself added or removed (that is what `".": {}` records);
//! structs are not, like upstream where they are always present in typed
//! objects. Nulls count as absent.

use serde_json::Value;

use super::fieldpath::{FieldSet, PathElement};
use super::shape::{Shape, child_schema, index, is_empty_container, keyed_items, set_items, shape_of};
use crate::schema::SchemaNode;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Comparison {
    pub added: FieldSet,
    pub removed: FieldSet,
    pub modified: FieldSet,
}

impl Comparison {
    /// Fields whose value the new version sets differently (added or modified).
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified)
    }

    pub fn map_sets(self, f: impl Fn(FieldSet) -> FieldSet) -> Comparison {
        Comparison { added: f(self.added), removed: f(self.removed), modified: f(self.modified) }
    }
}

/// Compares two objects at `schema`.
pub(crate) fn compare(old: &Value, new: &Value, schema: Option<SchemaNode<'_>>) -> Result<Comparison, String> {
    let mut out = Comparison::default();
    walk(Some(old), Some(new), schema, &mut Vec::new(), false, &mut out)?;
    Ok(out)
}

fn walk(
    old: Option<&Value>,
    new: Option<&Value>,
    schema: Option<SchemaNode<'_>>,
    path: &mut Vec<PathElement>,
    tracks_presence: bool,
    out: &mut Comparison,
) -> Result<(), String> {
    let old = old.filter(|v| !v.is_null());
    let new = new.filter(|v| !v.is_null());
    if old.is_none() && new.is_none() {
        return Ok(());
    }
    // Empty or absent on both sides: the empty value is a leaf of its own.
    if old.is_none_or(is_empty_container) && new.is_none_or(is_empty_container) {
        leaf(old, new, path, out);
        return Ok(());
    }
    let old_shape = old.map(|v| shape_of(schema, v));
    let new_shape = new.map(|v| shape_of(schema, v));
    let shape = match (&old_shape, &new_shape) {
        (Some(a), Some(b)) if !same_kind(a, b) || old.map(kind_of) != new.map(kind_of) => Shape::Leaf,
        (_, Some(s)) | (Some(s), None) => s.clone(),
        (None, None) => return Ok(()),
    };
    match shape {
        Shape::Leaf => leaf(old, new, path, out),
        Shape::Fields { schema, is_map } => {
            if (tracks_presence || is_map) && !path.is_empty() {
                presence(old, new, path, out);
            }
            let empty = serde_json::Map::new();
            let old_map = old.and_then(Value::as_object).unwrap_or(&empty);
            let new_map = new.and_then(Value::as_object).unwrap_or(&empty);
            let keys: std::collections::BTreeSet<&String> = old_map.keys().chain(new_map.keys()).collect();
            for key in keys {
                path.push(PathElement::field(key.as_str()));
                walk(old_map.get(key), new_map.get(key), child_schema(schema, key), path, false, out)?;
                path.pop();
            }
        }
        Shape::Keyed { keys, items } => {
            if tracks_presence {
                presence(old, new, path, out);
            }
            let old_items = keyed_items(as_list(old), &keys, items).map_err(|e| super::shape::at(path, e))?;
            let new_items = keyed_items(as_list(new), &keys, items).map_err(|e| super::shape::at(path, e))?;
            let (old_index, new_index) = (index(&old_items), index(&new_items));
            for (pe, old_item) in &old_items {
                path.push(pe.clone());
                walk(Some(old_item), new_index.get(pe).copied(), items, path, true, out)?;
                path.pop();
            }
            for (pe, new_item) in &new_items {
                if !old_index.contains_key(pe) {
                    path.push(pe.clone());
                    walk(None, Some(new_item), items, path, true, out)?;
                    path.pop();
                }
            }
        }
        Shape::Set => {
            if tracks_presence {
                presence(old, new, path, out);
            }
            let old_items = set_items(as_list(old));
            let new_items = set_items(as_list(new));
            let (old_index, new_index) = (index(&old_items), index(&new_items));
            for (pe, _) in &old_items {
                if !new_index.contains_key(pe) {
                    path.push(pe.clone());
                    out.removed.insert(path);
                    path.pop();
                }
            }
            for (pe, _) in &new_items {
                if !old_index.contains_key(pe) {
                    path.push(pe.clone());
                    out.added.insert(path);
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

fn as_list(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn kind_of(v: &Value) -> u8 {
    match v {
        Value::Object(_) => 0,
        Value::Array(_) => 1,
        _ => 2,
    }
}

fn same_kind(a: &Shape<'_>, b: &Shape<'_>) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn leaf(old: Option<&Value>, new: Option<&Value>, path: &[PathElement], out: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        (Some(a), Some(b)) if a != b => out.modified.insert(path),
        _ => {}
    }
}

fn presence(old: Option<&Value>, new: Option<&Value>, path: &[PathElement], out: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => out.added.insert(path),
        (Some(_), None) => out.removed.insert(path),
        _ => {}
    }
}
