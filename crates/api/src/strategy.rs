//! The per-kind rules the one generic REST path asks for: defaulting, validation,
//! what a create or update may change, printing, field selectors, graceful deletion.
//!
//! Every method works on the object as JSON (`serde_json::Value`); kinds with a
//! Rust type in `k8s-openapi` convert to it where typed access is clearer (see
//! [`typed`]).

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::table::Column;
use crate::validation::FieldError;

/// When a request happens and what it asked for, for rules that depend on it.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: jiff::Timestamp,
}

impl Context {
    pub fn now() -> Self {
        Context { now: jiff::Timestamp::now() }
    }
}

/// Where a scalable kind keeps its replica count and selector (for `/scale`).
#[derive(Debug, Clone)]
pub struct ScalePaths {
    /// JSON pointer of the desired replicas (`/spec/replicas`).
    pub spec_replicas: String,
    /// JSON pointer of the observed replicas (`/status/replicas`).
    pub status_replicas: String,
    /// JSON pointer of the label selector: either a `LabelSelector` object
    /// (built-ins: `/spec/selector`) or a string (CRDs: `labelSelectorPath`).
    pub selector: Option<String>,
}

pub trait Strategy: Send + Sync + 'static {
    /// Checks the object's shape against its type and drops fields the type does
    /// not have (upstream's decode into Go structs). An error names the field.
    fn normalize(&self, _obj: &mut Value) -> Result<(), String> {
        Ok(())
    }

    /// Converts an object in `version` of this kind to the storage version.
    fn to_storage(&self, obj: Value, _from_version: &str) -> Result<Value, String> {
        Ok(obj)
    }

    /// Converts a stored object to `version` of this kind.
    #[allow(clippy::wrong_self_convention)] // a conversion direction, not a constructor
    fn from_storage(&self, obj: Value, _to_version: &str) -> Result<Value, String> {
        Ok(obj)
    }

    /// Upstream defaulting (runs on create and update, before validation).
    fn default(&self, _obj: &mut Value) {}

    /// Clears what a client may not set on create (e.g. status) and sets server fields.
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.has_status() {
            reset_status(obj);
        }
    }

    /// Keeps what a plain update may not change (status, when there is a status subresource).
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.has_status() {
            match old.get("status") {
                Some(status) => {
                    new["status"] = status.clone();
                }
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
    }

    /// Keeps everything but status from the stored object on a `/status` update.
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let status = new.get("status").cloned();
        let metadata = new.get("metadata").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        // Metadata changes ride along on status updates as upstream allows for
        // labels and annotations only; the rest of metadata stays as stored.
        if let Some(meta) = metadata {
            for key in ["labels", "annotations", "resourceVersion"] {
                match meta.get(key) {
                    Some(v) => new["metadata"][key] = v.clone(),
                    None => {
                        if key != "resourceVersion"
                            && let Some(m) = new["metadata"].as_object_mut()
                        {
                            m.remove(key);
                        }
                    }
                }
            }
        }
    }

    /// Whether the kind has a `status` subresource (so status is owned by it).
    fn has_status(&self) -> bool {
        false
    }

    /// Whether `metadata.generation` tracks changes of the spec.
    fn tracks_generation(&self) -> bool {
        self.has_status()
    }

    /// Problems with an object name of this kind (most kinds: a DNS-1123 subdomain).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::dns1123_subdomain(name)
    }

    fn validate_create(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> Vec<FieldError> {
        self.validate_create(new)
    }

    /// Table columns for `kubectl get` (without the implicit Name column when
    /// `name_column()` is true).
    fn columns(&self) -> Vec<Column> {
        vec![Column::age()]
    }

    /// Whether the printer starts with the standard `Name` column.
    fn name_column(&self) -> bool {
        true
    }

    /// The cells of one row, in the order of `columns()` (Name excluded when implicit).
    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![Value::String(crate::table::age(obj, ctx))]
    }

    /// The value of a field-selector label for `obj`, or `None` when the kind
    /// does not support the label. `metadata.name` and `metadata.namespace` are
    /// answered generically before this is asked.
    fn field_label(&self, _obj: &Value, _label: &str) -> Option<String> {
        None
    }

    /// Seconds a delete waits before the object goes away (pods: the grace period);
    /// `None` deletes at once.
    fn graceful_delete_seconds(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }

    /// Where `/scale` reads and writes, for scalable kinds.
    fn scale_paths(&self) -> Option<ScalePaths> {
        None
    }
}

/// Sets `status` to `{}` the way upstream's PrepareForCreate resets it.
pub fn reset_status(obj: &mut Value) {
    if let Some(map) = obj.as_object_mut() {
        map.remove("status");
    }
}

/// Runs `f` on the typed form of `obj` and writes the result back. Objects that do not
/// deserialize are left unchanged (validation reports them).
pub fn typed<T: DeserializeOwned + Serialize>(obj: &mut Value, f: impl FnOnce(&mut T)) {
    if let Ok(mut t) = serde_json::from_value::<T>(obj.clone()) {
        f(&mut t);
        if let Ok(v) = serde_json::to_value(&t) {
            *obj = v;
        }
    }
}

/// Decodes `obj` into `T`, or returns the decoder's message.
pub fn decode<T: DeserializeOwned>(obj: &Value) -> Result<T, String> {
    serde_json::from_value::<T>(obj.clone()).map_err(|e| e.to_string())
}

/// A round trip through `T`: checks the shape and drops fields `T` does not know.
pub fn normalize_as<T: DeserializeOwned + Serialize>(obj: &mut Value) -> Result<(), String> {
    let t: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    *obj = serde_json::to_value(&t).map_err(|e| e.to_string())?;
    Ok(())
}
