//! The arithmetic of a PodDisruptionBudget's status, as upstream's disruption
//! controller does it: how many pods are expected, how many must be healthy,
//! how many are, and so how many may be disrupted now.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cluster::pods;

/// How long an eviction's pod may stay before the budget stops counting it as
/// disrupted (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
pub const SUFFICIENT_PODS: &str = "SufficientPods";
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const SYNC_FAILED: &str = "SyncFailed";

/// Whether the expected count comes from the pods' controllers' scale
/// (maxUnavailable, or a percentage minAvailable) rather than the pod count.
pub fn needs_controller_scale(spec: &PodDisruptionBudgetSpec) -> bool {
    spec.max_unavailable.is_some() || matches!(spec.min_available, Some(IntOrString::String(_)))
}

/// `intstr.GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let product = pct * i64::from(total);
            let value = if round_up { (product + 99).div_euclid(100) } else { product.div_euclid(100) };
            Ok(value as i32)
        }
    }
}

/// (expectedPods, desiredHealthy). `pod_count` is the number of selected pods;
/// `scale` the sum of their controllers' replicas, when needed.
pub fn expected_and_desired(
    spec: &PodDisruptionBudgetSpec,
    pod_count: i32,
    scale: Option<i32>,
) -> Result<(i32, i32), String> {
    if let Some(max_unavailable) = &spec.max_unavailable {
        let expected = scale.unwrap_or(0);
        let unavailable = scaled_value(max_unavailable, expected, true)?;
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pod_count, *n)),
        Some(pct @ IntOrString::String(_)) => {
            let expected = scale.unwrap_or(0);
            Ok((expected, scaled_value(pct, expected, true)?))
        }
        None => Ok((0, 0)),
    }
}

/// Drops entries of `disruptedPods` whose pod is gone, being deleted, or was
/// expected to be deleted long ago; returns the kept map, the pods that
/// overstayed (for an event) and when to look again.
pub fn prune_disrupted(
    pods: &[Arc<Pod>],
    disrupted: &BTreeMap<String, Time>,
    now: jiff::Timestamp,
) -> (BTreeMap<String, Time>, Vec<String>, Option<jiff::Timestamp>) {
    let mut kept = BTreeMap::new();
    let mut overstayed = Vec::new();
    let mut recheck: Option<jiff::Timestamp> = None;
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(at) = disrupted.get(&name) else { continue };
        let expected_deletion = at.0 + DELETION_TIMEOUT;
        if expected_deletion < now {
            overstayed.push(name);
        } else {
            recheck = Some(recheck.map_or(expected_deletion, |r| r.min(expected_deletion)));
            kept.insert(name, at.clone());
        }
    }
    (kept, overstayed, recheck)
}

/// Ready pods not being deleted and not about to be (a recent eviction).
pub fn count_healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: jiff::Timestamp) -> i32 {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or_default();
            disrupted.get(name).is_none_or(|at| at.0 + DELETION_TIMEOUT <= now)
        })
        .filter(|p| pods::is_ready(p))
        .count() as i32
}

/// Sets (or updates) a condition the way `meta.SetStatusCondition` does: the
/// transition time moves only when the status changes.
pub fn set_condition(conditions: &mut Vec<Condition>, c: Condition) {
    match conditions.iter_mut().find(|x| x.type_ == c.type_) {
        Some(existing) => {
            if existing.status != c.status {
                existing.status = c.status;
                existing.last_transition_time = c.last_transition_time;
            }
            existing.reason = c.reason;
            existing.message = c.message;
            existing.observed_generation = c.observed_generation;
        }
        None => conditions.push(c),
    }
}

/// Upstream's `UpdateDisruptionAllowedCondition`.
pub fn update_allowed_condition(status: &mut PodDisruptionBudgetStatus, now: &Time) {
    let (s, reason) =
        if status.disruptions_allowed > 0 { ("True", SUFFICIENT_PODS) } else { ("False", INSUFFICIENT_PODS) };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    set_condition(
        conditions,
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: s.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: status.observed_generation,
            last_transition_time: now.clone(),
        },
    );
}

/// Upstream's `ConditionsAreUpToDate`.
fn conditions_up_to_date(pdb: &PodDisruptionBudget) -> bool {
    let Some(status) = pdb.status.as_ref() else { return false };
    let Some(c) = status.conditions.iter().flatten().find(|c| c.type_ == DISRUPTION_ALLOWED) else { return false };
    if status.observed_generation != pdb.metadata.generation {
        return false;
    }
    if status.disruptions_allowed > 0 {
        c.status == "True" && c.reason == SUFFICIENT_PODS
    } else {
        c.status == "False" && c.reason == INSUFFICIENT_PODS
    }
}

/// The counts one sync computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub expected_pods: i32,
    pub disrupted_pods: BTreeMap<String, Time>,
}

/// The status the budget should have, or `None` when it has it already.
pub fn new_status(pdb: &PodDisruptionBudget, counts: Counts, now: &Time) -> Option<PodDisruptionBudgetStatus> {
    // No disruption while nothing is expected: pods about to appear are protected
    // before this controller has counted them.
    let mut allowed = counts.current_healthy - counts.desired_healthy;
    if counts.expected_pods <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let old = pdb.status.clone().unwrap_or_default();
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == counts.current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected_pods
        && old.disruptions_allowed == allowed
        && old_disrupted == counts.disrupted_pods
        && old.observed_generation == pdb.metadata.generation
        && conditions_up_to_date(pdb)
    {
        return None;
    }
    let mut status = PodDisruptionBudgetStatus {
        current_healthy: counts.current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected_pods,
        disruptions_allowed: allowed,
        disrupted_pods: (!counts.disrupted_pods.is_empty()).then_some(counts.disrupted_pods),
        observed_generation: pdb.metadata.generation,
        conditions: old.conditions,
    };
    update_allowed_condition(&mut status, now);
    Some(status)
}

/// Upstream's `failSafe`: when the status cannot be computed, allow nothing.
pub fn fail_safe_status(pdb: &PodDisruptionBudget, message: &str, now: &Time) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let observed_generation = status.observed_generation;
    set_condition(
        status.conditions.get_or_insert_with(Vec::new),
        Condition {
            type_: DISRUPTION_ALLOWED.into(),
            status: "False".into(),
            reason: SYNC_FAILED.into(),
            message: message.to_string(),
            observed_generation,
            last_transition_time: now.clone(),
        },
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::pods::tests::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn spec(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudgetSpec {
        PodDisruptionBudgetSpec { min_available: min, max_unavailable: max, ..Default::default() }
    }

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn percentages_round_up() {
        assert_eq!(scaled_value(&IntOrString::String("50%".into()), 3, true), Ok(2));
        assert_eq!(scaled_value(&IntOrString::String("50%".into()), 3, false), Ok(1));
        assert_eq!(scaled_value(&IntOrString::String("0%".into()), 3, true), Ok(0));
        assert_eq!(scaled_value(&IntOrString::Int(4), 3, true), Ok(4));
        assert!(scaled_value(&IntOrString::String("half".into()), 3, true).is_err());
    }

    #[test]
    fn expected_and_desired_per_kind_of_budget() {
        // minAvailable as a number: the pods that exist are what is expected.
        let s = spec(Some(IntOrString::Int(2)), None);
        assert!(!needs_controller_scale(&s));
        assert_eq!(expected_and_desired(&s, 3, None), Ok((3, 2)));
        // A percentage counts the controllers' replicas.
        let s = spec(Some(IntOrString::String("50%".into())), None);
        assert!(needs_controller_scale(&s));
        assert_eq!(expected_and_desired(&s, 2, Some(5)), Ok((5, 3)));
        // maxUnavailable: replicas minus what may be unavailable, never below zero.
        let s = spec(None, Some(IntOrString::Int(1)));
        assert_eq!(expected_and_desired(&s, 3, Some(3)), Ok((3, 2)));
        let s = spec(None, Some(IntOrString::String("100%".into())));
        assert_eq!(expected_and_desired(&s, 3, Some(3)), Ok((3, 0)));
        let s = spec(None, Some(IntOrString::Int(5)));
        assert_eq!(expected_and_desired(&s, 3, Some(3)), Ok((3, 0)));
    }

    #[test]
    fn healthy_pods_are_ready_and_not_leaving() {
        let mut deleting = pod("c", "10.0.0.3", true, &[]);
        deleting.metadata.deletion_timestamp = Some(Time(at(1_000)));
        let pods: Vec<Arc<Pod>> = vec![
            Arc::new(pod("a", "10.0.0.1", true, &[])),
            Arc::new(pod("b", "10.0.0.2", false, &[])),
            Arc::new(deleting),
            Arc::new(pod("d", "10.0.0.4", true, &[])),
        ];
        assert_eq!(count_healthy(&pods, &BTreeMap::new(), at(1_000)), 2);
        // "d" was just evicted: not healthy for the next two minutes.
        let disrupted: BTreeMap<String, Time> = [("d".to_string(), Time(at(1_000)))].into();
        assert_eq!(count_healthy(&pods, &disrupted, at(1_010)), 1);
        assert_eq!(count_healthy(&pods, &disrupted, at(1_200)), 2);
    }

    #[test]
    fn disrupted_entries_expire_or_are_dropped_with_their_pod() {
        let pods: Vec<Arc<Pod>> =
            vec![Arc::new(pod("a", "10.0.0.1", true, &[])), Arc::new(pod("b", "10.0.0.2", true, &[]))];
        let disrupted: BTreeMap<String, Time> = [
            ("a".to_string(), Time(at(1_000))),
            ("b".to_string(), Time(at(800))),
            ("gone".to_string(), Time(at(1_000))),
        ]
        .into();
        let (kept, overstayed, recheck) = prune_disrupted(&pods, &disrupted, at(1_010));
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(overstayed, ["b"]);
        assert_eq!(recheck, Some(at(1_120)));
    }

    fn pdb(generation: i64, status: Option<PodDisruptionBudgetStatus>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: ObjectMeta { generation: Some(generation), ..Default::default() },
            spec: None,
            status,
        }
    }

    fn counts(current: i32, desired: i32, expected: i32) -> Counts {
        Counts {
            current_healthy: current,
            desired_healthy: desired,
            expected_pods: expected,
            disrupted_pods: BTreeMap::new(),
        }
    }

    #[test]
    fn status_allows_the_surplus_of_healthy_pods() {
        let now = Time(at(1_000));
        let s = new_status(&pdb(1, None), counts(3, 2, 3), &now).unwrap();
        assert_eq!((s.disruptions_allowed, s.current_healthy, s.desired_healthy, s.expected_pods), (1, 3, 2, 3));
        assert_eq!(s.observed_generation, Some(1));
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        // Up to date: nothing to write.
        assert!(new_status(&pdb(1, Some(s.clone())), counts(3, 2, 3), &now).is_none());
        // A new generation must be observed.
        assert!(new_status(&pdb(2, Some(s.clone())), counts(3, 2, 3), &now).is_some());
        // One pod fewer: nothing may be disrupted.
        let s2 = new_status(&pdb(1, Some(s)), counts(2, 2, 3), &now).unwrap();
        assert_eq!(s2.disruptions_allowed, 0);
        let c = &s2.conditions.as_ref().unwrap()[0];
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "InsufficientPods"));
    }

    #[test]
    fn nothing_expected_allows_nothing() {
        let s = new_status(&pdb(1, None), counts(2, 0, 0), &Time(at(0))).unwrap();
        assert_eq!(s.disruptions_allowed, 0);
    }

    #[test]
    fn fail_safe_forbids_disruptions() {
        let ok = new_status(&pdb(1, None), counts(3, 1, 3), &Time(at(0))).unwrap();
        let s = fail_safe_status(&pdb(1, Some(ok)), "found no controllers for pod \"x\"", &Time(at(5)));
        assert_eq!(s.disruptions_allowed, 0);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!((c.status.as_str(), c.reason.as_str()), ("False", "SyncFailed"));
        assert_eq!(c.last_transition_time, Time(at(5)));
    }
}
