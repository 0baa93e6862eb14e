//! k3rs-runtime: the container runtime layer of the k3rs agent.
//!
//! This crate drives containerd through its native gRPC API and knows nothing about the
//! Kubernetes API: the kubelet (pod workers, probes, status) is built on top of it.
//!
//! - [`containerd`]: the connection to containerd, and a supervised private containerd.
//! - [`image`]: references, archive import, registry pull, the image store, test images.
//! - [`sandbox`]: a pod's shared namespaces (network, IPC, UTS, optionally PID), its
//!   `/dev/shm`, `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`.
//! - [`container`]: container descriptions, OCI runtime specs, lifecycle, exec and attach.
//! - [`logs`]: container log files in the kubelet's format, with rotation, and reading them.
//! - [`Runtime`]: the facade the kubelet uses; every operation is async.

pub mod cgroups;
pub mod container;
pub mod containerd;
pub mod error;
pub mod image;
mod io;
pub mod logs;
pub mod mounts;
mod runtime;
pub mod sandbox;
pub mod testing;

pub use container::{
    AttachSession, ContainerConfig, ContainerExit, ContainerFilter, ContainerState, ContainerStatus, ExecConfig,
    ExecOutput, ExecSession, ExitReason,
};
pub use error::{Result, RuntimeError};
pub use image::{ImageRef, ImageService, ImageSummary, ImportProgress};
pub use io::pump::OutputChunk;
pub use runtime::{Endpoint, Runtime, RuntimeConfig};
pub use sandbox::{Sandbox, SandboxConfig};
