//! Kubernetes kinds and their rules, without I/O: the resource registry, per-kind
//! strategies (defaulting, validation, printing, field selectors), patching,
//! OpenAPI documents, and the protobuf wire format.

pub mod crd;
pub mod error;
pub mod kinds;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod resource;
pub mod scheduling;
pub mod schema;
pub mod selector;
pub mod strategy;
pub mod table;
pub mod validation;

pub use error::{ApiError, ApiResult, Reason};
pub use resource::{GroupVersionKind, ResourceDef};
pub use strategy::{Context, Strategy};
