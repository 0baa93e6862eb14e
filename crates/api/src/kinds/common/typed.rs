//! Typed reads of JSON objects for rules that are clearer on k8s-openapi types.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The object decoded as `T`, or `T::default()` when it does not decode (printing and
/// field selectors must answer for any stored object; validation reports bad shapes).
pub fn decode_or_default<T: DeserializeOwned + Default>(obj: &Value) -> T {
    T::deserialize(obj).unwrap_or_default()
}

/// A string field at a JSON pointer, `""` when absent.
pub fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
