//! Between stored bytes and API objects: JSON encoding, `resourceVersion` from
//! the store's revision, conversion between the storage version and the
//! version a request speaks, and store errors as API errors.

use std::sync::Arc;

use k3rs_api::{ApiError, ResourceDef, meta};
use k3rs_store::{Error as StoreError, KeyValue};
use serde_json::Value;

use crate::encryption::SecretsEncryption;

/// Turns objects into stored bytes and back: JSON, with the values that encryption at rest
/// covers (Secrets) sealed. Cheap to clone.
#[derive(Clone)]
pub struct Codec {
    encryption: Arc<SecretsEncryption>,
}

impl Codec {
    pub fn new(encryption: Arc<SecretsEncryption>) -> Self {
        Codec { encryption }
    }

    pub fn encryption(&self) -> &Arc<SecretsEncryption> {
        &self.encryption
    }

    /// Decodes a stored value and stamps its `resourceVersion`.
    pub fn decode(&self, kv: &KeyValue) -> Result<Value, ApiError> {
        let plain = self
            .encryption
            .open_value(&kv.key, &kv.value)
            .map_err(|e| ApiError::internal(format!("stored object {}: {e}", kv.key)))?;
        let mut obj: Value = serde_json::from_slice(&plain)
            .map_err(|e| ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key)))?;
        meta::set_meta(&mut obj, "resourceVersion", Value::String(kv.mod_revision.to_string()));
        Ok(obj)
    }

    /// Encodes an object for the store at `key`, without its `resourceVersion` (the revision
    /// is the store's to give).
    pub fn encode(&self, key: &str, obj: &Value) -> Result<Vec<u8>, ApiError> {
        let mut obj = obj.clone();
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let plain = serde_json::to_vec(&obj).map_err(|e| ApiError::internal(format!("encoding {key}: {e}")))?;
        self.encryption.seal(key, plain).map_err(|e| ApiError::internal(format!("encrypting {key}: {e}")))
    }
}

/// Converts a stored object to the version of `def` and sets its type fields.
pub fn to_request_version(def: &ResourceDef, obj: Value) -> Result<Value, ApiError> {
    let mut obj = if def.stored_as_itself() {
        obj
    } else {
        def.strategy
            .from_storage(obj, &def.version)
            .map_err(|e| ApiError::internal(format!("converting {} to {}: {e}", def.kind, def.api_version())))?
    };
    set_type(def, &mut obj);
    Ok(obj)
}

/// Converts an object in `def`'s version to its storage version.
pub fn to_storage_version(def: &ResourceDef, obj: Value) -> Result<Value, ApiError> {
    if def.stored_as_itself() {
        return Ok(obj);
    }
    def.strategy.to_storage(obj, &def.version).map_err(|e| {
        ApiError::bad_request(format!("{} in version {:?} cannot be converted for storage: {e}", def.kind, def.version))
    })
}

pub fn set_type(def: &ResourceDef, obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(def.api_version()));
        map.insert("kind".into(), Value::String(def.kind.clone()));
    }
}

/// A store failure as the API reports it, for the object `name` of `def`.
pub fn store_error(def: &ResourceDef, name: &str, err: StoreError) -> ApiError {
    match err {
        StoreError::AlreadyExists { .. } => ApiError::already_exists(&def.plural, &def.group, name),
        StoreError::NotFound { .. } => ApiError::not_found(&def.plural, &def.group, name),
        StoreError::Conflict { .. } => ApiError::stale(&def.plural, &def.group, name),
        other => generic_store_error(other),
    }
}

/// Store failures that do not concern one object.
pub fn generic_store_error(err: StoreError) -> ApiError {
    match err {
        StoreError::Compacted { compacted, requested } => {
            ApiError::expired(format!("too old resource version: {requested} ({compacted})"))
        }
        StoreError::FutureRevision { requested, current } => {
            let mut e = ApiError::new(
                k3rs_api::Reason::Timeout,
                format!("Too large resource version: {requested}, current: {current}"),
            );
            e.retry_after_seconds = Some(1);
            e
        }
        StoreError::WatcherTooSlow { .. } => {
            ApiError::expired("the watch fell too far behind the datastore; list and watch again")
        }
        StoreError::Closed => ApiError::new(k3rs_api::Reason::ServiceUnavailable, "the datastore is shutting down"),
        other => ApiError::internal(format!("datastore: {other}")),
    }
}
