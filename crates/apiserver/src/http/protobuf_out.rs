//! Protobuf response bodies for clients that ask for them.

use serde_json::Value;

/// The object in Kubernetes' protobuf envelope; kinds without a protobuf form
/// (tables, custom resources) are an error the caller answers differently.
pub fn encode(value: &Value) -> Result<Vec<u8>, String> {
    k3rs_api::protobuf::encode_object(value).map_err(|e| e.to_string())
}
