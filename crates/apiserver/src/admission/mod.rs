//! Admission: checks and side effects that need the store, run after a kind's
//! own rules and before (or after) the write: namespace lifecycle, Service
//! address and port allocation, disruption budgets.

pub mod allocator;
pub mod disruption;
mod namespace_lifecycle;
mod services;

use k3rs_api::ApiError;
use serde_json::Value;

use crate::rest::ResourceRequest;

fn is_services(r: &ResourceRequest) -> bool {
    r.storage.group.is_empty() && r.storage.plural == "services"
}

pub async fn admit_create(r: &ResourceRequest, obj: &mut Value, dry_run: bool) -> Result<(), ApiError> {
    namespace_lifecycle::check_create(r, obj).await?;
    if is_services(r) {
        services::allocate_on_create(r, obj, dry_run).await?;
    }
    Ok(())
}

pub async fn admit_update(r: &ResourceRequest, new: &mut Value, old: &Value, dry_run: bool) -> Result<(), ApiError> {
    if is_services(r) && r.info.subresource.is_none() {
        services::allocate_on_update(r, new, old, dry_run).await?;
    }
    Ok(())
}

/// A create was stored.
pub async fn after_create(_r: &ResourceRequest, _obj: &Value) {}

/// A create was admitted but not stored: give back what admission took.
pub async fn abort_create(r: &ResourceRequest, obj: &Value) {
    if is_services(r) {
        services::release_all(r, obj).await;
    }
}

/// An update was stored: release what the old object held and the new one does not.
pub async fn after_update(r: &ResourceRequest, new: &Value, old: &Value) {
    if is_services(r) {
        services::release_unused(r, old, new).await;
    }
}

/// An update was admitted but not stored: release what was taken for it.
pub async fn abort_update(r: &ResourceRequest, new: &Value, old: &Value) {
    if is_services(r) {
        services::release_unused(r, new, old).await;
    }
}

/// An object left the store.
pub async fn after_delete(r: &ResourceRequest, obj: &Value) {
    if is_services(r) {
        services::release_all(r, obj).await;
    }
}
