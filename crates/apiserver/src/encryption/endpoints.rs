//! The administration endpoints behind `k3rs secrets-encrypt`: `GET /v1-k3rs/encrypt/status`
//! and `POST /v1-k3rs/encrypt/rotate-keys`. They are non-resource URLs, so RBAC decides who
//! may call them (cluster-admin may).

use axum::response::Response;
use http::{Method, StatusCode};
use k3rs_api::ApiError;
use serde_json::json;
use tracing::{info, warn};

use super::{ENCRYPTED_PREFIX, SecretsCipher};
use crate::http::response;
use crate::state::AppState;

pub const STATUS_PATH: &str = "/v1-k3rs/encrypt/status";
pub const ROTATE_KEYS_PATH: &str = "/v1-k3rs/encrypt/rotate-keys";

/// Answers an authorized request for one of the endpoints; `None` for other paths.
pub async fn serve(state: &AppState, path: &str, method: &Method) -> Option<Response> {
    let result = match (method, path) {
        (&Method::GET, STATUS_PATH) => status(state).await,
        (&Method::POST, ROTATE_KEYS_PATH) => rotate_keys(state).await,
        (_, STATUS_PATH | ROTATE_KEYS_PATH) => {
            Err(ApiError::method_not_allowed(format!("{method} is not supported on {path}")))
        }
        _ => return None,
    };
    Some(result.unwrap_or_else(|e| response::error(&e)))
}

/// How many Secrets each key (or `identity`, in the clear) protects.
async fn key_usage(state: &AppState) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let list =
        state.store.list(ENCRYPTED_PREFIX, Default::default()).await.map_err(crate::objects::generic_store_error)?;
    let mut counts = serde_json::Map::new();
    for kv in &list.items {
        let key = SecretsCipher::key_name_of(&kv.value).unwrap_or_else(|| "identity".into());
        let n = counts.get(&key).and_then(serde_json::Value::as_u64).unwrap_or(0);
        counts.insert(key, json!(n + 1));
    }
    Ok(counts)
}

async fn status(state: &AppState) -> Result<Response, ApiError> {
    let enc = state.options.secrets_encryption.clone();
    let status = tokio::task::spawn_blocking(move || enc.status())
        .await
        .map_err(|e| ApiError::internal(format!("status task: {e}")))?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["secretsByKey"] = json!(key_usage(state).await?);
    Ok(response::json(StatusCode::OK, &body))
}

async fn rotate_keys(state: &AppState) -> Result<Response, ApiError> {
    let enc = state.options.secrets_encryption.clone();
    if !enc.enabled() {
        return Err(ApiError::bad_request(
            "secrets encryption is not enabled on this server; start it with --secrets-encryption",
        ));
    }
    let key = tokio::task::spawn_blocking(move || enc.rotate())
        .await
        .map_err(|e| ApiError::internal(format!("rotation task: {e}")))?
        .map_err(|e| ApiError::internal(format!("rotating the encryption key: {e}")))?;
    let rewritten = rewrite_secrets(state).await?;
    info!(key = %key, secrets = rewritten, "rotated the secrets encryption key and re-encrypted every Secret");
    let enc = state.options.secrets_encryption.clone();
    let status = tokio::task::spawn_blocking(move || enc.status())
        .await
        .map_err(|e| ApiError::internal(format!("status task: {e}")))?;
    let mut body = serde_json::to_value(status).unwrap_or_default();
    body["rewritten"] = json!(rewritten);
    Ok(response::json(StatusCode::OK, &body))
}

/// Stores every Secret again, so it is encrypted with the current write key.
async fn rewrite_secrets(state: &AppState) -> Result<usize, ApiError> {
    let list =
        state.store.list(ENCRYPTED_PREFIX, Default::default()).await.map_err(crate::objects::generic_store_error)?;
    let mut rewritten = 0;
    for kv in list.items {
        let mut current = kv;
        for _ in 0..5 {
            let obj = state.codec.decode(&current)?;
            let bytes = state.codec.encode(&current.key, &obj)?;
            match state.store.update(&current.key, bytes, current.mod_revision).await {
                Ok(_) => {
                    rewritten += 1;
                    break;
                }
                Err(k3rs_store::Error::Conflict { .. }) => match state.store.get(&current.key).await {
                    Ok(Some(fresh)) => current = fresh,
                    _ => break,
                },
                // Deleted meanwhile: nothing to re-encrypt.
                Err(k3rs_store::Error::NotFound { .. }) => break,
                Err(e) => {
                    warn!(key = %current.key, error = %e, "re-encrypting a Secret failed");
                    return Err(crate::objects::generic_store_error(e));
                }
            }
        }
    }
    Ok(rewritten)
}
