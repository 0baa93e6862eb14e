//! Field ownership (`metadata.managedFields`) for writes that are not
//! server-side apply: the manager of a create, update or patch owns what it changed.

use k3rs_api::patch::update_managed_fields;
use serde_json::Value;

use crate::patching::is_apply;
use crate::rest::ResourceRequest;

fn track(r: &ResourceRequest, old: Option<&Value>, new: &mut Value) {
    let Some(schema) = crate::crd::schema_node(&r.registry, &r.storage) else { return };
    let writer = r.field_writer();
    // Upstream keeps the write when field tracking fails, without managedFields.
    if let Err(e) = update_managed_fields(old, new, &writer.as_manager(), schema) {
        tracing::warn!(resource = %r.def.qualified_plural(), error = %e, "managed fields not tracked");
    }
}

/// On create: the creator owns every field it set (server-side apply has done its own).
pub fn on_create(r: &ResourceRequest, obj: &mut Value) {
    if !is_apply(r) {
        track(r, None, obj);
    }
}

/// On update or patch: the writer owns the fields it changed.
pub fn on_update(r: &ResourceRequest, old: &Value, new: &mut Value) {
    if !is_apply(r) {
        track(r, Some(old), new);
    }
}

/// Whether the stored `managedFields` must be carried over unchanged by an update
/// (everything but server-side apply, which computes them).
pub fn carries_stored(r: &ResourceRequest) -> bool {
    !is_apply(r)
}
