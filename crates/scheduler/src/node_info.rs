//! A node with the pods bound to it and what they request, as the filters and scores
//! read it. Kept up to date incrementally by the cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use k3rs_api::scheduling::ResourceAmounts;
use k8s_openapi::api::core::v1::{Node, Taint};

use crate::pod_info::PodInfo;

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

#[derive(Debug, Clone, Default)]
pub struct NodeInfo {
    pub name: String,
    /// `None` while pods name a node the scheduler has not seen (or that was deleted).
    pub node: Option<Arc<Node>>,
    pub pods: BTreeMap<String, Arc<PodInfo>>,
    pub requested: ResourceAmounts,
    pub non_zero_requested: ResourceAmounts,
    pub allocatable: ResourceAmounts,
    /// The node's taints, plus the NoSchedule readiness taint the node lifecycle controller
    /// puts on a node that is not Ready, so that such a node is never chosen in the moment
    /// before the controller acts.
    pub taints: Vec<Taint>,
}

/// The readiness taint key for a node's Ready condition (`None` when Ready is True).
pub fn readiness_taint_key(node: &Node) -> Option<&'static str> {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.as_str());
    match ready {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    }
}

impl NodeInfo {
    pub fn new(name: &str) -> Self {
        NodeInfo { name: name.to_string(), ..Default::default() }
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        self.allocatable = ResourceAmounts::from_list(node.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        let mut taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        if let Some(key) = readiness_taint_key(&node)
            && !taints.iter().any(|t| t.key == key && t.effect == "NoSchedule")
        {
            taints.push(Taint { key: key.into(), effect: "NoSchedule".into(), value: None, time_added: None });
        }
        self.taints = taints;
        self.node = Some(node);
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        let key = pod.key();
        self.remove_pod(&key);
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.pods.insert(key, pod);
    }

    pub fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let old = self.pods.remove(key)?;
        self.requested.subtract(&old.requests);
        self.non_zero_requested.subtract(&old.non_zero_requests);
        Some(old)
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).map(String::as_str)
    }

    /// `spec.unschedulable` (cordoned).
    pub fn cordoned(&self) -> bool {
        self.node.as_ref().and_then(|n| n.spec.as_ref()).and_then(|s| s.unschedulable).unwrap_or(false)
    }

    /// How many pods the node may run (`allocatable.pods`).
    pub fn allowed_pods(&self) -> i64 {
        self.allocatable.get("pods")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A Ready node from JSON pieces.
    pub fn node(name: &str, cpu: &str, memory: &str, extra: Value) -> NodeInfo {
        let mut v = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        merge(&mut v, extra);
        let mut info = NodeInfo::new(name);
        info.set_node(Arc::new(serde_json::from_value(v).unwrap()));
        info
    }

    fn merge(base: &mut Value, extra: Value) {
        match (base, extra) {
            (Value::Object(b), Value::Object(e)) => {
                for (k, v) in e {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
            (b, e) => *b = e,
        }
    }

    #[test]
    fn readiness_adds_a_no_schedule_taint() {
        let ready = node("a", "1", "1Gi", json!({}));
        assert!(ready.taints.is_empty());
        let not_ready =
            node("b", "1", "1Gi", json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert_eq!(not_ready.taints[0].key, TAINT_NOT_READY);
        let unknown =
            node("c", "1", "1Gi", json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}));
        assert_eq!(unknown.taints[0].key, TAINT_UNREACHABLE);
        // Not twice when the controller has tainted already.
        let tainted = node(
            "d",
            "1",
            "1Gi",
            json!({"spec": {"taints": [{"key": TAINT_NOT_READY, "effect": "NoSchedule"}]},
                   "status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
        );
        assert_eq!(tainted.taints.len(), 1);
    }

    #[test]
    fn requested_follows_pods() {
        let mut n = node("a", "2", "1Gi", json!({}));
        let p = crate::pod_info::tests::pod(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}}));
        n.add_pod(Arc::new(p.clone()));
        n.add_pod(Arc::new(p));
        assert_eq!(n.requested.get("cpu"), 500);
        n.remove_pod("default/p");
        assert_eq!(n.requested.get("cpu"), 0);
        assert_eq!(n.allocatable.get("cpu"), 2000);
        assert_eq!(n.allowed_pods(), 110);
    }
}
