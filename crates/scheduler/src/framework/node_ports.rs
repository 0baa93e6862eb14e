//! Host ports: a pod fits only where none of its host ports is taken.

use super::Status;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if pod.host_ports.is_empty() {
        return Ok(());
    }
    let taken = node.pods.values().flat_map(|p| p.host_ports.iter());
    for used in taken {
        if pod.host_ports.iter().any(|wanted| wanted.conflicts(used)) {
            return Err(Status::unschedulable(REASON));
        }
    }
    Ok(())
}
