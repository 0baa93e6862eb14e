//! NamespaceLifecycle: nothing is created in a namespace that does not exist or
//! is being terminated.

use k3rs_api::{ApiError, meta};
use serde_json::Value;

use crate::objects;
use crate::rest::ResourceRequest;

pub async fn check_create(r: &ResourceRequest, obj: &Value) -> Result<(), ApiError> {
    if !r.storage.namespaced {
        return Ok(());
    }
    let ns = meta::namespace(obj);
    let kv = r.state.store.get(&format!("/registry/namespaces/{ns}")).await.map_err(objects::generic_store_error)?;
    let Some(kv) = kv else {
        return Err(ApiError::not_found("namespaces", "", ns));
    };
    let namespace = r.state.codec.decode(&kv)?;
    let terminating = meta::deletion_timestamp(&namespace).is_some()
        || namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
    if terminating {
        return Err(ApiError::forbidden(format!(
            "{} {:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            r.def.qualified_plural(),
            meta::name(obj)
        ))
        .with_details(&r.def.group, &r.def.plural, meta::name(obj)));
    }
    Ok(())
}
