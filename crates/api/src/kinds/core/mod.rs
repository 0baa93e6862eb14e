//! The core (`""` group, `v1`) kinds' strategies, one module per kind or small family.

pub mod pod;
mod printing;

pub use pod::PodStrategy;
pub mod service;
pub use service::ServiceStrategy;
pub mod config_map;
pub mod endpoints;
pub mod event;
pub mod namespace;
pub mod node;
pub mod secret;
pub mod service_account;
