//! The StatefulSet controller: pods with stable names and storage (`<set>-<ordinal>`,
//! one PVC per volumeClaimTemplate), created in order and each Running and Ready
//! before the next (OrderedReady) or all at once (Parallel), removed from the highest
//! ordinal down, and updated from the highest ordinal down to `partition`
//! (RollingUpdate) or when deleted (OnDelete), with ControllerRevisions recording
//! `currentRevision` and `updateRevision`.

pub mod identity;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::json;
use tracing::{debug, warn};

use self::identity::{
    claims, identity_matches, in_ordinal_range, is_member, new_pod, ordinal, plain_owner_ref, pod_revision, replicas,
    set_name, start_ordinal, storage_matches, update_identity, update_storage,
};
use crate::manager::ControllerContext;
use crate::runtime::error::{is_already_exists, is_not_found, message};
use crate::runtime::owner::{Claimer, controller_of, controller_ref};
use crate::runtime::selector::LabelMatcher;
use crate::runtime::status::update_status;
use crate::runtime::{Error, EventRecorder, Informer, ObjectKey, WorkQueue, run_workers};
use crate::workloads::history::{self, CONTROLLER_REVISION_HASH_LABEL};
use crate::workloads::pods::{is_available, is_ready, phase};

pub const COMPONENT: &str = "statefulset-controller";
/// Hash collisions tried before giving up on creating a revision in one sync.
const MAX_COLLISION_RETRIES: i32 = 10;

pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    let this = Arc::new(StatefulSetController {
        client: ctx.client.clone(),
        sets: ctx.informers.get::<StatefulSet>(),
        pods: ctx.informers.get::<Pod>(),
        revisions: ctx.informers.get::<ControllerRevision>(),
        queue: WorkQueue::default(),
        recorder: ctx.recorder(COMPONENT),
    });
    let c = this.clone();
    this.sets.add_handler(move |change| c.queue.add(ObjectKey::of(change.latest().as_ref())));
    let c = this.clone();
    this.pods.add_handler(move |change| change.objects().for_each(|pod| c.enqueue_for_pod(pod)));
    let c = this.clone();
    this.revisions.add_handler(move |change| {
        let rev = change.latest();
        let ns = rev.metadata.namespace.as_deref().unwrap_or_default();
        if let Some(set) = controller_of(&rev.metadata).and_then(|r| c.resolve(ns, r)) {
            c.queue.add(ObjectKey::of(set.as_ref()));
        }
    });
    this.sets.wait_synced().await;
    this.pods.wait_synced().await;
    this.revisions.wait_synced().await;
    let c = this.clone();
    run_workers(COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    Ok(())
}

struct StatefulSetController {
    client: Client,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    revisions: Informer<ControllerRevision>,
    queue: WorkQueue<ObjectKey>,
    recorder: EventRecorder,
}

fn selector_of(set: &StatefulSet) -> Result<LabelMatcher, Error> {
    LabelMatcher::parse(set.spec.as_ref().map(|s| &s.selector)).map_err(|e| Error::Invalid(e.to_string()))
}

fn min_ready_seconds(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn running_and_ready(pod: &Pod) -> bool {
    phase(pod) == "Running" && is_ready(pod)
}

fn running_and_available(pod: &Pod, min_ready: i32, now: Timestamp) -> bool {
    phase(pod) == "Running" && is_available(pod, min_ready, now)
}

fn healthy(pod: &Pod) -> bool {
    running_and_ready(pod) && !is_terminating(pod)
}

/// A replica position: a pod the API server has, or one still to create.
#[derive(Clone)]
enum Slot {
    Existing(Arc<Pod>),
    New(Box<Pod>),
}

impl Slot {
    fn pod(&self) -> &Pod {
        match self {
            Slot::Existing(p) => p,
            Slot::New(p) => p,
        }
    }
}

/// Counts of the status from the replicas and condemned pods.
fn count_status(
    pods: &[&Slot],
    min_ready: i32,
    current: &str,
    update: &str,
    now: Timestamp,
) -> (i32, i32, i32, i32, i32) {
    let (mut replicas, mut ready, mut available, mut current_n, mut updated) = (0, 0, 0, 0, 0);
    for slot in pods {
        let Slot::Existing(pod) = slot else { continue };
        replicas += 1;
        if running_and_ready(pod) {
            ready += 1;
            if running_and_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if !is_terminating(pod) {
            if pod_revision(pod) == current {
                current_n += 1;
            }
            if pod_revision(pod) == update {
                updated += 1;
            }
        }
    }
    (replicas, ready, available, current_n, updated)
}

/// The template stored in a revision (the set's own template if it cannot be read).
fn revision_template(set: &StatefulSet, rev: &ControllerRevision) -> PodTemplateSpec {
    history::template_of(rev).unwrap_or_else(|| set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default())
}

impl StatefulSetController {
    fn resolve(&self, ns: &str, r: &OwnerReference) -> Option<Arc<StatefulSet>> {
        if r.kind != "StatefulSet" {
            return None;
        }
        self.sets.get(&ObjectKey::new(ns, &r.name)).filter(|s| s.metadata.uid.as_deref() == Some(&r.uid))
    }

    fn enqueue_for_pod(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(r) => {
                if let Some(set) = self.resolve(ns, r) {
                    self.queue.add(ObjectKey::of(set.as_ref()));
                }
            }
            None => {
                for set in self.sets.list_namespace(ns) {
                    if selector_of(&set).is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())) {
                        self.queue.add(ObjectKey::of(set.as_ref()));
                    }
                }
            }
        }
    }

    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(shared) = self.sets.get(key) else { return Ok(()) };
        let set = (*shared).clone();
        let selector = match selector_of(&set) {
            Ok(s) => s,
            Err(e) => {
                warn!(statefulset = %key, error = %e, "invalid selector");
                return Ok(());
            }
        };
        let candidates: Vec<Arc<Pod>> =
            self.pods.list_namespace(&key.namespace).into_iter().filter(|p| is_member(&set, p)).collect();
        let pods = Claimer::new(&self.client, &set, &selector).claim(candidates).await?;
        let revisions =
            Claimer::new(&self.client, &set, &selector).claim(self.revisions.list_namespace(&key.namespace)).await?;
        let mut revisions: Vec<ControllerRevision> = revisions.iter().map(|r| (**r).clone()).collect();
        revisions.sort_by(|a, b| a.revision.cmp(&b.revision).then_with(|| a.metadata.name.cmp(&b.metadata.name)));

        let (current, update, collision_count) = self.current_and_update_revisions(&set, &mut revisions).await?;
        let (status, result) = self.update_replicas(&set, &current, &update, collision_count, &pods).await;
        let write = self.write_status(&set, status.clone()).await;
        let truncate = self.truncate_history(&set, &pods, &revisions, &current, &update).await;
        if min_ready_seconds(&set) > 0 && status.available_replicas.unwrap_or(0) != replicas(&set) {
            self.queue.add_after(key.clone(), Duration::from_secs(min_ready_seconds(&set) as u64));
        }
        result.and(write).and(truncate)
    }

    /// `getStatefulSetRevisions`: the update revision is the set's template (a new
    /// revision, the latest one, or an older one renumbered on rollback); the current
    /// revision is the one `status.currentRevision` names.
    async fn current_and_update_revisions(
        &self,
        set: &StatefulSet,
        revisions: &mut Vec<ControllerRevision>,
    ) -> Result<(ControllerRevision, ControllerRevision, i32), Error> {
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &ns);
        let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let template = set.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        let data = history::template_patch(&template);
        let next = history::max_revision(&revisions.iter().collect::<Vec<_>>()) + 1;
        let equal: Vec<usize> = (0..revisions.len()).filter(|&i| history::matches(&revisions[i], &data)).collect();
        let update = match equal.last() {
            Some(&i) if i + 1 == revisions.len() => revisions[i].clone(),
            Some(&i) => {
                let mut renumbered = revisions[i].clone();
                renumbered.revision = next;
                let name = renumbered.metadata.name.clone().unwrap_or_default();
                let updated = api.replace(&name, &PostParams::default(), &renumbered).await?;
                revisions[i] = updated.clone();
                updated
            }
            None => {
                let mut attempt = 0;
                loop {
                    let hash = history::revision_hash(&data, Some(collision_count).filter(|c| *c != 0));
                    let name = history::revision_name(set_name(set), &hash);
                    let mut labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
                    labels.insert(CONTROLLER_REVISION_HASH_LABEL.into(), name.clone());
                    let mut rev = history::new_revision(name.clone(), Some(ns.clone()), labels, data.clone(), next);
                    rev.metadata.owner_references = Some(vec![controller_ref(set)]);
                    match api.create(&PostParams::default(), &rev).await {
                        Ok(created) => {
                            revisions.push(created.clone());
                            break created;
                        }
                        Err(e) if is_already_exists(&e) => {
                            let existing = api.get(&name).await?;
                            if history::matches(&existing, &data) {
                                break existing;
                            }
                            collision_count += 1;
                            attempt += 1;
                            if attempt >= MAX_COLLISION_RETRIES {
                                return Err(e.into());
                            }
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        };
        let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone()).unwrap_or_default();
        let current = revisions.iter().find(|r| r.metadata.name.as_deref() == Some(current_name.as_str())).cloned();
        Ok((current.unwrap_or_else(|| update.clone()), update, collision_count))
    }

    /// `updateStatefulSet`: creates, repairs, scales down and updates pods; returns the
    /// status to write and the first error.
    async fn update_replicas(
        &self,
        set: &StatefulSet,
        current: &ControllerRevision,
        update: &ControllerRevision,
        collision_count: i32,
        pods: &[Arc<Pod>],
    ) -> (StatefulSetStatus, Result<(), Error>) {
        let now = Timestamp::now();
        let current_name = current.metadata.name.clone().unwrap_or_default();
        let update_name = update.metadata.name.clone().unwrap_or_default();
        let current_template = revision_template(set, current);
        let update_template = revision_template(set, update);
        let min_ready = min_ready_seconds(set);
        let start = start_ordinal(set);
        let count = replicas(set).max(0) as usize;
        let partition = set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0);
        let rolling = set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";

        let mut slots: Vec<Option<Slot>> = vec![None; count];
        let mut condemned: Vec<Arc<Pod>> = Vec::new();
        for pod in pods {
            if in_ordinal_range(set, pod) {
                if let Some(o) = ordinal(pod) {
                    slots[(o - start) as usize] = Some(Slot::Existing(pod.clone()));
                }
            } else if ordinal(pod).is_some() {
                condemned.push(pod.clone());
            }
        }
        let slots: Vec<Slot> = slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.unwrap_or_else(|| {
                    let ord = start + i as i32;
                    // Below the partition, new pods are made at the current revision.
                    if rolling && ord < start + partition {
                        Slot::New(Box::new(new_pod(set, &current_template, ord, &current_name)))
                    } else {
                        Slot::New(Box::new(new_pod(set, &update_template, ord, &update_name)))
                    }
                })
            })
            .collect();
        condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
        let first_unhealthy: Option<String> = slots
            .iter()
            .map(Slot::pod)
            .chain(condemned.iter().rev().map(|p| p.as_ref()))
            .find(|p| !healthy(p))
            .and_then(|p| p.metadata.name.clone());

        let collision = Some(collision_count);
        let status_of = |slots: &[Slot], condemned: &[Arc<Pod>], current_delta: i32| {
            let condemned_slots: Vec<Slot> = condemned.iter().cloned().map(Slot::Existing).collect();
            let all: Vec<&Slot> = slots.iter().chain(condemned_slots.iter()).collect();
            let (r, ready, available, cur, upd) = count_status(&all, min_ready, &current_name, &update_name, now);
            StatefulSetStatus {
                observed_generation: set.metadata.generation,
                replicas: r,
                ready_replicas: Some(ready),
                available_replicas: Some(available),
                current_replicas: Some(cur + current_delta),
                updated_replicas: Some(upd),
                current_revision: Some(current_name.clone()),
                update_revision: Some(update_name.clone()),
                collision_count: collision,
                ..set.status.clone().unwrap_or_default()
            }
        };
        if set.metadata.deletion_timestamp.is_some() {
            return (status_of(&slots, &condemned, 0), Ok(()));
        }
        let monotonic = set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) != Some("Parallel");

        // Replicas: create missing pods, replace finished ones, repair identity.
        let mut slots = slots;
        if monotonic {
            for i in 0..slots.len() {
                match self.process_replica(set, &mut slots[i], true, min_ready, now).await {
                    Ok(false) => {}
                    Ok(true) => return (status_of(&slots, &condemned, 0), Ok(())),
                    Err(e) => return (status_of(&slots, &condemned, 0), Err(e)),
                }
            }
        } else {
            let results = join_all(slots.iter_mut().map(|s| self.process_replica(set, s, false, min_ready, now))).await;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return (status_of(&slots, &condemned, 0), Err(e));
            }
        }

        // Condemned pods: highest ordinal first, one at a time when ordered.
        if monotonic {
            for pod in condemned.clone() {
                match self.process_condemned(set, &pod, first_unhealthy.as_deref(), true, min_ready, now).await {
                    Ok(false) => {}
                    Ok(true) => return (status_of(&slots, &condemned, 0), Ok(())),
                    Err(e) => return (status_of(&slots, &condemned, 0), Err(e)),
                }
            }
        } else {
            let results = join_all(
                condemned
                    .iter()
                    .map(|p| self.process_condemned(set, p, first_unhealthy.as_deref(), false, min_ready, now)),
            )
            .await;
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return (status_of(&slots, &condemned, 0), Err(e));
            }
        }
        let status = status_of(&slots, &condemned, 0);
        if !rolling {
            // OnDelete: pods change revision only when someone deletes them.
            return (status, Ok(()));
        }
        // Rolling update: the highest ordinal not at the update revision goes first,
        // and nothing moves while an updated pod is unhealthy.
        let min = partition.max(0) as usize;
        for target in (min..slots.len()).rev() {
            let pod = slots[target].pod();
            if pod_revision(pod) != update_name && !is_terminating(pod) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                debug!(statefulset = %set_name(set), pod = %name, "terminating for update");
                let result = self.delete_pod(set, &name).await;
                return (status_of(&slots, &condemned, -1), result);
            }
            if !healthy(pod) {
                return (status, Ok(()));
            }
        }
        (status, Ok(()))
    }

    /// `processReplica`: true when an ordered set must stop here for now.
    async fn process_replica(
        &self,
        set: &StatefulSet,
        slot: &mut Slot,
        monotonic: bool,
        min_ready: i32,
        now: Timestamp,
    ) -> Result<bool, Error> {
        if let Slot::New(pod) = slot {
            let ord = ordinal(pod).unwrap_or_default();
            self.create_claims(set, pod, ord).await?;
            let created = self.create_pod(set, pod).await?;
            *slot = Slot::Existing(Arc::new(created));
            // The next ordinal waits for this one to be Running and Ready.
            return Ok(monotonic);
        }
        let Slot::Existing(pod) = slot else { return Ok(false) };
        let pod = pod.clone();
        if matches!(phase(&pod), "Failed" | "Succeeded") {
            // A finished pod is replaced: delete it, and recreate it once it is gone.
            if !is_terminating(&pod) {
                self.delete_pod(set, pod.metadata.name.as_deref().unwrap_or_default()).await?;
            }
            return Ok(true);
        }
        if phase(&pod) == "Pending" {
            self.create_claims(set, &pod, ordinal(&pod).unwrap_or_default()).await?;
        }
        if monotonic
            && (is_terminating(&pod) || !running_and_ready(&pod) || !running_and_available(&pod, min_ready, now))
        {
            return Ok(true);
        }
        if identity_matches(set, &pod) && storage_matches(set, &pod) {
            return Ok(false);
        }
        let mut fixed = (*pod).clone();
        let ord = ordinal(&fixed).unwrap_or_default();
        update_identity(set, &mut fixed, ord);
        update_storage(set, &mut fixed, ord);
        let name = fixed.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        match api.replace(&name, &PostParams::default(), &fixed).await {
            Ok(_) => {
                self.recorder.normal(
                    set,
                    "SuccessfulUpdate",
                    format!("update Pod {name} in StatefulSet {} successful", set_name(set)),
                );
                Ok(false)
            }
            Err(e) => {
                self.recorder.warning(
                    set,
                    "FailedUpdate",
                    format!("update Pod {name} in StatefulSet {} failed error: {}", set_name(set), message(&e)),
                );
                Err(e.into())
            }
        }
    }

    /// `processCondemned`: deletes a pod beyond the replica count; true when an ordered
    /// set must stop here for now.
    async fn process_condemned(
        &self,
        set: &StatefulSet,
        pod: &Pod,
        first_unhealthy: Option<&str>,
        monotonic: bool,
        min_ready: i32,
        now: Timestamp,
    ) -> Result<bool, Error> {
        if is_terminating(pod) {
            return Ok(monotonic);
        }
        let is_first_unhealthy = pod.metadata.name.as_deref() == first_unhealthy;
        if monotonic && !is_first_unhealthy && (!running_and_ready(pod) || !running_and_available(pod, min_ready, now))
        {
            return Ok(true);
        }
        self.retain_or_release_claims_on_scale_down(set, pod).await?;
        self.delete_pod(set, pod.metadata.name.as_deref().unwrap_or_default()).await?;
        Ok(true)
    }

    async fn create_pod(&self, set: &StatefulSet, pod: &Pod) -> Result<Pod, Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        let name = pod.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), pod).await {
            Ok(created) => {
                self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    format!("create Pod {name} in StatefulSet {} successful", set_name(set)),
                );
                Ok(created)
            }
            Err(e) => {
                self.recorder.warning(
                    set,
                    "FailedCreate",
                    format!("create Pod {name} in StatefulSet {} failed error: {}", set_name(set), message(&e)),
                );
                Err(e.into())
            }
        }
    }

    async fn delete_pod(&self, set: &StatefulSet, name: &str) -> Result<(), Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder.normal(
                    set,
                    "SuccessfulDelete",
                    format!("delete Pod {name} in StatefulSet {} successful", set_name(set)),
                );
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => {
                self.recorder.warning(
                    set,
                    "FailedDelete",
                    format!("delete Pod {name} in StatefulSet {} failed error: {}", set_name(set), message(&e)),
                );
                Err(e.into())
            }
        }
    }

    fn retention_policy(set: &StatefulSet) -> (String, String) {
        let p = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
        (
            p.and_then(|p| p.when_deleted.clone()).unwrap_or_else(|| "Retain".into()),
            p.and_then(|p| p.when_scaled.clone()).unwrap_or_else(|| "Retain".into()),
        )
    }

    /// Creates the pod's missing claims (owned by the set when `whenDeleted: Delete`).
    async fn create_claims(&self, set: &StatefulSet, pod: &Pod, ord: i32) -> Result<(), Error> {
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &ns);
        let (when_deleted, _) = Self::retention_policy(set);
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        for (_, mut claim) in claims(set, ord) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if api.get_opt(&name).await?.is_some() {
                continue;
            }
            if when_deleted == "Delete" {
                claim.metadata.owner_references =
                    Some(vec![plain_owner_ref(&StatefulSet::api_version(&()), &StatefulSet::kind(&()), &set.metadata)]);
            }
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    format!("create Claim {name} Pod {pod_name} in StatefulSet {} success", set_name(set)),
                ),
                Err(e) if is_already_exists(&e) => {}
                Err(e) => {
                    self.recorder.warning(
                        set,
                        "FailedCreate",
                        format!(
                            "create Claim {name} for Pod {pod_name} in StatefulSet {} failed error: {}",
                            set_name(set),
                            message(&e)
                        ),
                    );
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// With `whenScaled: Delete`, a scaled-down pod's claims become owned by the pod, so
    /// the garbage collector removes them after it.
    async fn retain_or_release_claims_on_scale_down(&self, set: &StatefulSet, pod: &Pod) -> Result<(), Error> {
        let (_, when_scaled) = Self::retention_policy(set);
        if when_scaled != "Delete" {
            return Ok(());
        }
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &ns);
        let owner = plain_owner_ref("v1", "Pod", &pod.metadata);
        for (_, claim) in claims(set, ordinal(pod).unwrap_or_default()) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            let patch = json!({"metadata": {"ownerReferences": [owner]}});
            match api.patch(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes the status if it changed; a finished rolling update makes the update
    /// revision current.
    async fn write_status(&self, set: &StatefulSet, mut status: StatefulSetStatus) -> Result<(), Error> {
        let rolling = set
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";
        let updated = status.updated_replicas.unwrap_or(0);
        if rolling && updated == status.replicas && status.ready_replicas.unwrap_or(0) == status.replicas {
            status.current_replicas = Some(updated);
            status.current_revision = status.update_revision.clone();
        }
        // Zero counts are left out, as upstream's omitempty does.
        for field in [&mut status.ready_replicas, &mut status.current_replicas, &mut status.updated_replicas] {
            if *field == Some(0) {
                *field = None;
            }
        }
        if set.status.as_ref() == Some(&status) {
            return Ok(());
        }
        update_status(&self.client, set, |s| s.status = Some(status.clone())).await.map(|_| ())
    }

    /// Deletes the oldest revisions beyond `revisionHistoryLimit` that neither the
    /// current nor the update revision nor any pod uses.
    async fn truncate_history(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
        revisions: &[ControllerRevision],
        current: &ControllerRevision,
        update: &ControllerRevision,
    ) -> Result<(), Error> {
        let mut live: HashSet<String> = pods.iter().map(|p| pod_revision(p).to_string()).collect();
        live.extend(current.metadata.name.clone());
        live.extend(update.metadata.name.clone());
        let dead: Vec<&ControllerRevision> =
            revisions.iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default())).collect();
        let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10).max(0) as usize;
        if dead.len() <= limit {
            return Ok(());
        }
        let api: Api<ControllerRevision> =
            Api::namespaced(self.client.clone(), set.metadata.namespace.as_deref().unwrap_or_default());
        for rev in dead.iter().take(dead.len() - limit) {
            match api.delete(rev.metadata.name.as_deref().unwrap_or_default(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::pods::tests::pod;

    #[test]
    fn status_counts_created_ready_and_revisions() {
        let now = Timestamp::from_second(100_000).unwrap();
        let mut a = (*pod("web-0", "n", "Running", Some(now - jiff::SignedDuration::from_secs(60)))).clone();
        a.metadata.labels = Some([(CONTROLLER_REVISION_HASH_LABEL.to_string(), "web-1".to_string())].into());
        let mut b = (*pod("web-1", "n", "Pending", None)).clone();
        b.metadata.labels = Some([(CONTROLLER_REVISION_HASH_LABEL.to_string(), "web-2".to_string())].into());
        let slots = [Slot::Existing(Arc::new(a)), Slot::Existing(Arc::new(b)), Slot::New(Box::default())];
        let refs: Vec<&Slot> = slots.iter().collect();
        assert_eq!(count_status(&refs, 0, "web-1", "web-2", now), (2, 1, 1, 1, 1));
        assert_eq!(count_status(&refs, 120, "web-1", "web-2", now).2, 0, "not available before minReadySeconds");
    }
}
