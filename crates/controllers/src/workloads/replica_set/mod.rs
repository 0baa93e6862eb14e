//! The ReplicaSet controller (also run for ReplicationControllers): keeps exactly
//! `spec.replicas` active pods matching the selector, adopting orphans and releasing
//! pods that stopped matching, creating in slow-start batches and deleting the least
//! useful pods first, and reports the counts in status.

pub mod kind;
pub mod status;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Client;
use tracing::{debug, warn};

use self::kind::ReplicaKind;
use self::status::{ManageFailure, calculate_status};
use crate::manager::ControllerContext;
use crate::runtime::owner::{Claimer, controller_of, controller_ref};
use crate::runtime::status::update_status;
use crate::runtime::{Change, Error, Expectations, Informer, ObjectKey, WorkQueue, run_workers};
use crate::workloads::pod_control::{
    PodControl, PodName, SLOW_START_INITIAL_BATCH, pod_from_template, pods_prefix, slow_start_batch,
};
use crate::workloads::pods::{is_active, is_ready, pods_per_node, sort_for_deletion, until_available};

/// At most this many pods are created or deleted in one sync (upstream's `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;

/// Runs the ReplicaSet controller.
pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    ReplicaController::<ReplicaSet>::start(ctx).await
}

/// Runs the ReplicationController controller.
pub async fn run_replication_controllers(ctx: ControllerContext) -> Result<(), Error> {
    ReplicaController::<ReplicationController>::start(ctx).await
}

struct ReplicaController<R: ReplicaKind> {
    client: Client,
    owners: Informer<R>,
    pods: Informer<Pod>,
    queue: WorkQueue<ObjectKey>,
    expectations: Expectations<ObjectKey, ObjectKey>,
    pod_control: PodControl,
}

impl<R: ReplicaKind> ReplicaController<R> {
    async fn start(ctx: ControllerContext) -> Result<(), Error> {
        let recorder = ctx.recorder(R::COMPONENT);
        let this = Arc::new(ReplicaController {
            client: ctx.client.clone(),
            owners: ctx.informers.get::<R>(),
            pods: ctx.informers.get::<Pod>(),
            queue: WorkQueue::default(),
            expectations: Expectations::default(),
            pod_control: PodControl::new(ctx.client.clone(), recorder),
        });
        let c = this.clone();
        this.owners.add_handler(move |change| c.on_owner_change(change));
        let c = this.clone();
        this.pods.add_handler(move |change| c.on_pod_change(change));
        this.owners.wait_synced().await;
        this.pods.wait_synced().await;
        let c = this.clone();
        run_workers(R::COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
            let c = c.clone();
            async move { c.sync(&key).await }
        })
        .await;
        Ok(())
    }

    fn on_owner_change(&self, change: &Change<R>) {
        match change {
            Change::Added(o) | Change::Updated { new: o, .. } => self.queue.add(ObjectKey::of(o.as_ref())),
            Change::Deleted(o) => {
                let key = ObjectKey::of(o.as_ref());
                self.expectations.delete(&key);
                self.queue.add(key);
            }
        }
    }

    /// The owner a controller reference names, if it is in the cache with that uid.
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<Arc<R>> {
        if r.kind != R::kind(&()) {
            return None;
        }
        self.owners.get(&ObjectKey::new(namespace, &r.name)).filter(|o| o.meta().uid.as_deref() == Some(&r.uid))
    }

    /// Owners in the pod's namespace whose selector matches it (candidates to adopt it).
    fn matching_owners(&self, pod: &Pod) -> Vec<Arc<R>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        self.owners
            .list_namespace(ns)
            .into_iter()
            .filter(|o| o.pod_selector().is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())))
            .collect()
    }

    fn on_pod_change(&self, change: &Change<Pod>) {
        match change {
            Change::Added(pod) => self.pod_added(pod),
            Change::Updated { old, new } => self.pod_updated(old, new),
            Change::Deleted(pod) => self.pod_deleted(pod),
        }
    }

    fn pod_added(&self, pod: &Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            // Seen for the first time already being deleted (e.g. after a restart): this
            // must not count as an expected creation.
            return self.pod_deleted(pod);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(r) = controller_of(&pod.metadata) {
            if let Some(owner) = self.resolve(ns, r) {
                let key = ObjectKey::of(owner.as_ref());
                self.expectations.creation_observed(&key);
                self.queue.add(key);
            }
            return;
        }
        for owner in self.matching_owners(pod) {
            self.queue.add(ObjectKey::of(owner.as_ref()));
        }
    }

    fn pod_updated(&self, old: &Pod, new: &Pod) {
        if old.metadata.resource_version == new.metadata.resource_version {
            return;
        }
        let labels_changed = old.metadata.labels != new.metadata.labels;
        if new.metadata.deletion_timestamp.is_some() {
            // A graceful deletion: the pod no longer counts, replace it now rather than
            // when the kubelet finishes it.
            self.pod_deleted(new);
            if labels_changed {
                self.pod_deleted(old);
            }
            return;
        }
        let ns = new.metadata.namespace.as_deref().unwrap_or_default();
        let old_ref = controller_of(&old.metadata);
        let new_ref = controller_of(&new.metadata);
        let ref_changed = old_ref != new_ref;
        if ref_changed && let Some(owner) = old_ref.and_then(|r| self.resolve(ns, r)) {
            self.queue.add(ObjectKey::of(owner.as_ref()));
        }
        if let Some(r) = new_ref {
            if let Some(owner) = self.resolve(ns, r) {
                let key = ObjectKey::of(owner.as_ref());
                self.queue.add(key.clone());
                // A pod that just turned ready becomes available after minReadySeconds:
                // look again then, since no pod event will say so.
                let min_ready = owner.min_ready_seconds();
                if !is_ready(old) && is_ready(new) && min_ready > 0 {
                    self.queue.add_after(key, Duration::from_secs(min_ready as u64 + 1));
                }
            }
            return;
        }
        if labels_changed || ref_changed {
            for owner in self.matching_owners(new) {
                self.queue.add(ObjectKey::of(owner.as_ref()));
            }
        }
    }

    fn pod_deleted(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(owner) = controller_of(&pod.metadata).and_then(|r| self.resolve(ns, r)) else { return };
        let key = ObjectKey::of(owner.as_ref());
        self.expectations.deletion_observed(&key, &ObjectKey::of(pod));
        self.queue.add(key);
    }

    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(owner) = self.owners.get(key) else {
            debug!(kind = %R::kind(&()), %key, "deleted");
            self.expectations.delete(key);
            return Ok(());
        };
        let needs_sync = self.expectations.satisfied(key);
        let selector = match owner.pod_selector() {
            Ok(s) => s,
            Err(e) => {
                // Nothing to do until the object is fixed; retrying would not help.
                warn!(kind = %R::kind(&()), %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let candidates: Vec<Arc<Pod>> =
            self.pods.list_namespace(&key.namespace).into_iter().filter(|p| is_active(p)).collect();
        let pods = Claimer::new(&self.client, owner.as_ref(), &selector).claim(candidates).await?;

        let mut failure = None;
        let mut manage_error = None;
        if needs_sync
            && owner.meta().deletion_timestamp.is_none()
            && let Err((f, e)) = self.manage_replicas(key, &owner, &pods).await
        {
            failure = Some(f);
            manage_error = Some(e);
        }

        let now = Timestamp::now();
        let min_ready = owner.min_ready_seconds();
        let template_labels = owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
        let previous = owner.replica_status();
        let generation = owner.meta().generation.unwrap_or(0);
        let status = calculate_status(&previous, generation, &pods, template_labels, min_ready, failure.as_ref(), now);
        if status != previous {
            update_status(&self.client, owner.as_ref(), |o| o.set_replica_status(&status)).await?;
        }
        if manage_error.is_none()
            && min_ready > 0
            && status.ready_replicas == owner.replicas()
            && status.available_replicas != owner.replicas()
        {
            // Look again when the next ready pod becomes available.
            let wait = pods.iter().filter_map(|p| until_available(p, min_ready, now)).min();
            let wait = wait.map_or(Duration::from_secs(min_ready as u64), |d| d.unsigned_abs());
            self.queue.add_after(key.clone(), wait + Duration::from_secs(1));
        }
        match manage_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Creates or deletes pods to reach `spec.replicas` (upstream's `manageReplicas`).
    async fn manage_replicas(
        &self,
        key: &ObjectKey,
        owner: &Arc<R>,
        pods: &[Arc<Pod>],
    ) -> Result<(), (ManageFailure, Error)> {
        let diff = pods.len() as i64 - i64::from(owner.replicas());
        if diff < 0 {
            let count = (-diff as usize).min(BURST_REPLICAS);
            let Some(template) = owner.template() else {
                let e = Error::Invalid(format!("{} {key} has no pod template", R::kind(&())));
                return Err((ManageFailure { reason: "FailedCreate", message: e.to_string() }, e));
            };
            // Expect the creations before making them: the watch may report them before
            // the requests return.
            self.expectations.expect_creations(key, count);
            let owner_ref = controller_ref(owner.as_ref());
            let name = owner.meta().name.clone().unwrap_or_default();
            let (created, _, error) = slow_start_batch(count, SLOW_START_INITIAL_BATCH, |_| {
                let pod = pod_from_template(
                    template,
                    &key.namespace,
                    PodName::Generate(pods_prefix(&name)),
                    Some(owner_ref.clone()),
                );
                async move { self.pod_control.create(owner.as_ref(), &pod).await.map(|_| ()).map_err(Error::from) }
            })
            .await;
            // Creations that failed or were never tried will not be observed.
            for _ in created..count {
                self.expectations.creation_observed(key);
            }
            if let Some(e) = error {
                return Err((ManageFailure { reason: "FailedCreate", message: e.to_string() }, e));
            }
        } else if diff > 0 {
            let count = (diff as usize).min(BURST_REPLICAS);
            let victims = self.pods_to_delete(owner, pods, count);
            let victim_keys: Vec<ObjectKey> = victims.iter().map(|p| ObjectKey::of(p.as_ref())).collect();
            self.expectations.expect_deletions(key, victim_keys.clone());
            let results = join_all(victims.iter().map(|p| {
                let name = p.metadata.name.clone().unwrap_or_default();
                async move { self.pod_control.delete(owner.as_ref(), &key.namespace, &name).await }
            }))
            .await;
            let mut first_error = None;
            for (result, pod_key) in results.into_iter().zip(victim_keys) {
                if let Err(e) = result {
                    // A failed deletion will not be observed.
                    self.expectations.deletion_observed(key, &pod_key);
                    first_error.get_or_insert(e);
                }
            }
            if let Some(e) = first_error {
                let e = Error::from(e);
                return Err((ManageFailure { reason: "FailedDelete", message: e.to_string() }, e));
            }
        }
        Ok(())
    }

    /// The `count` pods to delete first, ranked against the pods of this owner's siblings
    /// (ReplicaSets of the same Deployment) so pods doubled up on a node go first.
    fn pods_to_delete(&self, owner: &Arc<R>, pods: &[Arc<Pod>], count: usize) -> Vec<Arc<Pod>> {
        let mut ranked = pods.to_vec();
        if count < pods.len() {
            let related = self.related_pods(owner, pods);
            let colocated: HashMap<String, usize> = pods_per_node(related.iter());
            sort_for_deletion(&mut ranked, &colocated, Timestamp::now());
        }
        ranked.truncate(count);
        ranked
    }

    fn related_pods(&self, owner: &Arc<R>, pods: &[Arc<Pod>]) -> Vec<Arc<Pod>> {
        let Some(grand) = controller_of(owner.meta()) else { return pods.to_vec() };
        let ns = owner.meta().namespace.as_deref().unwrap_or_default();
        let siblings: Vec<String> = self
            .owners
            .list_namespace(ns)
            .into_iter()
            .filter(|o| controller_of(o.meta()).is_some_and(|r| r.uid == grand.uid))
            .filter_map(|o| o.meta().uid.clone())
            .collect();
        self.pods
            .list_namespace(ns)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|r| siblings.contains(&r.uid)))
            .collect()
    }
}
