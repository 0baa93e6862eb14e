//! Status writes as upstream controllers do them: `PUT …/status` of the cached object
//! with the new status, and on a conflict (the cache was behind) one more try on a
//! fresh copy.

use k8s_openapi::NamespaceResourceScope;
use kube::api::PostParams;
use kube::{Api, Client, Resource};

use super::error::{Error, is_conflict};
use super::informer::Watchable;

/// Writes `obj` with `set_status` applied through the status subresource.
pub async fn update_status<K>(client: &Client, obj: &K, set_status: impl Fn(&mut K)) -> Result<K, Error>
where
    K: Watchable + Resource<Scope = NamespaceResourceScope> + serde::Serialize,
{
    let meta = obj.meta();
    let name = meta.name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), meta.namespace.as_deref().unwrap_or_default());
    let mut current = obj.clone();
    for attempt in 0..2 {
        set_status(&mut current);
        match api.replace_status(&name, &PostParams::default(), &current).await {
            Ok(updated) => return Ok(updated),
            Err(e) if attempt == 0 && is_conflict(&e) => current = api.get(&name).await?,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Failed(format!("updating the status of {name} kept conflicting")))
}
