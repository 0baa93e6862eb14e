//! Protobuf request bodies (kubectl's typed commands send them).

use k3rs_api::ApiError;
use serde_json::Value;

pub fn decode(_bytes: &[u8]) -> Result<Value, ApiError> {
    Err(ApiError::unsupported_media_type("application/vnd.kubernetes.protobuf"))
}
