//! `pods/<name>/eviction`: deletes a pod unless that would break its
//! PodDisruptionBudget, as upstream's eviction REST handler does:
//! - finished, pending or already terminating pods are deleted at once;
//! - a pod covered by more than one budget cannot be evicted;
//! - an unready pod is deleted when its budget is healthy anyway (or its
//!   `unhealthyPodEvictionPolicy` is AlwaysAllow), on the condition that the
//!   pod did not change meanwhile;
//! - otherwise the budget's `disruptionsAllowed` is checked and decremented
//!   (compare-and-swap on the budget), the pod gets a DisruptionTarget
//!   condition, and is deleted.

use axum::response::Response;
use http::StatusCode;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::{Value, json};

use super::ResourceRequest;
use super::pod::set_pod_condition;
use super::read::load;
use crate::admission::disruption::{self, StoredBudget};
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;
use crate::objects;

/// How often a conflicting budget or pod update is retried (upstream: 20 steps).
const RETRIES: usize = 20;

fn success() -> Response {
    response::json(StatusCode::CREATED, &k3rs_api::error::success_status(None))
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("")
}

fn is_ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// Pods whose deletion disrupts nothing more than has happened already.
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending") || meta::deletion_timestamp(pod).is_some()
}

/// Whether deleting the pod must be conditional on its revision, so that it
/// cannot have turned Ready (and counted towards a budget) meanwhile.
fn enforce_revision(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && meta::deletion_timestamp(pod).is_none()
}

pub async fn evict(r: &ResourceRequest) -> Result<Response, ApiError> {
    let format = body_format(r.header("content-type"))?;
    let eviction = decode_body(&r.body, format)?.value;
    let named = meta::name(&eviction);
    if !named.is_empty() && named != r.name() {
        return Err(ApiError::bad_request("name in URL does not match name in Eviction object"));
    }
    let options = eviction.get("deleteOptions").cloned().unwrap_or(json!({}));
    let dry_run = r.query.dry_run()? || options.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let user_revision = options.pointer("/preconditions/resourceVersion").is_some_and(|v| !v.is_null());

    for _ in 0..RETRIES {
        let (pod, revision) = load(r).await?;
        if can_ignore_budget(&pod) {
            let precondition = (enforce_revision(&pod) && !user_revision).then_some(revision);
            match super::delete::delete_pod_for_eviction(r, &options, precondition, dry_run).await {
                Err(e) if e.reason == Reason::Conflict && precondition.is_some() => continue,
                other => return other.map(|_| success()),
            }
        }
        let mut budgets = disruption::matching_budgets(r, &pod).await?;
        if budgets.len() > 1 {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
        let Some(mut budget) = budgets.pop() else {
            super::delete::delete_pod_for_eviction(r, &options, None, dry_run).await?;
            return Ok(success());
        };
        let name = meta::name(&budget.object).to_string();
        if !is_ready(&pod) && unready_may_go(&budget.object) {
            // Unready pods are not counted as healthy: nothing to decrement, as long as
            // the pod is still the unready one that was checked.
            let precondition = (!user_revision).then_some(revision);
            return match super::delete::delete_pod_for_eviction(r, &options, precondition, dry_run).await {
                Err(e) if e.reason == Reason::Conflict && precondition.is_some() => {
                    Err(disruption::still_processing(&name))
                }
                other => other.map(|_| success()),
            };
        }
        let now = meta::format_time(jiff::Timestamp::now());
        disruption::check_and_decrement(&mut budget.object, meta::name(&pod), &now, dry_run)?;
        if !dry_run && !write_budget(r, &budget).await? {
            // The budget changed meanwhile (another eviction, its controller): look again.
            continue;
        }
        if !dry_run {
            mark_disruption_target(r).await?;
        }
        super::delete::delete_pod_for_eviction(r, &options, None, dry_run).await?;
        return Ok(success());
    }
    let mut err = ApiError::new(Reason::Timeout, "couldn't update PodDisruptionBudget due to conflicts");
    err.retry_after_seconds = Some(10);
    Err(err)
}

/// For an unready pod: whether its budget lets it go without a decrement.
fn unready_may_go(pdb: &Value) -> bool {
    if pdb.pointer("/spec/unhealthyPodEvictionPolicy").and_then(Value::as_str) == Some("AlwaysAllow") {
        return true;
    }
    let int = |f: &str| pdb.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
    int("currentHealthy") >= int("desiredHealthy") && int("desiredHealthy") > 0
}

/// Writes the budget back if nobody changed it since it was read.
async fn write_budget(r: &ResourceRequest, budget: &StoredBudget) -> Result<bool, ApiError> {
    match r.state.store.update(&budget.key, r.state.codec.encode(&budget.key, &budget.object)?, budget.revision).await {
        Ok(_) => Ok(true),
        Err(k3rs_store::Error::Conflict { .. }) => Ok(false),
        Err(e) => Err(objects::generic_store_error(e)),
    }
}

/// Records on the pod why it is about to go (the DisruptionTarget condition).
async fn mark_disruption_target(r: &ResourceRequest) -> Result<(), ApiError> {
    for _ in 0..RETRIES {
        let (mut pod, revision) = load(r).await?;
        set_pod_condition(&mut pod, "DisruptionTarget", "True");
        if let Some(c) = pod
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
            .and_then(|cs| cs.iter_mut().find(|c| c["type"] == "DisruptionTarget"))
        {
            c["reason"] = json!("EvictionByEvictionAPI");
            c["message"] = json!("Eviction API: evicting");
        }
        match r.state.store.update(&r.key(), r.state.codec.encode(&r.key(), &pod)?, revision).await {
            Ok(_) => return Ok(()),
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(k3rs_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(objects::generic_store_error(e)),
        }
    }
    Err(ApiError::conflict("pods", "", r.name(), "the pod kept changing while it was being evicted"))
}
