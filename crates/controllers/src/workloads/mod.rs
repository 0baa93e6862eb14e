//! The workload controllers: ReplicaSet and ReplicationController, Deployment,
//! DaemonSet, StatefulSet, Job and CronJob, with what they share (pod facts, pod
//! creation with events and slow start, controller revisions).

pub mod cron_job;
pub mod daemon_set;
pub mod deployment;
pub mod history;
pub mod job;
pub mod pod_control;
pub mod pods;
pub mod replica_set;
pub mod stateful_set;
