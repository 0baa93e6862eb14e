//! What every namespace gets for its pods' API access, as upstream's service-account and
//! root-CA publisher controllers provide it: a `default` ServiceAccount and the
//! `kube-root-ca.crt` ConfigMap holding the cluster CA. They are created with the namespace
//! (so a pod created right after its namespace finds them), at every start for existing
//! namespaces, and again when someone deletes them or changes the CA bundle.

use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};
use tracing::debug;

use crate::state::AppState;

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
const ROOT_CA_KEY: &str = "ca.crt";

fn is_terminating(namespace: &Value) -> bool {
    meta::deletion_timestamp(namespace).is_some()
        || namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
}

/// Ensures the default ServiceAccount and the root CA ConfigMap of `namespace`, unless it is
/// gone or terminating.
pub async fn ensure(state: &AppState, namespace: &str) -> Result<(), ApiError> {
    match state.get_object(&format!("/registry/namespaces/{namespace}")).await? {
        Some(ns) if !is_terminating(&ns) => {}
        _ => return Ok(()),
    }
    let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace}});
    let key = format!("/registry/serviceaccounts/{namespace}/{DEFAULT_SERVICE_ACCOUNT}");
    if crate::bootstrap::ensure(state, "", "serviceaccounts", &key, sa).await? {
        debug!(namespace, "created the default service account");
    }
    ensure_root_ca(state, namespace).await
}

fn root_ca(state: &AppState, namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": ROOT_CA_CONFIG_MAP, "namespace": namespace,
            "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
        "data": {ROOT_CA_KEY: state.options.pki.server_ca_pem()}})
}

async fn ensure_root_ca(state: &AppState, namespace: &str) -> Result<(), ApiError> {
    let key = format!("/registry/configmaps/{namespace}/{ROOT_CA_CONFIG_MAP}");
    let want = state.options.pki.server_ca_pem();
    for _ in 0..3 {
        let Some(kv) = state.store.get(&key).await.map_err(crate::objects::generic_store_error)? else {
            crate::bootstrap::ensure(state, "", "configmaps", &key, root_ca(state, namespace)).await?;
            return Ok(());
        };
        let mut current = state.codec.decode(&kv)?;
        if current.pointer(&format!("/data/{ROOT_CA_KEY}")).and_then(Value::as_str) == Some(want) {
            return Ok(());
        }
        current["data"] = json!({ROOT_CA_KEY: want});
        match state.store.update(&key, state.codec.encode(&key, &current)?, kv.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(crate::objects::generic_store_error(e)),
        }
    }
    Ok(())
}

/// Ensures both objects in every namespace (at start).
pub async fn ensure_all(state: &AppState) -> Result<(), ApiError> {
    for ns in state.list_objects("/registry/namespaces/").await? {
        ensure(state, meta::name(&ns)).await?;
    }
    Ok(())
}

/// Whether a write touched one of the objects this module keeps (so it must be checked again).
pub fn concerns(resource: &str, obj: &Value) -> bool {
    match resource {
        "serviceaccounts" => meta::name(obj) == DEFAULT_SERVICE_ACCOUNT,
        "configmaps" => meta::name(obj) == ROOT_CA_CONFIG_MAP,
        _ => false,
    }
}
