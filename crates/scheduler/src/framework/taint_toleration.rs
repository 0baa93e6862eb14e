//! Taints: a node's NoSchedule and NoExecute taints keep out pods that do not tolerate
//! them; each untolerated PreferNoSchedule taint lowers the node's score.

use k3rs_api::scheduling::{find_untolerated, tolerates_all};

use super::{Status, normalize_max};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

fn tolerations(pod: &PodInfo) -> &[k8s_openapi::api::core::v1::Toleration] {
    pod.spec().and_then(|s| s.tolerations.as_deref()).unwrap_or_default()
}

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let hard = |effect: &str| effect == "NoSchedule" || effect == "NoExecute";
    match find_untolerated(&node.taints, tolerations(pod), hard) {
        None => Ok(()),
        Some(t) => Err(Status::unresolvable(format!(
            "node(s) had untolerated taint {{{}: {}}}",
            t.key,
            t.value.as_deref().unwrap_or("")
        ))),
    }
}

/// Fewer untolerated PreferNoSchedule taints score higher (100 for none).
pub fn score(pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    // Only tolerations that can apply to PreferNoSchedule count here, as upstream.
    let tols: Vec<_> = tolerations(pod)
        .iter()
        .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule"))
        .cloned()
        .collect();
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| n.taints.iter().filter(|t| t.effect == "PreferNoSchedule" && !tolerates_all(&tols, t)).count() as i64)
        .collect();
    normalize_max(&raw, true)
}
