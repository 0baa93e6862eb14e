//! Every way a client changes an object, on `serde_json::Value`s, with
//! upstream's semantics:
//!
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`);
//! - [`merge_patch`]: RFC 7386 (`application/merge-patch+json`);
//! - [`strategic`]: strategic merge patch (`application/strategic-merge-patch+json`);
//! - [`apply`]: server-side apply (`application/apply-patch+yaml`) with field
//!   ownership and conflicts;
//! - [`managed_fields`]: `metadata.managedFields` bookkeeping for every other write.
//!
//! How the API server uses them: a PATCH picks the function by content type
//! ([`PatchType`]), applies it to the live object and then runs the usual
//! update path (strategy, validation) and [`managed_fields::update_managed_fields`];
//! an apply patch instead goes through [`apply::server_side_apply`], which
//! records the applier's fields itself. Creates and updates call
//! `update_managed_fields` with the old object (`None` on create).

pub mod apply;
mod compare;
mod error;
pub mod fieldpath;
pub mod json_patch;
mod json_pointer;
pub mod managed_fields;
pub mod merge_patch;
mod shape;
pub mod strategic;

#[cfg(test)]
mod test_support;

use serde_json::Value;

pub use apply::{ApplyConflict, ApplyError, Conflict, server_side_apply};
pub use error::PatchError;
pub use fieldpath::{FieldSet, Path, PathElement};
pub use managed_fields::{FieldManager, ManagedFieldsEntry, ManagedFieldsError, Operation, update_managed_fields};

use crate::schema::SchemaNode;

/// The patch formats of `PATCH` requests, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// The format of a `Content-Type` (parameters such as `; charset=utf-8` ignored).
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies a JSON, merge or strategic merge patch to `doc`. Apply patches
/// need the field manager and go through [`apply::server_side_apply`] instead.
pub fn apply_patch(
    patch_type: PatchType,
    doc: &Value,
    patch: &Value,
    schema: SchemaNode<'_>,
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => json_patch::apply(doc, patch),
        PatchType::Merge => merge_patch::apply(doc, patch),
        PatchType::Strategic => strategic::apply(doc, patch, schema),
        PatchType::Apply => Err(PatchError::BadRequest(
            "apply patches are handled by server-side apply, which needs a field manager".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_types() {
        assert_eq!(PatchType::from_content_type("application/json-patch+json"), Some(PatchType::Json));
        assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(PatchType::from_content_type("application/strategic-merge-patch+json"), Some(PatchType::Strategic));
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), Some(PatchType::Apply));
        assert_eq!(PatchType::from_content_type("application/json"), None);
        for t in [PatchType::Json, PatchType::Merge, PatchType::Strategic, PatchType::Apply] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
    }

    #[test]
    fn dispatch() {
        let catalog = test_support::catalog();
        let schema = test_support::kind(catalog, "io.k8s.api.apps.v1.Deployment");
        let doc = json!({"spec": {"replicas": 1}});
        let merged = apply_patch(PatchType::Merge, &doc, &json!({"spec": {"replicas": 3}}), schema).unwrap();
        assert_eq!(merged["spec"]["replicas"], 3);
        let jp = json!([{"op": "replace", "path": "/spec/replicas", "value": 4}]);
        assert_eq!(apply_patch(PatchType::Json, &doc, &jp, schema).unwrap()["spec"]["replicas"], 4);
        let smp = apply_patch(PatchType::Strategic, &doc, &json!({"spec": {"replicas": 5}}), schema).unwrap();
        assert_eq!(smp["spec"]["replicas"], 5);
        assert!(matches!(apply_patch(PatchType::Apply, &doc, &json!({}), schema), Err(PatchError::BadRequest(_))));
    }

    #[test]
    fn errors_become_api_errors() {
        let e: crate::ApiError = PatchError::Unprocessable("x".into()).into();
        assert_eq!((e.code, e.reason), (422, crate::Reason::Invalid));
        let e: crate::ApiError = PatchError::BadRequest("y".into()).into();
        assert_eq!((e.code, e.reason), (400, crate::Reason::BadRequest));
    }
}
