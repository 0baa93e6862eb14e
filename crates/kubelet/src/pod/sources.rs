//! What a pod takes from other API objects, fetched before it is needed: the ConfigMaps
//! and Secrets its environment and volumes name, the Services its environment links
//! (`enableServiceLinks`, and `default/kubernetes` always), and its service-account
//! tokens. The [`Snapshot`] then answers the synchronous lookups of [`crate::env`] and
//! [`crate::volumes::projection`].
//!
//! Objects are read one by one with GET (never listed), which is what the node
//! authorizer allows a kubelet for the objects its pods use.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::Api;
use kube::api::ListParams;

use super::context::Context;
use super::tokens::TokenCache;
use crate::downward::Allocatable;
use crate::env::Sources;
use crate::volumes::projection::ProjectionSources;

/// The names a pod refers to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct References {
    pub config_maps: BTreeSet<String>,
    pub secrets: BTreeSet<String>,
}

/// Every ConfigMap and Secret the pod's containers (env, envFrom) and volumes (configMap,
/// secret, projected) name, and its image pull secrets.
pub(crate) fn references(pod: &Pod) -> References {
    let mut refs = References::default();
    let Some(spec) = &pod.spec else { return refs };
    let containers = spec.init_containers.iter().flatten().chain(spec.containers.iter());
    for c in containers {
        for from in c.env_from.iter().flatten() {
            if let Some(r) = &from.config_map_ref {
                refs.config_maps.insert(r.name.clone());
            }
            if let Some(r) = &from.secret_ref {
                refs.secrets.insert(r.name.clone());
            }
        }
        for var in c.env.iter().flatten() {
            if let Some(from) = &var.value_from {
                if let Some(k) = &from.config_map_key_ref {
                    refs.config_maps.insert(k.name.clone());
                }
                if let Some(k) = &from.secret_key_ref {
                    refs.secrets.insert(k.name.clone());
                }
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            refs.config_maps.insert(cm.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            refs.secrets.insert(s);
        }
        for source in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &source.config_map {
                refs.config_maps.insert(cm.name.clone());
            }
            if let Some(s) = &source.secret {
                refs.secrets.insert(s.name.clone());
            }
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        refs.secrets.insert(s.name.clone());
    }
    refs.config_maps.retain(|n| !n.is_empty());
    refs.secrets.retain(|n| !n.is_empty());
    refs
}

/// The objects a pod uses, as read just now. `None` entries do not exist.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub config_maps: HashMap<String, Option<ConfigMap>>,
    pub secrets: HashMap<String, Option<Secret>>,
    pub services: Vec<Service>,
    /// Tokens by (audience, expirationSeconds): the token or why none could be issued.
    pub tokens: HashMap<(Option<String>, i64), Result<String, String>>,
    pub allocatable: Allocatable,
}

async fn get_optional<K>(api: &Api<K>, name: &str) -> Result<Option<K>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.map_err(|e| format!("failed to read {name:?}: {e}"))
}

/// Reads what the pod refers to. `with_services` also reads the Services for the
/// environment's service links; `tokens` issues (or reuses) the service-account tokens of
/// its projected volumes.
pub(crate) async fn fetch(
    context: &Context,
    pod: &Pod,
    with_services: bool,
    tokens: Option<&mut TokenCache>,
) -> Result<Snapshot, String> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".to_string());
    let refs = references(pod);
    let mut snapshot = Snapshot { allocatable: context.config.node_allocatable.clone(), ..Default::default() };
    let config_maps: Api<ConfigMap> = Api::namespaced(context.client.clone(), &namespace);
    for name in &refs.config_maps {
        snapshot.config_maps.insert(name.clone(), get_optional(&config_maps, name).await?);
    }
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), &namespace);
    for name in &refs.secrets {
        snapshot.secrets.insert(name.clone(), get_optional(&secrets, name).await?);
    }
    if with_services {
        let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
        if links {
            let api: Api<Service> = Api::namespaced(context.client.clone(), &namespace);
            let list = api.list(&ListParams::default()).await.map_err(|e| format!("failed to list services: {e}"))?;
            snapshot.services.extend(list.items);
        }
        if !links || namespace != "default" {
            let api: Api<Service> = Api::namespaced(context.client.clone(), "default");
            if let Some(kubernetes) = get_optional(&api, "kubernetes").await? {
                snapshot.services.push(kubernetes);
            }
        }
    }
    if let Some(tokens) = tokens {
        for source in pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.projected.as_ref())
            .flat_map(|p| p.sources.iter().flatten())
            .filter_map(|s| s.service_account_token.as_ref())
        {
            let key = (source.audience.clone().filter(|a| !a.is_empty()), source.expiration_seconds.unwrap_or(3600));
            if let std::collections::hash_map::Entry::Vacant(slot) = snapshot.tokens.entry(key) {
                let (audience, expiration) = slot.key().clone();
                let token = tokens.token(context, pod, audience.as_deref(), expiration).await;
                slot.insert(token);
            }
        }
    }
    Ok(snapshot)
}

impl Sources for Snapshot {
    fn config_map(&self, _namespace: &str, name: &str) -> Option<ConfigMap> {
        self.config_maps.get(name).cloned().flatten()
    }

    fn secret(&self, _namespace: &str, name: &str) -> Option<Secret> {
        self.secrets.get(name).cloned().flatten()
    }
}

impl ProjectionSources for Snapshot {
    fn config_map(&self, name: &str) -> Option<ConfigMap> {
        self.config_maps.get(name).cloned().flatten()
    }

    fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets.get(name).cloned().flatten()
    }

    fn service_account_token(&self, audience: Option<&str>, expiration_seconds: i64) -> Result<String, String> {
        let key = (audience.map(String::from).filter(|a| !a.is_empty()), expiration_seconds);
        self.tokens.get(&key).cloned().unwrap_or_else(|| Err("no service account token was requested".to_string()))
    }

    fn node_allocatable(&self) -> Allocatable {
        self.allocatable.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_cover_env_volumes_and_pull_secrets() {
        let pod: Pod = serde_json::from_value(json!({"spec": {
            "imagePullSecrets": [{"name": "regcred"}],
            "initContainers": [{"name": "i", "envFrom": [{"configMapRef": {"name": "init-cfg"}}]}],
            "containers": [{"name": "c",
                "envFrom": [{"secretRef": {"name": "env-secret"}}],
                "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "a"}}},
                        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "b"}}}]}],
            "volumes": [
                {"name": "v1", "configMap": {"name": "vol-cfg"}},
                {"name": "v2", "secret": {"secretName": "vol-sec"}},
                {"name": "v3", "projected": {"sources": [{"configMap": {"name": "proj-cfg"}}, {"secret": {"name": "proj-sec"}},
                    {"serviceAccountToken": {"path": "token"}}]}}
            ]}}))
        .unwrap();
        let refs = references(&pod);
        let cms: Vec<&str> = refs.config_maps.iter().map(String::as_str).collect();
        let secrets: Vec<&str> = refs.secrets.iter().map(String::as_str).collect();
        assert_eq!(cms, vec!["cfg", "init-cfg", "proj-cfg", "vol-cfg"]);
        assert_eq!(secrets, vec!["env-secret", "proj-sec", "regcred", "sec", "vol-sec"]);
    }
}
