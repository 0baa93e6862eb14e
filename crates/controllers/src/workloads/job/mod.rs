//! The Job controller: runs pods to completion (`completions`, `parallelism`,
//! NonIndexed or Indexed), retries failures with exponential back-off up to
//! `backoffLimit`, enforces `activeDeadlineSeconds` and `podFailurePolicy`, supports
//! `suspend`, and reports `Complete`/`Failed` with `completionTime`.
//!
//! Pods are tracked with the `batch.kubernetes.io/job-tracking` finalizer, as upstream
//! does: a finished pod is first recorded in `status.uncountedTerminatedPods`, then its
//! finalizer is removed, then it is moved into the `succeeded`/`failed` counters, so a
//! pod deleted early is never lost from the counts nor counted twice. Removing
//! finished Jobs (`ttlSecondsAfterFinished`) is the TTL controller's work.

pub mod backoff;
pub mod conditions;
pub mod failure_policy;
pub mod indexes;
mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use self::backoff::BackoffStore;
use self::conditions::is_finished;
use crate::manager::ControllerContext;
use crate::runtime::error::is_not_found;
use crate::runtime::owner::controller_of;
use crate::runtime::selector::LabelMatcher;
use crate::runtime::{Change, Error, EventRecorder, Expectations, Informer, ObjectKey, WorkQueue, run_workers};
use crate::workloads::pod_control::PodControl;

pub const COMPONENT: &str = "job-controller";
/// The finalizer that keeps a Job's pods until the controller has counted them.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";

pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    let recorder = ctx.recorder(COMPONENT);
    let this = Arc::new(JobController {
        client: ctx.client.clone(),
        jobs: ctx.informers.get::<Job>(),
        pods: ctx.informers.get::<Pod>(),
        queue: WorkQueue::default(),
        orphans: WorkQueue::default(),
        expectations: Expectations::default(),
        finalizer_expectations: FinalizerExpectations::default(),
        backoff: BackoffStore::default(),
        pod_control: PodControl::new(ctx.client.clone(), recorder.clone()),
        recorder,
    });
    let c = this.clone();
    this.jobs.add_handler(move |change| c.on_job_change(change));
    let c = this.clone();
    this.pods.add_handler(move |change| c.on_pod_change(change));
    this.jobs.wait_synced().await;
    this.pods.wait_synced().await;
    let c = this.clone();
    let orphans = tokio::spawn(run_workers(COMPONENT, this.orphans.clone(), 1, ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync_orphan_pod(&key).await }
    }));
    let c = this.clone();
    run_workers(COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    let _ = orphans.await;
    Ok(())
}

/// Pods whose finalizer removal was requested and not yet seen in the cache, per Job:
/// they were counted already and must not be counted again.
#[derive(Default)]
pub(crate) struct FinalizerExpectations {
    pending: Mutex<HashMap<ObjectKey, HashSet<String>>>,
}

impl FinalizerExpectations {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, HashSet<String>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn expect(&self, key: &ObjectKey, uids: impl IntoIterator<Item = String>) {
        self.map().entry(key.clone()).or_default().extend(uids);
    }

    pub fn observed(&self, key: &ObjectKey, uid: &str) {
        if let Some(set) = self.map().get_mut(key) {
            set.remove(uid);
        }
    }

    pub fn expected(&self, key: &ObjectKey) -> HashSet<String> {
        self.map().get(key).cloned().unwrap_or_default()
    }

    pub fn delete(&self, key: &ObjectKey) {
        self.map().remove(key);
    }
}

pub(crate) struct JobController {
    client: Client,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
    queue: WorkQueue<ObjectKey>,
    /// Pods that may hold the tracking finalizer without a live, unfinished Job.
    orphans: WorkQueue<ObjectKey>,
    expectations: Expectations<ObjectKey, ObjectKey>,
    finalizer_expectations: FinalizerExpectations,
    backoff: BackoffStore,
    pod_control: PodControl,
    recorder: EventRecorder,
}

pub fn has_tracking_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

pub(crate) fn selector_of(job: &Job) -> Result<LabelMatcher, Error> {
    LabelMatcher::parse(job.spec.as_ref().and_then(|s| s.selector.as_ref())).map_err(|e| Error::Invalid(e.to_string()))
}

impl JobController {
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<Arc<Job>> {
        if r.kind != "Job" {
            return None;
        }
        self.jobs.get(&ObjectKey::new(namespace, &r.name)).filter(|j| j.metadata.uid.as_deref() == Some(&r.uid))
    }

    fn on_job_change(&self, change: &Change<Job>) {
        match change {
            Change::Added(job) | Change::Updated { new: job, .. } => self.queue.add(ObjectKey::of(job.as_ref())),
            Change::Deleted(job) => {
                let key = ObjectKey::of(job.as_ref());
                self.queue.add(key.clone());
                // Its pods must not keep the finalizer forever.
                let uid = job.metadata.uid.clone().unwrap_or_default();
                for pod in self.pods.list_namespace(&key.namespace) {
                    if has_tracking_finalizer(&pod) && controller_of(&pod.metadata).is_some_and(|r| r.uid == uid) {
                        self.orphans.add(ObjectKey::of(pod.as_ref()));
                    }
                }
            }
        }
    }

    fn on_pod_change(&self, change: &Change<Pod>) {
        match change {
            Change::Added(pod) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    return self.pod_deleted(pod, false);
                }
                let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
                match controller_of(&pod.metadata) {
                    Some(r) => match self.resolve(ns, r) {
                        Some(job) if !is_finished(&job) => {
                            let key = ObjectKey::of(job.as_ref());
                            self.expectations.creation_observed(&key);
                            self.queue.add(key);
                        }
                        _ if has_tracking_finalizer(pod) => self.orphans.add(ObjectKey::of(pod.as_ref())),
                        _ => {}
                    },
                    None => {
                        if has_tracking_finalizer(pod) {
                            self.orphans.add(ObjectKey::of(pod.as_ref()));
                        }
                        self.enqueue_matching(pod);
                    }
                }
            }
            Change::Updated { old, new } => {
                if old.metadata.resource_version == new.metadata.resource_version {
                    return;
                }
                if new.metadata.deletion_timestamp.is_some() {
                    return self.pod_deleted(new, false);
                }
                let ns = new.metadata.namespace.as_deref().unwrap_or_default();
                let finalizer_removed = !has_tracking_finalizer(new);
                let uid = new.metadata.uid.clone().unwrap_or_default();
                let old_ref = controller_of(&old.metadata);
                let new_ref = controller_of(&new.metadata);
                if old_ref != new_ref
                    && let Some(job) = old_ref.and_then(|r| self.resolve(ns, r))
                {
                    let key = ObjectKey::of(job.as_ref());
                    if finalizer_removed {
                        self.finalizer_expectations.observed(&key, &uid);
                    }
                    self.queue.add(key);
                }
                if let Some(r) = new_ref {
                    match self.resolve(ns, r) {
                        Some(job) => {
                            let key = ObjectKey::of(job.as_ref());
                            if finalizer_removed {
                                self.finalizer_expectations.observed(&key, &uid);
                            }
                            self.queue.add(key);
                        }
                        None if has_tracking_finalizer(new) => self.orphans.add(ObjectKey::of(new.as_ref())),
                        None => {}
                    }
                    return;
                }
                if has_tracking_finalizer(new) {
                    self.orphans.add(ObjectKey::of(new.as_ref()));
                }
                if old.metadata.labels != new.metadata.labels || old_ref != new_ref {
                    self.enqueue_matching(new);
                }
            }
            Change::Deleted(pod) => self.pod_deleted(pod, true),
        }
    }

    fn enqueue_matching(&self, pod: &Pod) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        for job in self.jobs.list_namespace(ns) {
            if selector_of(&job).is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())) {
                self.queue.add(ObjectKey::of(job.as_ref()));
            }
        }
    }

    /// A pod being deleted (`terminal` false) or gone (`terminal` true).
    fn pod_deleted(&self, pod: &Pod, gone: bool) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let Some(r) = controller_of(&pod.metadata) else { return };
        let job = self.resolve(ns, r).filter(|j| !is_finished(j));
        let Some(job) = job else {
            if has_tracking_finalizer(pod) && !gone {
                self.orphans.add(ObjectKey::of(pod));
            }
            return;
        };
        let key = ObjectKey::of(job.as_ref());
        self.expectations.deletion_observed(&key, &ObjectKey::of(pod));
        if gone || !has_tracking_finalizer(pod) {
            self.finalizer_expectations.observed(&key, pod.metadata.uid.as_deref().unwrap_or_default());
        }
        self.queue.add(key);
    }

    /// Removes the tracking finalizer from a pod whose Job is gone or finished.
    async fn sync_orphan_pod(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(pod) = self.pods.get(key) else { return Ok(()) };
        if let Some(r) = controller_of(&pod.metadata) {
            if r.kind != "Job" || r.api_version != "batch/v1" {
                return Ok(());
            }
            if self.resolve(&key.namespace, r).is_some_and(|j| !is_finished(&j)) {
                return Ok(());
            }
        }
        if !has_tracking_finalizer(&pod) {
            return Ok(());
        }
        match remove_finalizer(&self.client, &pod).await {
            Err(e) if !is_not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Removes the tracking finalizer from `pod`.
pub(crate) async fn remove_finalizer(client: &Client, pod: &Pod) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), pod.metadata.namespace.as_deref().unwrap_or_default());
    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch)).await.map(|_| ())
}
