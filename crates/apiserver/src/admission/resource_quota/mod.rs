//! ResourceQuota: a create that would take a namespace over one of its quotas is refused with
//! upstream's message (`exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`),
//! and a pod that leaves a constrained compute resource unspecified is refused too. Admission
//! charges the quota (`status.used`) with compare-and-swap, so concurrent creates cannot both
//! take the last unit; after every write in a namespace with quotas their usage is recounted
//! from the store, which also gives back what deletes and finished pods free.

pub mod usage;

use std::collections::BTreeMap;

use k3rs_api::kinds::common::quantity::Quantity;
use k3rs_api::{ApiError, meta};
use serde_json::{Map, Value, json};
use tracing::warn;

use crate::rest::ResourceRequest;
use crate::state::AppState;
use usage::{Usage, missing_compute, quota_applies};

const MAX_ATTEMPTS: usize = 8;

fn parse_map(v: Option<&Value>) -> Usage {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str().and_then(Quantity::parse)?))).collect())
        .unwrap_or_default()
}

fn pretty(keys: &[String], values: &Usage) -> String {
    keys.iter()
        .map(|k| format!("{k}={}", values.get(k).map(Quantity::canonical).unwrap_or_else(|| "0".into())))
        .collect::<Vec<_>>()
        .join(",")
}

fn forbidden(r: &ResourceRequest, name: &str, why: String) -> ApiError {
    let resource = k3rs_api::error::qualified(&r.storage.plural, &r.storage.group);
    ApiError::forbidden(format!("{resource} {name:?} is forbidden: {why}")).with_details(
        &r.storage.group,
        &r.storage.plural,
        name,
    )
}

/// Charges the create of `obj` to the quotas of its namespace, or refuses it.
pub async fn admit_create(r: &ResourceRequest, obj: &Value, dry_run: bool) -> Result<(), ApiError> {
    if !r.storage.namespaced {
        return Ok(());
    }
    let ns = meta::namespace(obj).to_string();
    let prefix = format!("/registry/resourcequotas/{ns}/");
    let quota_keys: Vec<String> = r
        .state
        .store
        .list(&prefix, Default::default())
        .await
        .map_err(crate::objects::generic_store_error)?
        .items
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    if quota_keys.is_empty() {
        return Ok(());
    }
    let (plural, group) = (r.storage.plural.as_str(), r.storage.group.as_str());
    let requested = usage::usage(plural, group, obj);
    for key in quota_keys {
        charge(r, &key, obj, &requested, dry_run).await?;
    }
    Ok(())
}

async fn charge(r: &ResourceRequest, key: &str, obj: &Value, requested: &Usage, dry_run: bool) -> Result<(), ApiError> {
    let (plural, group) = (r.storage.plural.as_str(), r.storage.group.as_str());
    for _ in 0..MAX_ATTEMPTS {
        let Some(kv) = r.state.store.get(key).await.map_err(crate::objects::generic_store_error)? else {
            return Ok(());
        };
        let quota = r.state.codec.decode(&kv)?;
        if !quota_applies(&quota, plural, group, obj) {
            return Ok(());
        }
        let hard = parse_map(quota.pointer("/spec/hard"));
        let constrained: Vec<String> = hard.keys().cloned().collect();
        if group.is_empty() && plural == "pods" && !usage::is_terminal(obj) {
            let missing = missing_compute(&constrained, obj);
            if !missing.is_empty() {
                let parts: Vec<String> =
                    missing.iter().map(|(res, cs)| format!("{res} for: {}", cs.join(","))).collect();
                return Err(forbidden(
                    r,
                    meta::name(obj),
                    format!("failed quota: {}: must specify {}", meta::name(&quota), parts.join("; ")),
                ));
            }
        }
        let relevant: Vec<String> =
            constrained.iter().filter(|k| requested.get(*k).is_some_and(|q| !q.is_zero())).cloned().collect();
        if relevant.is_empty() {
            return Ok(());
        }
        let mut used = parse_map(quota.pointer("/status/used"));
        if relevant.iter().any(|k| !used.contains_key(k)) {
            used = count(&r.state, meta::namespace(&quota), &quota).await?;
        }
        let mut next = used.clone();
        let mut exceeded = Vec::new();
        for k in &relevant {
            let total = next.get(k).map(|u| u.add(&requested[k])).unwrap_or(requested[k]);
            if hard.get(k).is_some_and(|h| total > *h) {
                exceeded.push(k.clone());
            }
            next.insert(k.clone(), total);
        }
        if !exceeded.is_empty() {
            exceeded.sort();
            return Err(forbidden(
                r,
                meta::name(obj),
                format!(
                    "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                    meta::name(&quota),
                    pretty(&exceeded, requested),
                    pretty(&exceeded, &used),
                    pretty(&exceeded, &hard)
                ),
            ));
        }
        if dry_run {
            return Ok(());
        }
        let mut updated = quota.clone();
        updated["status"] = status_json(&quota, &next);
        match r.state.store.update(key, r.state.codec.encode(key, &updated)?, kv.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(k3rs_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(crate::objects::generic_store_error(e)),
        }
    }
    Err(ApiError::conflict("resourcequotas", "", "", "the quota kept changing while it was charged; try again"))
}

fn status_json(quota: &Value, used: &Usage) -> Value {
    let hard = quota.pointer("/spec/hard").cloned().unwrap_or_else(|| json!({}));
    let keys: Vec<String> = hard.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let used: Map<String, Value> = keys
        .iter()
        .map(|k| (k.clone(), json!(used.get(k).map(Quantity::canonical).unwrap_or_else(|| "0".into()))))
        .collect();
    json!({"hard": hard, "used": used})
}

/// The store prefix holding the objects counted by `key` in `namespace`, with their
/// (plural, group).
fn source_of(state: &AppState, key: &str, namespace: &str) -> Option<(String, String, String)> {
    let core = |plural: &str| Some((format!("/registry/{plural}/{namespace}/"), plural.to_string(), String::new()));
    if let Some(rest) = key.strip_prefix("count/") {
        let (plural, group) = rest.split_once('.').unwrap_or((rest, ""));
        let registry = state.registry();
        let def = registry
            .groups()
            .iter()
            .find(|g| g.group == group)
            .and_then(|g| g.versions.iter().find_map(|v| registry.lookup(group, v, plural)))?;
        return Some((def.prefix(Some(namespace)), plural.to_string(), group.to_string()));
    }
    match key {
        "pods" | "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        k if k.starts_with("requests.") && k != "requests.storage" => core("pods"),
        k if k.starts_with("limits.") => core("pods"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        k if k.contains(".storageclass.storage.k8s.io/") => core("persistentvolumeclaims"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(key),
        _ => None,
    }
}

/// The usage of every resource `quota` constrains, counted from the store.
async fn count(state: &AppState, namespace: &str, quota: &Value) -> Result<Usage, ApiError> {
    let hard = parse_map(quota.pointer("/spec/hard"));
    let mut sources: BTreeMap<String, (String, String)> = BTreeMap::new();
    for key in hard.keys() {
        if let Some((prefix, plural, group)) = source_of(state, key, namespace) {
            sources.insert(prefix, (plural, group));
        }
    }
    let mut total = Usage::new();
    for (prefix, (plural, group)) in sources {
        for obj in state.list_objects(&prefix).await? {
            if !quota_applies(quota, &plural, &group, &obj) {
                continue;
            }
            for (k, q) in usage::usage(&plural, &group, &obj) {
                if hard.contains_key(&k) {
                    let sum = total.get(&k).map(|t| t.add(&q)).unwrap_or(q);
                    total.insert(k, sum);
                }
            }
        }
    }
    Ok(total)
}

/// Recounts the usage of every quota in `namespace` and stores it when it changed.
pub async fn recount(state: &AppState, namespace: &str) {
    let prefix = format!("/registry/resourcequotas/{namespace}/");
    let Ok(list) = state.store.list(&prefix, Default::default()).await else { return };
    for kv in list.items {
        for _ in 0..3 {
            let Ok(Some(current)) = state.store.get(&kv.key).await else { break };
            let Ok(quota) = state.codec.decode(&current) else { break };
            let Ok(used) = count(state, namespace, &quota).await else { break };
            let status = status_json(&quota, &used);
            if quota.get("status") == Some(&status) {
                break;
            }
            let mut updated = quota.clone();
            updated["status"] = status;
            let Ok(bytes) = state.codec.encode(&kv.key, &updated) else { break };
            match state.store.update(&kv.key, bytes, current.mod_revision).await {
                Ok(_) => break,
                Err(k3rs_store::Error::Conflict { .. }) => continue,
                Err(e) => {
                    warn!(quota = %kv.key, error = %e, "recording quota usage failed");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_printing_is_sorted_and_canonical() {
        let u: Usage = BTreeMap::from([
            ("pods".to_string(), Quantity::parse("2").unwrap()),
            ("requests.cpu".into(), Quantity::parse("1500m").unwrap()),
        ]);
        assert_eq!(pretty(&["pods".into(), "requests.cpu".into()], &u), "pods=2,requests.cpu=1500m");
        assert_eq!(pretty(&["limits.cpu".into()], &u), "limits.cpu=0");
    }

    #[test]
    fn status_lists_every_hard_resource() {
        let quota = json!({"spec": {"hard": {"pods": "2", "secrets": "1"}}});
        let used: Usage = BTreeMap::from([("pods".to_string(), Quantity::parse("1").unwrap())]);
        assert_eq!(
            status_json(&quota, &used),
            json!({"hard": {"pods": "2", "secrets": "1"}, "used": {"pods": "1", "secrets": "0"}})
        );
    }
}
