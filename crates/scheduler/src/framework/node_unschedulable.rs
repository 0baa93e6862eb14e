//! Cordoned nodes (`spec.unschedulable`) take no new pods, unless a pod tolerates the
//! `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do).

use k3rs_api::scheduling::tolerates_all;
use k8s_openapi::api::core::v1::Taint;

use super::Status;
use crate::node_info::{NodeInfo, TAINT_UNSCHEDULABLE};
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) were unschedulable";

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if !node.cordoned() {
        return Ok(());
    }
    let taint = Taint { key: TAINT_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), value: None, time_added: None };
    let tolerations = pod.spec().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
    if tolerates_all(tolerations, &taint) { Ok(()) } else { Err(Status::unresolvable(REASON)) }
}
