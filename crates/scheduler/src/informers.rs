//! The scheduler's watches (kube-runtime watchers): each kind's changes go into the cache,
//! and changes that may let waiting pods fit move them back into the queue.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k3rs_control_runtime::watch::{Change, Synced, changes};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use crate::cache::{ClusterState, PodChange};
use crate::pod_info::pod_key;
use crate::queue::{SchedulingQueue, wake};

/// Follows a watch for ever, handing each change to `on`, and marks `kind` synced after
/// the first complete list.
pub async fn follow<K>(api: Api<K>, kind: &'static str, synced: Arc<Synced>, mut on: impl FnMut(Change<K>))
where
    K: Resource + Clone + Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let stream = changes(api, watcher::Config::default(), kind);
    futures::pin_mut!(stream);
    while let Some(change) = stream.next().await {
        let resync = matches!(change, Change::Resync(_));
        on(change);
        if resync {
            synced.mark(kind);
        }
    }
}

fn lock(state: &Mutex<ClusterState>) -> std::sync::MutexGuard<'_, ClusterState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Feeds pods into the cache and the queue.
pub struct PodHandler {
    pub state: Arc<Mutex<ClusterState>>,
    pub queue: Arc<SchedulingQueue>,
    pub scheduler_name: String,
}

impl PodHandler {
    fn ours(&self, pod: &Pod) -> bool {
        let spec = pod.spec.as_ref();
        spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or("default-scheduler") == self.scheduler_name
            && spec.and_then(|s| s.scheduling_gates.as_ref()).is_none_or(|g| g.is_empty())
            && pod.metadata.deletion_timestamp.is_none()
    }

    fn apply(&self, st: &mut ClusterState, pod: Pod) {
        let key = pod_key(&pod);
        let old = st.pod(&key).cloned();
        let ours = self.ours(&pod);
        let spec_changed =
            old.as_ref().is_some_and(|o| o.pod.spec != pod.spec || o.pod.metadata.labels != pod.metadata.labels);
        let labels_changed = old.as_ref().is_some_and(|o| o.pod.metadata.labels != pod.metadata.labels);
        let was_on = old.as_ref().and_then(|o| o.node_name.clone());
        match st.apply_pod(pod) {
            PodChange::Pending => {
                let priority = st.pod(&key).map(|p| p.priority).unwrap_or(0);
                if ours {
                    self.queue.add_or_update(&key, priority, spec_changed);
                } else {
                    self.queue.remove(&key);
                }
            }
            PodChange::Assigned => {
                self.queue.remove(&key);
                let now_on = st.pod(&key).and_then(|p| p.node_name.clone());
                if was_on != now_on || labels_changed {
                    self.queue.cluster_changed(wake::POD_ADDED);
                }
                if st.pod(&key).is_some_and(|p| p.terminating) {
                    // A pod on its way out frees room soon; waiting pods may want to know.
                    self.queue.cluster_changed(wake::POD_REMOVED);
                }
            }
            PodChange::Ignored => {
                if st.pod(&key).is_none() {
                    self.queue.remove(&key);
                    if was_on.is_some() {
                        self.queue.cluster_changed(wake::POD_REMOVED);
                    }
                }
            }
        }
    }

    fn delete(&self, st: &mut ClusterState, key: &str) {
        self.queue.remove(key);
        if st.delete_pod(key).is_some() {
            self.queue.cluster_changed(wake::POD_REMOVED);
        }
    }

    pub fn handle(&self, change: Change<Pod>) {
        let mut st = lock(&self.state);
        match change {
            Change::Apply(pod) => self.apply(&mut st, pod),
            Change::Delete(pod) => self.delete(&mut st, &pod_key(&pod)),
            Change::Resync(pods) => {
                let listed: HashSet<String> = pods.iter().map(pod_key).collect();
                for pod in pods {
                    self.apply(&mut st, pod);
                }
                for key in st.pod_keys().into_iter().filter(|k| !listed.contains(k)) {
                    self.delete(&mut st, &key);
                }
            }
        }
    }
}

/// Keys of objects that a relist no longer has.
fn gone<K: ResourceExt>(listed: &[K], known: impl Iterator<Item = String>, key: impl Fn(&K) -> String) -> Vec<String> {
    let listed: HashSet<String> = listed.iter().map(key).collect();
    known.filter(|k| !listed.contains(k)).collect()
}

fn namespaced_key<K: ResourceExt>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

pub fn handle_node(state: &Mutex<ClusterState>, queue: &SchedulingQueue, change: Change<Node>) {
    let mut st = lock(state);
    let mut changed = false;
    match change {
        Change::Apply(node) => changed = st.apply_node(node),
        Change::Delete(node) => st.delete_node(&node.name_any()),
        Change::Resync(nodes) => {
            let known: Vec<String> = st.known_nodes().map(|n| n.name.clone()).collect();
            for name in gone(&nodes, known.into_iter(), |n| n.name_any()) {
                st.delete_node(&name);
            }
            for node in nodes {
                changed |= st.apply_node(node);
            }
        }
    }
    if changed {
        queue.cluster_changed(wake::NODE);
    }
}

pub fn handle_namespace(state: &Mutex<ClusterState>, queue: &SchedulingQueue, change: Change<Namespace>) {
    let mut st = lock(state);
    let mut changed = false;
    match change {
        Change::Apply(ns) => changed = st.apply_namespace(&ns.name_any(), ns.labels().clone()),
        Change::Delete(ns) => st.delete_namespace(&ns.name_any()),
        Change::Resync(list) => {
            let known: Vec<String> = st.namespaces.keys().cloned().collect();
            for name in gone(&list, known.into_iter(), |n| n.name_any()) {
                st.delete_namespace(&name);
            }
            for ns in list {
                changed |= st.apply_namespace(&ns.name_any(), ns.labels().clone());
            }
        }
    }
    if changed {
        // Namespace labels feed affinity terms' namespace selectors.
        queue.cluster_changed(wake::POD_ADDED);
    }
}

pub fn handle_claim(state: &Mutex<ClusterState>, queue: &SchedulingQueue, change: Change<PersistentVolumeClaim>) {
    let mut st = lock(state);
    let mut changed = false;
    match change {
        Change::Apply(c) => changed = st.apply_claim(&c),
        Change::Delete(c) => st.delete_claim(&namespaced_key(&c)),
        Change::Resync(list) => {
            let known: Vec<String> = st.claims.keys().cloned().collect();
            for key in gone(&list, known.into_iter(), namespaced_key) {
                st.delete_claim(&key);
            }
            for c in list {
                changed |= st.apply_claim(&c);
            }
        }
    }
    if changed {
        queue.cluster_changed(wake::CLAIM);
    }
}

pub fn handle_pdb(state: &Mutex<ClusterState>, change: Change<PodDisruptionBudget>) {
    let mut st = lock(state);
    match change {
        Change::Apply(p) => st.apply_pdb(&p),
        Change::Delete(p) => st.delete_pdb(&namespaced_key(&p)),
        Change::Resync(list) => {
            let known: Vec<String> = st.pdbs.keys().cloned().collect();
            for key in gone(&list, known.into_iter(), namespaced_key) {
                st.delete_pdb(&key);
            }
            for p in list {
                st.apply_pdb(&p);
            }
        }
    }
}

pub fn handle_priority_class(state: &Mutex<ClusterState>, change: Change<PriorityClass>) {
    let mut st = lock(state);
    match change {
        Change::Apply(c) => st.apply_priority_class(&c),
        Change::Delete(c) => st.delete_priority_class(&c.name_any()),
        Change::Resync(list) => {
            let names: HashSet<String> = list.iter().map(|c| c.name_any()).collect();
            st.retain_priority_classes(&names);
            for c in list {
                st.apply_priority_class(&c);
            }
        }
    }
}
