//! Inter-pod affinity and anti-affinity. Filter: the pod's required affinity terms must be
//! met by pods in the node's topology domain (or, for the first pod of a group that selects
//! itself, by nobody yet), its required anti-affinity terms must meet no pod there, and no
//! pod there may have a required anti-affinity term against it. Score: preferred terms of
//! the pod and of the pods already placed (and their required affinity, weight 1) pull or
//! push by topology domain.

use std::collections::HashMap;

use super::Status;
use crate::cache::ClusterState;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const REASON_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

/// Weight of an existing pod's required affinity term when scoring (upstream's
/// `hardPodAffinityWeight` default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

type Domain = (String, String);

/// Counts per topology domain, computed once per pod.
#[derive(Debug, Clone, Default)]
pub struct FilterState {
    /// Pods matching all of the pod's required affinity terms.
    affinity: HashMap<Domain, i64>,
    /// Pods matching one of the pod's required anti-affinity terms (per term).
    anti_affinity: HashMap<Domain, i64>,
    /// Placed pods whose required anti-affinity terms match the pod.
    existing_anti_affinity: HashMap<Domain, i64>,
}

fn domain(node: &NodeInfo, key: &str) -> Option<Domain> {
    node.label(key).map(|v| (key.to_string(), v.to_string()))
}

impl FilterState {
    pub fn new(state: &ClusterState, pod: &PodInfo) -> FilterState {
        let mut fs = FilterState::default();
        for node in state.known_nodes() {
            for other in node.pods.values() {
                fs.update(state, pod, other, node, 1);
            }
        }
        fs
    }

    /// Counts `other` on `node` in (`delta` 1) or out (-1).
    pub fn update(&mut self, state: &ClusterState, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let other_ns = state.namespace_labels(&other.namespace);
        if !pod.required_affinity.is_empty() && pod.required_affinity.iter().all(|t| t.matches(other, other_ns)) {
            for t in &pod.required_affinity {
                if let Some(d) = domain(node, &t.topology_key) {
                    *self.affinity.entry(d).or_insert(0) += delta;
                }
            }
        }
        for t in &pod.required_anti_affinity {
            if t.matches(other, other_ns)
                && let Some(d) = domain(node, &t.topology_key)
            {
                *self.anti_affinity.entry(d).or_insert(0) += delta;
            }
        }
        let pod_ns = state.namespace_labels(&pod.namespace);
        for t in &other.required_anti_affinity {
            if t.matches(pod, pod_ns)
                && let Some(d) = domain(node, &t.topology_key)
            {
                *self.existing_anti_affinity.entry(d).or_insert(0) += delta;
            }
        }
    }

    pub fn filter(&self, state: &ClusterState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        if !self.satisfies_affinity(state, pod, node) {
            return Err(Status::unresolvable(REASON_AFFINITY));
        }
        for t in &pod.required_anti_affinity {
            if domain(node, &t.topology_key).is_some_and(|d| self.anti_affinity.get(&d).copied().unwrap_or(0) > 0) {
                return Err(Status::unschedulable(REASON_ANTI_AFFINITY));
            }
        }
        let labels = node.labels().into_iter().flatten();
        for (k, v) in labels {
            if self.existing_anti_affinity.get(&(k.clone(), v.clone())).copied().unwrap_or(0) > 0 {
                return Err(Status::unschedulable(REASON_EXISTING_ANTI_AFFINITY));
            }
        }
        Ok(())
    }

    fn satisfies_affinity(&self, state: &ClusterState, pod: &PodInfo, node: &NodeInfo) -> bool {
        let mut found = true;
        for t in &pod.required_affinity {
            let Some(d) = domain(node, &t.topology_key) else { return false };
            if self.affinity.get(&d).copied().unwrap_or(0) <= 0 {
                found = false;
            }
        }
        if found {
            return true;
        }
        // The first pod of a group whose terms select itself may go anywhere with the labels.
        let nobody = self.affinity.values().all(|c| *c <= 0);
        let own_ns = state.namespace_labels(&pod.namespace);
        nobody && pod.required_affinity.iter().all(|t| t.matches(pod, own_ns))
    }
}

/// Min-max normalized preference per node.
pub fn score(state: &ClusterState, pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let own_terms = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
    let pod_ns = state.namespace_labels(&pod.namespace);
    let mut by_domain: HashMap<Domain, i64> = HashMap::new();
    let mut add = |node: &NodeInfo, key: &str, w: i64| {
        if let Some(d) = domain(node, key) {
            *by_domain.entry(d).or_insert(0) += w;
        }
    };
    for node in state.known_nodes() {
        for other in node.pods.values() {
            if !own_terms && !other.has_affinity_terms() {
                continue;
            }
            let other_ns = state.namespace_labels(&other.namespace);
            for t in &pod.preferred_affinity {
                if t.term.matches(other, other_ns) {
                    add(node, &t.term.topology_key, t.weight);
                }
            }
            for t in &pod.preferred_anti_affinity {
                if t.term.matches(other, other_ns) {
                    add(node, &t.term.topology_key, -t.weight);
                }
            }
            for t in &other.required_affinity {
                if t.matches(pod, pod_ns) {
                    add(node, &t.topology_key, HARD_POD_AFFINITY_WEIGHT);
                }
            }
            for t in &other.preferred_affinity {
                if t.term.matches(pod, pod_ns) {
                    add(node, &t.term.topology_key, t.weight);
                }
            }
            for t in &other.preferred_anti_affinity {
                if t.term.matches(pod, pod_ns) {
                    add(node, &t.term.topology_key, -t.weight);
                }
            }
        }
    }
    if by_domain.is_empty() {
        return vec![0; nodes.len()];
    }
    let raw: Vec<i64> = nodes
        .iter()
        .map(|n| {
            n.labels()
                .into_iter()
                .flatten()
                .map(|(k, v)| by_domain.get(&(k.clone(), v.clone())).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (min, max) = (raw.iter().copied().min().unwrap_or(0), raw.iter().copied().max().unwrap_or(0));
    raw.iter().map(|s| if max > min { (100 * (s - min)) / (max - min) } else { 0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_info::tests::pod;
    use serde_json::{Value, json};

    fn cluster() -> ClusterState {
        let mut s = ClusterState::default();
        for (name, zone) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            s.apply_node(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
                .unwrap(),
            );
        }
        s
    }

    fn place(s: &mut ClusterState, name: &str, labels: Value, node: &str, affinity: Value) {
        s.apply_pod(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": labels},
                "spec": {"nodeName": node, "affinity": affinity, "containers": [{"name": "c"}]}}))
            .unwrap(),
        );
    }

    fn with_affinity(labels: Value, affinity: Value) -> PodInfo {
        pod(json!({"metadata": {"name": "new", "labels": labels}, "spec": {"affinity": affinity}}))
    }

    fn term(app: &str, key: &str) -> Value {
        json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key})
    }

    fn check(s: &ClusterState, p: &PodInfo, node: &str) -> Result<(), Vec<String>> {
        FilterState::new(s, p).filter(s, p, &s.nodes[node]).map_err(|e| e.reasons)
    }

    #[test]
    fn required_affinity_follows_the_domain() {
        let mut s = cluster();
        place(&mut s, "db", json!({"app": "db"}), "a1", json!(null));
        let p = with_affinity(
            json!({"app": "web"}),
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("db", "topology.kubernetes.io/zone")]}}),
        );
        assert!(check(&s, &p, "a1").is_ok());
        assert!(check(&s, &p, "a2").is_ok());
        assert_eq!(check(&s, &p, "b1").unwrap_err(), vec![REASON_AFFINITY]);
    }

    #[test]
    fn first_pod_of_a_self_selecting_group_goes_anywhere() {
        let s = cluster();
        let own = with_affinity(
            json!({"app": "web"}),
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("web", "kubernetes.io/hostname")]}}),
        );
        assert!(check(&s, &own, "b1").is_ok());
        let other = with_affinity(
            json!({"app": "web"}),
            json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("db", "kubernetes.io/hostname")]}}),
        );
        assert_eq!(check(&s, &other, "b1").unwrap_err(), vec![REASON_AFFINITY]);
    }

    #[test]
    fn anti_affinity_both_ways() {
        let mut s = cluster();
        place(&mut s, "w1", json!({"app": "web"}), "a1", json!(null));
        let p = with_affinity(
            json!({"app": "web"}),
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("web", "kubernetes.io/hostname")]}}),
        );
        assert_eq!(check(&s, &p, "a1").unwrap_err(), vec![REASON_ANTI_AFFINITY]);
        assert!(check(&s, &p, "a2").is_ok());
        // A placed pod that refuses company of `app=cache` in its zone.
        place(
            &mut s,
            "loner",
            json!({"app": "loner"}),
            "b1",
            json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("cache", "topology.kubernetes.io/zone")]}}),
        );
        let cache = with_affinity(json!({"app": "cache"}), json!(null));
        assert_eq!(check(&s, &cache, "b1").unwrap_err(), vec![REASON_EXISTING_ANTI_AFFINITY]);
        assert!(check(&s, &cache, "a1").is_ok());
    }

    #[test]
    fn preferences_score() {
        let mut s = cluster();
        place(&mut s, "db", json!({"app": "db"}), "b1", json!(null));
        let p = with_affinity(
            json!({"app": "web"}),
            json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 10, "podAffinityTerm": term("db", "topology.kubernetes.io/zone")}]}}),
        );
        let nodes: Vec<&NodeInfo> = s.known_nodes().collect();
        let scores = score(&s, &p, &nodes);
        assert_eq!(scores, vec![0, 0, 100]);
    }
}
