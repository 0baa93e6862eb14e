//! Pod facts the workload controllers share: active, ready, available, and the order in
//! which to delete surplus pods (upstream's `ActivePodsWithRanks`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, PodCondition};

/// `controller.kubernetes.io/pod-deletion-cost`: pods with a lower cost go first.
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

pub fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// Succeeded or Failed: the pod's containers will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// Neither terminal nor being deleted (upstream's `FilterActivePods`).
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

pub fn condition<'a>(pod: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// When the pod last became ready, if it is ready.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    condition(pod, "Ready").filter(|c| c.status == "True").and_then(|c| c.last_transition_time.as_ref()).map(|t| t.0)
}

/// Ready for at least `min_ready_seconds` at `now` (upstream's `IsPodAvailable`).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    if !is_ready(pod) {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    ready_since(pod).is_some_and(|t| t + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now)
}

/// How long until a ready pod becomes available, if it is ready but not yet available.
pub fn until_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> Option<SignedDuration> {
    let since = ready_since(pod)?;
    let at = since + SignedDuration::from_secs(i64::from(min_ready_seconds));
    (at >= now).then(|| at.duration_since(now))
}

fn node_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

fn phase_rank(pod: &Pod) -> u8 {
    match phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST_ANNOTATION))
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(0, i64::from)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map_or(0, |cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
}

fn created(pod: &Pod) -> Option<Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Upstream's "logarithmic scale down": durations compared by their power-of-two bucket
/// (in seconds), so pods of similar age are not told apart by seconds.
fn log_bucket(since: Timestamp, now: Timestamp) -> i64 {
    let secs = now.duration_since(since).as_secs().max(0);
    if secs == 0 { 0 } else { 64 - i64::from(secs.leading_zeros()) }
}

/// Sorts `pods` so the ones to delete first come first. `colocated` counts, per node, the
/// related active pods there (pods doubled up on a node go first).
pub fn sort_for_deletion(pods: &mut [Arc<Pod>], colocated: &HashMap<String, usize>, now: Timestamp) {
    let rank = |p: &Pod| colocated.get(node_name(p)).copied().unwrap_or(0);
    pods.sort_by(|a, b| {
        let (a, b) = (a.as_ref(), b.as_ref());
        // 1. Unassigned before assigned.
        (!node_name(a).is_empty())
            .cmp(&!node_name(b).is_empty())
            // 2. Pending before unknown before running.
            .then(phase_rank(a).cmp(&phase_rank(b)))
            // 3. Not ready before ready.
            .then(is_ready(a).cmp(&is_ready(b)))
            // 4. Lower deletion cost first.
            .then(deletion_cost(a).cmp(&deletion_cost(b)))
            // 5. More pods on the same node first.
            .then(rank(b).cmp(&rank(a)))
            // 6. Ready for less time first.
            .then_with(|| match (ready_since(a), ready_since(b)) {
                (Some(x), Some(y)) => log_bucket(x, now).cmp(&log_bucket(y, now)),
                _ => Ordering::Equal,
            })
            // 7. More restarts first.
            .then(restarts(b).cmp(&restarts(a)))
            // 8. Newer first.
            .then_with(|| match (created(a), created(b)) {
                (Some(x), Some(y)) => log_bucket(x, now).cmp(&log_bucket(y, now)),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    });
}

/// Counts active pods per node among `related` (for [`sort_for_deletion`]).
pub fn pods_per_node<'a>(related: impl IntoIterator<Item = &'a Arc<Pod>>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for p in related {
        if is_active(p) && !node_name(p).is_empty() {
            *counts.entry(node_name(p).to_string()).or_insert(0) += 1;
        }
    }
    counts
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    pub fn pod(name: &str, node: &str, phase: &str, ready_since: Option<Timestamp>) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                creation_timestamp: Some(Time(Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: (!node.is_empty()).then(|| node.to_string()), ..Default::default() }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready_since.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(t)),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn availability_needs_min_ready_seconds() {
        let now = Timestamp::from_second(1_000).unwrap();
        let p = pod("a", "n1", "Running", Some(now - SignedDuration::from_secs(5)));
        assert!(is_available(&p, 0, now));
        assert!(is_available(&p, 4, now));
        assert!(!is_available(&p, 10, now));
        assert_eq!(until_available(&p, 10, now), Some(SignedDuration::from_secs(5)));
        assert!(!is_available(&pod("b", "n1", "Running", None), 0, now));
    }

    #[test]
    fn deletion_order_prefers_unhealthy_pods() {
        let now = Timestamp::from_second(100_000).unwrap();
        let mut pods = vec![
            pod("ready-old", "n1", "Running", Some(now - SignedDuration::from_secs(5000))),
            pod("unscheduled", "", "Pending", None),
            pod("ready-new", "n2", "Running", Some(now - SignedDuration::from_secs(3))),
            pod("pending", "n1", "Pending", None),
            pod("running-not-ready", "n1", "Running", None),
        ];
        sort_for_deletion(&mut pods, &HashMap::new(), now);
        let names: Vec<_> = pods.iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, vec!["unscheduled", "pending", "running-not-ready", "ready-new", "ready-old"]);
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let now = Timestamp::from_second(100_000).unwrap();
        let t = Some(now - SignedDuration::from_secs(100));
        let mut pods = vec![pod("alone", "n1", "Running", t), pod("crowded", "n2", "Running", t)];
        let colocated = HashMap::from([("n1".to_string(), 1), ("n2".to_string(), 3)]);
        sort_for_deletion(&mut pods, &colocated, now);
        assert_eq!(pods[0].metadata.name.as_deref(), Some("crowded"));
    }
}
