//! containerd itself: the gRPC connection ([`Containerd`]), the generated daemon
//! configuration ([`DaemonConfig`]) and the supervisor that runs a private containerd
//! ([`ContainerdDaemon`]), as K3s does when no `--container-runtime-endpoint` is given.

mod client;
mod config;
mod lease;
mod runc_options;
mod supervisor;

pub use client::Containerd;
pub use config::DaemonConfig;
pub(crate) use lease::Lease;
pub(crate) use runc_options::runc_options;
pub use supervisor::ContainerdDaemon;
