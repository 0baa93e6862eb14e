//! Controller references and the claim rules upstream's `ControllerRefManager` applies:
//! a controller owns the objects whose controller reference names it; it adopts orphans
//! its selector matches (unless it or they are being deleted) and releases objects it
//! owns that its selector no longer matches.

use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde_json::json;

use super::error::{Error, is_not_found};
use super::informer::Watchable;
use super::selector::LabelMatcher;

/// The controller reference of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Whether `meta`'s controller reference names the object with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// A controller reference to `owner` (controller, blocking its deletion in the foreground).
pub fn controller_ref<O: Resource<DynamicType = ()>>(owner: &O) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: O::api_version(&()).into_owned(),
        kind: O::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Claims `candidates` (already restricted to the owner's namespace) for `owner`.
pub struct Claimer<'a, O> {
    client: &'a Client,
    owner: &'a O,
    selector: &'a LabelMatcher,
    /// Result of the fresh read of the owner before the first adoption.
    can_adopt: Option<Result<(), String>>,
    /// Finalizers an adopted object gets with its ownerReference (the Job controller's
    /// tracking finalizer).
    finalizers: Vec<&'static str>,
}

impl<'a, O> Claimer<'a, O>
where
    O: Watchable + Resource<Scope = NamespaceResourceScope>,
{
    pub fn new(client: &'a Client, owner: &'a O, selector: &'a LabelMatcher) -> Self {
        Claimer { client, owner, selector, can_adopt: None, finalizers: Vec::new() }
    }

    /// Adds `finalizer` to every object this claimer adopts.
    pub fn with_finalizer(mut self, finalizer: &'static str) -> Self {
        self.finalizers.push(finalizer);
        self
    }

    fn owner_uid(&self) -> &str {
        self.owner.meta().uid.as_deref().unwrap_or_default()
    }

    /// Upstream's `RecheckDeletionTimestamp`: an adoption needs the live owner to be the
    /// same object (same uid) and not being deleted, since the cache may lag behind.
    async fn check_can_adopt(&mut self) -> Result<(), String> {
        if let Some(result) = &self.can_adopt {
            return result.clone();
        }
        let meta = self.owner.meta();
        let name = meta.name.clone().unwrap_or_default();
        let api: Api<O> = Api::namespaced(self.client.clone(), meta.namespace.as_deref().unwrap_or_default());
        let result = match api.get_opt(&name).await {
            Ok(Some(fresh)) if fresh.meta().uid.as_deref() != Some(self.owner_uid()) => Err(format!(
                "original {} {}/{} is gone: got uid {}, wanted {}",
                O::kind(&()),
                meta.namespace.as_deref().unwrap_or_default(),
                name,
                fresh.meta().uid.as_deref().unwrap_or_default(),
                self.owner_uid()
            )),
            Ok(Some(fresh)) if fresh.meta().deletion_timestamp.is_some() => Err(format!(
                "{} {}/{} has just been deleted at {:?}",
                O::kind(&()),
                meta.namespace.as_deref().unwrap_or_default(),
                name,
                fresh.meta().deletion_timestamp
            )),
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(format!("{} {name} not found", O::kind(&()))),
            Err(e) => Err(e.to_string()),
        };
        self.can_adopt = Some(result.clone());
        result
    }

    /// The candidates this owner controls after adopting and releasing as needed.
    pub async fn claim<C>(&mut self, candidates: impl IntoIterator<Item = Arc<C>>) -> Result<Vec<Arc<C>>, Error>
    where
        C: Watchable + Resource<Scope = NamespaceResourceScope>,
    {
        let mut claimed = Vec::new();
        let mut errors = Vec::new();
        let owner_deleting = self.owner.meta().deletion_timestamp.is_some();
        for obj in candidates {
            let meta = obj.meta();
            let matches = self.selector.matches(meta.labels.as_ref());
            match controller_of(meta) {
                Some(r) if r.uid != self.owner_uid() => {}
                Some(_) if matches => claimed.push(obj),
                Some(_) => {
                    // Ours, but the selector no longer matches: let it go, unless we are
                    // being deleted (the garbage collector takes care of it then).
                    if !owner_deleting && let Err(e) = self.release(obj.as_ref()).await {
                        errors.push(e);
                    }
                }
                None => {
                    if owner_deleting || !matches || meta.deletion_timestamp.is_some() {
                        continue;
                    }
                    if let Err(reason) = self.check_can_adopt().await {
                        errors.push(Error::Failed(format!("can't adopt {} {}: {reason}", C::kind(&()), name(meta))));
                        continue;
                    }
                    match self.adopt(obj.as_ref()).await {
                        Ok(true) => claimed.push(obj),
                        Ok(false) => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(claimed),
        }
    }

    async fn adopt<C>(&self, obj: &C) -> Result<bool, Error>
    where
        C: Watchable + Resource<Scope = NamespaceResourceScope>,
    {
        let meta = obj.meta();
        let mut patch = json!({"metadata": {
            "ownerReferences": [controller_ref(self.owner)],
            "uid": meta.uid,
        }});
        if !self.finalizers.is_empty() {
            patch["metadata"]["finalizers"] = json!(self.finalizers);
        }
        let api: Api<C> = Api::namespaced(self.client.clone(), meta.namespace.as_deref().unwrap_or_default());
        match api.patch(&name(meta), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => Ok(true),
            // Gone already: nothing to adopt.
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn release<C>(&self, obj: &C) -> Result<(), Error>
    where
        C: Watchable + Resource<Scope = NamespaceResourceScope>,
    {
        let meta = obj.meta();
        let patch = json!({"metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": self.owner_uid()}],
            "uid": meta.uid,
        }});
        let api: Api<C> = Api::namespaced(self.client.clone(), meta.namespace.as_deref().unwrap_or_default());
        match api.patch(&name(meta), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => Ok(()),
            // Gone or changed under us: there is nothing left to release.
            Err(e) if is_not_found(&e) || matches!(&e, kube::Error::Api(s) if s.code == 422) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn name(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    #[test]
    fn controller_refs() {
        let rs = ReplicaSet {
            metadata: ObjectMeta { name: Some("web-1".into()), uid: Some("u1".into()), ..Default::default() },
            ..Default::default()
        };
        let r = controller_ref(&rs);
        assert_eq!((r.api_version.as_str(), r.kind.as_str()), ("apps/v1", "ReplicaSet"));
        assert_eq!((r.controller, r.block_owner_deletion), (Some(true), Some(true)));
        let child = ObjectMeta {
            owner_references: Some(vec![OwnerReference { uid: "other".into(), ..Default::default() }, r.clone()]),
            ..Default::default()
        };
        assert!(is_controlled_by(&child, "u1"));
        assert!(!is_controlled_by(&child, "other"), "a non-controller reference does not control");
    }
}
