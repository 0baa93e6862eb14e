//! The OpenAPI documents the API server publishes.
//!
//! Only OpenAPI v3 (`/openapi/v3`) is generated: it is what `kubectl apply`
//! (field validation, client-side strategic merge patches) and `kubectl explain`
//! read. See [`v3`] for what the API server must do with the documents.

pub mod v3;
