//! What exists in every cluster from the first start: the system namespaces,
//! the `kubernetes` Service pointing at the API server, and the system
//! priority classes. Each is created only when missing.

use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};
use tracing::info;

use crate::objects;
use crate::state::AppState;

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Stores `obj` under `key` unless something is there already; applies the kind's
/// defaults and the server-set metadata first.
pub async fn ensure(
    state: &AppState,
    group: &str,
    resource: &str,
    key: &str,
    mut obj: Value,
) -> Result<bool, ApiError> {
    if state.store.get(key).await.map_err(objects::generic_store_error)?.is_some() {
        return Ok(false);
    }
    let registry = state.registry();
    if let Some(def) = registry.lookup(group, "v1", resource) {
        def.strategy.default(&mut obj);
        if def.strategy.tracks_generation() {
            meta::set_meta(&mut obj, "generation", json!(1));
        }
    }
    meta::set_meta(&mut obj, "uid", json!(uuid::Uuid::new_v4().to_string()));
    meta::set_meta(&mut obj, "creationTimestamp", json!(meta::format_time(jiff::Timestamp::now())));
    match state.store.create(key, state.codec.encode(key, &obj)?).await {
        Ok(_) => Ok(true),
        Err(k3rs_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(objects::generic_store_error(e)),
    }
}

pub async fn run(state: &AppState) -> Result<(), ApiError> {
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        if ensure(state, "", "namespaces", &format!("/registry/namespaces/{ns}"), obj).await? {
            info!(namespace = ns, "created system namespace");
        }
    }
    kubernetes_service(state).await?;
    for (name, value, description) in [
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
    ] {
        let obj = json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name}, "value": value, "globalDefault": false,
            "description": description, "preemptionPolicy": "PreemptLowerPriority",
        });
        ensure(state, "scheduling.k8s.io", "priorityclasses", &format!("/registry/priorityclasses/{name}"), obj)
            .await?;
    }
    Ok(())
}

/// The `default/kubernetes` Service and its endpoints, at the first address of the
/// service range and the server's advertised address.
async fn kubernetes_service(state: &AppState) -> Result<(), ApiError> {
    let ip = state.options.kubernetes_service_ip();
    let port = state.options.listen.port();
    let advertise = state.options.advertise_address.to_string();
    state
        .allocators
        .claim_ip(&state.store, ip, "default/kubernetes", false)
        .await
        .or_else(|e| if e == crate::admission::allocator::ClaimError::Taken { Ok(()) } else { Err(e) })
        .map_err(|e| ApiError::internal(format!("reserving {ip} for the kubernetes Service: {e:?}")))?;
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "type": "ClusterIP", "clusterIP": ip.to_string(), "clusterIPs": [ip.to_string()],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
        "status": {"loadBalancer": {}},
    });
    ensure(state, "", "services", "/registry/services/default/kubernetes", svc).await?;
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": advertise}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    ensure(state, "", "endpoints", "/registry/endpoints/default/kubernetes", endpoints).await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "k3rs-apiserver"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [advertise], "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    ensure(state, "discovery.k8s.io", "endpointslices", "/registry/endpointslices/default/kubernetes", slice).await?;
    Ok(())
}
