//! Pod topology spread constraints. `DoNotSchedule` constraints filter: placing the pod in a
//! node's domain must not make that domain exceed the least populated one by more than
//! `maxSkew`. `ScheduleAnyway` constraints score: emptier domains score higher. A pod
//! without constraints but with a controller gets upstream's system defaults (spread by
//! host, max skew 3, and by zone, max skew 5), counting the pods of the same controller.

use std::collections::HashMap;

use k3rs_api::scheduling::{LabelMatcher, find_untolerated, pod_matches_node_affinity};
use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use super::Status;
use crate::cache::ClusterState;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const REASON: &str = "node(s) didn't match pod topology spread constraints";
pub const REASON_MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

/// Which pods a constraint counts.
#[derive(Debug, Clone)]
enum Selects {
    Labels(LabelMatcher),
    /// Pods of the same controller (the system default constraints).
    Controller(String),
}

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    key: String,
    selects: Selects,
    min_domains: Option<i64>,
    honor_node_affinity: bool,
    honor_taints: bool,
}

impl Constraint {
    fn from_spec(pod: &PodInfo, c: &TopologySpreadConstraint) -> Constraint {
        let mut selector = LabelMatcher::new(c.label_selector.as_ref());
        for key in c.match_label_keys.iter().flatten() {
            if let Some(v) = pod.labels().and_then(|l| l.get(key)) {
                selector.require_equal(key, v);
            }
        }
        Constraint {
            max_skew: i64::from(c.max_skew),
            key: c.topology_key.clone(),
            selects: Selects::Labels(selector),
            min_domains: c.min_domains.map(i64::from),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    fn counts(&self, pod: &PodInfo, other: &PodInfo) -> bool {
        if other.terminating || other.namespace != pod.namespace {
            return false;
        }
        match &self.selects {
            Selects::Labels(m) => m.matches(other.labels()),
            Selects::Controller(uid) => other.controller_uid.as_deref() == Some(uid.as_str()),
        }
    }

    /// Whether the node's domain takes part (the node-inclusion policies).
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        let Some(n) = node.node.as_deref() else { return false };
        if self.honor_node_affinity && !pod.spec().is_some_and(|s| pod_matches_node_affinity(s, n)) {
            return false;
        }
        if self.honor_taints {
            let tolerations = pod.spec().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
            let hard = |e: &str| e == "NoSchedule" || e == "NoExecute";
            if find_untolerated(&node.taints, tolerations, hard).is_some() {
                return false;
            }
        }
        true
    }

    fn matching_on(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        node.pods.values().filter(|p| self.counts(pod, p)).count() as i64
    }
}

fn constraints(pod: &PodInfo, when: &str) -> Vec<Constraint> {
    pod.spec()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or_default()
        .iter()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| Constraint::from_spec(pod, c))
        .collect()
}

fn system_defaults(pod: &PodInfo) -> Vec<Constraint> {
    let Some(uid) = pod.controller_uid.clone() else { return Vec::new() };
    [(HOSTNAME, 3), (ZONE, 5)]
        .into_iter()
        .map(|(key, max_skew)| Constraint {
            max_skew,
            key: key.into(),
            selects: Selects::Controller(uid.clone()),
            min_domains: None,
            honor_node_affinity: true,
            honor_taints: false,
        })
        .collect()
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    constraints.iter().all(|c| node.label(&c.key).is_some())
}

/// Pods per domain for each `DoNotSchedule` constraint, computed once per pod.
#[derive(Debug, Clone, Default)]
pub struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: domain value → matching pods.
    counts: Vec<HashMap<String, i64>>,
}

impl FilterState {
    pub fn new(state: &ClusterState, pod: &PodInfo) -> FilterState {
        let constraints = constraints(pod, "DoNotSchedule");
        let mut counts = vec![HashMap::new(); constraints.len()];
        if !constraints.is_empty() {
            for node in state.known_nodes().filter(|n| has_all_keys(n, &constraints)) {
                for (i, c) in constraints.iter().enumerate() {
                    if !c.includes(pod, node) {
                        continue;
                    }
                    let value = node.label(&c.key).unwrap_or_default().to_string();
                    *counts[i].entry(value).or_insert(0) += c.matching_on(pod, node);
                }
            }
        }
        FilterState { constraints, counts }
    }

    /// Adjusts the counts for `other` leaving (`delta` -1) or joining (+1) `node`.
    pub fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if !has_all_keys(node, &self.constraints) {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if c.includes(pod, node) && c.counts(pod, other) {
                let value = node.label(&c.key).unwrap_or_default().to_string();
                *self.counts[i].entry(value).or_insert(0) += delta;
            }
        }
    }

    pub fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.key) else {
                return Err(Status::unresolvable(REASON_MISSING_LABEL));
            };
            let domains = &self.counts[i];
            let mut min = domains.values().copied().min().unwrap_or(0);
            if c.min_domains.is_some_and(|m| (domains.len() as i64) < m) {
                min = 0;
            }
            let own = i64::from(c.counts(pod, pod));
            let here = domains.get(value).copied().unwrap_or(0);
            if here + own - min > c.max_skew {
                return Err(Status::unschedulable(REASON));
            }
        }
        Ok(())
    }
}

/// Scores for `ScheduleAnyway` constraints (or the system defaults): fewer matching pods
/// in a node's domain score higher, domains weighted by how many there are.
pub fn score(state: &ClusterState, pod: &PodInfo, nodes: &[&NodeInfo]) -> Vec<i64> {
    let has_any = pod.spec().and_then(|s| s.topology_spread_constraints.as_ref()).is_some_and(|c| !c.is_empty());
    let (constraints, defaulted) =
        if has_any { (constraints(pod, "ScheduleAnyway"), false) } else { (system_defaults(pod), true) };
    if constraints.is_empty() {
        return vec![0; nodes.len()];
    }
    // System defaults do not require every node to carry every topology label.
    let usable = |n: &NodeInfo| defaulted || has_all_keys(n, &constraints);
    let mut counts = vec![HashMap::<String, i64>::new(); constraints.len()];
    for node in state.known_nodes().filter(|n| usable(n)) {
        for (i, c) in constraints.iter().enumerate() {
            if c.key == HOSTNAME || !c.includes(pod, node) {
                continue;
            }
            if let Some(value) = node.label(&c.key) {
                *counts[i].entry(value.to_string()).or_insert(0) += c.matching_on(pod, node);
            }
        }
    }
    let weights: Vec<f64> = constraints
        .iter()
        .map(|c| {
            let mut values: Vec<&str> = nodes.iter().filter_map(|n| n.label(&c.key)).collect();
            values.sort_unstable();
            values.dedup();
            ((values.len() + 2) as f64).ln()
        })
        .collect();
    let raw: Vec<Option<f64>> = nodes
        .iter()
        .map(|n| {
            if !usable(n) {
                return None;
            }
            let mut s = 0.0;
            for (i, c) in constraints.iter().enumerate() {
                let Some(value) = n.label(&c.key) else { continue };
                let count =
                    if c.key == HOSTNAME { c.matching_on(pod, n) } else { counts[i].get(value).copied().unwrap_or(0) };
                s += count as f64 * weights[i] + (c.max_skew - 1) as f64;
            }
            Some(s)
        })
        .collect();
    let scored: Vec<f64> = raw.iter().flatten().copied().collect();
    let (Some(min), Some(max)) = (scored.iter().copied().reduce(f64::min), scored.iter().copied().reduce(f64::max))
    else {
        return vec![0; nodes.len()];
    };
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0.0 => 100,
            Some(s) => (100.0 * (max + min - s) / max).round() as i64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::tests::node;
    use crate::pod_info::tests::pod;
    use serde_json::json;

    fn zoned(name: &str, zone: &str) -> k8s_openapi::api::core::v1::Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, ZONE: zone}},
            "status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}),
        )
        .unwrap()
    }

    fn web(name: &str, node: Option<&str>) -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]}}))
        .unwrap()
    }

    fn spreading(max_skew: i32, key: &str, when: &str) -> PodInfo {
        pod(json!({"metadata": {"name": "new", "labels": {"app": "web"}},
            "spec": {"topologySpreadConstraints": [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
                     "labelSelector": {"matchLabels": {"app": "web"}}}]}}))
    }

    fn cluster() -> ClusterState {
        let mut s = ClusterState::default();
        s.apply_node(zoned("a1", "a"));
        s.apply_node(zoned("a2", "a"));
        s.apply_node(zoned("b1", "b"));
        s.apply_pod(web("w1", Some("a1")));
        s.apply_pod(web("w2", Some("a2")));
        s
    }

    #[test]
    fn hard_constraint_limits_skew() {
        let s = cluster();
        let p = spreading(1, ZONE, "DoNotSchedule");
        let fs = FilterState::new(&s, &p);
        // Zone a has 2, zone b has 0: a third pod in a would make the skew 3.
        assert_eq!(fs.filter(&p, &s.nodes["a1"]).unwrap_err().reasons, vec![REASON]);
        assert!(fs.filter(&p, &s.nodes["b1"]).is_ok());
        let bare = node("bare", "4", "4Gi", json!({"metadata": {"labels": {"kubernetes.io/hostname": "bare"}}}));
        assert_eq!(fs.filter(&p, &bare).unwrap_err().reasons, vec![REASON_MISSING_LABEL]);
    }

    #[test]
    fn removing_a_pod_updates_the_counts() {
        let s = cluster();
        let p = spreading(1, HOSTNAME, "DoNotSchedule");
        let mut fs = FilterState::new(&s, &p);
        assert!(fs.filter(&p, &s.nodes["a1"]).is_err());
        let w1 = s.pod("default/w1").unwrap().clone();
        fs.update(&p, &w1, &s.nodes["a1"], -1);
        assert!(fs.filter(&p, &s.nodes["a1"]).is_ok());
    }

    #[test]
    fn soft_constraint_prefers_empty_domains() {
        let s = cluster();
        let p = spreading(1, ZONE, "ScheduleAnyway");
        let nodes: Vec<&NodeInfo> = s.known_nodes().collect();
        let scores = score(&s, &p, &nodes);
        let by_name: HashMap<&str, i64> = nodes.iter().map(|n| n.name.as_str()).zip(scores).collect();
        assert!(by_name["b1"] > by_name["a1"], "{by_name:?}");
        assert_eq!(by_name["a1"], by_name["a2"]);
    }

    #[test]
    fn controller_pods_spread_by_default() {
        let mut s = ClusterState::default();
        s.apply_node(zoned("n1", "a"));
        s.apply_node(zoned("n2", "a"));
        let owned = |name: &str, node: Option<&str>| -> k8s_openapi::api::core::v1::Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-1", "controller": true}]},
                "spec": {"nodeName": node, "containers": [{"name": "c"}]}}))
            .unwrap()
        };
        s.apply_pod(owned("r1", Some("n1")));
        let p = PodInfo::new(owned("r2", None), 0);
        let nodes: Vec<&NodeInfo> = s.known_nodes().collect();
        let scores = score(&s, &p, &nodes);
        assert!(scores[1] > scores[0], "{scores:?}");
    }
}
