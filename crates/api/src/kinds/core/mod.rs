//! The core (`""` group, `v1`) kinds' strategies, one module per kind or small family.
//!
//! Generation tracking: pods (since v1.33) and replication controllers track
//! `metadata.generation`; namespaces, services, nodes, volumes, claims and quotas
//! have a status subresource but no generation, as upstream.

pub mod config_map;
pub mod endpoints;
pub mod event;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod quota;
pub mod replication_controller;
pub mod secret;
pub mod service;
pub mod service_account;
pub mod volumes;

pub use config_map::ConfigMapStrategy;
pub use endpoints::EndpointsStrategy;
pub use event::EventStrategy;
pub use namespace::NamespaceStrategy;
pub use node::NodeStrategy;
pub use pod::PodStrategy;
pub use quota::{LimitRangeStrategy, ResourceQuotaStrategy};
pub use replication_controller::{PodTemplateStrategy, ReplicationControllerStrategy};
pub use secret::SecretStrategy;
pub use service::ServiceStrategy;
pub use service_account::ServiceAccountStrategy;
pub use volumes::{PersistentVolumeClaimStrategy, PersistentVolumeStrategy};
