//! Admission: checks and side effects that need the store or the requester, run after a
//! kind's own rules and before (or after) the write, in upstream's order: NamespaceLifecycle,
//! LimitRanger, ServiceAccount, NodeRestriction, DefaultTolerationSeconds, RBAC escalation
//! checks, ResourceQuota; then Service address and port allocation. After writes: the RBAC
//! cache, per-namespace service accounts and quota usage follow what changed.

pub mod allocator;
mod default_toleration_seconds;
pub mod disruption;
mod limit_ranger;
mod namespace_lifecycle;
pub mod node_restriction;
mod resource_quota;
pub mod service_account;
mod services;

use k3rs_api::{ApiError, meta};
use serde_json::Value;

use crate::rest::ResourceRequest;

fn is_core(r: &ResourceRequest, plural: &str) -> bool {
    r.storage.group.is_empty() && r.storage.plural == plural
}

fn is_services(r: &ResourceRequest) -> bool {
    is_core(r, "services")
}

fn is_rbac(r: &ResourceRequest) -> bool {
    r.storage.group == "rbac.authorization.k8s.io"
}

pub async fn admit_create(r: &ResourceRequest, obj: &mut Value, dry_run: bool) -> Result<(), ApiError> {
    namespace_lifecycle::check_create(r, obj).await?;
    if is_core(r, "pods") {
        limit_ranger::admit_pod(r, obj).await?;
        service_account::admit_pod(r, obj).await?;
    }
    if is_core(r, "persistentvolumeclaims") {
        limit_ranger::admit_claim(r, obj).await?;
    }
    if is_core(r, "secrets") {
        service_account::admit_token_secret(r, obj).await?;
    }
    node_restriction::admit_create(r, obj)?;
    if is_core(r, "pods") {
        default_toleration_seconds::admit_pod(obj);
    }
    if is_rbac(r) {
        crate::authz::rbac::escalation::check(&r.state, &r.user, &r.storage.plural, obj).await?;
    }
    resource_quota::admit_create(r, obj, dry_run).await?;
    if is_services(r) {
        services::allocate_on_create(r, obj, dry_run).await?;
    }
    Ok(())
}

pub async fn admit_update(r: &ResourceRequest, new: &mut Value, old: &Value, dry_run: bool) -> Result<(), ApiError> {
    node_restriction::admit_update(r, new, old)?;
    if is_rbac(r) {
        crate::authz::rbac::escalation::check(&r.state, &r.user, &r.storage.plural, new).await?;
    }
    if is_services(r) && r.info.subresource.is_none() {
        services::allocate_on_update(r, new, old, dry_run).await?;
    }
    Ok(())
}

fn revision(obj: &Value) -> i64 {
    meta::resource_version(obj).parse().unwrap_or(0)
}

/// Keeps the in-memory RBAC objects in step with an API write (read your own writes).
fn follow_rbac(r: &ResourceRequest, obj: &Value, deleted: bool) {
    if is_rbac(r) {
        let key = r.storage.key(Some(meta::namespace(obj)), meta::name(obj));
        r.state.rbac.apply(&key, revision(obj), (!deleted).then(|| obj.clone()));
    }
}

async fn recount_quota(r: &ResourceRequest, obj: &Value) {
    if r.storage.namespaced {
        resource_quota::recount(&r.state, meta::namespace(obj)).await;
    }
}

async fn restore_service_account_objects(r: &ResourceRequest, obj: &Value) {
    if r.storage.group.is_empty() && crate::serviceaccounts::concerns(&r.storage.plural, obj) {
        let _ = crate::serviceaccounts::ensure(&r.state, meta::namespace(obj)).await;
    }
}

/// A create was stored.
pub async fn after_create(r: &ResourceRequest, obj: &Value) {
    follow_rbac(r, obj, false);
    if is_core(r, "namespaces")
        && let Err(e) = crate::serviceaccounts::ensure(&r.state, meta::name(obj)).await
    {
        tracing::warn!(namespace = meta::name(obj), error = %e.message, "creating the default service account failed");
    }
    if is_core(r, "resourcequotas") {
        recount_quota(r, obj).await;
    }
}

/// A create was admitted but not stored: give back what admission took.
pub async fn abort_create(r: &ResourceRequest, obj: &Value) {
    if is_services(r) {
        services::release_all(r, obj).await;
    }
    recount_quota(r, obj).await;
}

/// An update was stored: release what the old object held and the new one does not.
pub async fn after_update(r: &ResourceRequest, new: &Value, old: &Value) {
    if is_services(r) {
        services::release_unused(r, old, new).await;
    }
    follow_rbac(r, new, false);
    let (plural, group) = (r.storage.plural.as_str(), r.storage.group.as_str());
    if is_core(r, "resourcequotas")
        || resource_quota::usage::usage(plural, group, new) != resource_quota::usage::usage(plural, group, old)
    {
        recount_quota(r, new).await;
    }
    restore_service_account_objects(r, new).await;
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
    follow_rbac(r, obj, true);
    recount_quota(r, obj).await;
    restore_service_account_objects(r, obj).await;
}
