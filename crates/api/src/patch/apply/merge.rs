//! Merges an applied configuration into the live object: objects merge field
//! by field, keyed lists merge item by item, sets take the union, and
//! everything atomic takes the applied value.

use std::collections::HashSet;

use serde_json::Value;

use crate::patch::fieldpath::PathElement;
use crate::patch::shape::{Shape, at, child_schema, index, item_key, set_items, shape_of};
use crate::schema::SchemaNode;

/// `live` merged with `applied` (which holds no nulls).
pub(crate) fn merge(live: Option<&Value>, applied: &Value, schema: Option<SchemaNode<'_>>) -> Result<Value, String> {
    check_applied(applied, schema, &mut Vec::new())?;
    merge_at(live, applied, schema, &mut Vec::new())
}

/// Every keyed list item of the applied configuration must be identifiable, once.
fn check_applied(applied: &Value, schema: Option<SchemaNode<'_>>, path: &mut Vec<PathElement>) -> Result<(), String> {
    match (shape_of(schema, applied), applied) {
        (Shape::Fields { schema, .. }, Value::Object(map)) => {
            for (key, value) in map {
                path.push(PathElement::field(key.as_str()));
                check_applied(value, child_schema(schema, key), path)?;
                path.pop();
            }
        }
        (Shape::Keyed { keys, items }, Value::Array(list)) => {
            for (pe, item) in applied_keys(list, &keys, items).map_err(|e| at(path, e))? {
                path.push(pe);
                check_applied(item, items, path)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn merge_at(
    live: Option<&Value>,
    applied: &Value,
    schema: Option<SchemaNode<'_>>,
    path: &mut Vec<PathElement>,
) -> Result<Value, String> {
    let Some(live) = live.filter(|v| !v.is_null()) else { return Ok(applied.clone()) };
    match (shape_of(schema, applied), live, applied) {
        (Shape::Fields { schema, .. }, Value::Object(live), Value::Object(applied)) => {
            let mut out = live.clone();
            for (key, value) in applied {
                path.push(PathElement::field(key.as_str()));
                let merged = merge_at(live.get(key), value, child_schema(schema, key), path)?;
                path.pop();
                out.insert(key.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        (Shape::Keyed { keys, items }, Value::Array(live_list), Value::Array(applied_list)) => {
            if !live_list.iter().all(Value::is_object) {
                return Ok(Value::Array(applied_list.clone()));
            }
            let applied_items = applied_keys(applied_list, &keys, items).map_err(|e| at(path, e))?;
            let live_items = live_keys(live_list, &keys, items);
            let order = merged_order(
                &live_items.iter().map(|(pe, _)| pe.clone()).collect::<Vec<_>>(),
                &applied_items.iter().map(|(pe, _)| pe.clone()).collect::<Vec<_>>(),
            );
            let (live_index, applied_index) = (index(&live_items), index(&applied_items));
            let mut out = Vec::with_capacity(order.len());
            for pe in order {
                let live_item = live_index.get(&pe).copied();
                match applied_index.get(&pe) {
                    Some(applied_item) => {
                        path.push(pe);
                        out.push(merge_at(live_item, applied_item, items, path)?);
                        path.pop();
                    }
                    None => out.extend(live_item.cloned()),
                }
            }
            Ok(Value::Array(out))
        }
        (Shape::Set, Value::Array(live_list), Value::Array(applied_list))
            if live_list.iter().all(crate::patch::shape::is_scalar) =>
        {
            let live_items = set_items(live_list);
            let applied_items = set_items(applied_list);
            let order = merged_order(
                &live_items.iter().map(|(pe, _)| pe.clone()).collect::<Vec<_>>(),
                &applied_items.iter().map(|(pe, _)| pe.clone()).collect::<Vec<_>>(),
            );
            let (live_index, applied_index) = (index(&live_items), index(&applied_items));
            let values = order
                .iter()
                .filter_map(|pe| applied_index.get(pe).or_else(|| live_index.get(pe)).map(|v| (*v).clone()))
                .collect();
            Ok(Value::Array(values))
        }
        _ => Ok(applied.clone()),
    }
}

/// Identities of applied items; a key given twice is an error, as upstream.
fn applied_keys<'v>(
    list: &'v [Value],
    keys: &[String],
    items: Option<SchemaNode<'_>>,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let mut seen = HashSet::with_capacity(list.len());
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let map = item.as_object().ok_or_else(|| format!("element {i}: expected an object"))?;
        let pe = item_key(map, keys, items).map_err(|e| format!("element {i}: {e}"))?;
        if !seen.insert(pe.clone()) {
            return Err(format!("duplicate entries for key {pe}"));
        }
        out.push((pe, item));
    }
    Ok(out)
}

/// Identities of live items; items without a usable key are kept by position
/// (they cannot match an applied item).
fn live_keys<'v>(list: &'v [Value], keys: &[String], items: Option<SchemaNode<'_>>) -> Vec<(PathElement, &'v Value)> {
    let mut seen = HashSet::with_capacity(list.len());
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let pe = item
            .as_object()
            .and_then(|m| item_key(m, keys, items).ok())
            .filter(|pe| seen.insert(pe.clone()))
            .unwrap_or(PathElement::Index(i));
        out.push((pe, item));
    }
    out
}

/// The order of a merged list: the applied items in applied order, with
/// live-only items kept in place relative to their live neighbours.
pub(crate) fn merged_order(live: &[PathElement], applied: &[PathElement]) -> Vec<PathElement> {
    let (live_set, applied_set): (HashSet<&PathElement>, HashSet<&PathElement>) =
        (live.iter().collect(), applied.iter().collect());
    let in_applied = |pe: &PathElement| applied_set.contains(pe);
    let in_live = |pe: &PathElement| live_set.contains(pe);
    // Items in both lists, in applied order: each is emitted when the applied side reaches it.
    let mut shared = applied.iter().filter(|pe| in_live(pe)).peekable();
    let mut out = Vec::with_capacity(live.len() + applied.len());
    let (mut l, mut a) = (0, 0);
    while l < live.len() || a < applied.len() {
        if l < live.len() && a < applied.len() {
            if live[l] == applied[a] {
                out.push(applied[a].clone());
                shared.next();
                l += 1;
                a += 1;
                continue;
            }
            // A shared item that comes later in applied order: skip it here.
            if in_applied(&live[l]) && shared.peek().is_some_and(|next| **next != live[l]) {
                l += 1;
                continue;
            }
        }
        if l < live.len() && !in_applied(&live[l]) {
            out.push(live[l].clone());
            l += 1;
            continue;
        }
        if a < applied.len() {
            let pe = &applied[a];
            if shared.peek().is_some_and(|next| *next == pe) {
                shared.next();
            }
            out.push(pe.clone());
            a += 1;
        } else {
            // Only shared live items remain, all already emitted.
            l += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pes(names: &[&str]) -> Vec<PathElement> {
        names.iter().map(|n| PathElement::field(*n)).collect()
    }

    #[test]
    fn merged_order_keeps_applied_order_and_live_neighbours() {
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&["a", "b"], &["b", "a"], &["b", "a"]),
            (&["x", "a"], &["a", "y"], &["x", "a", "y"]),
            (&["a", "c", "b"], &["b", "a"], &["c", "b", "a"]),
            (&["a", "b", "c"], &["b"], &["a", "b", "c"]),
            (&[], &["a", "b"], &["a", "b"]),
            (&["a", "b"], &[], &["a", "b"]),
            (&["a", "b"], &["c", "a"], &["c", "a", "b"]),
        ];
        for (live, applied, want) in cases {
            assert_eq!(merged_order(&pes(live), &pes(applied)), pes(want), "live {live:?} applied {applied:?}");
        }
    }
}
