//! k3rs-cluster: how machines and components become members of a cluster.
//!
//! - [`join`]: the joining side of the join flow. A node fetches the CA bundle without trust,
//!   pins it by the hash in its token, and only then sends its secret to get certificates,
//!   the API server list, or (servers) the cluster's bootstrap material.
//! - [`component`]: `kube::Client`s for in-process components (controller manager, scheduler,
//!   the server's own kubelet), each with its own client certificate, so RBAC sees who acts.

pub mod component;
pub mod join;

pub use component::{Component, component_client, component_config};
pub use join::{JoinClient, JoinError, NodeIdentity};
