//! One scheduling decision for one pod, computed from the cache without I/O: the
//! nominated node first (a pod that preempted others goes where it made room), otherwise
//! every node through the filters, the feasible ones scored, the best taken (ties broken
//! at random so equal nodes share the load).

use std::borrow::Cow;
use std::collections::BTreeMap;

use rand::Rng;

use crate::cache::ClusterState;
use crate::fit_error::Diagnosis;
use crate::framework::{self, CycleState, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

#[derive(Debug)]
pub enum Decision {
    Bind(String),
    /// No node fits; the cycle state is there when the pre-filters passed (for preemption).
    Unschedulable(Diagnosis, Option<Box<CycleState>>),
}

/// The node with the pods nominated to it that outrank (or equal) `pod`, whose room is
/// promised to them.
fn with_nominated<'a>(state: &ClusterState, pod: &PodInfo, node: &'a NodeInfo) -> Cow<'a, NodeInfo> {
    let key = pod.key();
    let mut promised =
        state.nominated_to(&node.name).filter(|p| p.priority >= pod.priority && p.key() != key).peekable();
    if promised.peek().is_none() {
        return Cow::Borrowed(node);
    }
    let mut copy = node.clone();
    for p in promised {
        copy.add_pod(p.clone());
    }
    Cow::Owned(copy)
}

fn check(cs: &CycleState, state: &ClusterState, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    framework::filter(cs, state, pod, &with_nominated(state, pod, node))
}

pub fn schedule(state: &ClusterState, pod: &PodInfo) -> Decision {
    let nodes: Vec<&NodeInfo> = state.known_nodes().collect();
    let mut diagnosis = Diagnosis { num_all_nodes: nodes.len(), ..Default::default() };
    if nodes.is_empty() {
        return Decision::Unschedulable(diagnosis, None);
    }
    let cs = match CycleState::new(state, pod) {
        Ok(cs) => cs,
        Err(reason) => {
            diagnosis.node_statuses =
                nodes.iter().map(|n| (n.name.clone(), Status::unschedulable(reason.clone()))).collect();
            diagnosis.prefilter = Some(reason);
            return Decision::Unschedulable(diagnosis, None);
        }
    };
    if let Some(nominated) = pod.nominated_node()
        && let Some(node) = state.known_nodes().find(|n| n.name == nominated)
        && check(&cs, state, pod, node).is_ok()
    {
        return Decision::Bind(node.name.clone());
    }
    let mut feasible = Vec::new();
    let mut statuses = BTreeMap::new();
    for node in &nodes {
        match check(&cs, state, pod, node) {
            Ok(()) => feasible.push(*node),
            Err(status) => {
                statuses.insert(node.name.clone(), status);
            }
        }
    }
    if feasible.is_empty() {
        diagnosis.node_statuses = statuses;
        return Decision::Unschedulable(diagnosis, Some(Box::new(cs)));
    }
    if feasible.len() == 1 {
        return Decision::Bind(feasible[0].name.clone());
    }
    let scores = framework::score(state, pod, &feasible);
    Decision::Bind(pick_best(&feasible, &scores).to_string())
}

/// The highest score; among equals, each is equally likely (reservoir sampling).
fn pick_best<'a>(nodes: &[&'a NodeInfo], scores: &[i64]) -> &'a str {
    let mut rng = rand::rng();
    let mut best = 0;
    let mut ties = 1;
    for i in 1..nodes.len() {
        if scores[i] > scores[best] {
            best = i;
            ties = 1;
        } else if scores[i] == scores[best] {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best = i;
            }
        }
    }
    &nodes[best].name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn state_with(nodes: &[(&str, &str, Value)]) -> ClusterState {
        let mut s = ClusterState::default();
        for (name, cpu, extra) in nodes {
            let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True"}]}});
            if let Some(taints) = extra.get("taints") {
                v["spec"] = json!({"taints": taints});
            }
            s.apply_node(serde_json::from_value(v).unwrap());
        }
        s
    }

    fn pending(s: &mut ClusterState, name: &str, cpu: &str) -> PodInfo {
        s.apply_pod(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
            .unwrap(),
        );
        (**s.pod(&format!("default/{name}")).unwrap()).clone()
    }

    #[test]
    fn upstream_message_when_nothing_fits() {
        let mut s = state_with(&[
            ("a", "4", json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]})),
            ("b", "1", json!({})),
            ("c", "1", json!({})),
        ]);
        let p = pending(&mut s, "big", "2");
        let Decision::Unschedulable(d, _) = schedule(&s, &p) else { panic!("should not fit") };
        assert_eq!(
            d.to_string(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu."
        );
    }

    #[test]
    fn no_nodes() {
        let mut s = ClusterState::default();
        let p = pending(&mut s, "p", "1");
        let Decision::Unschedulable(d, _) = schedule(&s, &p) else { panic!() };
        assert_eq!(d.to_string(), "no nodes available to schedule pods");
    }

    #[test]
    fn pods_spread_over_equal_nodes() {
        let mut s = state_with(&[("a", "4", json!({})), ("b", "4", json!({})), ("c", "4", json!({}))]);
        for i in 0..6 {
            let p = pending(&mut s, &format!("p{i}"), "100m");
            let Decision::Bind(node) = schedule(&s, &p) else { panic!() };
            s.assume(&p.key(), &node);
        }
        for n in ["a", "b", "c"] {
            assert_eq!(s.nodes[n].pods.len(), 2, "node {n}");
        }
    }

    #[test]
    fn nominated_room_is_kept_for_the_nominee() {
        let mut s = state_with(&[("a", "1", json!({}))]);
        s.apply_pod(
            serde_json::from_value(json!({"metadata": {"name": "vip", "namespace": "default", "uid": "vip"},
                "spec": {"priority": 100, "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
                "status": {"nominatedNodeName": "a"}}))
            .unwrap(),
        );
        let low = pending(&mut s, "low", "500m");
        assert!(matches!(schedule(&s, &low), Decision::Unschedulable(..)));
        let vip = (**s.pod("default/vip").unwrap()).clone();
        assert!(matches!(schedule(&s, &vip), Decision::Bind(n) if n == "a"));
    }
}
