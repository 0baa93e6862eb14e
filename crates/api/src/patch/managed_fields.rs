//! `metadata.managedFields`: which manager owns which fields, and how writes
//! other than server-side apply (create, update, patch) move ownership.
//!
//! Every write records the fields it changed under the writer's entry
//! (`operation: Update`) and takes them away from every other entry; fields it
//! removed leave every entry. Entries are identified by manager, operation,
//! subresource and, for updates, API version; empty entries drop out.
//! Identity and bookkeeping fields (`metadata.name`, `resourceVersion`, ...)
//! are never tracked, and `status` belongs to the status subresource.

use serde_json::{Map, Value, json};

use super::compare::compare;
use super::fieldpath::{FieldSet, FieldsV1Error, PathElement};
use crate::schema::SchemaNode;

/// `managedFields[].operation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// The writer of a request: the `fieldManager` query parameter (or the name the
/// server derived from the user agent), the API version the request used, the
/// subresource written (`status`, `scale`), and the current time (RFC 3339).
#[derive(Debug, Clone, Copy)]
pub struct FieldManager<'a> {
    pub name: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub time: &'a str,
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManagedFieldsError {
    /// `metadata.managedFields` cannot be decoded.
    #[error("invalid managedFields: {0}")]
    Invalid(String),
    /// The object's fields cannot be tracked (e.g. a keyed list item without its key).
    #[error("cannot track the fields of the object: {0}")]
    Untrackable(String),
}

impl From<FieldsV1Error> for ManagedFieldsError {
    fn from(e: FieldsV1Error) -> Self {
        ManagedFieldsError::Invalid(e.0)
    }
}

pub const MANAGED_FIELDS_POINTER: &str = "/metadata/managedFields";

impl ManagedFieldsEntry {
    /// Whether two entries belong to the same manager. Appliers keep one entry
    /// across API versions; updaters get one per API version, like upstream.
    pub fn same_manager(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How upstream names this manager in conflict messages:
    /// `"kubectl-client-side-apply" using apps/v1`, or just `"kubectl"` for an applier.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), json!(self.manager));
        entry.insert("operation".into(), json!(self.operation.as_str()));
        entry.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            entry.insert("time".into(), json!(time));
        }
        entry.insert("fieldsType".into(), json!("FieldsV1"));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(sub) = &self.subresource {
            entry.insert("subresource".into(), json!(sub));
        }
        Value::Object(entry)
    }

    pub fn from_json(value: &Value) -> Result<Self, ManagedFieldsError> {
        let invalid = |why: String| ManagedFieldsError::Invalid(why);
        let map = value.as_object().ok_or_else(|| invalid("an entry is not an object".into()))?;
        let text = |key: &str| map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        let operation = match text("operation").as_deref() {
            Some("Apply") => Operation::Apply,
            Some("Update") => Operation::Update,
            other => return Err(invalid(format!("unknown operation {other:?}"))),
        };
        match text("fieldsType").as_deref() {
            None | Some("FieldsV1") => {}
            Some(other) => return Err(invalid(format!("can only handle FieldsV1 format, got {other:?}"))),
        }
        let fields = match map.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v)?,
        };
        Ok(ManagedFieldsEntry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource"),
            fields,
        })
    }
}

/// Decodes `metadata.managedFields`; entries of the same manager are merged.
pub fn decode(obj: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let Some(list) = obj.pointer(MANAGED_FIELDS_POINTER).filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| ManagedFieldsError::Invalid("expected a list".into()))?;
    let mut out: Vec<ManagedFieldsEntry> = Vec::with_capacity(list.len());
    for item in list {
        let entry = ManagedFieldsEntry::from_json(item)?;
        match out.iter_mut().find(|e| e.same_manager(&entry)) {
            Some(existing) => existing.fields = existing.fields.union(&entry.fields),
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// Writes `entries` (empty ones dropped, sorted like upstream: appliers first,
/// then by time, manager, API version, subresource) into `metadata.managedFields`,
/// or removes the field when nothing is left.
pub fn encode(obj: &mut Value, mut entries: Vec<ManagedFieldsEntry>) {
    entries.retain(|e| !e.fields.is_empty());
    entries.sort_by(|a, b| {
        (a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(
            b.operation,
            &b.time,
            &b.manager,
            &b.api_version,
            &b.subresource,
        ))
    });
    if entries.is_empty() {
        remove_managed_fields(obj);
        return;
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["managedFields"] = Value::Array(entries.iter().map(ManagedFieldsEntry::to_json).collect());
}

pub fn remove_managed_fields(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// `managedFields: []` or `[{}]` in a request clears the tracking.
fn is_reset(obj: &Value) -> bool {
    match obj.pointer(MANAGED_FIELDS_POINTER).and_then(Value::as_array) {
        Some(list) if list.is_empty() => true,
        Some(list) => list.len() == 1 && list[0].as_object().is_some_and(Map::is_empty),
        None => false,
    }
}

/// Which fields a write to the main resource or a subresource tracks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    status_only: bool,
}

/// Fields no manager ever owns: identity and bookkeeping kept by the server.
const UNTRACKED: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "clusterName"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

impl Scope {
    pub fn for_subresource(subresource: Option<&str>) -> Self {
        Scope { status_only: subresource == Some("status") }
    }

    /// Drops what this kind of write does not track.
    pub fn filter(&self, set: FieldSet) -> FieldSet {
        let status = [PathElement::field("status")];
        let mut set = if self.status_only {
            set.retain_subtree(&status)
        } else {
            let mut s = set;
            s.remove_subtree(&status);
            s
        };
        for path in UNTRACKED {
            let path: Vec<PathElement> = path.iter().map(|p| PathElement::field(*p)).collect();
            set.remove_subtree(&path);
        }
        // `metadata: {}` alone is nothing to own either.
        set.remove_member(&[PathElement::field("metadata")]);
        set
    }
}

/// A copy of `obj` without `metadata.managedFields`.
pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    remove_managed_fields(&mut out);
    out
}

/// Records a create, update or patch (anything but server-side apply) in
/// `new`'s managed fields: the fields that differ from `old` (all of them on
/// create, `old == None`) become owned by `writer` with `operation: Update`.
///
/// The starting entries are those of `new` when the request set them (so
/// clients can edit managedFields; `[]` or `[{}]` clears them), else those of
/// `old`; subresource writes always start from `old`. A write that changes
/// nothing leaves the entries alone.
///
/// On error, like upstream, `new` is left without managedFields (the write
/// itself should still go ahead; the error is worth a log line).
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &mut Value,
    writer: &FieldManager<'_>,
    schema: SchemaNode<'_>,
) -> Result<(), ManagedFieldsError> {
    let result = compute_update(old, new, writer, schema);
    match result {
        Ok(entries) => {
            encode(new, entries);
            Ok(())
        }
        Err(e) => {
            remove_managed_fields(new);
            Err(e)
        }
    }
}

fn starting_entries(old: Option<&Value>, new: &Value, subresource: bool) -> Vec<ManagedFieldsEntry> {
    let from_old = || old.and_then(|o| decode(o).ok()).unwrap_or_default();
    if subresource {
        return from_old();
    }
    if is_reset(new) {
        return Vec::new();
    }
    match decode(new) {
        Ok(entries) if !entries.is_empty() => entries,
        _ => from_old(),
    }
}

fn compute_update(
    old: Option<&Value>,
    new: &Value,
    writer: &FieldManager<'_>,
    schema: SchemaNode<'_>,
) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let mut entries = starting_entries(old, new, writer.subresource.is_some());
    let old_obj = old.map(without_managed_fields).unwrap_or_else(|| json!({}));
    let new_obj = without_managed_fields(new);
    let scope = Scope::for_subresource(writer.subresource);
    let changes = compare(&old_obj, &new_obj, Some(schema))
        .map_err(ManagedFieldsError::Untrackable)?
        .map_sets(|s| scope.filter(s));
    // Removed fields leave every entry; changed fields move to the writer.
    let changed = changes.changed();
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&changed).difference(&changes.removed);
    }
    if changed.is_empty() {
        // Nothing gained: the writer's entry (if any) keeps its time, like upstream.
        return Ok(entries);
    }
    let me = ManagedFieldsEntry {
        manager: writer.name.to_string(),
        operation: Operation::Update,
        api_version: writer.api_version.to_string(),
        time: Some(writer.time.to_string()),
        subresource: writer.subresource.map(String::from),
        fields: changed.clone(),
    };
    match entries.iter_mut().find(|e| e.same_manager(&me)) {
        Some(mine) => {
            mine.fields = mine.fields.union(&changed);
            mine.time = me.time;
        }
        None => entries.push(me),
    }
    Ok(entries)
}

#[cfg(test)]
mod tests;
