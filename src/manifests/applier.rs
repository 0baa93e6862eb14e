//! Applies objects through the API server as any client would: server-side apply
//! with the field manager `k3rs-deploy` (forced, so the manifest wins conflicts the
//! way K3s's deploy controller does), and deletes pruned objects.

use std::collections::HashMap;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};
use serde_json::Value;

use super::record::ObjectKey;

/// The field manager named in `managedFields` of everything applied from manifests.
pub const FIELD_MANAGER: &str = "k3rs-deploy";

/// Namespace for namespaced objects that name none, as kubectl does.
const DEFAULT_NAMESPACE: &str = "default";

pub struct Applier {
    client: Client,
    /// Resolved kinds; cleared by [`Applier::forget_kinds`] so that kinds added by CRDs are found.
    kinds: HashMap<(String, String), (ApiResource, Scope)>,
}

impl Applier {
    pub fn new(client: Client) -> Applier {
        Applier { client, kinds: HashMap::new() }
    }

    /// Drops the cache of resolved kinds (CRDs come and go).
    pub fn forget_kinds(&mut self) {
        self.kinds.clear();
    }

    async fn resolve(&mut self, api_version: &str, kind: &str) -> Result<(ApiResource, Scope), String> {
        let key = (api_version.to_string(), kind.to_string());
        if let Some(found) = self.kinds.get(&key) {
            return Ok(found.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("the server does not serve {kind} in {api_version}: {}", describe(&e)))?;
        self.kinds.insert(key, (resource.clone(), caps.scope.clone()));
        Ok((resource, caps.scope))
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }

    /// Server-side applies one manifest object; returns where it landed.
    pub async fn apply(&mut self, mut object: Value) -> Result<ObjectKey, String> {
        let api_version = string_at(&object, &["apiVersion"]).ok_or("an object has no apiVersion")?;
        let kind = string_at(&object, &["kind"]).ok_or("an object has no kind")?;
        let name = string_at(&object, &["metadata", "name"])
            .ok_or_else(|| format!("a {kind} has no metadata.name string (generateName cannot be applied)"))?;
        let (resource, scope) = self.resolve(&api_version, &kind).await?;
        let namespace = match scope {
            Scope::Namespaced => {
                let ns = string_at(&object, &["metadata", "namespace"]).unwrap_or_else(|| DEFAULT_NAMESPACE.into());
                object["metadata"]["namespace"] = Value::String(ns.clone());
                Some(ns)
            }
            Scope::Cluster => {
                if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("namespace");
                }
                None
            }
        };
        let key = ObjectKey { api_version, kind, namespace, name };
        let params = PatchParams::apply(FIELD_MANAGER).force();
        self.api(&resource, key.namespace.as_deref())
            .patch(&key.name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| format!("applying {key}: {}", describe(&e)))?;
        Ok(key)
    }

    /// Deletes an object applied earlier; one that is already gone is fine.
    pub async fn delete(&mut self, key: &ObjectKey) -> Result<(), String> {
        let (resource, _) = match self.resolve(&key.api_version, &key.kind).await {
            Ok(found) => found,
            // The kind itself is gone (its CRD was deleted), and with it the object.
            Err(_) => return Ok(()),
        };
        match self.api(&resource, key.namespace.as_deref()).delete(&key.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(format!("deleting {key}: {}", describe(&e))),
        }
    }
}

fn string_at(value: &Value, path: &[&str]) -> Option<String> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str().filter(|s| !s.is_empty()).map(String::from)
}

/// The server's own message for API errors, the error otherwise.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_strings() {
        let v = serde_json::json!({"metadata": {"name": "x", "namespace": ""}, "kind": 3});
        assert_eq!(string_at(&v, &["metadata", "name"]), Some("x".into()));
        assert_eq!(string_at(&v, &["metadata", "namespace"]), None, "empty counts as absent");
        assert_eq!(string_at(&v, &["kind"]), None);
        assert_eq!(string_at(&v, &["spec", "x"]), None);
    }
}
