//! The kubelet of k3rs: runs the pods bound to this node through containerd
//! and keeps them healthy with upstream Kubernetes' semantics (probes, hooks,
//! restart policies and back-off), reporting status back to the API server.

pub mod backoff;
pub mod downward;
pub mod env;
pub mod node;
pub mod probe;
pub mod status;
pub mod streaming;
pub mod volumes;
