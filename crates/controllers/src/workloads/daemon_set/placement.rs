//! Which nodes a DaemonSet runs on (upstream's `NodeShouldRunDaemonPod`): the pod it
//! would create there must fit the node's name, its node selector and required node
//! affinity, and tolerate the node's NoSchedule and NoExecute taints. Daemon pods also
//! get the tolerations upstream adds to every daemon pod, and a required node affinity
//! naming their node so the scheduler places them exactly.

use k3rs_api::scheduling::{find_untolerated, pod_matches_node_affinity};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Toleration,
};

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

fn exists(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    }
}

/// Adds the tolerations every daemon pod gets (not-ready, unreachable, pressure,
/// unschedulable, and network-unavailable for host-network pods), unless present.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let mut wanted = vec![
        exists(NOT_READY, "NoExecute"),
        exists(UNREACHABLE, "NoExecute"),
        exists(DISK_PRESSURE, "NoSchedule"),
        exists(MEMORY_PRESSURE, "NoSchedule"),
        exists(PID_PRESSURE, "NoSchedule"),
        exists(UNSCHEDULABLE, "NoSchedule"),
    ];
    if spec.host_network == Some(true) {
        wanted.push(exists(NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    let list = spec.tolerations.get_or_insert_with(Vec::new);
    for t in wanted {
        // Upstream replaces a toleration with the same key and effect.
        list.retain(|existing| !(existing.key == t.key && existing.effect == t.effect));
        list.push(t);
    }
}

fn node_name_requirement(node: &str) -> NodeSelectorRequirement {
    NodeSelectorRequirement { key: "metadata.name".into(), operator: "In".into(), values: Some(vec![node.into()]) }
}

/// `ReplaceDaemonSetPodNodeNameNodeAffinity`: the pod's required node affinity becomes
/// "this node" (other required terms are dropped: the node is already known to match).
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm { match_expressions: None, match_fields: Some(vec![node_name_requirement(node)]) };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution =
        Some(NodeSelector { node_selector_terms: vec![term] });
}

/// (should run, should continue running) for a daemon pod with `spec` on `node`.
pub fn should_run(spec: &PodSpec, node: &Node) -> (bool, bool) {
    let node_name = node.metadata.name.as_deref().unwrap_or("");
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != node_name) {
        return (false, false);
    }
    if !pod_matches_node_affinity(spec, node) {
        return (false, false);
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
    let untolerated = |effect: &str| find_untolerated(taints, tolerations, |e| e == effect).is_some();
    if untolerated("NoExecute") {
        return (false, false);
    }
    if untolerated("NoSchedule") {
        // Already running pods stay; no new ones come.
        return (false, true);
    }
    (true, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[(&str, &str)], taints: serde_json::Value) -> Node {
        let labels: std::collections::BTreeMap<String, String> =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints}
        }))
        .unwrap()
    }

    fn daemon_spec(extra: serde_json::Value) -> PodSpec {
        let mut base = serde_json::json!({"containers": [{"name": "c", "image": "i"}]});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let mut spec: PodSpec = serde_json::from_value(base).unwrap();
        add_daemon_tolerations(&mut spec);
        spec
    }

    #[test]
    fn taints_decide_running_and_continuing() {
        let spec = daemon_spec(serde_json::json!({}));
        assert_eq!(should_run(&spec, &node("n", &[], serde_json::json!([]))), (true, true));
        let no_schedule =
            node("n", &[], serde_json::json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]));
        assert_eq!(should_run(&spec, &no_schedule), (false, true));
        let no_execute = node("n", &[], serde_json::json!([{"key": "dedicated", "effect": "NoExecute"}]));
        assert_eq!(should_run(&spec, &no_execute), (false, false));
        // The daemon tolerations cover cordoned and not-ready nodes.
        let cordoned = node(
            "n",
            &[],
            serde_json::json!([{"key": UNSCHEDULABLE, "effect": "NoSchedule"}, {"key": NOT_READY, "effect": "NoExecute"}]),
        );
        assert_eq!(should_run(&spec, &cordoned), (true, true));
        let tolerant = daemon_spec(
            serde_json::json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        assert_eq!(should_run(&tolerant, &no_schedule), (true, true));
    }

    #[test]
    fn node_selectors_and_affinity_filter_nodes() {
        let spec = daemon_spec(serde_json::json!({"nodeSelector": {"disk": "ssd"}}));
        assert!(should_run(&spec, &node("a", &[("disk", "ssd")], serde_json::json!([]))).0);
        assert!(!should_run(&spec, &node("b", &[("disk", "hdd")], serde_json::json!([]))).0);
        let affinity = daemon_spec(
            serde_json::json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                                        {"key": "cpus", "operator": "Gt", "values": ["4"]}]}]}}}}),
        );
        assert!(should_run(&affinity, &node("x", &[("zone", "a"), ("cpus", "8")], serde_json::json!([]))).0);
        assert!(!should_run(&affinity, &node("y", &[("zone", "a"), ("cpus", "2")], serde_json::json!([]))).0);
        let mut pinned = daemon_spec(serde_json::json!({}));
        pin_to_node(&mut pinned, "x");
        assert!(should_run(&pinned, &node("x", &[], serde_json::json!([]))).0);
        assert!(!should_run(&pinned, &node("y", &[], serde_json::json!([]))).0);
    }

    #[test]
    fn daemon_tolerations_are_added_once() {
        let mut spec = daemon_spec(serde_json::json!({"hostNetwork": true}));
        add_daemon_tolerations(&mut spec);
        let tolerations = spec.tolerations.unwrap();
        assert_eq!(tolerations.len(), 7);
        assert!(tolerations.iter().any(|t| t.key.as_deref() == Some(NETWORK_UNAVAILABLE)));
    }
}
