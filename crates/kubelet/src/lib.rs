//! The kubelet of k3rs: runs the pods bound to this node through containerd
//! and keeps them healthy with upstream Kubernetes' semantics (probes, hooks,
//! restart policies and back-off), reporting status back to the API server.
//!
//! [`pod::PodManager`] is the entry point the agent starts.

pub mod backoff;
pub mod downward;
pub mod env;
pub mod events;
pub mod netns;
pub mod node;
pub mod pod;
pub mod probe;
pub mod status;
pub mod streaming;
pub mod volumes;
