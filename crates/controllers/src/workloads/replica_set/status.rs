//! The status a ReplicaSet reports (upstream's `calculateStatus`): counts of its active
//! pods, of those carrying every template label, of ready and of available ones, and a
//! `ReplicaFailure` condition while creating or deleting pods fails.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::kind::{ReplicaCondition, ReplicaStatus};
use crate::runtime::selector::contains_all;
use crate::workloads::pods::{is_available, is_ready};

pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Why managing replicas failed, for the `ReplicaFailure` condition.
#[derive(Debug, Clone)]
pub struct ManageFailure {
    /// `FailedCreate` or `FailedDelete`.
    pub reason: &'static str,
    pub message: String,
}

pub fn calculate_status(
    previous: &ReplicaStatus,
    generation: i64,
    pods: &[Arc<Pod>],
    template_labels: Option<&BTreeMap<String, String>>,
    min_ready_seconds: i32,
    failure: Option<&ManageFailure>,
    now: Timestamp,
) -> ReplicaStatus {
    let mut status = previous.clone();
    status.replicas = pods.len() as i32;
    status.fully_labeled_replicas =
        pods.iter().filter(|p| contains_all(p.metadata.labels.as_ref(), template_labels)).count() as i32;
    status.ready_replicas = pods.iter().filter(|p| is_ready(p)).count() as i32;
    status.available_replicas = pods.iter().filter(|p| is_available(p, min_ready_seconds, now)).count() as i32;
    status.observed_generation = generation;
    let has_failure = status.conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some(f) if !has_failure => status.conditions.push(ReplicaCondition {
            type_: REPLICA_FAILURE.into(),
            status: "True".into(),
            reason: f.reason.into(),
            message: f.message.clone(),
            last_transition_time: Some(now),
        }),
        Some(_) => {}
        None => status.conditions.retain(|c| c.type_ != REPLICA_FAILURE),
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::pods::tests::pod;
    use jiff::SignedDuration;

    #[test]
    fn counts_labeled_ready_and_available_pods() {
        let now = Timestamp::from_second(10_000).unwrap();
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let mut labeled = (*pod("a", "n1", "Running", Some(now - SignedDuration::from_secs(60)))).clone();
        labeled.metadata.labels = Some(labels.clone());
        let pods = vec![
            Arc::new(labeled),
            pod("b", "n1", "Running", Some(now - SignedDuration::from_secs(2))),
            pod("c", "n1", "Pending", None),
        ];
        let s = calculate_status(&ReplicaStatus::default(), 7, &pods, Some(&labels), 10, None, now);
        assert_eq!((s.replicas, s.fully_labeled_replicas, s.ready_replicas, s.available_replicas), (3, 1, 2, 1));
        assert_eq!(s.observed_generation, 7);
    }

    #[test]
    fn failure_condition_is_set_once_and_cleared() {
        let now = Timestamp::from_second(10_000).unwrap();
        let failure = ManageFailure { reason: "FailedCreate", message: "quota".into() };
        let s = calculate_status(&ReplicaStatus::default(), 1, &[], None, 0, Some(&failure), now);
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].reason, "FailedCreate");
        let later = ManageFailure { reason: "FailedCreate", message: "other".into() };
        let s2 = calculate_status(&s, 1, &[], None, 0, Some(&later), now);
        assert_eq!(s2.conditions[0].message, "quota", "an existing failure is kept as is");
        let s3 = calculate_status(&s2, 1, &[], None, 0, None, now);
        assert!(s3.conditions.is_empty());
    }
}
