//! apiextensions.k8s.io/v1: CustomResourceDefinition.

mod crd;
mod schema;
mod validation;

pub use crd::CustomResourceDefinitionStrategy;
pub use schema::validate_structural;
