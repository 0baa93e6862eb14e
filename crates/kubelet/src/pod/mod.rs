//! Pods: the pod manager that watches the pods bound to this node, and the pod worker
//! that runs each of them through the container runtime with upstream's semantics
//! (sandbox, volumes, images, init containers and sidecars, probes, hooks, restarts and
//! back-off, status, graceful termination, re-adoption after an agent restart).
//!
//! The agent starts it with [`PodManager::start`]:
//!
//! ```no_run
//! # async fn start(client: kube::Client, runtime: k3rs_runtime::Runtime) -> Result<(), Box<dyn std::error::Error>> {
//! use k3rs_kubelet::pod::{KubeletConfig, PodManager};
//! let mut config = KubeletConfig::new("node-1", "/var/lib/k3rs/agent/kubelet");
//! config.node_ips = vec!["192.168.1.10".into()];
//! let pods = PodManager::start(client, runtime, config).await?;
//! // ... on agent shutdown (containers keep running and are re-adopted next start):
//! pods.shutdown().await;
//! # Ok(()) }
//! ```

mod adopt;
mod cleanup;
mod config;
mod container_config;
mod context;
mod directory;
mod hooks;
mod images;
mod manager;
mod object_watch;
mod plan;
mod pod_status;
mod probes;
mod record;
mod sources;
mod start;
mod stop;
mod tokens;
mod volumes;
mod worker;

pub use config::{BackoffLimits, KubeletConfig};
pub use directory::{PodDirectory, PodEntry, PodNetwork};
pub use manager::{PodManager, PodManagerHandle};

/// Why the pod manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum PodManagerError {
    /// A directory the kubelet needs could not be created.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid kubelet configuration: {0}")]
    Config(String),
}
