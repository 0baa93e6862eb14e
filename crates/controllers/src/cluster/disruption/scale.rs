//! The replicas a budget's pods are expected to number: the sum of the scale
//! of their controllers. Pods of a Deployment count the Deployment's replicas
//! (not each ReplicaSet's, which would double-count during a rollout); other
//! controllers are read through their `scale` subresource, custom ones too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use kube::api::{Api, DynamicObject};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cluster::is_not_found;
use crate::cluster::pods::controller_of;
use crate::cluster::resources::{Catalog, split_api_version};

/// Discovery is refreshed at most this often when a kind is not known.
const DISCOVERY_REFRESH: Duration = Duration::from_secs(10);

pub struct ScaleFinder {
    client: Client,
    catalog: Mutex<Option<(Catalog, Instant)>>,
}

/// The expected count and the selected pods that have no controller.
pub struct Expected {
    pub replicas: i32,
    pub unmanaged: Vec<String>,
}

impl ScaleFinder {
    pub fn new(client: Client) -> Self {
        ScaleFinder { client, catalog: Mutex::new(None) }
    }

    /// Sums the scale of the controllers of `pods` (each counted once).
    pub async fn expected(&self, pods: &[Arc<Pod>]) -> Result<Expected, String> {
        let mut scales: HashMap<String, i32> = HashMap::new();
        let mut unmanaged = Vec::new();
        let mut seen_refs: HashMap<String, String> = HashMap::new();
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let Some(r) = controller_of(&pod.metadata) else {
                unmanaged.push(name);
                continue;
            };
            if seen_refs.contains_key(&r.uid) {
                continue;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let (uid, replicas) =
                self.controller_scale(&ns, r).await?.ok_or_else(|| format!("found no controllers for pod {name:?}"))?;
            seen_refs.insert(r.uid.clone(), uid.clone());
            scales.insert(uid, replicas);
        }
        Ok(Expected { replicas: scales.values().sum(), unmanaged })
    }

    /// (uid, replicas) of the controller `r` names, or `None` if it does not exist.
    async fn controller_scale(&self, ns: &str, r: &OwnerReference) -> Result<Option<(String, i32)>, String> {
        let group = split_api_version(&r.api_version).0;
        if group == "apps" && r.kind == "ReplicaSet" {
            let rs = match Api::<ReplicaSet>::namespaced(self.client.clone(), ns).get_opt(&r.name).await {
                Ok(Some(rs)) if rs.metadata.uid.as_deref() == Some(r.uid.as_str()) => rs,
                Ok(_) => return Ok(None),
                Err(e) => return Err(format!("getting ReplicaSet {ns}/{}: {e}", r.name)),
            };
            if let Some(d) = controller_of(&rs.metadata).filter(|d| d.kind == "Deployment") {
                let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                return match deployments.get_opt(&d.name).await {
                    Ok(Some(dep)) if dep.metadata.uid.as_deref() == Some(d.uid.as_str()) => {
                        Ok(Some((d.uid.clone(), dep.spec.and_then(|s| s.replicas).unwrap_or(1))))
                    }
                    Ok(_) => Ok(None),
                    Err(e) => Err(format!("getting Deployment {ns}/{}: {e}", d.name)),
                };
            }
            return Ok(Some((r.uid.clone(), rs.spec.and_then(|s| s.replicas).unwrap_or(1))));
        }
        let Some(info) = self.resource(&r.api_version, &r.kind).await? else { return Ok(None) };
        if !info.namespaced {
            return Ok(None);
        }
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &info.resource);
        match api.get_scale(&r.name).await {
            Ok(scale) if scale.metadata.uid.as_deref() == Some(r.uid.as_str()) => {
                Ok(Some((r.uid.clone(), scale.spec.and_then(|s| s.replicas).unwrap_or(0))))
            }
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(format!("getting the scale of {} {ns}/{}: {e}", r.kind, r.name)),
        }
    }

    async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<crate::cluster::resources::ResourceInfo>, String> {
        let mut cached = self.catalog.lock().await;
        if let Some((catalog, _)) = cached.as_ref()
            && let Some(info) = catalog.lookup(api_version, kind)
        {
            return Ok(Some(info.clone()));
        }
        let stale = cached.as_ref().is_none_or(|(_, at)| at.elapsed() >= DISCOVERY_REFRESH);
        if !stale {
            return Ok(None);
        }
        let catalog = Catalog::discover(&self.client).await.map_err(|e| e.to_string())?;
        let found = catalog.lookup(api_version, kind).cloned();
        *cached = Some((catalog, Instant::now()));
        Ok(found)
    }
}
