//! The scheduler's view of the cluster, fed by its watches: nodes with their pods, pending
//! pods, namespaces' labels, claims, disruption budgets and priority classes. Pods this
//! scheduler has just bound are *assumed* on their node until the watch confirms the
//! binding, so the next decision already counts them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k3rs_api::scheduling::LabelMatcher;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;

use crate::node_info::NodeInfo;
use crate::pod_info::{PodInfo, pod_key};

/// How long an assumed binding may go unconfirmed before it is dropped.
const ASSUME_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PdbInfo {
    pub namespace: String,
    pub selector: LabelMatcher,
    pub disruptions_allowed: i32,
    pub disrupted_pods: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct PriorityClassInfo {
    value: i32,
    global_default: bool,
    never_preempts: bool,
}

#[derive(Debug, Clone)]
struct Assumed {
    uid: String,
    node: String,
    since: Instant,
}

/// What a pod update means for the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodChange {
    /// The pod waits for a node (it may still not be this scheduler's, or gated).
    Pending,
    /// The pod is bound to a node (newly, or it changed there).
    Assigned,
    /// Nothing the scheduler acts on (an update of a pod it just bound, a finished pod).
    Ignored,
}

#[derive(Debug, Default)]
pub struct ClusterState {
    pub nodes: BTreeMap<String, NodeInfo>,
    pods: HashMap<String, Arc<PodInfo>>,
    pub namespaces: HashMap<String, BTreeMap<String, String>>,
    /// Claims by `namespace/name`: `true` when being deleted.
    pub claims: HashMap<String, bool>,
    pub pdbs: HashMap<String, PdbInfo>,
    priority_classes: HashMap<String, PriorityClassInfo>,
    assumed: HashMap<String, Assumed>,
}

fn terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

impl ClusterState {
    pub fn pod(&self, key: &str) -> Option<&Arc<PodInfo>> {
        self.pods.get(key)
    }

    /// Nodes the scheduler knows the Node object of.
    pub fn known_nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.node.is_some())
    }

    pub fn namespace_labels(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.namespaces.get(namespace)
    }

    /// Pods waiting for a node that carry a nomination for `node`.
    pub fn nominated_to<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a Arc<PodInfo>> + 'a {
        self.pods.values().filter(move |p| p.node_name.is_none() && p.nominated_node() == Some(node))
    }

    fn class_of(&self, pod: &Pod) -> Option<&PriorityClassInfo> {
        match pod.spec.as_ref().and_then(|s| s.priority_class_name.as_deref()).filter(|c| !c.is_empty()) {
            Some(class) => self.priority_classes.get(class),
            None => self.priority_classes.values().find(|c| c.global_default),
        }
    }

    /// The pod's priority: `spec.priority` as admission set it, else its class's value, else
    /// the global default class's, else 0.
    pub fn resolve_priority(&self, pod: &Pod) -> i32 {
        match pod.spec.as_ref().and_then(|s| s.priority) {
            Some(p) => p,
            None => self.class_of(pod).map(|c| c.value).unwrap_or(0),
        }
    }

    /// The pod as the scheduler sees it, with what admission would have resolved from its
    /// priority class filled in.
    fn pod_info(&self, pod: Pod, priority: i32) -> PodInfo {
        let unset = pod.spec.as_ref().is_none_or(|s| s.preemption_policy.is_none());
        let class_never = unset && self.class_of(&pod).is_some_and(|c| c.never_preempts);
        let mut info = PodInfo::new(pod, priority);
        info.never_preempts |= class_never;
        info
    }

    fn node_entry(&mut self, name: &str) -> &mut NodeInfo {
        self.nodes.entry(name.to_string()).or_insert_with(|| NodeInfo::new(name))
    }

    fn drop_from_node(&mut self, key: &str, node: Option<&str>) {
        let Some(node) = node else { return };
        if let Some(info) = self.nodes.get_mut(node) {
            info.remove_pod(key);
            if info.node.is_none() && info.pods.is_empty() {
                self.nodes.remove(node);
            }
        }
    }

    /// Takes in a pod from the watch.
    pub fn apply_pod(&mut self, pod: Pod) -> PodChange {
        let key = pod_key(&pod);
        if terminal(&pod) {
            // Finished pods hold no resources (upstream's scheduler does not even watch them).
            self.delete_pod(&key);
            return PodChange::Ignored;
        }
        let bound_to = pod.spec.as_ref().and_then(|s| s.node_name.clone()).filter(|n| !n.is_empty());
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        if bound_to.is_none()
            && let Some(a) = self.assumed.get(&key)
        {
            if a.uid == uid && a.since.elapsed() < ASSUME_TTL {
                // A stale version from before our binding: keep the assumption.
                return PodChange::Ignored;
            }
            self.forget(&key);
        }
        self.assumed.remove(&key);
        let priority = self.resolve_priority(&pod);
        let info = Arc::new(self.pod_info(pod, priority));
        let old_node = self.pods.get(&key).and_then(|p| p.node_name.clone());
        if old_node != bound_to {
            self.drop_from_node(&key, old_node.as_deref());
        }
        self.pods.insert(key, info.clone());
        match bound_to {
            Some(node) => {
                self.node_entry(&node).add_pod(info);
                PodChange::Assigned
            }
            None => PodChange::Pending,
        }
    }

    /// Forgets a deleted pod; returns the node it was on.
    pub fn delete_pod(&mut self, key: &str) -> Option<String> {
        self.assumed.remove(key);
        let old = self.pods.remove(key)?;
        let node = old.node_name.clone();
        self.drop_from_node(key, node.as_deref());
        node
    }

    /// Counts a pod on `node` before the binding is confirmed.
    pub fn assume(&mut self, key: &str, node: &str) {
        let Some(current) = self.pods.get(key).cloned() else { return };
        let mut pod = current.pod.clone();
        if let Some(spec) = pod.spec.as_mut() {
            spec.node_name = Some(node.to_string());
        }
        let info = Arc::new(self.pod_info(pod, current.priority));
        self.assumed
            .insert(key.to_string(), Assumed { uid: info.uid.clone(), node: node.to_string(), since: Instant::now() });
        self.pods.insert(key.to_string(), info.clone());
        self.node_entry(node).add_pod(info);
    }

    /// Undoes [`Self::assume`] after a failed binding.
    pub fn forget(&mut self, key: &str) {
        let Some(a) = self.assumed.remove(key) else { return };
        self.drop_from_node(key, Some(&a.node));
        if let Some(current) = self.pods.get(key).cloned() {
            let mut pod = current.pod.clone();
            if let Some(spec) = pod.spec.as_mut() {
                spec.node_name = None;
            }
            let info = self.pod_info(pod, current.priority);
            self.pods.insert(key.to_string(), Arc::new(info));
        }
    }

    /// Takes in a node; returns whether something the filters read changed.
    pub fn apply_node(&mut self, node: Node) -> bool {
        let name = node.metadata.name.clone().unwrap_or_default();
        let entry = self.node_entry(&name);
        let changed = entry.node.as_deref().is_none_or(|old| scheduling_relevant_change(old, &node));
        entry.set_node(Arc::new(node));
        changed
    }

    pub fn delete_node(&mut self, name: &str) {
        if let Some(info) = self.nodes.get_mut(name) {
            info.node = None;
            if info.pods.is_empty() {
                self.nodes.remove(name);
            }
        }
    }

    pub fn apply_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) -> bool {
        self.namespaces.insert(name.to_string(), labels.clone()) != Some(labels)
    }

    pub fn apply_claim(&mut self, claim: &PersistentVolumeClaim) -> bool {
        let key = format!(
            "{}/{}",
            claim.metadata.namespace.as_deref().unwrap_or(""),
            claim.metadata.name.as_deref().unwrap_or("")
        );
        let deleting = claim.metadata.deletion_timestamp.is_some();
        self.claims.insert(key, deleting) != Some(deleting)
    }

    pub fn delete_claim(&mut self, key: &str) {
        self.claims.remove(key);
    }

    pub fn delete_pdb(&mut self, key: &str) {
        self.pdbs.remove(key);
    }

    pub fn delete_namespace(&mut self, name: &str) {
        self.namespaces.remove(name);
    }

    pub fn apply_pdb(&mut self, pdb: &PodDisruptionBudget) {
        let namespace = pdb.metadata.namespace.clone().unwrap_or_default();
        let key = format!("{namespace}/{}", pdb.metadata.name.as_deref().unwrap_or(""));
        let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
        // An empty budget selector protects nothing here, as in upstream's preemption.
        let empty = selector.is_none_or(|s| s.match_labels.is_none() && s.match_expressions.is_none());
        let status = pdb.status.as_ref();
        self.pdbs.insert(
            key,
            PdbInfo {
                namespace,
                selector: if empty { LabelMatcher::nothing() } else { LabelMatcher::new(selector) },
                disruptions_allowed: status.map(|s| s.disruptions_allowed).unwrap_or(0),
                disrupted_pods: status
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                    .collect(),
            },
        );
    }

    pub fn apply_priority_class(&mut self, class: &PriorityClass) {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.priority_classes.insert(
            name,
            PriorityClassInfo {
                value: class.value,
                global_default: class.global_default.unwrap_or(false),
                never_preempts: class.preemption_policy.as_deref() == Some("Never"),
            },
        );
    }

    pub fn delete_priority_class(&mut self, name: &str) {
        self.priority_classes.remove(name);
    }

    pub fn retain_priority_classes(&mut self, names: &std::collections::HashSet<String>) {
        self.priority_classes.retain(|k, _| names.contains(k));
    }

    /// Keys of every pod known, for reconciling after a relist.
    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }
}

/// Whether a node update can change a scheduling decision (heartbeats alone do not).
fn scheduling_relevant_change(old: &Node, new: &Node) -> bool {
    let ready = |n: &Node| crate::node_info::readiness_taint_key(n);
    let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
    old.metadata.labels != new.metadata.labels
        || old.spec.as_ref().and_then(|s| s.taints.clone()) != new.spec.as_ref().and_then(|s| s.taints.clone())
        || old.spec.as_ref().and_then(|s| s.unschedulable) != new.spec.as_ref().and_then(|s| s.unschedulable)
        || alloc(old) != alloc(new)
        || ready(old) != ready(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}
        }))
        .unwrap()
    }

    fn node(name: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name}, "status": {"allocatable": {"cpu": "1"},
            "conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap()
    }

    #[test]
    fn pods_follow_their_node() {
        let mut s = ClusterState::default();
        assert_eq!(s.apply_pod(pod("a", None)), PodChange::Pending);
        assert_eq!(s.apply_pod(pod("a", Some("n1"))), PodChange::Assigned);
        // The node is not known yet, but its pods are counted when it appears.
        assert_eq!(s.known_nodes().count(), 0);
        assert!(s.apply_node(node("n1")));
        assert_eq!(s.nodes["n1"].requested.get("cpu"), 100);
        assert!(!s.apply_node(node("n1")), "an identical update is not relevant");
        assert_eq!(s.delete_pod("default/a").as_deref(), Some("n1"));
        assert_eq!(s.nodes["n1"].requested.get("cpu"), 0);
    }

    #[test]
    fn assumed_pods_survive_stale_updates_and_can_be_forgotten() {
        let mut s = ClusterState::default();
        s.apply_node(node("n1"));
        s.apply_pod(pod("a", None));
        s.assume("default/a", "n1");
        assert_eq!(s.nodes["n1"].pods.len(), 1);
        assert_eq!(s.apply_pod(pod("a", None)), PodChange::Ignored);
        assert_eq!(s.nodes["n1"].pods.len(), 1);
        s.forget("default/a");
        assert!(s.nodes["n1"].pods.is_empty());
        assert!(s.pod("default/a").unwrap().node_name.is_none());
        // The confirmation replaces the assumption.
        s.assume("default/a", "n1");
        assert_eq!(s.apply_pod(pod("a", Some("n1"))), PodChange::Assigned);
        assert_eq!(s.nodes["n1"].requested.get("cpu"), 100);
    }

    #[test]
    fn finished_pods_release_their_node() {
        let mut s = ClusterState::default();
        s.apply_node(node("n1"));
        s.apply_pod(pod("a", Some("n1")));
        let mut done = pod("a", Some("n1"));
        done.status =
            Some(k8s_openapi::api::core::v1::PodStatus { phase: Some("Succeeded".into()), ..Default::default() });
        assert_eq!(s.apply_pod(done), PodChange::Ignored);
        assert!(s.nodes["n1"].pods.is_empty());
    }

    #[test]
    fn priority_resolution() {
        let mut s = ClusterState::default();
        let class = |name: &str, value: i32, global: bool| -> PriorityClass {
            serde_json::from_value(json!({"metadata": {"name": name}, "value": value, "globalDefault": global}))
                .unwrap()
        };
        s.apply_priority_class(&class("high", 1000, false));
        let mut p = pod("a", None);
        assert_eq!(s.resolve_priority(&p), 0);
        s.apply_priority_class(&class("base", 10, true));
        assert_eq!(s.resolve_priority(&p), 10);
        p.spec.as_mut().unwrap().priority_class_name = Some("high".into());
        assert_eq!(s.resolve_priority(&p), 1000);
        p.spec.as_mut().unwrap().priority = Some(7);
        assert_eq!(s.resolve_priority(&p), 7);
        // preemptionPolicy comes from the class when the spec has none.
        let mut polite = class("polite", 5, false);
        polite.preemption_policy = Some("Never".into());
        s.apply_priority_class(&polite);
        let mut q = pod("q", None);
        q.spec.as_mut().unwrap().priority_class_name = Some("polite".into());
        assert_eq!(s.apply_pod(q), PodChange::Pending);
        assert!(s.pod("default/q").unwrap().never_preempts);
        assert!(!s.pod("default/a").is_some_and(|p| p.never_preempts));
    }
}
