//! The garbage collector's workers: they act on what the graph asks for,
//! always checking the live object first (the graph may lag behind), and
//! every write is conditional on the resourceVersion that was checked.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::PartialObjectMeta;
use serde_json::json;
use tracing::{debug, info};

use super::Collector;
use super::decide::{Decision, OwnerState, Propagation, decide};
use super::graph::{FOREGROUND_FINALIZER, GraphEvent, Identity, NodeView, ORPHAN_FINALIZER};
use crate::cluster::resources::ResourceInfo;
use crate::cluster::{Error, is_not_found};
use crate::runtime::Requeue;

/// What a lookup of an object by its coordinates found.
enum Lookup {
    Found(Box<PartialObjectMeta<DynamicObject>>),
    /// Nothing there, or another object (different uid) under that name.
    Absent,
}

impl Collector {
    fn resource_of(&self, api_version: &str, kind: &str) -> Result<ResourceInfo, Error> {
        self.catalog()
            .lookup(api_version, kind)
            .cloned()
            .ok_or_else(|| Error::UnknownKind { api_version: api_version.to_string(), kind: kind.to_string() })
    }

    fn api_for(&self, info: &ResourceInfo, namespace: &str) -> Api<DynamicObject> {
        if info.namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &info.resource)
        } else {
            Api::all_with(self.client.clone(), &info.resource)
        }
    }

    async fn lookup(&self, id: &Identity) -> Result<Lookup, Error> {
        let info = self.resource_of(&id.api_version, &id.kind)?;
        let api = self.api_for(&info, &id.namespace);
        match api.get_metadata_opt(&id.name).await? {
            Some(m) if m.metadata.uid.as_deref() == Some(id.uid.as_str()) => Ok(Lookup::Found(Box::new(m))),
            _ => Ok(Lookup::Absent),
        }
    }

    /// Whether the owner a reference names exists, is waiting for its
    /// dependents, or is gone. `None`: the reference is invalid (a
    /// cluster-scoped object cannot be owned by a namespaced one).
    async fn owner_state(&self, r: &OwnerReference, item: &Identity) -> Result<Option<OwnerState>, Error> {
        let info = self.resource_of(&r.api_version, &r.kind)?;
        if info.namespaced && item.namespace.is_empty() {
            return Ok(None);
        }
        let owner = Identity {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: if info.namespaced { item.namespace.clone() } else { String::new() },
            name: r.name.clone(),
            uid: r.uid.clone(),
        };
        if self.absent().contains(&owner) {
            return Ok(Some(OwnerState::Absent));
        }
        match self.lookup(&owner).await? {
            Lookup::Absent => {
                self.absent().add(owner);
                Ok(Some(OwnerState::Absent))
            }
            Lookup::Found(m) => {
                let waiting = m.metadata.deletion_timestamp.is_some()
                    && m.metadata.finalizers.iter().flatten().any(|f| f == FOREGROUND_FINALIZER);
                Ok(Some(if waiting { OwnerState::WaitingForDependents } else { OwnerState::Present }))
            }
        }
    }

    /// Upstream's `attemptToDeleteItem`.
    pub(super) async fn attempt_to_delete(&self, uid: &str) -> Result<Requeue, Error> {
        let Some(item) = self.graph().view(uid) else { return Ok(None) };
        // Being deleted (not in the foreground) is a one-way trip: its deletion
        // event will bring its dependents here.
        if item.being_deleted && !item.deleting_dependents {
            return Ok(None);
        }
        let latest = match self.lookup(&item.identity).await? {
            Lookup::Absent => {
                let _ = self.events.send(GraphEvent::VirtualDelete(item.identity));
                return Ok(None);
            }
            Lookup::Found(m) => m,
        };
        if !item.observed {
            // It exists but its watch has not shown it yet: wait for the watch.
            return match self.graph().node(uid) {
                Some(n) if !n.observed => Err(Error::Retry(format!("{} exists but is not watched yet", item.identity))),
                _ => Ok(None),
            };
        }
        if item.deleting_dependents {
            return self.process_deleting_dependents(&item).await;
        }
        let owners = latest.metadata.owner_references.clone().unwrap_or_default();
        if owners.is_empty() {
            return Ok(None);
        }
        let mut classified = Vec::with_capacity(owners.len());
        for r in owners {
            match self.owner_state(&r, &item.identity).await? {
                Some(state) => classified.push((r, state)),
                None => {
                    debug!(object = %item.identity, owner = %r.name, "a cluster-scoped object cannot have a namespaced owner; ignored");
                    return Ok(None);
                }
            }
        }
        let finalizers = latest.metadata.finalizers.clone().unwrap_or_default();
        let rv = latest.metadata.resource_version.clone().unwrap_or_default();
        match decide(&classified, !item.dependents.is_empty(), item.dependent_deleting_dependents, &finalizers) {
            Decision::Nothing => Ok(None),
            Decision::RemoveOwnerReferences(uids) => {
                let kept: Vec<OwnerReference> =
                    classified.into_iter().map(|(r, _)| r).filter(|r| !uids.contains(&r.uid)).collect();
                self.patch_owner_references(&item.identity, kept, &rv).await?;
                Ok(None)
            }
            Decision::DeleteForeground { unblock_owner_references } => {
                let mut rv = rv;
                if unblock_owner_references {
                    let unblocked = classified
                        .into_iter()
                        .map(|(mut r, _)| {
                            r.block_owner_deletion = Some(false);
                            r
                        })
                        .collect();
                    rv = self.patch_owner_references(&item.identity, unblocked, &rv).await?;
                }
                self.delete(&item.identity, &rv, Propagation::Foreground).await?;
                Ok(None)
            }
            Decision::Delete(propagation) => {
                self.delete(&item.identity, &rv, propagation).await?;
                Ok(None)
            }
        }
    }

    /// An owner deleted in the foreground: its blocking dependents go first,
    /// then its `foregroundDeletion` finalizer.
    async fn process_deleting_dependents(&self, item: &NodeView) -> Result<Requeue, Error> {
        if item.blocking_dependents.is_empty() {
            self.remove_finalizer(&item.identity, FOREGROUND_FINALIZER).await?;
            return Ok(None);
        }
        for (dep, deleting_dependents) in &item.blocking_dependents {
            if !deleting_dependents {
                self.delete_queue.add(dep.uid.clone());
            }
        }
        Ok(None)
    }

    /// Upstream's `attemptToOrphanWorker`: dependents lose their reference to
    /// the owner, then the owner loses its `orphan` finalizer.
    pub(super) async fn attempt_to_orphan(&self, uid: &str) -> Result<Requeue, Error> {
        let Some(owner) = self.graph().view(uid) else { return Ok(None) };
        for dep in &owner.dependents {
            match self.lookup(dep).await? {
                Lookup::Absent => {}
                Lookup::Found(m) => {
                    let refs = m.metadata.owner_references.clone().unwrap_or_default();
                    if refs.iter().any(|r| r.uid == uid) {
                        let kept = refs.into_iter().filter(|r| r.uid != uid).collect();
                        let rv = m.metadata.resource_version.clone().unwrap_or_default();
                        self.patch_owner_references(dep, kept, &rv).await?;
                    }
                }
            }
        }
        self.remove_finalizer(&owner.identity, ORPHAN_FINALIZER).await?;
        Ok(None)
    }

    /// Replaces the object's owner references; returns the new resourceVersion.
    async fn patch_owner_references(
        &self,
        id: &Identity,
        refs: Vec<OwnerReference>,
        rv: &str,
    ) -> Result<String, Error> {
        let info = self.resource_of(&id.api_version, &id.kind)?;
        let api = self.api_for(&info, &id.namespace);
        let refs = if refs.is_empty() { serde_json::Value::Null } else { json!(refs) };
        // A merge patch works for custom resources too; the resourceVersion makes it conditional.
        let patch = json!({"metadata": {"ownerReferences": refs, "resourceVersion": rv}});
        match api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(obj) => Ok(obj.metadata.resource_version.unwrap_or_default()),
            Err(e) if is_not_found(&e) => Ok(String::new()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_finalizer(&self, id: &Identity, finalizer: &str) -> Result<(), Error> {
        let Lookup::Found(m) = self.lookup(id).await? else { return Ok(()) };
        let finalizers = m.metadata.finalizers.clone().unwrap_or_default();
        if !finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let kept: Vec<String> = finalizers.into_iter().filter(|f| f != finalizer).collect();
        let info = self.resource_of(&id.api_version, &id.kind)?;
        let api = self.api_for(&info, &id.namespace);
        let rv = m.metadata.resource_version.clone().unwrap_or_default();
        let patch = json!({"metadata": {"finalizers": if kept.is_empty() { serde_json::Value::Null } else { json!(kept) }, "resourceVersion": rv}});
        match api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, id: &Identity, rv: &str, propagation: Propagation) -> Result<(), Error> {
        let info = self.resource_of(&id.api_version, &id.kind)?;
        let api = self.api_for(&info, &id.namespace);
        let params = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            // Only the object that was checked, as it was checked.
            preconditions: Some(Preconditions { uid: Some(id.uid.clone()), resource_version: Some(rv.to_string()) }),
            ..Default::default()
        };
        info!(object = %id, ?propagation, "garbage collecting an object whose owners are gone");
        match api.delete(&id.name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
