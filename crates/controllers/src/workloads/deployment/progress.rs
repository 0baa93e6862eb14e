//! A Deployment's status and conditions: the counts summed over its ReplicaSets,
//! `Available` (at least `replicas - maxUnavailable` available) and `Progressing`
//! (new ReplicaSet created or found, progress made, rollout complete, paused, resumed,
//! or `ProgressDeadlineExceeded` when nothing moved for `progressDeadlineSeconds`).

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::maths::{
    actual_replica_count, available_replica_count, max_unavailable, ready_replica_count, replica_count, replicas,
};

pub const AVAILABLE: &str = "Available";
pub const PROGRESSING: &str = "Progressing";
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

pub const REPLICA_SET_UPDATED: &str = "ReplicaSetUpdated";
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";
pub const NEW_REPLICA_SET_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_REPLICA_SET: &str = "FoundNewReplicaSet";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MINIMUM_REPLICAS_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

/// `progressDeadlineSeconds` of `i32::MAX` means "no deadline".
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.progress_deadline_seconds).filter(|s| *s != i32::MAX)
}

/// Condition times as the API stores them: whole seconds.
fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    let now = Time(whole_seconds(now));
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

pub fn get_condition<'a>(status: Option<&'a DeploymentStatus>, type_: &str) -> Option<&'a DeploymentCondition> {
    status?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// `SetDeploymentCondition`: no change if status and reason are the same; the transition
/// time is kept when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = get_condition(Some(status), &condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time.clone();
        }
    }
    remove_condition(status, &condition.type_.clone());
    status.conditions.get_or_insert_with(Vec::new).push(condition);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// `calculateStatus`: counts from the ReplicaSets and the Available condition.
pub fn calculate_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let available = available_replica_count(all);
    let unavailable = (replica_count(all) - available).max(0);
    let previous = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation.filter(|g| *g != 0),
        replicas: nonzero(actual_replica_count(all)),
        updated_replicas: nonzero(new_rs.map_or(0, |rs| actual_replica_count(&[rs]))),
        ready_replicas: nonzero(ready_replica_count(all)),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        collision_count: previous.collision_count,
        conditions: previous.conditions.clone(),
        ..previous
    };
    if available >= replicas(d) - max_unavailable(d) {
        let c = new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.".into(),
            now,
        );
        set_condition(&mut status, c);
    } else {
        let c = new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.".into(),
            now,
        );
        set_condition(&mut status, c);
    }
    status
}

fn count(n: Option<i32>) -> i32 {
    n.unwrap_or(0)
}

/// All desired replicas updated and available, no old ones left, and the latest
/// generation observed.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    count(status.updated_replicas) == want
        && count(status.replicas) == want
        && count(status.available_replicas) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// Whether `new` shows progress over the Deployment's current status.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = count(old.replicas) - count(old.updated_replicas);
    let new_old = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old < old_old
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// Whether the Progressing condition is older than the deadline (or already timed out).
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else { return false };
    let Some(c) = get_condition(Some(status), PROGRESSING) else { return false };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => c.last_update_time.as_ref().is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(deadline)) < now),
    }
}

/// `syncRolloutStatus` without the write: the new status with the Progressing
/// condition brought up to date, and the ReplicaSets' failure condition carried over.
pub fn rollout_status(
    d: &Deployment,
    all: &[&ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    now: Timestamp,
) -> DeploymentStatus {
    let mut status = calculate_status(d, all, new_rs, now);
    if progress_deadline(d).is_none() {
        remove_condition(&mut status, PROGRESSING);
    }
    let current = get_condition(d.status.as_ref(), PROGRESSING);
    let is_complete_deployment = status.replicas == status.updated_replicas
        && current.is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if progress_deadline(d).is_some() && !is_complete_deployment {
        let name = d.metadata.name.clone().unwrap_or_default();
        let rs_name = new_rs.and_then(|rs| rs.metadata.name.clone());
        if deployment_complete(d, &status) {
            let msg = match &rs_name {
                Some(rs) => format!("ReplicaSet {rs:?} has successfully progressed."),
                None => format!("Deployment {name:?} has successfully progressed."),
            };
            set_condition(&mut status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE, msg, now));
        } else if deployment_progressing(d, &status) {
            let msg = match &rs_name {
                Some(rs) => format!("ReplicaSet {rs:?} is progressing."),
                None => format!("Deployment {name:?} is progressing."),
            };
            let mut c = new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, msg, now);
            // Progress refreshes lastUpdateTime even with the same reason; the
            // transition time stays while the status stays True.
            if let Some(cur) = current {
                if cur.status == "True" {
                    c.last_transition_time = cur.last_transition_time.clone();
                }
                remove_condition(&mut status, PROGRESSING);
            }
            set_condition(&mut status, c);
        } else if deployment_timed_out(d, &status, now) {
            let msg = match &rs_name {
                Some(rs) => format!("ReplicaSet {rs:?} has timed out progressing."),
                None => format!("Deployment {name:?} has timed out progressing."),
            };
            set_condition(&mut status, new_condition(PROGRESSING, "False", TIMED_OUT, msg, now));
        }
    }
    match replica_failure(all, new_rs) {
        Some(c) => set_condition(&mut status, c),
        None => remove_condition(&mut status, REPLICA_FAILURE),
    }
    status
}

/// A ReplicaSet's `ReplicaFailure` condition as a Deployment condition (the new
/// ReplicaSet's first).
fn replica_failure(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>) -> Option<DeploymentCondition> {
    let failure_of = |rs: &ReplicaSet| {
        rs.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == REPLICA_FAILURE).map(|c| {
            DeploymentCondition {
                type_: c.type_.clone(),
                status: c.status.clone(),
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time.clone(),
            }
        })
    };
    new_rs.and_then(failure_of).or_else(|| all.iter().find_map(|rs| failure_of(rs)))
}

/// `requeueStuckDeployment`: when to look again for a progress deadline, if at all.
pub fn recheck_after(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> Option<std::time::Duration> {
    let deadline = progress_deadline(d)?;
    let current = get_condition(d.status.as_ref(), PROGRESSING)?;
    if deployment_complete(d, new) || current.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let updated = current.last_update_time.as_ref()?.0;
    let after = (updated + SignedDuration::from_secs(i64::from(deadline))).duration_since(now);
    if after < SignedDuration::from_secs(1) {
        return Some(std::time::Duration::from_millis(100));
    }
    // A second more, against clock skew between the check and the timer.
    Some(after.unsigned_abs() + std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::deployment::maths::tests::{deployment, rs};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn d(replicas: i32, generation: i64) -> Deployment {
        let mut d = deployment(replicas, IntOrString::String("25%".into()), IntOrString::String("25%".into()));
        d.metadata = ObjectMeta { name: Some("web".into()), generation: Some(generation), ..Default::default() };
        d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
        d
    }

    #[test]
    fn counts_and_availability() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let d = d(4, 2);
        let old = rs("web-old", 2, 2, None);
        let new = rs("web-new", 2, 1, None);
        let s = calculate_status(&d, &[&old, &new], Some(&new), now);
        assert_eq!(
            (s.replicas, s.updated_replicas, s.available_replicas, s.unavailable_replicas),
            (Some(4), Some(2), Some(3), Some(1))
        );
        assert_eq!(s.observed_generation, Some(2));
        let available = get_condition(Some(&s), AVAILABLE).unwrap();
        assert_eq!(
            (available.status.as_str(), available.reason.as_deref()),
            ("True", Some(MINIMUM_REPLICAS_AVAILABLE))
        );

        let old = rs("web-old", 2, 0, None);
        let s = calculate_status(&d, &[&old, &new], Some(&new), now);
        let available = get_condition(Some(&s), AVAILABLE).unwrap();
        assert_eq!(available.status, "False");
        assert_eq!(available.message.as_deref(), Some("Deployment does not have minimum availability."));
    }

    #[test]
    fn progressing_conditions_follow_the_rollout() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let mut dep = d(2, 1);
        let mut st = DeploymentStatus::default();
        set_condition(&mut st, new_condition(PROGRESSING, "True", NEW_REPLICA_SET_CREATED, "Created".into(), t0));
        dep.status = Some(st);
        let new = rs("web-1", 2, 0, None);
        // Pods appeared: progress.
        let s = rollout_status(&dep, &[&new], Some(&new), t0 + SignedDuration::from_secs(5));
        let p = get_condition(Some(&s), PROGRESSING).unwrap();
        assert_eq!(p.reason.as_deref(), Some(REPLICA_SET_UPDATED));
        assert_eq!(p.message.as_deref(), Some("ReplicaSet \"web-1\" is progressing."));
        assert_eq!(p.last_transition_time, Some(Time(t0)));
        // Nothing more for longer than the deadline: timed out.
        dep.status = Some(s.clone());
        let late = t0 + SignedDuration::from_secs(700);
        assert!(recheck_after(&dep, &s, t0 + SignedDuration::from_secs(10)).is_some());
        let s2 = rollout_status(&dep, &[&new], Some(&new), late);
        let p = get_condition(Some(&s2), PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_deref()), ("False", Some(TIMED_OUT)));
        assert_eq!(p.message.as_deref(), Some("ReplicaSet \"web-1\" has timed out progressing."));
        // Everything available: complete.
        dep.status = Some(s);
        let done = rs("web-1", 2, 2, None);
        let s3 = rollout_status(&dep, &[&done], Some(&done), late);
        let p = get_condition(Some(&s3), PROGRESSING).unwrap();
        assert_eq!((p.status.as_str(), p.reason.as_deref()), ("True", Some(NEW_RS_AVAILABLE)));
        assert!(deployment_complete(&dep, &s3));
        assert!(recheck_after(&dep, &s3, late).is_none());
    }

    #[test]
    fn setting_the_same_condition_changes_nothing() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let mut st = DeploymentStatus::default();
        set_condition(&mut st, new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "a".into(), t0));
        let before = st.clone();
        set_condition(
            &mut st,
            new_condition(AVAILABLE, "True", MINIMUM_REPLICAS_AVAILABLE, "a".into(), t0 + SignedDuration::from_secs(9)),
        );
        assert_eq!(st, before);
    }
}
