//! A pod that names its node (`spec.nodeName`) fits only there.

use super::Status;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't match the requested node name";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    match pod.spec().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
        Some(wanted) if wanted != node.name => Err(Status::unresolvable(REASON)),
        _ => Ok(()),
    }
}
