//! OpenAPI v3 documents, as kube-apiserver publishes them under `/openapi/v3`.
//!
//! One document per group-version ([`group_version_document`] for built-ins,
//! [`crd_group_version_document`] for custom resources) and a root that lists
//! them ([`root`]). Paths, operation ids, tags, parameters, request bodies and
//! responses follow upstream's builder; schemas come from the [`Catalog`](crate::schema::Catalog).
//!
//! What kubectl reads from them:
//! - `apply` (client-side with `--validate=strict`, and `--server-side`) looks for
//!   a PATCH operation tagged with the object's `x-kubernetes-group-version-kind`
//!   that declares the `fieldValidation` query parameter; without it, kubectl falls
//!   back to client-side validation over protobuf `/openapi/v2`.
//! - client-side `apply` of built-in kinds computes its strategic merge patch from
//!   the kind's schema when that PATCH operation accepts
//!   `application/strategic-merge-patch+json`; so every field must be there, with
//!   the patch extensions.
//! - `explain` finds the kind's schema by `x-kubernetes-group-version-kind` and
//!   walks `properties`, `items` and `allOf`/`$ref`.
//!
//! What the API server does with them:
//! - serialize each document once, hash the bytes with [`document_hash`], list
//!   (key, hash) pairs in [`root`] (every served group-version, or kubectl falls back
//!   to `/openapi/v2`), and rebuild when the set of served kinds changes (CRDs);
//! - `GET /openapi/v3`: the root, `Content-Type: application/json`, not cacheable;
//! - `GET /openapi/v3/<key>?hash=H`: the document; when `H` is the current hash,
//!   add `Cache-Control: public, immutable`, `Expires` a year ahead, `Vary: Accept`,
//!   and `Etag: "<hash>"` (answer 304 to a matching `If-None-Match`); when `H` is
//!   stale, redirect (301) to the current URL; without `hash`, serve the document
//!   with the `Etag` only.

mod crd;
mod document;
mod names;
mod operations;
mod params;
mod paths;
mod root;

pub use crd::{CrdError, crd_definition_name, crd_schema_definitions, extend_catalog};
pub use document::{builtin_documents, crd_group_version_document, group_version_document};
pub use root::{document_hash, document_key, parse_document_key, root, server_relative_url};

/// The server version documents report in `info.version`; keep it equal to `/version`'s `gitVersion`.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

#[cfg(test)]
mod tests;
