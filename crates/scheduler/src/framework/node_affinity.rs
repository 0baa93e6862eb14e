//! `spec.nodeSelector` and required node affinity filter; preferred node affinity scores.

use k3rs_api::scheduling::{pod_matches_node_affinity, preferred_affinity_weight};

use super::{Status, normalize_max};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let (Some(spec), Some(n)) = (pod.spec(), node.node.as_deref()) else { return Ok(()) };
    if pod_matches_node_affinity(spec, n) { Ok(()) } else { Err(Status::unresolvable(REASON)) }
}

pub fn score(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| match (pod.spec(), n.node.as_deref()) {
            (Some(spec), Some(node)) => preferred_affinity_weight(spec, node),
            _ => 0,
        })
        .collect();
    normalize_max(&raw, false)
}
