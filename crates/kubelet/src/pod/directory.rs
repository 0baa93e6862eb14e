//! The pods this kubelet runs, as their workers last saw them: each pod with the status its
//! worker computed (fresher than what the API holds) and where its network is. The
//! streaming endpoint (logs, exec, attach, port-forward) finds pods and containers here,
//! as upstream's kubelet asks its pod manager and status manager.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::Pod;

/// Where a pod's network is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodNetwork {
    /// The sandbox is not there yet.
    Pending,
    /// `hostNetwork: true`: the node's own network namespace.
    Host,
    /// The pod's network namespace, pinned at this path.
    Namespace(PathBuf),
}

/// One pod as its worker last published it.
#[derive(Clone, Debug)]
pub struct PodEntry {
    /// The pod, with `status` as the worker computed it.
    pub pod: Pod,
    pub network: PodNetwork,
}

impl PodEntry {
    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or("")
    }
}

/// The pods of this node by UID. Cheap to clone; clones share the same pods.
#[derive(Clone, Default)]
pub struct PodDirectory {
    pods: Arc<RwLock<HashMap<String, Arc<PodEntry>>>>,
}

impl PodDirectory {
    /// Records (or replaces) a pod's entry.
    pub(crate) fn publish(&self, entry: PodEntry) {
        let uid = entry.uid().to_string();
        if uid.is_empty() {
            return;
        }
        if let Ok(mut pods) = self.pods.write() {
            pods.insert(uid, Arc::new(entry));
        }
    }

    /// Forgets a pod (its worker ended).
    pub(crate) fn remove(&self, uid: &str) {
        if let Ok(mut pods) = self.pods.write() {
            pods.remove(uid);
        }
    }

    /// The pod named `namespace/name` (with this UID, when given). When an old pod of that
    /// name is still terminating next to its replacement, the one not being deleted wins,
    /// then the newer one.
    pub fn find(&self, namespace: &str, name: &str, uid: Option<&str>) -> Option<Arc<PodEntry>> {
        let pods = self.pods.read().ok()?;
        pods.values()
            .filter(|e| {
                let meta = &e.pod.metadata;
                meta.namespace.as_deref() == Some(namespace)
                    && meta.name.as_deref() == Some(name)
                    && uid.is_none_or(|uid| e.uid() == uid)
            })
            .max_by_key(|e| {
                let meta = &e.pod.metadata;
                (meta.deletion_timestamp.is_none(), meta.creation_timestamp.as_ref().map(|t| t.0))
            })
            .cloned()
    }

    /// How many pods are known.
    pub fn len(&self) -> usize {
        self.pods.read().map(|p| p.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn entry(uid: &str, created: i64, deleting: bool) -> PodEntry {
        PodEntry {
            pod: Pod {
                metadata: ObjectMeta {
                    namespace: Some("default".into()),
                    name: Some("web".into()),
                    uid: Some(uid.into()),
                    creation_timestamp: Some(Time(jiff::Timestamp::from_second(created).unwrap())),
                    deletion_timestamp: deleting.then(|| Time(jiff::Timestamp::from_second(created + 5).unwrap())),
                    ..Default::default()
                },
                ..Default::default()
            },
            network: PodNetwork::Pending,
        }
    }

    #[test]
    fn finds_pods_by_name_and_uid() {
        let dir = PodDirectory::default();
        assert!(dir.find("default", "web", None).is_none());
        dir.publish(entry("old", 100, true));
        dir.publish(entry("new", 200, false));
        assert_eq!(dir.find("default", "web", None).unwrap().uid(), "new");
        assert_eq!(dir.find("default", "web", Some("old")).unwrap().uid(), "old");
        assert!(dir.find("default", "web", Some("other")).is_none());
        assert!(dir.find("kube-system", "web", None).is_none());
        dir.remove("new");
        assert_eq!(dir.find("default", "web", None).unwrap().uid(), "old");
        assert_eq!(dir.len(), 1);
    }
}
