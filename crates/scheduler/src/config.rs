//! Scheduler settings.

use std::time::Duration;

use crate::queue::QueueTimings;

/// The scheduler name pods select by default (`spec.schedulerName`).
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// The Lease the scheduler instances of a cluster elect their leader with.
pub const LEASE_NAME: &str = "kube-scheduler";

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` is this are scheduled; others are left alone.
    pub scheduler_name: String,
    /// This instance (events' `reportingInstance`, the Lease holder identity).
    pub identity: String,
    pub queue: QueueTimings,
    /// Whether pods may preempt lower-priority pods.
    pub preemption: bool,
}

impl SchedulerConfig {
    pub fn new(identity: &str) -> Self {
        SchedulerConfig {
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            identity: identity.into(),
            queue: QueueTimings::default(),
            preemption: true,
        }
    }

    /// Back-off bounds for pods that failed an attempt (upstream: 1s and 10s).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.queue.initial_backoff = initial;
        self.queue.max_backoff = max.max(initial);
        self
    }
}
