//! The scheduling framework: the filters a node must pass for a pod, in upstream's order
//! (the first failing filter gives the node's reason), and the weighted scores that rank
//! the nodes that pass.

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources;
pub mod node_unschedulable;
pub mod taint_toleration;
pub mod topology_spread;
pub mod volume_claims;

use crate::cache::ClusterState;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const MAX_NODE_SCORE: i64 = 100;

/// How a node failed a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Removing pods (preemption) might make room.
    Unschedulable,
    /// Nothing done to the node's pods would help (labels, taints, affinity).
    UnschedulableAndUnresolvable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
}

impl Status {
    pub fn unschedulable(reason: impl Into<String>) -> Status {
        Status { code: Code::Unschedulable, reasons: vec![reason.into()] }
    }

    pub fn unresolvable(reason: impl Into<String>) -> Status {
        Status { code: Code::UnschedulableAndUnresolvable, reasons: vec![reason.into()] }
    }
}

/// What the filters precompute once per pod (upstream's PreFilter state). Preemption
/// clones and adjusts it while it tries removing pods.
#[derive(Debug, Clone)]
pub struct CycleState {
    spread: topology_spread::FilterState,
    affinity: inter_pod_affinity::FilterState,
}

impl CycleState {
    /// Runs the pre-filters; `Err` is a reason that rules out every node.
    pub fn new(state: &ClusterState, pod: &PodInfo) -> Result<CycleState, String> {
        volume_claims::prefilter(state, pod)?;
        Ok(CycleState {
            spread: topology_spread::FilterState::new(state, pod),
            affinity: inter_pod_affinity::FilterState::new(state, pod),
        })
    }

    /// Accounts for `other` leaving `node` (-1) or joining it (+1).
    pub fn update(&mut self, state: &ClusterState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        self.spread.update(pod, other, node, delta);
        self.affinity.update(state, pod, other, node, delta);
    }
}

/// Every filter, in upstream's order; the first failure is the node's status.
pub fn filter(cs: &CycleState, state: &ClusterState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    node_unschedulable::filter(pod, node)?;
    node_name::filter(pod, node)?;
    taint_toleration::filter(pod, node)?;
    node_affinity::filter(pod, node)?;
    node_ports::filter(pod, node)?;
    node_resources::filter(pod, node)?;
    cs.spread.filter(pod, node)?;
    cs.affinity.filter(state, pod, node)
}

/// Upstream's default score weights.
const WEIGHT_TAINT_TOLERATION: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_TOPOLOGY_SPREAD: i64 = 2;
const WEIGHT_INTER_POD_AFFINITY: i64 = 2;
const WEIGHT_RESOURCES_FIT: i64 = 1;
const WEIGHT_BALANCED_ALLOCATION: i64 = 1;

/// The weighted total score of each of `nodes` (all of which passed the filters).
pub fn score(state: &ClusterState, pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let mut total = vec![0i64; nodes.len()];
    let mut add = |scores: Vec<i64>, weight: i64| {
        for (t, s) in total.iter_mut().zip(scores) {
            *t += s * weight;
        }
    };
    add(taint_toleration::score(pod, nodes), WEIGHT_TAINT_TOLERATION);
    add(node_affinity::score(pod, nodes), WEIGHT_NODE_AFFINITY);
    add(topology_spread::score(state, pod, nodes), WEIGHT_TOPOLOGY_SPREAD);
    add(inter_pod_affinity::score(state, pod, nodes), WEIGHT_INTER_POD_AFFINITY);
    add(nodes.iter().map(|n| node_resources::least_allocated(pod, n)).collect(), WEIGHT_RESOURCES_FIT);
    add(nodes.iter().map(|n| node_resources::balanced_allocation(pod, n)).collect(), WEIGHT_BALANCED_ALLOCATION);
    total
}

/// Scales raw scores so the highest becomes 100 (or, reversed, the lowest); all zeros stay
/// zero (reversed: 100). Upstream's `DefaultNormalizeScore`.
pub fn normalize_max(raw: &[i64], reverse: bool) -> Vec<i64> {
    let max = raw.iter().copied().max().unwrap_or(0);
    if max <= 0 {
        return vec![if reverse { MAX_NODE_SCORE } else { 0 }; raw.len()];
    }
    raw.iter()
        .map(|s| {
            let s = MAX_NODE_SCORE * s / max;
            if reverse { MAX_NODE_SCORE - s } else { s }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::tests::node;
    use crate::pod_info::tests::pod;
    use serde_json::json;

    #[test]
    fn normalization() {
        assert_eq!(normalize_max(&[0, 5, 10], false), vec![0, 50, 100]);
        assert_eq!(normalize_max(&[0, 5, 10], true), vec![100, 50, 0]);
        assert_eq!(normalize_max(&[0, 0], true), vec![100, 100]);
        assert_eq!(normalize_max(&[0, 0], false), vec![0, 0]);
    }

    #[test]
    fn filter_order_gives_the_first_reason() {
        let state = ClusterState::default();
        let p = pod(json!({"metadata": {"name": "p"},
            "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "resources": {"requests": {"cpu": "8"}}}]}}));
        let cs = CycleState::new(&state, &p).unwrap();
        // Both the taint and the selector and the CPU fail; the taint is checked first.
        let n =
            node("n1", "1", "1Gi", json!({"spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}));
        assert_eq!(filter(&cs, &state, &p, &n).unwrap_err().reasons, vec!["node(s) had untolerated taint {k: v}"]);
        let n = node("n2", "1", "1Gi", json!({}));
        assert_eq!(filter(&cs, &state, &p, &n).unwrap_err().reasons, vec![node_affinity::REASON]);
        let n = node("n3", "1", "1Gi", json!({"metadata": {"labels": {"disk": "ssd"}}}));
        assert_eq!(filter(&cs, &state, &p, &n).unwrap_err().reasons, vec!["Insufficient cpu"]);
        let n = node("n4", "1", "1Gi", json!({"spec": {"unschedulable": true}}));
        assert_eq!(filter(&cs, &state, &p, &n).unwrap_err().reasons, vec![node_unschedulable::REASON]);
    }

    #[test]
    fn missing_claims_rule_out_every_node() {
        let state = ClusterState::default();
        let p = pod(json!({"metadata": {"name": "p"},
            "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}], "containers": [{"name": "c"}]}}));
        assert_eq!(CycleState::new(&state, &p).unwrap_err(), "persistentvolumeclaim \"data\" not found");
    }
}
