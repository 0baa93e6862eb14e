//! The eviction API's check against PodDisruptionBudgets.

use k3rs_api::selector::LabelSelector;
use k3rs_api::{ApiError, meta};
use serde_json::Value;

use crate::objects;
use crate::rest::ResourceRequest;

/// The name of a budget that allows no disruption of `pod` right now, if any.
pub async fn blocking_budget(r: &ResourceRequest, pod: &Value) -> Result<Option<String>, ApiError> {
    let ns = meta::namespace(pod);
    let pdbs = r
        .state
        .store
        .list(&format!("/registry/poddisruptionbudgets/{ns}/"), Default::default())
        .await
        .map_err(objects::generic_store_error)?;
    for kv in pdbs.items {
        let pdb = r.state.codec.decode(&kv)?;
        let Ok(selector) = LabelSelector::from_object(pdb.pointer("/spec/selector")) else { continue };
        if selector.is_empty() || !selector.matches(meta::labels(pod)) {
            continue;
        }
        let allowed = pdb.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
        if allowed < 1 {
            return Ok(Some(meta::name(&pdb).to_string()));
        }
    }
    Ok(None)
}
