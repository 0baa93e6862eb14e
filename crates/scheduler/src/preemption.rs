//! Preemption (upstream's DefaultPreemption): when a pod fits nowhere, find the node where
//! removing the fewest, least important lower-priority pods makes it fit, preferring
//! victims whose disruption budgets allow it. Pure: the scheduler carries out the plan.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::cache::ClusterState;
use crate::fit_error::Diagnosis;
use crate::framework::{self, Code, CycleState, Status};
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const NOT_ELIGIBLE_NEVER: &str = "not eligible due to preemptionPolicy=Never.";
pub const NOT_ELIGIBLE_TERMINATING: &str = "not eligible due to a terminating pod on the nominated node.";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    pub victims: Vec<Arc<PodInfo>>,
    pub pdb_violations: usize,
}

#[derive(Debug)]
pub enum Preemption {
    /// Evict `victims` from `node` and nominate the pod there.
    Plan(Candidate),
    /// Preemption cannot help; the text follows "preemption: " in the event.
    Impossible(String),
}

pub fn evaluate(state: &ClusterState, pod: &PodInfo, cs: Option<&CycleState>, diagnosis: &Diagnosis) -> Preemption {
    if pod.never_preempts {
        return Preemption::Impossible(NOT_ELIGIBLE_NEVER.into());
    }
    if let Some(nominated) = pod.nominated_node() {
        let unresolvable =
            diagnosis.node_statuses.get(nominated).is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable);
        let victims_leaving = state
            .nodes
            .get(nominated)
            .is_some_and(|n| n.pods.values().any(|p| p.terminating && p.priority < pod.priority));
        // Victims of an earlier preemption are still going away: wait for them.
        if !unresolvable && victims_leaving {
            return Preemption::Impossible(NOT_ELIGIBLE_TERMINATING.into());
        }
    }
    let mut statuses = BTreeMap::new();
    let mut candidates = Vec::new();
    for node in state.known_nodes() {
        match diagnosis.node_statuses.get(&node.name) {
            Some(s) if s.code == Code::UnschedulableAndUnresolvable => {
                statuses.insert(node.name.clone(), Status::unresolvable(NOT_HELPFUL));
                continue;
            }
            Some(_) => {}
            None => continue,
        }
        match select_victims(state, pod, cs, diagnosis.prefilter.as_deref(), node) {
            Ok(c) => candidates.push(c),
            Err(status) => {
                statuses.insert(node.name.clone(), status);
            }
        }
    }
    if candidates.is_empty() {
        let d = Diagnosis { num_all_nodes: diagnosis.num_all_nodes, node_statuses: statuses, ..Default::default() };
        return Preemption::Impossible(d.to_string());
    }
    Preemption::Plan(pick(candidates))
}

/// More important first: higher priority, then the longer running.
fn importance_order(pods: &mut [Arc<PodInfo>]) {
    pods.sort_by_key(|p| (Reverse(p.priority), p.start_time()));
}

/// Splits pods (in importance order) into those whose eviction would break a disruption
/// budget and those it would not, spending each budget's allowance along the way.
fn split_by_budget(state: &ClusterState, pods: Vec<Arc<PodInfo>>) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: HashMap<&str, i32> = state.pdbs.iter().map(|(k, b)| (k.as_str(), b.disruptions_allowed)).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for p in pods {
        let mut breaks = false;
        for (key, budget) in &state.pdbs {
            if budget.namespace != p.namespace
                || !budget.selector.matches(p.labels())
                || budget.disrupted_pods.contains(&p.name)
            {
                continue;
            }
            let left = allowed.entry(key.as_str()).or_insert(0);
            *left -= 1;
            if *left < 0 {
                breaks = true;
            }
        }
        if breaks { violating.push(p) } else { fine.push(p) }
    }
    (violating, fine)
}

/// The fewest lower-priority pods to remove from `node` for `pod` to fit.
fn select_victims(
    state: &ClusterState,
    pod: &PodInfo,
    cs: Option<&CycleState>,
    prefilter: Option<&str>,
    node: &NodeInfo,
) -> Result<Candidate, Status> {
    let mut lower: Vec<Arc<PodInfo>> = node.pods.values().filter(|p| p.priority < pod.priority).cloned().collect();
    if lower.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    let Some(cs) = cs else {
        return Err(Status::unschedulable(prefilter.unwrap_or(NO_VICTIMS)));
    };
    let mut cs = cs.clone();
    let mut trial = node.clone();
    for v in &lower {
        trial.remove_pod(&v.key());
        cs.update(state, pod, v, node, -1);
    }
    framework::filter(&cs, state, pod, &trial)?;
    importance_order(&mut lower);
    let (violating, fine) = split_by_budget(state, lower);
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    let budget_flags = violating.iter().map(|p| (p, true)).chain(fine.iter().map(|p| (p, false)));
    // Give back as many pods as still leave room, most important first.
    for (p, breaks_budget) in budget_flags {
        trial.add_pod(p.clone());
        cs.update(state, pod, p, node, 1);
        if framework::filter(&cs, state, pod, &trial).is_err() {
            trial.remove_pod(&p.key());
            cs.update(state, pod, p, node, -1);
            victims.push(p.clone());
            pdb_violations += usize::from(breaks_budget);
        }
    }
    if victims.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    Ok(Candidate { node: node.name.clone(), victims, pdb_violations })
}

/// Upstream's order: fewest budget violations, lowest highest-victim priority, lowest sum
/// of priorities, fewest victims, the latest start among the most important victims.
fn pick(candidates: Vec<Candidate>) -> Candidate {
    let key = |c: &Candidate| {
        let top = c.victims.iter().map(|v| v.priority).max().unwrap_or(i32::MIN);
        // Shifted so that negative priorities still add up to less.
        let sum: i64 = c.victims.iter().map(|v| i64::from(v.priority) + i64::from(i32::MAX) + 1).sum();
        let earliest_top = c.victims.iter().filter(|v| v.priority == top).filter_map(|v| v.start_time()).min();
        (c.pdb_violations, top, sum, c.victims.len(), Reverse(earliest_top))
    };
    candidates.into_iter().min_by_key(key).expect("at least one candidate")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::{Decision, schedule};
    use serde_json::{Value, json};

    fn cluster(nodes: &[(&str, &str)]) -> ClusterState {
        let mut s = ClusterState::default();
        for (name, cpu) in nodes {
            s.apply_node(
                serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                    "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                               "conditions": [{"type": "Ready", "status": "True"}]}}))
                .unwrap(),
            );
        }
        s
    }

    fn add(s: &mut ClusterState, name: &str, node: Option<&str>, cpu: &str, priority: i32, extra: Value) -> PodInfo {
        let mut v = json!({"metadata": {"name": name, "namespace": "default", "uid": name, "labels": {"app": name},
                "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"nodeName": node, "priority": priority,
                     "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}});
        if let Some(p) = extra.get("preemptionPolicy") {
            v["spec"]["preemptionPolicy"] = p.clone();
        }
        s.apply_pod(serde_json::from_value(v).unwrap());
        (**s.pod(&format!("default/{name}")).unwrap()).clone()
    }

    fn run(s: &ClusterState, p: &PodInfo) -> Preemption {
        match schedule(s, p) {
            Decision::Unschedulable(d, cs) => evaluate(s, p, cs.as_deref(), &d),
            Decision::Bind(n) => panic!("unexpectedly fits on {n}"),
        }
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let mut s = cluster(&[("a", "2"), ("b", "2")]);
        add(&mut s, "a-low", Some("a"), "1", 1, json!({}));
        add(&mut s, "a-mid", Some("a"), "1", 5, json!({}));
        add(&mut s, "b-low1", Some("b"), "1", 1, json!({}));
        add(&mut s, "b-low2", Some("b"), "1", 1, json!({}));
        let vip = add(&mut s, "vip", None, "1", 10, json!({}));
        let Preemption::Plan(c) = run(&s, &vip) else { panic!("should preempt") };
        // One victim of priority 1 on either node; `a` loses only a-low, b loses one of two.
        assert_eq!(c.victims.len(), 1);
        assert_eq!(c.victims[0].priority, 1);
    }

    #[test]
    fn messages_when_preemption_cannot_help() {
        let mut s = cluster(&[("a", "1")]);
        add(&mut s, "peer", Some("a"), "1", 10, json!({}));
        let vip = add(&mut s, "vip", None, "1", 10, json!({}));
        let Preemption::Impossible(msg) = run(&s, &vip) else { panic!() };
        assert_eq!(msg, "0/1 nodes are available: 1 No preemption victims found for incoming pod.");
        let never = add(&mut s, "never", None, "1", 100, json!({"preemptionPolicy": "Never"}));
        let Preemption::Impossible(msg) = run(&s, &never) else { panic!() };
        assert_eq!(msg, NOT_ELIGIBLE_NEVER);
    }

    #[test]
    fn unresolvable_nodes_are_not_tried() {
        let mut s = cluster(&[("a", "1")]);
        s.apply_node(
            serde_json::from_value(json!({"metadata": {"name": "a"}, "spec": {"unschedulable": true},
                "status": {"allocatable": {"cpu": "1", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap(),
        );
        add(&mut s, "low", Some("a"), "1", 0, json!({}));
        let vip = add(&mut s, "vip", None, "1", 10, json!({}));
        let Preemption::Impossible(msg) = run(&s, &vip) else { panic!() };
        assert_eq!(msg, "0/1 nodes are available: 1 Preemption is not helpful for scheduling.");
    }

    #[test]
    fn budgets_steer_the_choice() {
        let mut s = cluster(&[("a", "1"), ("b", "1")]);
        add(&mut s, "guarded", Some("a"), "1", 1, json!({}));
        add(&mut s, "free", Some("b"), "1", 1, json!({}));
        s.apply_pdb(
            &serde_json::from_value(json!({"metadata": {"name": "pdb", "namespace": "default"},
                "spec": {"selector": {"matchLabels": {"app": "guarded"}}}, "status": {"disruptionsAllowed": 0,
                "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}))
            .unwrap(),
        );
        let vip = add(&mut s, "vip", None, "1", 10, json!({}));
        let Preemption::Plan(c) = run(&s, &vip) else { panic!() };
        assert_eq!(c.node, "b");
        assert_eq!(c.victims[0].name, "free");
    }
}
