//! Stale eviction marks: the eviction API marks a pod `DisruptionTarget=True`
//! before deleting it; if the pod is still not terminating two minutes later
//! (the deletion failed), the mark is reset to False, as upstream does.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::cluster::pods;

pub const CONDITION: &str = "DisruptionTarget";
/// Upstream's `stalePodDisruptionTimeout`.
pub const TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);
/// The kubelet's own marks are never stale: the pod may take long to terminate.
const BY_KUBELET: &str = "TerminationByKubelet";

/// When the pod's DisruptionTarget mark becomes stale (zero: it is), or `None`
/// when it has no mark that can become stale.
pub fn stale_after(pod: &Pod, now: jiff::Timestamp) -> Option<Duration> {
    if pod.metadata.deletion_timestamp.is_some() || pods::is_terminal(pod) {
        return None;
    }
    let c = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == CONDITION)?;
    if c.status != "True" || c.reason.as_deref() == Some(BY_KUBELET) {
        return None;
    }
    let since = c.last_transition_time.as_ref().map_or(now, |t| t.0);
    Some(now.duration_until(since + TIMEOUT).try_into().unwrap_or(Duration::ZERO))
}

/// The pod with its mark reset; `None` if there was nothing to reset.
pub fn reset(pod: &Pod, now: jiff::Timestamp) -> Option<Pod> {
    let mut pod = pod.clone();
    let c = pod.status.as_mut()?.conditions.as_mut()?.iter_mut().find(|c| c.type_ == CONDITION)?;
    if c.status == "False" {
        return None;
    }
    c.status = "False".into();
    c.last_transition_time = Some(Time(now));
    Some(pod)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::pods::tests::pod;
    use k8s_openapi::api::core::v1::PodCondition;

    fn marked(reason: &str, at: i64) -> Pod {
        let mut p = pod("a", "10.0.0.1", true, &[]);
        p.status.as_mut().unwrap().conditions.as_mut().unwrap().push(PodCondition {
            type_: CONDITION.into(),
            status: "True".into(),
            reason: Some(reason.into()),
            last_transition_time: Some(Time(jiff::Timestamp::from_second(at).unwrap())),
            ..Default::default()
        });
        p
    }

    fn at(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn an_eviction_mark_goes_stale_after_two_minutes() {
        let p = marked("EvictionByEvictionAPI", 1_000);
        assert_eq!(stale_after(&p, at(1_030)), Some(Duration::from_secs(90)));
        assert_eq!(stale_after(&p, at(1_200)), Some(Duration::ZERO));
        let r = reset(&p, at(1_200)).unwrap();
        let c = r.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == CONDITION).unwrap();
        assert_eq!(c.status, "False");
        assert!(stale_after(&reset(&p, at(1_200)).unwrap(), at(2_000)).is_none());
    }

    #[test]
    fn kubelet_marks_and_leaving_pods_are_left_alone() {
        assert!(stale_after(&marked("TerminationByKubelet", 0), at(10_000)).is_none());
        let mut p = marked("EvictionByEvictionAPI", 0);
        p.metadata.deletion_timestamp = Some(Time(at(5)));
        assert!(stale_after(&p, at(10_000)).is_none());
        assert!(stale_after(&pod("b", "10.0.0.2", true, &[]), at(0)).is_none());
    }
}
