//! Lists in a strategic merge patch: merging by key or as sets, list-level
//! directives, and the order of the result.
//!
//! Order follows upstream: items named in the patch take the patch's order
//! (or `$setElementOrder`'s), items only on the server keep theirs, and the
//! two are interleaved where the server's order relates them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{DIRECTIVE, PatchError, bad, fresh, has_strategy, merge_map};
use crate::patch::fieldpath::canonical_json;
use crate::schema::{ListType, SchemaNode};

/// Merges a patch list into the current one at list schema `field`.
pub(super) fn merge_list(
    current: Vec<Value>,
    patch: Vec<Value>,
    field: Option<SchemaNode<'_>>,
) -> Result<Vec<Value>, PatchError> {
    let items = field.and_then(|f| f.items());
    if !has_strategy(field, "merge") {
        return replace_list(patch, items);
    }
    if current.iter().chain(&patch).any(Value::is_array) {
        return Err(bad("lists of lists are not supported"));
    }
    let objects = current.iter().chain(&patch).filter(|v| v.is_object()).count();
    if objects == 0 {
        return Ok(merge_scalars(current, &patch));
    }
    if objects != current.len() + patch.len() {
        return Err(bad("list element types are not identical: a merging list mixes objects and scalars"));
    }
    let key = merge_key(field).ok_or_else(|| bad("cannot merge lists of objects without a patch merge key"))?;
    merge_objects(current, patch, &key, items)
}

/// The list a non-merging field gets: the patch's items, directives carried out.
fn replace_list(patch: Vec<Value>, items: Option<SchemaNode<'_>>) -> Result<Vec<Value>, PatchError> {
    let mut out = Vec::with_capacity(patch.len());
    for item in patch {
        if item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            continue;
        }
        out.extend(fresh(item, items)?);
    }
    Ok(out)
}

fn merge_key(field: Option<SchemaNode<'_>>) -> Option<String> {
    let field = field?;
    field.patch_merge_key().map(String::from).or_else(|| match field.list_type() {
        ListType::Map(keys) => keys.into_iter().next(),
        _ => None,
    })
}

/// A set union, keeping the current order and appending new values.
fn merge_scalars(current: Vec<Value>, patch: &[Value]) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::with_capacity(current.len() + patch.len());
    for v in current.iter().chain(patch) {
        if !merged.contains(v) {
            merged.push(v.clone());
        }
    }
    normalize_order(merged, patch, &current, |v| Some(v.clone()))
}

fn merge_objects(
    mut current: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
    items: Option<SchemaNode<'_>>,
) -> Result<Vec<Value>, PatchError> {
    let mut replace = false;
    let mut patch_items = Vec::with_capacity(patch.len());
    for item in patch {
        let Value::Object(mut map) = item else { continue };
        let Some(directive) = map.remove(DIRECTIVE) else {
            patch_items.push(map);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = map.get(key).ok_or_else(|| no_merge_key(&map, key))?;
                current.retain(|c| c.get(key) != Some(value));
            }
            Some("replace") => replace = true,
            Some("merge") if !map.is_empty() => patch_items.push(map),
            Some("merge") => {}
            _ => return Err(bad(format!("unknown patch type: {directive} in map: {}", Value::Object(map)))),
        }
    }
    if replace {
        return replace_list(patch_items.into_iter().map(Value::Object).collect(), items);
    }
    let mut merged: Vec<Option<Value>> = current.iter().cloned().map(Some).collect();
    // Item positions by merge key value, first occurrence wins.
    let mut by_key: HashMap<String, usize> = HashMap::with_capacity(merged.len() + patch_items.len());
    for (i, item) in current.iter().enumerate() {
        if let Some(value) = item.get(key) {
            by_key.entry(canonical_json(value)).or_insert(i);
        }
    }
    for item in &patch_items {
        let value = item.get(key).ok_or_else(|| no_merge_key(item, key))?;
        match by_key.get(&canonical_json(value)).copied() {
            Some(i) => {
                merged[i] = match merged[i].take() {
                    Some(Value::Object(existing)) => merge_map(existing, item.clone(), items)?.map(Value::Object),
                    _ => fresh(Value::Object(item.clone()), items)?,
                };
            }
            None => {
                by_key.insert(canonical_json(value), merged.len());
                merged.push(fresh(Value::Object(item.clone()), items)?);
            }
        }
    }
    let merged: Vec<Value> = merged.into_iter().flatten().collect();
    let patch_order: Vec<Value> = patch_items.into_iter().map(Value::Object).collect();
    Ok(normalize_order(merged, &patch_order, &current, |v| v.get(key).cloned()))
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    bad(format!("map: {} does not contain declared merge key: {key}", Value::Object(item.clone())))
}

/// Orders `merged`: items found in `patch_order` in that order, the others
/// (server-only) in `server_order`, interleaved by their server positions.
fn normalize_order(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    id: impl Fn(&Value) -> Option<Value>,
) -> Vec<Value> {
    // Positions by canonical identity, first occurrence wins.
    let positions = |list: &[Value]| -> HashMap<String, usize> {
        let mut map = HashMap::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            if let Some(id) = id(v) {
                map.entry(canonical_json(&id)).or_insert(i);
            }
        }
        map
    };
    let (in_patch, on_server) = (positions(patch_order), positions(server_order));
    let (mut from_patch, mut server_only): (Vec<_>, Vec<_>) = merged
        .into_iter()
        .map(|v| {
            let key = id(&v).map(|id| canonical_json(&id));
            let lookup = |map: &HashMap<String, usize>| key.as_ref().and_then(|k| map.get(k).copied());
            (lookup(&in_patch), lookup(&on_server), v)
        })
        .partition(|(in_patch, _, _)| in_patch.is_some());
    from_patch.sort_by_key(|(in_patch, _, _)| in_patch.unwrap_or(usize::MAX));
    server_only.sort_by_key(|(_, on_server, _)| on_server.unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(from_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((_, l, _)), Some((_, r, _))) => matches!((l, r), (Some(l), Some(r)) if l < r),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next.map(|(_, _, v)| v));
    }
    out
}

/// `$setElementOrder/<field>`: merges the field's list as usual, then orders
/// it: listed items as listed, the others where the server had them.
pub(super) fn apply_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    field: &str,
    order: Value,
    schema: Option<SchemaNode<'_>>,
) -> Result<(), PatchError> {
    let invalid = || bad("invalid patch format of setElementOrder list");
    let Value::Array(order) = order else { return Err(invalid()) };
    let patch_list = match patch.remove(field) {
        None => None,
        Some(Value::Array(list)) => Some(list),
        // A null or scalar replaces the list: ordering has nothing to act on.
        Some(other) => {
            patch.insert(field.to_string(), other);
            return Ok(());
        }
    };
    let current = match original.get(field) {
        Some(Value::Array(list)) => Some(list.clone()),
        _ => None,
    };
    let keyed = order.iter().chain(patch_list.iter().flatten()).any(Value::is_object);
    let key = if keyed { Some(merge_key(schema).ok_or_else(invalid)?) } else { None };
    let id = |v: &Value| -> Option<Value> {
        match &key {
            Some(k) => v.get(k.as_str()).cloned(),
            None => Some(v.clone()),
        }
    };
    if let Some(list) = &patch_list {
        check_order(list, &order, &id)?;
    }
    let merged = match (current.clone(), patch_list) {
        (Some(current), Some(list)) => merge_list(current, list, schema)?,
        (Some(current), None) => current,
        (None, Some(list)) => merge_list(Vec::new(), list, schema)?,
        (None, None) => return Ok(()),
    };
    let ordered = normalize_order(merged, &order, current.as_deref().unwrap_or_default(), id);
    original.insert(field.to_string(), Value::Array(ordered));
    Ok(())
}

/// The patch list's items (deletions aside) must appear in `order`, in the same relative order.
fn check_order(patch: &[Value], order: &[Value], id: &impl Fn(&Value) -> Option<Value>) -> Result<(), PatchError> {
    let mut next = 0;
    for item in patch {
        if item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)) {
            continue;
        }
        let wanted = id(item);
        match order[next..].iter().position(|o| wanted.is_some() && id(o) == wanted) {
            Some(offset) => next += offset + 1,
            None => {
                return Err(bad(format!(
                    "the order in patch list {} doesn't match the $setElementOrder list {}",
                    Value::Array(patch.to_vec()),
                    Value::Array(order.to_vec())
                )));
            }
        }
    }
    Ok(())
}
