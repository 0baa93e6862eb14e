//! Serving custom resources: the registry is rebuilt from the established CRDs,
//! and a small in-process controller accepts new CRDs (sets their Established
//! and NamesAccepted conditions) and removes a deleted CRD's objects.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use k3rs_api::schema::{Catalog, SchemaNode};
use k3rs_api::{ResourceDef, meta};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::registry::Registry;
use crate::state::AppState;

const CRD_PREFIX: &str = "/registry/customresourcedefinitions/";

fn builtin_catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    CATALOG.get_or_init(|| Arc::new(k3rs_api::schema::generate(&k3rs_api::kinds::builtin()))).clone()
}

/// The schema of a resource's kind, for field validation, patching and field management.
pub fn schema_node<'a>(registry: &'a Registry, def: &ResourceDef) -> Option<SchemaNode<'a>> {
    registry.catalog().root(def.schema_name.as_deref()?)
}

/// The registry for the built-in kinds plus the given established CRDs.
pub fn build_registry(crds: BTreeMap<String, Value>) -> Registry {
    let mut defs = k3rs_api::kinds::builtin();
    let builtin = builtin_catalog();
    if crds.is_empty() {
        return Registry::new(defs, builtin, crds);
    }
    let mut schemas = builtin.definitions().clone();
    for crd in crds.values() {
        let (crd_defs, crd_schemas) = k3rs_api::crd::resources_for(crd, &builtin);
        let taken = crd_defs.iter().any(|d| defs.iter().any(|b| b.group == d.group && b.plural == d.plural));
        if taken {
            warn!(crd = meta::name(crd), "CRD names a resource the server already serves; ignored");
            continue;
        }
        defs.extend(crd_defs);
        schemas.extend(crd_schemas);
    }
    Registry::new(defs, Arc::new(Catalog::from_definitions(schemas)), crds)
}

fn condition(ty: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": ty, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message})
}

/// Marks a new CRD as accepted, as upstream's naming and establishing controllers do.
fn accepted(mut crd: Value) -> Value {
    let now = meta::format_time(jiff::Timestamp::now());
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let storage = k3rs_api::crd::storage_version(&crd);
    let mut stored: Vec<Value> =
        crd.pointer("/status/storedVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(s) = storage
        && !stored.contains(&json!(s))
    {
        stored.push(json!(s));
    }
    crd["status"] = json!({
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found", &now),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted", &now),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
    crd
}

async fn accept(state: &AppState, key: &str) {
    for _ in 0..5 {
        let Ok(Some(kv)) = state.store.get(key).await else { return };
        let Ok(crd) = state.codec.decode(&kv) else { return };
        if k3rs_api::crd::is_established(&crd) || meta::deletion_timestamp(&crd).is_some() {
            return;
        }
        let updated = accepted(crd);
        let Ok(bytes) = state.codec.encode(key, &updated) else { return };
        match state.store.update(key, bytes, kv.mod_revision).await {
            Ok(_) => {
                info!(crd = meta::name(&updated), "custom resource definition established");
                return;
            }
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(e) => {
                warn!(error = %e, "establishing a CRD failed");
                return;
            }
        }
    }
}

/// Deletes every object of a removed CRD.
async fn remove_objects(state: &AppState, crd: &Value) {
    let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
    let plural = crd.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or("");
    if group.is_empty() || plural.is_empty() {
        return;
    }
    let prefix = format!("/registry/{group}/{plural}/");
    if let Ok(list) = state.store.list(&prefix, Default::default()).await {
        for kv in list.items {
            let _ = state.store.delete(&kv.key, Some(kv.mod_revision)).await;
        }
    }
}

/// Watches CRDs for the life of the server.
pub async fn run_controller(state: Arc<AppState>) {
    loop {
        if let Err(e) = watch_once(&state).await {
            warn!(error = %e, "CRD watch ended; restarting");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn watch_once(state: &Arc<AppState>) -> Result<(), String> {
    let list = state.store.list(CRD_PREFIX, Default::default()).await.map_err(|e| e.to_string())?;
    let mut crds: BTreeMap<String, Value> = BTreeMap::new();
    for kv in &list.items {
        if let Ok(crd) = state.codec.decode(kv) {
            if !k3rs_api::crd::is_established(&crd) {
                accept(state, &kv.key).await;
            }
            crds.insert(kv.key.clone(), crd);
        }
    }
    publish(state, &crds);
    let mut stream = state.store.watch(CRD_PREFIX, list.revision).await.map_err(|e| e.to_string())?;
    while let Some(event) = stream.next().await {
        let event = event.map_err(|e| e.to_string())?;
        let key = event.kv.key.clone();
        match event.kind {
            k3rs_store::EventKind::Put => {
                let Ok(crd) = state.codec.decode(&event.kv) else { continue };
                if !k3rs_api::crd::is_established(&crd) {
                    accept(state, &key).await;
                }
                crds.insert(key, crd);
            }
            k3rs_store::EventKind::Delete => {
                if let Some(crd) = crds.remove(&key) {
                    remove_objects(state, &crd).await;
                }
            }
        }
        publish(state, &crds);
    }
    Ok(())
}

fn publish(state: &AppState, crds: &BTreeMap<String, Value>) {
    let established: BTreeMap<String, Value> = crds
        .values()
        .filter(|c| k3rs_api::crd::is_established(c) && meta::deletion_timestamp(c).is_none())
        .map(|c| (meta::name(c).to_string(), c.clone()))
        .collect();
    let current = state.registry();
    if current.crds() == &established {
        return;
    }
    state.replace_registry(build_registry(established));
}
