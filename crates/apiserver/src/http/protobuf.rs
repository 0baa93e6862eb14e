//! Protobuf request bodies (kubectl's typed commands send them).

use k3rs_api::ApiError;
use serde_json::Value;

pub fn decode(bytes: &[u8]) -> Result<Value, ApiError> {
    k3rs_api::protobuf::decode_object(bytes)
        .map_err(|e| ApiError::bad_request(format!("unable to decode the protobuf request body: {e}")))
}
