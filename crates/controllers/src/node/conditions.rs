//! What the node lifecycle controller decides from a node's conditions, without I/O:
//! conditions of a silent node turned Unknown, the NoSchedule taints that mirror the
//! conditions (upstream's TaintNodesByCondition), the NoExecute taint for a node that is
//! not Ready, and the health of a zone.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
pub const TAINT_OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";
/// Nodes with this label do not count when judging a zone's health.
pub const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
const LABEL_REGION: &str = "topology.kubernetes.io/region";

/// The conditions the kubelet posts, which go Unknown when it stops posting.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// The node's Ready condition status: `True`, `False`, `Unknown`; `None` without one.
pub fn ready_status(node: &Node) -> Option<&str> {
    conditions(node).iter().find(|c| c.type_ == "Ready").map(|c| c.status.as_str())
}

fn conditions(node: &Node) -> &[NodeCondition] {
    node.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default()
}

fn condition_true(node: &Node, ty: &str) -> bool {
    conditions(node).iter().any(|c| c.type_ == ty && c.status == "True")
}

/// The kubelet's conditions after it went silent for the grace period: each one not yet
/// Unknown becomes Unknown (a missing Ready condition is added). `None` when nothing changes.
pub fn mark_unknown(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut list = conditions(node).to_vec();
    let mut changed = false;
    for ty in KUBELET_CONDITIONS {
        match list.iter_mut().find(|c| c.type_ == ty) {
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
            None => {
                list.push(NodeCondition {
                    type_: ty.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(list)
}

fn taint(key: &str, effect: &str, now: Timestamp) -> Taint {
    Taint { key: key.into(), effect: effect.into(), value: None, time_added: Some(Time(now)) }
}

/// Keys of the NoSchedule taints the controller manages for conditions and cordoning.
const CONDITION_TAINTS: [&str; 7] = [
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
    TAINT_MEMORY_PRESSURE,
    TAINT_DISK_PRESSURE,
    TAINT_PID_PRESSURE,
    TAINT_NETWORK_UNAVAILABLE,
];

/// The NoSchedule taint keys the node's conditions and cordon call for.
pub fn wanted_no_schedule_keys(node: &Node) -> Vec<&'static str> {
    let mut keys = Vec::new();
    match ready_status(node) {
        Some("False") => keys.push(TAINT_NOT_READY),
        Some("Unknown") => keys.push(TAINT_UNREACHABLE),
        _ => {}
    }
    for (ty, key) in [
        ("MemoryPressure", TAINT_MEMORY_PRESSURE),
        ("DiskPressure", TAINT_DISK_PRESSURE),
        ("PIDPressure", TAINT_PID_PRESSURE),
        ("NetworkUnavailable", TAINT_NETWORK_UNAVAILABLE),
    ] {
        if condition_true(node, ty) {
            keys.push(key);
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        keys.push(TAINT_UNSCHEDULABLE);
    }
    keys
}

/// The node's taints with the managed NoSchedule taints made to match `wanted`; `None`
/// when they already do. Other taints are kept as they are.
pub fn reconcile_no_schedule(taints: &[Taint], wanted: &[&str], now: Timestamp) -> Option<Vec<Taint>> {
    let managed = |t: &Taint| t.effect == "NoSchedule" && CONDITION_TAINTS.contains(&t.key.as_str());
    let have: Vec<&str> = taints.iter().filter(|t| managed(t)).map(|t| t.key.as_str()).collect();
    let same = have.len() == wanted.len() && wanted.iter().all(|k| have.contains(k));
    if same {
        return None;
    }
    let mut out: Vec<Taint> =
        taints.iter().filter(|t| !managed(t) || wanted.contains(&t.key.as_str())).cloned().collect();
    for key in wanted {
        if !have.contains(key) {
            out.push(taint(key, "NoSchedule", now));
        }
    }
    Some(out)
}

/// The NoExecute readiness taint a node's Ready status calls for.
pub fn wanted_no_execute(ready: Option<&str>) -> Option<&'static str> {
    match ready {
        Some("False") => Some(TAINT_NOT_READY),
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => None,
    }
}

/// The readiness NoExecute taints the node carries.
pub fn no_execute_keys(taints: &[Taint]) -> Vec<&str> {
    taints
        .iter()
        .filter(|t| t.effect == "NoExecute" && (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE))
        .map(|t| t.key.as_str())
        .collect()
}

/// The node's taints with exactly `wanted` as readiness NoExecute taint (none for `None`).
pub fn set_no_execute(taints: &[Taint], wanted: Option<&str>, now: Timestamp) -> Vec<Taint> {
    let readiness = |t: &Taint| t.effect == "NoExecute" && (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE);
    let mut out: Vec<Taint> =
        taints.iter().filter(|t| !readiness(t) || Some(t.key.as_str()) == wanted).cloned().collect();
    if let Some(key) = wanted
        && !out.iter().any(|t| t.key == key && t.effect == "NoExecute")
    {
        out.push(taint(key, "NoExecute", now));
    }
    out
}

/// The zone a node belongs to, for disruption accounting (`region:\0:zone` upstream).
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).cloned().unwrap_or_default();
    format!("{}:\0:{}", get(LABEL_REGION), get(LABEL_ZONE))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    /// Many nodes of the zone are down: evict slowly (or not at all in small clusters).
    PartialDisruption,
    /// Every node of the zone is down: more likely the control plane's view than the nodes.
    FullDisruption,
}

/// Upstream's `ComputeZoneState`.
pub fn zone_state(ready: usize, not_ready: usize, unhealthy_threshold: f64) -> ZoneState {
    let total = ready + not_ready;
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && total > 0 && not_ready as f64 / total as f64 >= unhealthy_threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        "2024-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn silent_node_goes_unknown() {
        let n = node(json!({"metadata": {"name": "n"}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            {"type": "MemoryPressure", "status": "False"}
        ]}}));
        let conds = mark_unknown(&n, now()).unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
        let disk = conds.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(disk.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(conds.len(), 4);
        let mut again = n.clone();
        again.status.as_mut().unwrap().conditions = Some(conds);
        assert!(mark_unknown(&again, now()).is_none());
    }

    #[test]
    fn no_schedule_taints_follow_conditions() {
        let n = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true, "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": TAINT_DISK_PRESSURE, "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "MemoryPressure", "status": "True"}]}}));
        let wanted = wanted_no_schedule_keys(&n);
        assert_eq!(wanted, vec![TAINT_NOT_READY, TAINT_MEMORY_PRESSURE, TAINT_UNSCHEDULABLE]);
        let taints = n.spec.as_ref().unwrap().taints.clone().unwrap();
        let new = reconcile_no_schedule(&taints, &wanted, now()).unwrap();
        let keys: Vec<&str> = new.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, vec!["dedicated", TAINT_NOT_READY, TAINT_MEMORY_PRESSURE, TAINT_UNSCHEDULABLE]);
        assert!(reconcile_no_schedule(&new, &wanted, now()).is_none());
    }

    #[test]
    fn no_execute_swaps_between_not_ready_and_unreachable() {
        let t = set_no_execute(&[], wanted_no_execute(Some("False")), now());
        assert_eq!(no_execute_keys(&t), vec![TAINT_NOT_READY]);
        let t = set_no_execute(&t, wanted_no_execute(Some("Unknown")), now());
        assert_eq!(no_execute_keys(&t), vec![TAINT_UNREACHABLE]);
        let t = set_no_execute(&t, wanted_no_execute(Some("True")), now());
        assert!(t.is_empty());
    }

    #[test]
    fn zone_states() {
        assert_eq!(zone_state(0, 3, 0.55), ZoneState::FullDisruption);
        assert_eq!(zone_state(1, 3, 0.55), ZoneState::PartialDisruption);
        assert_eq!(zone_state(2, 1, 0.55), ZoneState::Normal);
        // Two down nodes never make a partial disruption.
        assert_eq!(zone_state(0, 0, 0.55), ZoneState::Normal);
        assert_eq!(zone_state(1, 2, 0.55), ZoneState::Normal);
    }
}
