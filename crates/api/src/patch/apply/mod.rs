//! Server-side apply (`application/apply-patch+yaml`): merges an applied
//! configuration into the live object and records that the applier owns
//! exactly the fields it applied.
//!
//! The steps follow upstream's structured merge: merge (keyed lists by key,
//! sets as unions, atomic parts replaced), prune what the applier applied last
//! time but no longer does (unless another manager owns it), then compare with
//! the live object: changing a field another manager owns is a conflict unless
//! `force` moves the ownership. Fields the applier sets to their current value
//! become shared.

mod conflict;
mod merge;
mod prune;

use serde_json::{Value, json};

pub use conflict::{ApplyConflict, Conflict};

use super::compare::compare;
use super::fieldpath::FieldSet;
use super::managed_fields::{
    FieldManager, ManagedFieldsEntry, Operation, Scope, decode, encode, without_managed_fields,
};
use crate::error::ApiError;
use crate::schema::SchemaNode;

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields other managers own would change (409 Conflict).
    #[error(transparent)]
    Conflict(#[from] ApplyConflict),
    /// The applied configuration is unusable (400 BadRequest).
    #[error("{0}")]
    BadRequest(String),
}

impl From<ApplyError> for ApiError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Conflict(c) => c.to_api_error(),
            ApplyError::BadRequest(message) => ApiError::bad_request(message),
        }
    }
}

/// The manager upstream gives the fields of an object that had no managed
/// fields when it was first applied to.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The annotation client-side `kubectl apply` keeps its configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Applies `applied` (the request body, already decoded from YAML/JSON) to
/// `live` (`None`: the object does not exist yet) for `writer`, returning the
/// new object with its managedFields. The caller then runs the usual
/// create/update path (defaulting, the strategy's status reset, validation).
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    writer: &FieldManager<'_>,
    force: bool,
    schema: SchemaNode<'_>,
) -> Result<Value, ApplyError> {
    let bad = |why: String| ApplyError::BadRequest(format!("failed to create typed patch object: {why}"));
    if !applied.is_object() {
        return Err(ApplyError::BadRequest("the applied configuration must be a JSON or YAML object".into()));
    }
    if applied.pointer("/metadata/managedFields").is_some_and(|v| !v.is_null()) {
        return Err(ApplyError::BadRequest("metadata.managedFields must be nil".into()));
    }
    let applied = without_nulls(applied);
    let scope = Scope::for_subresource(writer.subresource);
    let applied_set = scope.filter(FieldSet::from_object(&applied, schema).map_err(bad)?);

    let live_obj = live.map(without_managed_fields).unwrap_or_else(|| json!({}));
    // Unreadable managed fields are dropped rather than blocking every apply.
    let mut entries = live.and_then(|l| decode(l).ok()).unwrap_or_default();
    if live.is_some() && entries.is_empty() {
        let existing = scope.filter(
            FieldSet::from_object(&live_obj, schema)
                .map_err(|e| ApplyError::BadRequest(format!("live object: {e}")))?,
        );
        entries.push(ManagedFieldsEntry {
            manager: BEFORE_FIRST_APPLY.into(),
            operation: Operation::Update,
            api_version: writer.api_version.into(),
            time: Some(writer.time.into()),
            subresource: None,
            fields: existing,
        });
    }

    let mut me = ManagedFieldsEntry {
        manager: writer.name.into(),
        operation: Operation::Apply,
        api_version: writer.api_version.into(),
        time: Some(writer.time.into()),
        subresource: writer.subresource.map(String::from),
        fields: applied_set.clone(),
    };
    let mut merged = merge::merge(Some(&live_obj), &applied, Some(schema)).map_err(bad)?;
    let others = entries.iter().filter(|e| !e.same_manager(&me)).fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
    if let Some(last) = entries.iter().find(|e| e.same_manager(&me)) {
        prune::prune(&mut merged, Some(schema), &last.fields, &applied_set, &others);
    }

    let changes = compare(&live_obj, &merged, Some(schema)).map_err(bad)?.map_sets(|s| scope.filter(s));
    let changed = changes.changed();
    let conflicts = ApplyConflict::find(&entries, &me, &changed);
    if !conflicts.conflicts.is_empty() && !force && !forgiven_for_kubectl(writer, &live_obj, &conflicts, schema) {
        return Err(conflicts.into());
    }

    // Forced (or forgiven) conflicts move to the applier; removed fields leave everybody.
    for entry in entries.iter_mut().filter(|e| !e.same_manager(&me)) {
        entry.fields = entry.fields.difference(&changed).difference(&changes.removed);
    }
    // An apply that changes nothing keeps the applier's time, so it costs no write.
    let previous = entries.iter().find(|e| e.same_manager(&me)).map(|e| e.time.clone());
    if let Some(time) = previous
        && merged == live_obj
    {
        me.time = time;
    }
    entries.retain(|e| !e.same_manager(&me));
    entries.push(me);

    if writer.name == "kubectl" {
        sync_last_applied(&mut merged, &applied);
    }
    encode(&mut merged, entries);
    Ok(merged)
}

/// The applied configuration without null values: a null asks for nothing.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Moving from client-side to server-side `kubectl apply`: conflicts on fields
/// whose live value still matches the last-applied annotation are the same
/// user's intent, so upstream lets kubectl take them over.
fn forgiven_for_kubectl(
    writer: &FieldManager<'_>,
    live: &Value,
    conflicts: &ApplyConflict,
    schema: SchemaNode<'_>,
) -> bool {
    if writer.name != "kubectl" {
        return false;
    }
    let Some(text) = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    let Ok(last_applied) = serde_json::from_str::<Value>(text) else { return false };
    let (Ok(set), Ok(diff)) =
        (FieldSet::from_object(&last_applied, schema), compare(&last_applied, live, Some(schema)))
    else {
        return false;
    };
    let allowed = set.difference(&diff.modified).difference(&diff.added).difference(&diff.removed);
    conflicts.conflicts.iter().all(|c| allowed.contains(&c.path.0))
}

/// `kubectl apply --server-side` keeps an existing last-applied annotation in
/// step with what was applied, so a later client-side apply diffs correctly.
fn sync_last_applied(merged: &mut Value, applied: &Value) {
    let has_annotation = merged
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()));
    if !has_annotation {
        return;
    }
    let mut config = applied.clone();
    if let Some(annotations) = config.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED_ANNOTATION);
        if annotations.is_empty()
            && let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    if let Some(annotations) = merged.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(config.to_string()));
    }
}

#[cfg(test)]
mod tests;
