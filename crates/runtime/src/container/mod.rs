//! Containers: their description ([`ContainerConfig`]), the OCI spec built from it, and
//! the lifecycle, exec and attach operations on [`crate::Runtime`].

mod attach;
pub mod config;
mod exec;
pub mod labels;
mod lifecycle;
pub(crate) mod monitor;
pub mod spec;
pub mod status;
pub mod user;

pub use attach::AttachSession;
pub use config::{ContainerConfig, ExecConfig, Mount, Propagation, Resources, SecurityConfig};
pub use exec::{ExecHandle, ExecOutput, ExecSession};
pub use lifecycle::{ContainerFilter, signal_number};
pub use status::{ContainerExit, ContainerState, ContainerStatus, ExitReason, PodRef};
