//! The eviction API's side of PodDisruptionBudgets: which budgets cover a pod,
//! and the check-and-decrement of a budget's `disruptionsAllowed` that admits
//! one eviction (recording the pod in `disruptedPods`, so the disruption
//! controller does not count it as healthy while it goes).

use k3rs_api::error::Cause;
use k3rs_api::selector::LabelSelector;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::{Map, Value, json};

use crate::objects;
use crate::rest::ResourceRequest;

/// Evictions approved but not yet confirmed by the disruption controller
/// beyond which a budget refuses more (upstream's `MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;
const DISRUPTION_BUDGET_CAUSE: &str = "DisruptionBudget";

/// A budget as stored, with its key and revision for a compare-and-swap.
pub struct StoredBudget {
    pub key: String,
    pub revision: i64,
    pub object: Value,
}

/// The budgets of the pod's namespace whose selector selects it. A missing or
/// empty selector selects nothing here, as upstream's eviction has it.
pub async fn matching_budgets(r: &ResourceRequest, pod: &Value) -> Result<Vec<StoredBudget>, ApiError> {
    let ns = meta::namespace(pod);
    let pdbs = r
        .state
        .store
        .list(&format!("/registry/poddisruptionbudgets/{ns}/"), Default::default())
        .await
        .map_err(objects::generic_store_error)?;
    let mut out = Vec::new();
    for kv in pdbs.items {
        let pdb = r.state.codec.decode(&kv)?;
        let Ok(selector) = LabelSelector::from_object(pdb.pointer("/spec/selector")) else { continue };
        if selector.is_empty() || !selector.matches(meta::labels(pod)) {
            continue;
        }
        out.push(StoredBudget { key: kv.key.clone(), revision: kv.mod_revision, object: pdb });
    }
    Ok(out)
}

/// The 429 every refused eviction answers with, and the reason as its cause.
pub fn too_many_requests(cause: String, retry_after: Option<u32>) -> ApiError {
    let mut err =
        ApiError::new(Reason::TooManyRequests, "Cannot evict pod as it would violate the pod's disruption budget.");
    err.causes.push(Cause { reason: DISRUPTION_BUDGET_CAUSE.into(), message: cause, field: None });
    err.retry_after_seconds = retry_after;
    err
}

/// The budget's status has not caught up with its spec yet.
pub fn still_processing(name: &str) -> ApiError {
    too_many_requests(format!("The disruption budget {name} is still being processed by the server."), Some(10))
}

fn status_int(pdb: &Value, field: &str) -> i64 {
    pdb.pointer(&format!("/status/{field}")).and_then(Value::as_i64).unwrap_or(0)
}

fn forbidden(name: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!("poddisruptionbudgets.policy {name:?} is forbidden: {why}")).with_details(
        "policy",
        "poddisruptionbudgets",
        name,
    )
}

/// Admits one eviction of `pod_name` against `pdb` (storage form), changing its
/// status as the API server writes it back; `now` is an RFC 3339 time.
pub fn check_and_decrement(pdb: &mut Value, pod_name: &str, now: &str, dry_run: bool) -> Result<(), ApiError> {
    let name = meta::name(pdb).to_string();
    let generation = pdb.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    if status_int(pdb, "observedGeneration") < generation {
        return Err(still_processing(&name));
    }
    let allowed = status_int(pdb, "disruptionsAllowed");
    if allowed < 0 {
        return Err(forbidden(&name, "pdb disruptions allowed is negative"));
    }
    let disrupted = pdb.pointer("/status/disruptedPods").and_then(Value::as_object).map_or(0, Map::len);
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(forbidden(&name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                status_int(pdb, "desiredHealthy"),
                status_int(pdb, "currentHealthy")
            ),
            None,
        ));
    }
    if !pdb.get("status").is_some_and(Value::is_object) {
        pdb["status"] = json!({});
    }
    pdb["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed - 1 == 0 {
        set_insufficient_condition(pdb, now);
    }
    if dry_run {
        return Ok(());
    }
    if !pdb["status"].get("disruptedPods").is_some_and(Value::is_object) {
        pdb["status"]["disruptedPods"] = json!({});
    }
    pdb["status"]["disruptedPods"][pod_name] = json!(now);
    Ok(())
}

/// The DisruptionAllowed condition once nothing more may be disrupted.
fn set_insufficient_condition(pdb: &mut Value, now: &str) {
    let observed = pdb.pointer("/status/observedGeneration").cloned().unwrap_or(json!(0));
    let status = &mut pdb["status"];
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(conditions) = status["conditions"].as_array_mut() else { return };
    match conditions.iter_mut().find(|c| c["type"] == "DisruptionAllowed") {
        Some(c) => {
            if c["status"] != "False" {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!("False");
            c["reason"] = json!("InsufficientPods");
            c["message"] = json!("");
            c["observedGeneration"] = observed;
        }
        None => conditions.push(json!({
            "type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods", "message": "",
            "observedGeneration": observed, "lastTransitionTime": now,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(generation: i64, observed: i64, allowed: i64) -> Value {
        json!({
            "metadata": {"name": "web", "generation": generation},
            "status": {"observedGeneration": observed, "disruptionsAllowed": allowed, "desiredHealthy": 2,
                "currentHealthy": 2, "conditions": [{"type": "DisruptionAllowed", "status": "True",
                "reason": "SufficientPods", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
        })
    }

    const NOW: &str = "2026-02-02T00:00:00Z";

    #[test]
    fn an_allowed_eviction_decrements_and_records_the_pod() {
        let mut p = pdb(1, 1, 2);
        check_and_decrement(&mut p, "web-1", NOW, false).unwrap();
        assert_eq!(p["status"]["disruptionsAllowed"], 1);
        assert_eq!(p["status"]["disruptedPods"]["web-1"], NOW);
        assert_eq!(p["status"]["conditions"][0]["status"], "True");
        check_and_decrement(&mut p, "web-2", NOW, false).unwrap();
        assert_eq!(p["status"]["disruptionsAllowed"], 0);
        let c = &p["status"]["conditions"][0];
        assert_eq!((c["status"].as_str(), c["reason"].as_str()), (Some("False"), Some("InsufficientPods")));
        assert_eq!(c["lastTransitionTime"], NOW);
    }

    #[test]
    fn no_allowed_disruption_is_a_429_with_the_budget_as_cause() {
        let mut p = pdb(1, 1, 0);
        let err = check_and_decrement(&mut p, "web-1", NOW, false).unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(err.message, "Cannot evict pod as it would violate the pod's disruption budget.");
        assert_eq!(err.causes[0].reason, "DisruptionBudget");
        assert_eq!(err.causes[0].message, "The disruption budget web needs 2 healthy pods and has 2 currently");
        assert_eq!(p["status"]["disruptionsAllowed"], 0, "unchanged");
    }

    #[test]
    fn an_unprocessed_budget_refuses() {
        let mut p = pdb(2, 1, 3);
        let err = check_and_decrement(&mut p, "web-1", NOW, false).unwrap_err();
        assert_eq!(err.code, 429);
        assert_eq!(err.causes[0].message, "The disruption budget web is still being processed by the server.");
        assert_eq!(err.retry_after_seconds, Some(10));
    }

    #[test]
    fn negative_budgets_and_full_maps_are_forbidden() {
        let mut p = pdb(1, 1, -1);
        assert_eq!(check_and_decrement(&mut p, "x", NOW, false).unwrap_err().code, 403);
        let mut p = pdb(1, 1, 1);
        let many: Map<String, Value> = (0..=MAX_DISRUPTED_PODS).map(|i| (format!("p{i}"), json!(NOW))).collect();
        p["status"]["disruptedPods"] = Value::Object(many);
        let err = check_and_decrement(&mut p, "x", NOW, false).unwrap_err();
        assert_eq!(err.code, 403);
        assert!(err.message.contains("DisruptedPods map too big"), "{}", err.message);
    }

    #[test]
    fn dry_run_checks_without_recording() {
        let mut p = pdb(1, 1, 1);
        check_and_decrement(&mut p, "web-1", NOW, true).unwrap();
        assert!(p["status"]["disruptedPods"].is_null());
    }
}
