//! The exponential back-off between pod failures of a Job: 10s after the first
//! failure since the last success, doubling up to 6 minutes (upstream's
//! `DefaultJobPodFailureBackOff`/`MaxJobPodFailureBackOff`), measured from when the
//! last failed pod finished.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;

use crate::runtime::ObjectKey;
use crate::workloads::pods::condition;

pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_BACKOFF: Duration = Duration::from_secs(360);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    pub failures_after_last_success: i32,
    pub last_failure: Option<Timestamp>,
}

/// When a pod finished: its containers' latest finish time, else when it stopped being
/// ready, else its deletion time minus grace, else its creation.
pub fn finished_at(pod: &Pod) -> Timestamp {
    let from_containers = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|cs| {
        let mut latest: Option<Timestamp> = None;
        for c in cs {
            let t = c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()?.0;
            latest = Some(latest.map_or(t, |l| l.max(t)));
        }
        latest
    });
    if let Some(t) = from_containers {
        return t;
    }
    if let Some(t) =
        condition(pod, "Ready").filter(|c| c.status == "False").and_then(|c| c.last_transition_time.as_ref())
    {
        return t.0;
    }
    if let Some(d) = &pod.metadata.deletion_timestamp {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return d.0 - SignedDuration::from_secs(grace);
    }
    pod.metadata.creation_timestamp.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0)
}

impl BackoffRecord {
    /// The record after newly finished pods: a success resets the count to the failures
    /// that finished after it.
    pub fn after(&self, new_succeeded: &[Arc<Pod>], new_failed: &[Arc<Pod>]) -> BackoffRecord {
        let mut failed: Vec<Timestamp> = new_failed.iter().map(|p| finished_at(p)).collect();
        failed.sort();
        let last_success = new_succeeded.iter().map(|p| finished_at(p)).max();
        match last_success {
            None if failed.is_empty() => self.clone(),
            None => BackoffRecord {
                failures_after_last_success: self.failures_after_last_success + failed.len() as i32,
                last_failure: failed.last().copied(),
            },
            Some(success) => {
                let after: Vec<&Timestamp> = failed.iter().filter(|t| **t > success).collect();
                BackoffRecord {
                    failures_after_last_success: after.len() as i32,
                    last_failure: after.last().map(|t| **t),
                }
            }
        }
    }

    /// How long to wait before creating the next pod.
    pub fn remaining(&self, now: Timestamp) -> Duration {
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        let Some(last) = self.last_failure else { return Duration::ZERO };
        let mut backoff = DEFAULT_BACKOFF;
        for _ in 1..self.failures_after_last_success {
            backoff *= 2;
            if backoff >= MAX_BACKOFF {
                backoff = MAX_BACKOFF;
                break;
            }
        }
        let elapsed = now.duration_since(last);
        let elapsed = if elapsed.is_negative() { Duration::ZERO } else { elapsed.unsigned_abs() };
        backoff.saturating_sub(elapsed)
    }
}

/// Back-off records per Job, kept in memory as upstream does (a new leader starts over).
#[derive(Default)]
pub struct BackoffStore {
    records: Mutex<HashMap<ObjectKey, BackoffRecord>>,
}

impl BackoffStore {
    pub fn get(&self, key: &ObjectKey) -> BackoffRecord {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned().unwrap_or_default()
    }

    pub fn update(&self, key: &ObjectKey, record: BackoffRecord) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), record);
    }

    pub fn remove(&self, key: &ObjectKey) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn finished(at: i64) -> Arc<Pod> {
        Arc::new(Pod {
            status: Some(PodStatus {
                container_statuses: Some(vec![ContainerStatus {
                    name: "c".into(),
                    state: Some(ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            finished_at: Some(Time(Timestamp::from_second(at).unwrap())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn backoff_doubles_per_failure_and_is_capped() {
        let t = |s| Timestamp::from_second(s).unwrap();
        let r = BackoffRecord::default().after(&[], &[finished(100)]);
        assert_eq!(r.failures_after_last_success, 1);
        assert_eq!(r.remaining(t(104)), Duration::from_secs(6));
        assert_eq!(r.remaining(t(111)), Duration::ZERO);
        let r = r.after(&[], &[finished(120)]);
        assert_eq!(r.remaining(t(120)), Duration::from_secs(20));
        let many = BackoffRecord { failures_after_last_success: 12, last_failure: Some(t(0)) };
        assert_eq!(many.remaining(t(0)), MAX_BACKOFF);
    }

    #[test]
    fn a_success_resets_the_count() {
        let r =
            BackoffRecord { failures_after_last_success: 3, last_failure: Some(Timestamp::from_second(50).unwrap()) };
        let r2 = r.after(&[finished(100)], &[finished(90), finished(110)]);
        assert_eq!(r2.failures_after_last_success, 1);
        assert_eq!(r2.last_failure, Some(Timestamp::from_second(110).unwrap()));
        assert_eq!(r.after(&[finished(100)], &[]), BackoffRecord::default());
    }
}
