//! One sync of a Job (upstream's `syncJob`): count finished pods, decide whether the Job
//! succeeded or failed, create or delete pods, and record it all in status through
//! the finalizer-tracking protocol.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::PostParams;
use tracing::debug;

use super::backoff::BackoffRecord;
use super::conditions::{
    COMPLETE, FAILED, FAILURE_TARGET, REASON_BACKOFF_LIMIT_EXCEEDED, REASON_COMPLETIONS_REACHED,
    REASON_DEADLINE_EXCEEDED, REASON_POD_FAILURE_POLICY, SUCCESS_CRITERIA_MET, SUSPENDED, ensure, find, is_finished,
    new_condition,
};
use super::failure_policy::evaluate;
use super::indexes::{
    COMPLETION_INDEX_ANNOTATION, COMPLETION_INDEX_ENV, Intervals, completion_index, duplicated_for_removal,
    first_pending,
};
use super::{JobController, TRACKING_FINALIZER, has_tracking_finalizer, remove_finalizer, selector_of};
use crate::runtime::error::is_not_found;
use crate::runtime::owner::{Claimer, controller_ref};
use crate::runtime::{Error, ObjectKey};
use crate::workloads::pod_control::{
    PodName, SLOW_START_INITIAL_BATCH, pod_from_template, pods_prefix, slow_start_batch,
};
use crate::workloads::pods::{is_active, is_ready, phase, sort_for_deletion};

/// At most this many pods are created or deleted per sync.
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// At most this many pods are recorded in `uncountedTerminatedPods` per sync.
const MAX_UNCOUNTED_PODS: usize = 500;
const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

struct SyncCtx {
    key: ObjectKey,
    job: Job,
    pods: Vec<Arc<Pod>>,
    active_pods: Vec<Arc<Pod>>,
    ready: i32,
    terminating: i32,
    uncounted_succeeded: HashSet<String>,
    uncounted_failed: HashSet<String>,
    expected_rm: HashSet<String>,
    succeeded: i32,
    failed: i32,
    new_backoff: BackoffRecord,
    finished: Option<JobCondition>,
    prev_succeeded_indexes: Intervals,
    succeeded_indexes: Intervals,
}

fn spec(job: &Job) -> k8s_openapi::api::batch::v1::JobSpec {
    job.spec.clone().unwrap_or_default()
}

fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref().and_then(|s| s.completions)
}

fn suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false)
}

/// With `podReplacementPolicy: Failed`, a pod is replaced only once it has failed.
fn only_replace_failed(job: &Job) -> bool {
    let s = job.spec.as_ref();
    s.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || s.is_some_and(|s| s.pod_failure_policy.is_some())
}

/// Failed, or (unless only failed pods are replaced) deleted before succeeding.
fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    if only_replace_failed(job) {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

fn uid(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

fn valid_index(job: &Job, pod: &Pod) -> bool {
    !is_indexed(job) || completion_index(pod).is_some_and(|ix| ix < completions(job).unwrap_or(0))
}

/// Restarts of running or pending pods reached `backoffLimit` (restartPolicy OnFailure).
fn past_backoff_limit_on_failure(job: &Job, pods: &[Arc<Pod>]) -> bool {
    let s = spec(job);
    if s.template.spec.as_ref().and_then(|p| p.restart_policy.as_deref()) != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| matches!(phase(p), "Running" | "Pending"))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|st| st.init_container_statuses.iter().flatten().chain(st.container_statuses.iter().flatten()))
        .map(|c| c.restart_count)
        .sum();
    let limit = s.backoff_limit.unwrap_or(6);
    if limit == 0 { restarts > 0 } else { restarts >= limit }
}

impl JobController {
    fn job_api(&self, ns: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// `PUT …/status`; the Job becomes the stored object.
    async fn write_status(&self, job: &mut Job) -> Result<(), Error> {
        let name = job.metadata.name.clone().unwrap_or_default();
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        *job = self.job_api(&ns).replace_status(&name, &PostParams::default(), job).await?;
        Ok(())
    }

    pub(super) async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(shared) = self.jobs.get(key) else {
            self.expectations.delete(key);
            self.finalizer_expectations.delete(key);
            self.backoff.remove(key);
            return Ok(());
        };
        if let Some(managed_by) = shared.spec.as_ref().and_then(|s| s.managed_by.as_deref())
            && managed_by != JOB_CONTROLLER_NAME
        {
            return Ok(());
        }
        if is_finished(&shared) {
            self.backoff.remove(key);
            return Ok(());
        }
        let mut job = (*shared).clone();
        if let Some(mode) = job.spec.as_ref().and_then(|s| s.completion_mode.as_deref())
            && mode != "NonIndexed"
            && mode != "Indexed"
        {
            self.recorder.warning(&job, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown");
            return Ok(());
        }
        // Fields k3rs does not implement: say so where users look, rather than ignore them.
        let spec_ref = job.spec.as_ref();
        if spec_ref.is_some_and(|s| s.backoff_limit_per_index.is_some() || s.max_failed_indexes.is_some()) {
            self.recorder.warning(
                &job,
                "UnsupportedField",
                "backoffLimitPerIndex and maxFailedIndexes are not supported by k3rs; the Job's backoffLimit applies",
            );
        }
        if spec_ref.is_some_and(|s| s.success_policy.is_some()) {
            self.recorder.warning(
                &job,
                "UnsupportedField",
                "successPolicy is not supported by k3rs; the Job completes when its completions succeed",
            );
        }
        let now = Timestamp::now();
        let status = job.status.get_or_insert_with(Default::default);
        if status.uncounted_terminated_pods.is_none() {
            status.uncounted_terminated_pods = Some(UncountedTerminatedPods::default());
        }
        // Expectations first: a pod that shows up after this check waits for the next sync.
        let satisfied = self.expectations.satisfied(key);
        let pods = self.claim_pods(&job).await?;
        let active_pods: Vec<Arc<Pod>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let uncounted = status_of(&job).uncounted_terminated_pods.clone().unwrap_or_default();
        let mut ctx = SyncCtx {
            key: key.clone(),
            ready: active_pods.iter().filter(|p| is_ready(p)).count() as i32,
            terminating: pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_some() && !matches!(phase(p), "Failed" | "Succeeded"))
                .count() as i32,
            uncounted_succeeded: uncounted.succeeded.unwrap_or_default().into_iter().collect(),
            uncounted_failed: uncounted.failed.unwrap_or_default().into_iter().collect(),
            expected_rm: self.finalizer_expectations.expected(key),
            succeeded: 0,
            failed: 0,
            new_backoff: BackoffRecord::default(),
            finished: None,
            prev_succeeded_indexes: Intervals::default(),
            succeeded_indexes: Intervals::default(),
            active_pods,
            pods,
            job,
        };
        let mut active = ctx.active_pods.len() as i32;
        let (new_succeeded, new_failed) = self.new_finished_pods(&ctx);
        let counted_failures = new_failed
            .iter()
            .filter(|p| evaluate(ctx.job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref()), p).counts)
            .count() as i32;
        let st = status_of(&ctx.job);
        ctx.succeeded = st.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + ctx.uncounted_succeeded.len() as i32;
        ctx.failed = st.failed.unwrap_or(0) + counted_failures + ctx.uncounted_failed.len() as i32;

        if status_of(&ctx.job).start_time.is_none() && !suspended(&ctx.job) {
            status_mut(&mut ctx.job).start_time = Some(Time(now));
        }
        ctx.new_backoff = self.backoff.get(key).after(&new_succeeded, &new_failed);

        let backoff_limit = spec(&ctx.job).backoff_limit.unwrap_or(6);
        ctx.finished = find(&ctx.job, SUCCESS_CRITERIA_MET).filter(|c| c.status == "True").cloned();
        if ctx.finished.is_none() {
            if let Some(target) = find(&ctx.job, FAILURE_TARGET).filter(|c| c.status == "True") {
                let (reason, message) =
                    (target.reason.clone().unwrap_or_default(), target.message.clone().unwrap_or_default());
                ctx.finished = Some(new_condition(FAILED, "True", &reason, &message, now));
            } else if let Some(message) = self.fail_job_message(&ctx) {
                ctx.finished = Some(new_condition(FAILURE_TARGET, "True", REASON_POD_FAILURE_POLICY, &message, now));
            }
        }
        if ctx.finished.is_none() {
            if ctx.failed > backoff_limit || past_backoff_limit_on_failure(&ctx.job, &ctx.pods) {
                ctx.finished = Some(new_condition(
                    FAILURE_TARGET,
                    "True",
                    REASON_BACKOFF_LIMIT_EXCEEDED,
                    "Job has reached the specified backoff limit",
                    now,
                ));
            } else if let Some(remaining) = active_deadline_remaining(&ctx.job, now) {
                if remaining.is_zero() {
                    ctx.finished = Some(new_condition(
                        FAILURE_TARGET,
                        "True",
                        REASON_DEADLINE_EXCEEDED,
                        "Job was active longer than specified deadline",
                        now,
                    ));
                } else {
                    self.queue.add_after(key.clone(), remaining);
                }
            }
        }
        if is_indexed(&ctx.job) {
            let total = completions(&ctx.job).unwrap_or(0);
            ctx.prev_succeeded_indexes =
                Intervals::parse(status_of(&ctx.job).completed_indexes.as_deref().unwrap_or(""), total);
            let mut new_ix: Vec<i32> = ctx
                .pods
                .iter()
                .filter(|p| phase(p) == "Succeeded" && has_tracking_finalizer(p))
                .filter_map(|p| completion_index(p))
                .filter(|ix| *ix < total)
                .collect();
            new_ix.sort();
            new_ix.dedup();
            ctx.succeeded_indexes = ctx.prev_succeeded_indexes.with(&new_ix);
            ctx.succeeded = ctx.succeeded_indexes.total();
        }

        let mut suspend_changed = false;
        let mut manage_error = None;
        if ctx.finished.is_some() {
            let (deleted_ready, deleted, err) = self.delete_active_pods(&ctx).await;
            if deleted != active || !satisfied {
                // Not finished while pods may remain (or may not be in the cache yet).
                ctx.finished = None;
            }
            active -= deleted;
            ctx.terminating += deleted;
            ctx.ready -= deleted_ready;
            manage_error = err;
        } else {
            let mut manage_called = false;
            if satisfied && ctx.job.metadata.deletion_timestamp.is_none() {
                match self.manage_job(&mut ctx, now).await {
                    Ok(a) => active = a,
                    Err((a, e)) => {
                        active = a;
                        manage_error = Some(e);
                    }
                }
                manage_called = true;
            }
            let complete = match completions(&ctx.job) {
                None => ctx.succeeded > 0 && active == 0,
                Some(c) => ctx.succeeded >= c && active == 0,
            };
            if complete {
                ctx.finished = Some(new_condition(
                    SUCCESS_CRITERIA_MET,
                    "True",
                    REASON_COMPLETIONS_REACHED,
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if manage_called {
                let is_suspended = suspended(&ctx.job);
                let conditions = status_mut(&mut ctx.job).conditions.get_or_insert_with(Vec::new);
                if is_suspended {
                    if ensure(conditions, SUSPENDED, "True", "JobSuspended", "Job suspended", now) {
                        suspend_changed = true;
                        self.recorder.normal(&ctx.job, "Suspended", "Job suspended");
                    }
                } else if ensure(conditions, SUSPENDED, "False", "JobResumed", "Job resumed", now) {
                    suspend_changed = true;
                    self.recorder.normal(&ctx.job, "Resumed", "Job resumed");
                    // activeDeadlineSeconds counts continuous activity: restart the clock.
                    status_mut(&mut ctx.job).start_time = Some(Time(now));
                }
                if status_of(&ctx.job).conditions.as_ref().is_some_and(Vec::is_empty) {
                    status_mut(&mut ctx.job).conditions = None;
                }
            }
        }

        let st = status_of(&ctx.job);
        let needs_update = suspend_changed
            || active != st.active.unwrap_or(0)
            || Some(ctx.ready) != st.ready
            || Some(ctx.terminating) != st.terminating;
        let status = status_mut(&mut ctx.job);
        status.active = (active != 0).then_some(active);
        status.ready = Some(ctx.ready);
        status.terminating = Some(ctx.terminating);
        self.track_status_and_remove_finalizers(&mut ctx, needs_update, now).await?;
        match manage_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The Job's pods after adoption and release; adopted pods get the tracking
    /// finalizer with the ownerReference.
    async fn claim_pods(&self, job: &Job) -> Result<Vec<Arc<Pod>>, Error> {
        let selector = selector_of(job)?;
        let ns = job.metadata.namespace.as_deref().unwrap_or_default();
        let candidates = self.pods.list_namespace(ns);
        let uid = job.metadata.uid.clone().unwrap_or_default();
        let claimed =
            Claimer::new(&self.client, job, &selector).with_finalizer(TRACKING_FINALIZER).claim(candidates).await?;
        Ok(claimed
            .into_iter()
            .map(|p| {
                let adopted = !p.metadata.owner_references.iter().flatten().any(|r| r.uid == uid);
                if adopted && !has_tracking_finalizer(&p) {
                    let mut copy = (*p).clone();
                    copy.metadata.finalizers.get_or_insert_with(Vec::new).push(TRACKING_FINALIZER.into());
                    Arc::new(copy)
                } else {
                    p
                }
            })
            .collect())
    }

    /// Finished pods not yet accounted for (still holding the finalizer, not uncounted).
    fn new_finished_pods(&self, ctx: &SyncCtx) -> (Vec<Arc<Pod>>, Vec<Arc<Pod>>) {
        let fresh = |p: &&Arc<Pod>, uncounted: &HashSet<String>| {
            let u = uid(p);
            has_tracking_finalizer(p)
                && !uncounted.contains(&u)
                && !ctx.expected_rm.contains(&u)
                && valid_index(&ctx.job, p)
        };
        let succeeded = ctx
            .pods
            .iter()
            .filter(|p| fresh(p, &ctx.uncounted_succeeded) && phase(p) == "Succeeded")
            .cloned()
            .collect();
        let failed = ctx
            .pods
            .iter()
            .filter(|p| fresh(p, &ctx.uncounted_failed) && is_pod_failed(p, &ctx.job))
            .cloned()
            .collect();
        (succeeded, failed)
    }

    fn fail_job_message(&self, ctx: &SyncCtx) -> Option<String> {
        let policy = ctx.job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref())?;
        ctx.pods.iter().filter(|p| is_pod_failed(p, &ctx.job)).find_map(|p| evaluate(Some(policy), p).fail_job)
    }

    /// Deletes the active pods of a finished Job (their finalizers go with the tracking).
    async fn delete_active_pods(&self, ctx: &SyncCtx) -> (i32, i32, Option<Error>) {
        let results = join_all(ctx.active_pods.iter().map(|p| async move {
            let name = p.metadata.name.clone().unwrap_or_default();
            (is_ready(p), self.pod_control.delete(&ctx.job, &ctx.key.namespace, &name).await)
        }))
        .await;
        let mut deleted = 0;
        let mut ready = 0;
        let mut error = None;
        for (was_ready, r) in results {
            match r {
                Ok(()) => deleted += 1,
                Err(e) => {
                    error.get_or_insert(Error::from(e));
                }
            }
            if was_ready {
                ready += 1;
            }
        }
        (ready, deleted, error)
    }

    /// Deletes pods of a running Job (finalizer first, so they are not counted as
    /// failures). Returns (ready deleted, deleted, first error).
    async fn delete_job_pods(&self, ctx: &SyncCtx, pods: &[Arc<Pod>]) -> (i32, i32, Option<Error>) {
        let results = join_all(pods.iter().map(|p| async move {
            let name = p.metadata.name.clone().unwrap_or_default();
            let result = async {
                if has_tracking_finalizer(p) {
                    remove_finalizer(&self.client, p).await?;
                }
                self.pod_control.delete(&ctx.job, &ctx.key.namespace, &name).await
            }
            .await;
            (p.clone(), result)
        }))
        .await;
        let (mut ready, mut deleted, mut error) = (0, 0, None);
        for (pod, r) in results {
            match r {
                Ok(()) => deleted += 1,
                Err(e) => {
                    self.expectations.deletion_observed(&ctx.key, &ObjectKey::of(pod.as_ref()));
                    if !is_not_found(&e) {
                        error.get_or_insert(Error::from(e));
                    } else {
                        deleted += 1;
                    }
                }
            }
            if is_ready(&pod) {
                ready += 1;
            }
        }
        (ready, deleted, error)
    }

    /// `manageJob`: deletes surplus pods or creates missing ones (respecting the failure
    /// back-off). Returns the number of active pods.
    async fn manage_job(&self, ctx: &mut SyncCtx, now: Timestamp) -> Result<i32, (i32, Error)> {
        let mut active = ctx.active_pods.len() as i32;
        let s = spec(&ctx.job);
        let parallelism = s.parallelism.unwrap_or(1);
        if suspended(&ctx.job) {
            let victims = pods_for_removal(&ctx.job, &ctx.active_pods, ctx.active_pods.len());
            self.expectations.expect_untracked_deletions(&ctx.key, victims.len());
            let (ready, removed, err) = self.delete_job_pods(ctx, &victims).await;
            active -= removed;
            ctx.terminating += removed;
            ctx.ready -= ready;
            return err.map_or(Ok(active), |e| Err((active, e)));
        }
        let want = match completions(&ctx.job) {
            None if ctx.succeeded > 0 => active,
            None => parallelism,
            Some(c) => (c - ctx.succeeded).min(parallelism).max(0),
        };
        let remove_at_least = (active - want).max(0) as usize;
        let mut victims = pods_for_removal(&ctx.job, &ctx.active_pods, remove_at_least);
        victims.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !victims.is_empty() {
            self.expectations.expect_untracked_deletions(&ctx.key, victims.len());
            let (ready, removed, err) = self.delete_job_pods(ctx, &victims).await;
            active -= removed;
            ctx.terminating += removed;
            ctx.ready -= ready;
            // Deleting and creating in one sync could fight; deletion goes first.
            return err.map_or(Ok(active), |e| Err((active, e)));
        }
        let terminating = if only_replace_failed(&ctx.job) { ctx.terminating } else { 0 };
        let mut diff = want - terminating - active;
        if diff <= 0 {
            return Ok(active);
        }
        let remaining = ctx.new_backoff.remaining(now);
        if !remaining.is_zero() {
            debug!(job = %ctx.key, ?remaining, "waiting out the failure back-off");
            self.queue.add_after(ctx.key.clone(), remaining);
            return Ok(active);
        }
        diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC as i32);
        let indexes: Vec<Option<i32>> = if is_indexed(&ctx.job) {
            let total = completions(&ctx.job).unwrap_or(0);
            let pending = first_pending(&ctx.active_pods, &ctx.succeeded_indexes, diff as usize, total);
            diff = pending.len() as i32;
            pending.into_iter().map(Some).collect()
        } else {
            vec![None; diff as usize]
        };
        if diff == 0 {
            return Ok(active);
        }
        self.expectations.expect_creations(&ctx.key, diff as usize);
        let mut template = s.template.clone();
        if is_indexed(&ctx.job) {
            add_completion_index_env(&mut template);
        }
        let finalizers = template.metadata.get_or_insert_with(Default::default).finalizers.get_or_insert_with(Vec::new);
        if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
            finalizers.push(TRACKING_FINALIZER.into());
        }
        let job_name = ctx.job.metadata.name.clone().unwrap_or_default();
        let owner = controller_ref(&ctx.job);
        let job = &ctx.job;
        let ns = &ctx.key.namespace;
        let (created, _, error) = slow_start_batch(diff as usize, SLOW_START_INITIAL_BATCH, |i| {
            let mut t = template.clone();
            let mut name = PodName::Generate(pods_prefix(&job_name));
            if let Some(Some(ix)) = indexes.get(i) {
                let meta = t.metadata.get_or_insert_with(Default::default);
                meta.annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(COMPLETION_INDEX_ANNOTATION.into(), ix.to_string());
                meta.labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(COMPLETION_INDEX_ANNOTATION.into(), ix.to_string());
                if let Some(pod_spec) = t.spec.as_mut() {
                    pod_spec.hostname = Some(format!("{job_name}-{ix}"));
                }
                name = PodName::Generate(generate_name_with_index(&job_name, *ix));
            }
            let pod = pod_from_template(&t, ns, name, Some(owner.clone()));
            async move { self.pod_control.create(job, &pod).await.map(|_| ()).map_err(Error::from) }
        })
        .await;
        let missing = diff - created as i32;
        for _ in 0..missing {
            self.expectations.creation_observed(&ctx.key);
        }
        active += created as i32;
        error.map_or(Ok(active), |e| Err((active, e)))
    }

    /// `trackJobStatusAndRemoveFinalizers`.
    async fn track_status_and_remove_finalizers(
        &self,
        ctx: &mut SyncCtx,
        mut needs_flush: bool,
        now: Timestamp,
    ) -> Result<(), Error> {
        let indexed = is_indexed(&ctx.job);
        let total = completions(&ctx.job).unwrap_or(0);
        if indexed {
            ctx.pods.sort_by_key(|p| completion_index(p).unwrap_or(-1));
        }
        let mut with_finalizer: HashSet<String> = ctx
            .pods
            .iter()
            .filter(|p| has_tracking_finalizer(p) && !ctx.expected_rm.contains(&uid(p)))
            .map(|p| uid(p))
            .collect();
        if clean_uncounted(status_mut(&mut ctx.job), &with_finalizer) {
            needs_flush = true;
        }
        let policy = ctx.job.spec.as_ref().and_then(|s| s.pod_failure_policy.clone());
        let finished_failing = ctx.finished.as_ref().is_some_and(|c| c.type_ != SUCCESS_CRITERIA_MET);
        let mut to_release: Vec<Arc<Pod>> = Vec::new();
        let mut new_indexes: Vec<i32> = Vec::new();
        let mut reached_max = false;
        let job_deleting = ctx.job.metadata.deletion_timestamp.is_some();
        for pod in ctx.pods.clone() {
            let u = uid(&pod);
            if !has_tracking_finalizer(&pod) || ctx.expected_rm.contains(&u) {
                continue;
            }
            let failed = is_pod_failed(&pod, &ctx.job);
            // A pod keeps its finalizer until it is finished (or the Job is).
            let can_release = job_deleting || ctx.finished.is_some() || phase(&pod) == "Succeeded" || failed;
            if !can_release {
                continue;
            }
            to_release.push(pod.clone());
            let index_ok = valid_index(&ctx.job, &pod);
            let uncounted = uncounted_mut(&mut ctx.job);
            if phase(&pod) == "Succeeded" && !ctx.uncounted_failed.contains(&u) {
                if indexed {
                    if let Some(ix) = completion_index(&pod).filter(|ix| *ix < total)
                        && !ctx.prev_succeeded_indexes.has(ix)
                    {
                        new_indexes.push(ix);
                        needs_flush = true;
                    }
                } else if !ctx.uncounted_succeeded.contains(&u) {
                    uncounted.succeeded.get_or_insert_with(Vec::new).push(u.clone());
                    ctx.uncounted_succeeded.insert(u.clone());
                    needs_flush = true;
                }
            } else if (failed || finished_failing) && !ctx.uncounted_failed.contains(&u) && index_ok {
                if evaluate(policy.as_ref(), &pod).counts {
                    uncounted.failed.get_or_insert_with(Vec::new).push(u.clone());
                    ctx.uncounted_failed.insert(u.clone());
                }
                needs_flush = true;
            }
            let uncounted = uncounted_mut(&mut ctx.job);
            let pending = new_indexes.len()
                + uncounted.succeeded.as_ref().map_or(0, Vec::len)
                + uncounted.failed.as_ref().map_or(0, Vec::len);
            if pending >= MAX_UNCOUNTED_PODS {
                // Bounded per sync; status and pod events bring the Job back for the rest.
                reached_max = true;
                break;
            }
        }
        if indexed {
            new_indexes.sort();
            ctx.succeeded_indexes = ctx.succeeded_indexes.with(&new_indexes);
            let s = ctx.succeeded_indexes.to_string();
            let status = status_mut(&mut ctx.job);
            if status.completed_indexes.as_deref().unwrap_or("") != s {
                needs_flush = true;
            }
            status.succeeded = nonzero(ctx.succeeded_indexes.total());
            status.completed_indexes = (!s.is_empty()).then_some(s);
        }
        if let Some(f) = ctx.finished.clone() {
            if f.type_ == FAILURE_TARGET {
                status_mut(&mut ctx.job).conditions.get_or_insert_with(Vec::new).push(f.clone());
                needs_flush = true;
                let (reason, message) = (f.reason.unwrap_or_default(), f.message.unwrap_or_default());
                ctx.finished = Some(new_condition(FAILED, "True", &reason, &message, now));
            } else if f.type_ == SUCCESS_CRITERIA_MET {
                if find(&ctx.job, SUCCESS_CRITERIA_MET).is_none() {
                    status_mut(&mut ctx.job).conditions.get_or_insert_with(Vec::new).push(f.clone());
                    needs_flush = true;
                }
                let (reason, message) = (f.reason.unwrap_or_default(), f.message.unwrap_or_default());
                ctx.finished = Some(new_condition(COMPLETE, "True", &reason, &message, now));
            }
        }

        // 1. Record newly finished pods as uncounted, before any finalizer goes.
        if needs_flush {
            self.write_status(&mut ctx.job).await?;
            self.backoff.update(&ctx.key, ctx.new_backoff.clone());
            needs_flush = false;
        }
        // 2. Release the finished pods.
        let mut release_error = None;
        if !to_release.is_empty() {
            self.finalizer_expectations.expect(&ctx.key, to_release.iter().map(|p| uid(p)));
            let results = join_all(
                to_release.iter().map(|p| async move { (p.clone(), remove_finalizer(&self.client, p).await) }),
            )
            .await;
            for (pod, r) in results {
                match r {
                    Ok(()) => {
                        with_finalizer.remove(&uid(&pod));
                    }
                    Err(e) => {
                        self.finalizer_expectations.observed(&ctx.key, &uid(&pod));
                        if is_not_found(&e) {
                            with_finalizer.remove(&uid(&pod));
                        } else {
                            release_error.get_or_insert(Error::from(e));
                        }
                    }
                }
            }
        }
        // 3. Move released pods from uncounted into the counters.
        if clean_uncounted(status_mut(&mut ctx.job), &with_finalizer) {
            needs_flush = true;
        }
        if let Some(e) = release_error {
            if needs_flush {
                self.write_status(&mut ctx.job).await?;
            }
            return Err(e);
        }
        // 4. Finish the Job once nothing is uncounted or terminating.
        let finished = !reached_max && self.enact_finished(ctx, now);
        if finished {
            needs_flush = true;
        }
        if needs_flush {
            self.write_status(&mut ctx.job).await?;
            if finished {
                self.record_finished(ctx);
            }
        }
        Ok(())
    }

    fn enact_finished(&self, ctx: &mut SyncCtx, now: Timestamp) -> bool {
        let Some(finished) = ctx.finished.clone() else { return false };
        let uncounted = status_of(&ctx.job).uncounted_terminated_pods.clone().unwrap_or_default();
        if uncounted.succeeded.as_ref().is_some_and(|v| !v.is_empty())
            || uncounted.failed.as_ref().is_some_and(|v| !v.is_empty())
        {
            return false;
        }
        if ctx.terminating > 0 {
            return false;
        }
        let reason = finished.reason.clone().unwrap_or_default();
        let message = finished.message.clone().unwrap_or_default();
        let status = status_mut(&mut ctx.job);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        ensure(conditions, &finished.type_, "True", &reason, &message, now);
        if finished.type_ == COMPLETE {
            status.completion_time =
                conditions.iter().find(|c| c.type_ == COMPLETE).and_then(|c| c.last_transition_time.clone());
        }
        true
    }

    fn record_finished(&self, ctx: &SyncCtx) {
        let Some(finished) = &ctx.finished else { return };
        if finished.type_ == COMPLETE {
            let succeeded = status_of(&ctx.job).succeeded.unwrap_or(0);
            if completions(&ctx.job).is_some_and(|c| succeeded > c) {
                self.recorder.warning(
                    &ctx.job,
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                );
            }
            self.recorder.normal(&ctx.job, "Completed", "Job completed");
        } else {
            self.recorder.warning(
                &ctx.job,
                finished.reason.as_deref().unwrap_or_default(),
                finished.message.clone().unwrap_or_default(),
            );
        }
    }
}

fn nonzero(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

fn status_of(job: &Job) -> JobStatus {
    job.status.clone().unwrap_or_default()
}

fn status_mut(job: &mut Job) -> &mut JobStatus {
    job.status.get_or_insert_with(Default::default)
}

fn uncounted_mut(job: &mut Job) -> &mut UncountedTerminatedPods {
    status_mut(job).uncounted_terminated_pods.get_or_insert_with(Default::default)
}

/// Moves uncounted pods that no longer hold the finalizer into the counters; true if
/// anything moved.
fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let uncounted = status.uncounted_terminated_pods.get_or_insert_with(Default::default);
    let mut moved_succeeded = 0;
    let mut moved_failed = 0;
    if let Some(list) = uncounted.succeeded.as_mut() {
        let before = list.len();
        list.retain(|u| with_finalizer.contains(u));
        moved_succeeded = (before - list.len()) as i32;
        if list.is_empty() {
            uncounted.succeeded = None;
        }
    }
    if let Some(list) = uncounted.failed.as_mut() {
        let before = list.len();
        list.retain(|u| with_finalizer.contains(u));
        moved_failed = (before - list.len()) as i32;
        if list.is_empty() {
            uncounted.failed = None;
        }
    }
    if moved_succeeded > 0 {
        status.succeeded = nonzero(status.succeeded.unwrap_or(0) + moved_succeeded);
    }
    if moved_failed > 0 {
        status.failed = nonzero(status.failed.unwrap_or(0) + moved_failed);
    }
    moved_succeeded > 0 || moved_failed > 0
}

/// The time left before `activeDeadlineSeconds` (zero when past it), if it applies.
fn active_deadline_remaining(job: &Job, now: Timestamp) -> Option<Duration> {
    let deadline = job.spec.as_ref()?.active_deadline_seconds?;
    if suspended(job) {
        return None;
    }
    let start = job.status.as_ref()?.start_time.as_ref()?.0;
    let elapsed = now.duration_since(start);
    let allowed = SignedDuration::from_secs(deadline);
    if elapsed >= allowed { Some(Duration::ZERO) } else { Some((allowed - elapsed).unsigned_abs()) }
}

/// Surplus active pods: for Indexed Jobs the duplicates and bad indexes first, then the
/// least advanced pods.
fn pods_for_removal(job: &Job, pods: &[Arc<Pod>], at_least: usize) -> Vec<Arc<Pod>> {
    let (mut remove, mut left) = if is_indexed(job) {
        duplicated_for_removal(pods, completions(job).unwrap_or(0))
    } else {
        (Vec::new(), pods.to_vec())
    };
    if remove.len() < at_least {
        sort_for_deletion(&mut left, &Default::default(), Timestamp::now());
        let n = (at_least - remove.len()).min(left.len());
        remove.extend(left.into_iter().take(n));
    }
    remove
}

/// `<job>-<index>-`, shortened so the generated name stays within limits.
fn generate_name_with_index(job: &str, index: i32) -> String {
    const MAX_GENERATED_NAME_LENGTH: usize = 58;
    let suffix = format!("-{index}-");
    let prefix = format!("{job}{suffix}");
    if prefix.len() > MAX_GENERATED_NAME_LENGTH {
        let keep = MAX_GENERATED_NAME_LENGTH - suffix.len();
        let cut = job.char_indices().map(|(i, _)| i).take_while(|i| *i <= keep).last().unwrap_or(0);
        format!("{}{suffix}", &job[..cut])
    } else {
        prefix
    }
}

/// Every container gets `JOB_COMPLETION_INDEX` from the pod's index label.
fn add_completion_index_env(template: &mut k8s_openapi::api::core::v1::PodTemplateSpec) {
    let Some(spec) = template.spec.as_mut() else { return };
    let env = EnvVar {
        name: COMPLETION_INDEX_ENV.into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.labels['{COMPLETION_INDEX_ANNOTATION}']"),
            }),
            ..Default::default()
        }),
    };
    for c in spec.init_containers.iter_mut().flatten().chain(spec.containers.iter_mut()) {
        let list = c.env.get_or_insert_with(Vec::new);
        if !list.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
            list.push(env.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncounted_pods_move_into_counters_once_released() {
        let mut status = JobStatus {
            succeeded: Some(1),
            uncounted_terminated_pods: Some(UncountedTerminatedPods {
                succeeded: Some(vec!["a".into(), "b".into()]),
                failed: Some(vec!["c".into()]),
            }),
            ..Default::default()
        };
        let still_held: HashSet<String> = ["b".to_string()].into();
        assert!(clean_uncounted(&mut status, &still_held));
        assert_eq!(status.succeeded, Some(2));
        assert_eq!(status.failed, Some(1));
        let u = status.uncounted_terminated_pods.clone().unwrap();
        assert_eq!(u.succeeded, Some(vec!["b".to_string()]));
        assert_eq!(u.failed, None);
        assert!(!clean_uncounted(&mut status, &still_held));
    }

    #[test]
    fn deadline_and_names() {
        let job: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pi"},
            "spec": {"activeDeadlineSeconds": 10, "template": {}},
            "status": {"startTime": "2024-01-01T00:00:00Z"}
        }))
        .unwrap();
        let start: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(active_deadline_remaining(&job, start + SignedDuration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(active_deadline_remaining(&job, start + SignedDuration::from_secs(11)), Some(Duration::ZERO));
        assert_eq!(generate_name_with_index("pi", 3), "pi-3-");
        let long = "x".repeat(70);
        let name = generate_name_with_index(&long, 12);
        assert!(name.len() <= 58 && name.ends_with("-12-"), "{name}");
    }
}
