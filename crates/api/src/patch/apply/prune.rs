//! Removes what an applier stopped applying: fields, list items and set
//! values it applied last time, does not apply now, and nobody else owns.
//! Fields that only other managers or nobody ever owned stay untouched.

use serde_json::Value;

use crate::patch::fieldpath::{FieldSet, PathElement};
use crate::patch::shape::{Shape, child_schema, is_empty_container, item_key, shape_of};
use crate::schema::SchemaNode;

/// Prunes `value` (a merged object) given the applier's previous set `last`,
/// its current set `current` and the union of everybody else's sets `others`.
pub(crate) fn prune(
    value: &mut Value,
    schema: Option<SchemaNode<'_>>,
    last: &FieldSet,
    current: &FieldSet,
    others: &FieldSet,
) {
    prune_at(value, schema, last, Some(current), Some(others), 0);
}

fn prune_at(
    value: &mut Value,
    schema: Option<SchemaNode<'_>>,
    last: &FieldSet,
    current: Option<&FieldSet>,
    others: Option<&FieldSet>,
    depth: usize,
) {
    match (shape_of(schema, value), value) {
        (Shape::Fields { schema, .. }, Value::Object(map)) => {
            for pe in last.elements() {
                let PathElement::Field(name) = pe else { continue };
                let child_schema = child_schema(schema, name);
                let Some(child) = map.get_mut(name.as_str()) else { continue };
                match decide(pe, last, current, others) {
                    Decision::Keep => {}
                    Decision::Descend { current, others, claimed } => {
                        if let Some(child_last) = last.child(pe) {
                            let was_empty = is_empty_container(child);
                            prune_at(child, child_schema, child_last, current, others, depth + 1);
                            // Emptied by pruning and not claimed as a whole by anyone: drop it.
                            if !was_empty && is_empty_container(child) && !claimed {
                                map.remove(name.as_str());
                            }
                        }
                    }
                    Decision::Remove => {
                        map.remove(name.as_str());
                    }
                    Decision::RemoveOwnedParts => {
                        // Like upstream, a struct whose fields were all ours goes as a
                        // whole; the object's metadata never does (it holds the name).
                        let is_struct = matches!(shape_of(child_schema, child), Shape::Fields { is_map: false, .. });
                        if is_struct && !(depth == 0 && name == "metadata") {
                            map.remove(name.as_str());
                        } else if let Some(child_last) = last.child(pe) {
                            prune_at(child, child_schema, child_last, None, None, depth + 1);
                            if is_empty_container(child) {
                                map.remove(name.as_str());
                            }
                        }
                    }
                }
            }
        }
        (Shape::Keyed { keys, items }, Value::Array(list)) => {
            list.retain_mut(|item| {
                let Some(pe) = item.as_object().and_then(|m| item_key(m, &keys, items).ok()) else { return true };
                if !last.touches(&pe) {
                    return true;
                }
                match decide(&pe, last, current, others) {
                    Decision::Keep => true,
                    Decision::Remove => false,
                    Decision::Descend { current, others, .. } => {
                        if let Some(child_last) = last.child(&pe) {
                            prune_at(item, items, child_last, current, others, depth + 1);
                        }
                        true
                    }
                    Decision::RemoveOwnedParts => {
                        if let Some(child_last) = last.child(&pe) {
                            prune_at(item, items, child_last, None, None, depth + 1);
                        }
                        true
                    }
                }
            });
        }
        (Shape::Set, Value::Array(list)) => {
            list.retain(|item| {
                let pe = PathElement::value(item);
                !(last.has_member(&pe) && matches!(decide(&pe, last, current, others), Decision::Remove))
            });
        }
        _ => {}
    }
}

enum Decision<'s> {
    /// Nothing of ours below: leave it.
    Keep,
    /// Still applied or owned by others: look inside. `claimed` when somebody
    /// owns the node itself, not just parts of it.
    Descend { current: Option<&'s FieldSet>, others: Option<&'s FieldSet>, claimed: bool },
    /// We owned it, nobody wants it any more.
    Remove,
    /// We owned parts of it, nobody wants it any more.
    RemoveOwnedParts,
}

fn decide<'s>(
    pe: &PathElement,
    last: &FieldSet,
    current: Option<&'s FieldSet>,
    others: Option<&'s FieldSet>,
) -> Decision<'s> {
    if !last.touches(pe) {
        return Decision::Keep;
    }
    let still_applied = current.is_some_and(|c| c.touches(pe));
    let owned_by_others = others.is_some_and(|o| o.touches(pe));
    if still_applied || owned_by_others {
        // A member we and somebody else still own is kept whole; parts below may go.
        return Decision::Descend {
            current: current.and_then(|c| c.child(pe)),
            others: others.and_then(|o| o.child(pe)),
            claimed: current.is_some_and(|c| c.has_member(pe)) || others.is_some_and(|o| o.has_member(pe)),
        };
    }
    if last.has_member(pe) { Decision::Remove } else { Decision::RemoveOwnedParts }
}
