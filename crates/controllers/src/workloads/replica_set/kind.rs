//! ReplicaSet and ReplicationController seen the same way: upstream implements both
//! with one controller (an RC is treated as an older form of a ReplicaSet), and so do we.

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerCondition, ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;

use crate::runtime::Watchable;
use crate::runtime::selector::{self, InvalidSelector, LabelMatcher};

/// The status both kinds share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: i64,
    pub conditions: Vec<ReplicaCondition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaCondition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<Timestamp>,
}

/// What the replica controller needs from its kind.
pub trait ReplicaKind: Watchable + Resource<Scope = NamespaceResourceScope> + serde::Serialize {
    /// The event source (`replicaset-controller`, `replication-controller`).
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn pod_selector(&self) -> Result<LabelMatcher, InvalidSelector>;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn min_ready_seconds(&self) -> i32;
    fn replica_status(&self) -> ReplicaStatus;
    fn set_replica_status(&mut self, status: &ReplicaStatus);
}

/// Upstream omits zero counts (`omitempty`), except `replicas`.
fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// Reads the status fields both kinds spell the same way (a macro: the two status types
/// are distinct k8s-openapi structs with identical fields).
macro_rules! read_status {
    ($status:expr) => {{
        let s = $status;
        ReplicaStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            conditions: s
                .conditions
                .unwrap_or_default()
                .into_iter()
                .map(|c| ReplicaCondition {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason.unwrap_or_default(),
                    message: c.message.unwrap_or_default(),
                    last_transition_time: c.last_transition_time.map(|t| t.0),
                })
                .collect(),
        }
    }};
}

/// The conditions as the kind's condition type; absent when there are none.
macro_rules! write_conditions {
    ($status:expr, $condition:ident) => {
        (!$status.conditions.is_empty()).then(|| {
            $status
                .conditions
                .iter()
                .map(|c| $condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: Some(c.reason.clone()),
                    message: Some(c.message.clone()),
                    last_transition_time: c.last_transition_time.map(Time),
                })
                .collect()
        })
    };
}

impl ReplicaKind for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn pod_selector(&self) -> Result<LabelMatcher, InvalidSelector> {
        LabelMatcher::parse(self.spec.as_ref().map(|s| &s.selector))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn replica_status(&self) -> ReplicaStatus {
        read_status!(self.status.clone().unwrap_or_default())
    }

    fn set_replica_status(&mut self, s: &ReplicaStatus) {
        let previous = self.status.take().unwrap_or_default();
        self.status = Some(ReplicaSetStatus {
            replicas: s.replicas,
            fully_labeled_replicas: nonzero(s.fully_labeled_replicas),
            ready_replicas: nonzero(s.ready_replicas),
            available_replicas: nonzero(s.available_replicas),
            observed_generation: nonzero_i64(s.observed_generation),
            conditions: write_conditions!(s, ReplicaSetCondition),
            ..previous
        });
    }
}

fn nonzero_i64(n: i64) -> Option<i64> {
    (n != 0).then_some(n)
}

impl ReplicaKind for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";

    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }

    fn pod_selector(&self) -> Result<LabelMatcher, InvalidSelector> {
        Ok(selector::from_map(self.spec.as_ref().and_then(|s| s.selector.as_ref())))
    }

    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref().and_then(|s| s.template.as_ref())
    }

    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }

    fn replica_status(&self) -> ReplicaStatus {
        read_status!(self.status.clone().unwrap_or_default())
    }

    fn set_replica_status(&mut self, s: &ReplicaStatus) {
        self.status = Some(ReplicationControllerStatus {
            replicas: s.replicas,
            fully_labeled_replicas: nonzero(s.fully_labeled_replicas),
            ready_replicas: nonzero(s.ready_replicas),
            available_replicas: nonzero(s.available_replicas),
            observed_generation: nonzero_i64(s.observed_generation),
            conditions: write_conditions!(s, ReplicationControllerCondition),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_and_omit_zero_counts() {
        let mut rs = ReplicaSet::default();
        let status = ReplicaStatus {
            replicas: 3,
            fully_labeled_replicas: 3,
            ready_replicas: 0,
            available_replicas: 2,
            observed_generation: 4,
            conditions: vec![],
        };
        rs.set_replica_status(&status);
        assert_eq!(rs.replica_status(), status);
        let json = serde_json::to_value(rs.status.as_ref().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"replicas": 3, "fullyLabeledReplicas": 3, "availableReplicas": 2, "observedGeneration": 4})
        );

        let mut rc = ReplicationController::default();
        rc.set_replica_status(&status);
        assert_eq!(rc.replica_status(), status);
    }
}
