//! GET of one object (and of its status / ephemeralcontainers subresources).

use axum::response::Response;
use http::StatusCode;
use k3rs_api::ApiError;
use serde_json::Value;

use super::{ResourceRequest, table};
use crate::http::response;
use crate::objects;

/// The stored object (storage version, with `resourceVersion`) and its revision.
pub async fn load(r: &ResourceRequest) -> Result<(Value, i64), ApiError> {
    let kv = r
        .state
        .store
        .get(&r.key())
        .await
        .map_err(|e| objects::store_error(&r.def, r.name(), e))?
        .ok_or_else(|| ApiError::not_found(&r.def.plural, &r.def.group, r.name()))?;
    Ok((r.state.codec.decode(&kv)?, kv.mod_revision))
}

/// `includeObject` of table requests (`None`, `Metadata` (default), `Object`).
pub fn include_object(r: &ResourceRequest) -> &str {
    r.query.get("includeObject").unwrap_or("Metadata")
}

pub async fn get(r: &ResourceRequest) -> Result<Response, ApiError> {
    let (obj, _) = load(r).await?;
    let obj = objects::to_request_version(&r.def, obj)?;
    let body = table::single(&r.def, obj, r.output, include_object(r));
    Ok(response::encoded(StatusCode::OK, &body, r.output.encoding))
}
