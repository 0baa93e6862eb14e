//! The control loops of k3rs. Each controller is an API client (watch-fed caches, a
//! work queue, a sync function per object) that reads desired state and converges,
//! and runs only while this server holds the `kube-controller-manager` Lease, so that
//! in a cluster of several servers exactly one instance acts.
//!
//! - [`manager`]: [`manager::run_leading`] runs every controller of
//!   [`registry::controllers`] while leading; [`manager::ControllerContext`] is what each
//!   controller gets.
//! - [`runtime`]: informers, work queue, expectations, selectors, owner references,
//!   status writes, events, leader election.
//! - [`workloads`]: ReplicaSet, ReplicationController, Deployment, DaemonSet,
//!   StatefulSet, Job, CronJob. [`node`]: node lifecycle, taint eviction, pod GC, IPAM.

pub mod cluster;
pub mod manager;
pub mod node;
pub mod registry;
pub mod runtime;
pub mod workloads;

pub use manager::{ControllerConfig, ControllerContext, Registration};
pub use runtime::leader::{LeaderElection, LeaseConfig};
