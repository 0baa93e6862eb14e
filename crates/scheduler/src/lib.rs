//! The k3rs scheduler (kube-scheduler's job), an API client like any other: it watches
//! pods without a node, filters the nodes (readiness and cordon, resources, node name,
//! node selector and affinity, taints, host ports, pod (anti-)affinity, topology spread,
//! claims), scores the feasible ones (least allocated, balanced resources, spreading,
//! preferred affinities, PreferNoSchedule taints), and binds through
//! `pods/<name>/binding`. A pod that fits nowhere gets a FailedScheduling event with
//! upstream's reason summary, may preempt lower-priority pods, and is retried with
//! back-off and when the cluster changes. Instances elect a leader through the
//! `kube-scheduler` Lease in kube-system.

mod actions;
mod cache;
pub mod config;
mod cycle;
mod fit_error;
mod framework;
mod informers;
mod node_info;
mod pod_info;
mod preemption;
mod queue;
mod scheduler;

pub use config::{DEFAULT_SCHEDULER_NAME, LEASE_NAME, SchedulerConfig};
pub use queue::QueueTimings;
pub use scheduler::{Scheduler, run_leader_elected};
