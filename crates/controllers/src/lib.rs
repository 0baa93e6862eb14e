//! The control loops of k3rs. Each controller is an API client (kube-rs
//! watchers and reflectors) that reads desired state and converges, and runs
//! only while this server holds its coordination.k8s.io Lease, so that in a
//! cluster of several servers exactly one instance acts.

pub mod node;
pub mod runtime;

pub use runtime::leader::{LeaderElection, LeaseConfig};
