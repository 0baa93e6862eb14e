//! The CronJob controller (upstream's v2 controller): creates a Job for each activation
//! of the schedule (in `spec.timeZone`, or the server's zone), honours `suspend`,
//! `concurrencyPolicy` (Allow, Forbid, Replace) and `startingDeadlineSeconds`, keeps
//! `status.active`, `lastScheduleTime` and `lastSuccessfulTime`, and deletes finished
//! Jobs beyond the history limits.

pub mod schedule;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use k3rs_api::kinds::batch::cron;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::api::{DeleteParams, PostParams, PropagationPolicy};
use kube::{Api, Client};
use tracing::debug;

use self::schedule::{ScheduleState, job_name, most_recent, next_delay};
use crate::manager::ControllerContext;
use crate::runtime::error::{is_already_exists, is_not_found, message};
use crate::runtime::owner::{controller_of, controller_ref, is_controlled_by};
use crate::runtime::{Change, Error, EventRecorder, Informer, ObjectKey, WorkQueue, run_workers};
use crate::workloads::job::conditions::{COMPLETE, FAILED};

pub const COMPONENT: &str = "cronjob-controller";
/// The activation time a Job was created for (RFC 3339, in the CronJob's zone).
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

pub async fn run(ctx: ControllerContext) -> Result<(), Error> {
    let this = Arc::new(CronJobController {
        client: ctx.client.clone(),
        cron_jobs: ctx.informers.get::<CronJob>(),
        jobs: ctx.informers.get::<Job>(),
        queue: WorkQueue::default(),
        recorder: ctx.recorder(COMPONENT),
    });
    let c = this.clone();
    this.cron_jobs.add_handler(move |change| match change {
        Change::Added(cj) | Change::Updated { new: cj, .. } => c.queue.add(ObjectKey::of(cj.as_ref())),
        Change::Deleted(_) => {}
    });
    let c = this.clone();
    this.jobs.add_handler(move |change| match change {
        Change::Added(j) | Change::Deleted(j) => c.enqueue_owner(j),
        Change::Updated { old, new } => {
            if controller_of(&old.metadata) != controller_of(&new.metadata) {
                c.enqueue_owner(old);
            }
            c.enqueue_owner(new);
        }
    });
    this.cron_jobs.wait_synced().await;
    this.jobs.wait_synced().await;
    let c = this.clone();
    run_workers(COMPONENT, this.queue.clone(), ctx.workers(), ctx.shutdown(), move |key| {
        let c = c.clone();
        async move { c.sync(&key).await }
    })
    .await;
    Ok(())
}

struct CronJobController {
    client: Client,
    cron_jobs: Informer<CronJob>,
    jobs: Informer<Job>,
    queue: WorkQueue<ObjectKey>,
    recorder: EventRecorder,
}

fn is_finished(job: &Job) -> Option<&'static str> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().filter(|c| c.status == "True").find_map(|c| match c.type_.as_str() {
        COMPLETE => Some(COMPLETE),
        FAILED => Some(FAILED),
        _ => None,
    })
}

fn job_reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn in_active_list(status: &CronJobStatus, uid: &str) -> bool {
    status.active.iter().flatten().any(|r| r.uid.as_deref() == Some(uid))
}

fn delete_from_active_list(status: &mut CronJobStatus, uid: &str) {
    if let Some(active) = status.active.as_mut() {
        active.retain(|r| r.uid.as_deref() != Some(uid));
        if active.is_empty() {
            status.active = None;
        }
    }
}

impl CronJobController {
    fn enqueue_owner(&self, job: &Job) {
        let Some(r) = controller_of(&job.metadata).filter(|r| r.kind == "CronJob") else { return };
        let ns = job.metadata.namespace.as_deref().unwrap_or_default();
        if self.resolve(ns, r).is_some() {
            self.queue.add(ObjectKey::new(ns, &r.name));
        }
    }

    fn resolve(&self, ns: &str, r: &OwnerReference) -> Option<Arc<CronJob>> {
        self.cron_jobs.get(&ObjectKey::new(ns, &r.name)).filter(|c| c.metadata.uid.as_deref() == Some(&r.uid))
    }

    fn job_api(&self, ns: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), ns)
    }

    async fn sync(&self, key: &ObjectKey) -> Result<(), Error> {
        let Some(shared) = self.cron_jobs.get(key) else { return Ok(()) };
        let mut cj = (*shared).clone();
        // Jobs this CronJob controls, by name as upstream lists them.
        let jobs: Vec<Arc<Job>> = self
            .jobs
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.kind == "CronJob" && r.name == key.name))
            .collect();
        let cleaned = self.cleanup_finished_jobs(&mut cj, &jobs).await;
        let (requeue, synced, sync_error) = match self.sync_cron_job(&mut cj, &jobs).await {
            Ok((requeue, updated)) => (requeue, updated, None),
            Err((updated, e)) => (None, updated, Some(e)),
        };
        if cleaned || synced {
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), &key.namespace);
            api.replace_status(&key.name, &PostParams::default(), &cj).await?;
        }
        if let Some(after) = requeue {
            self.queue.add_after(key.clone(), after);
            return Ok(());
        }
        sync_error.map_or(Ok(()), Err)
    }

    /// Upstream's `syncCronJob`: reconciles `status.active` with the Jobs, then starts
    /// the due activation if allowed. Returns when to look again and whether the status
    /// changed.
    async fn sync_cron_job(
        &self,
        cj: &mut CronJob,
        jobs: &[Arc<Job>],
    ) -> Result<(Option<Duration>, bool), (bool, Error)> {
        let now = Timestamp::now();
        let mut updated = false;
        let ns = cj.metadata.namespace.clone().unwrap_or_default();
        let name = cj.metadata.name.clone().unwrap_or_default();
        let mut children = std::collections::HashSet::new();
        for j in jobs {
            let uid = j.metadata.uid.clone().unwrap_or_default();
            children.insert(uid.clone());
            let found = cj.status.as_ref().is_some_and(|s| in_active_list(s, &uid));
            let job_name = j.metadata.name.clone().unwrap_or_default();
            match is_finished(j) {
                None if !found => {
                    // The cache may be behind our own status update: ask the API server.
                    let api: Api<CronJob> = Api::namespaced(self.client.clone(), &ns);
                    match api.get_opt(&name).await {
                        Ok(Some(fresh)) if fresh.status.as_ref().is_some_and(|s| in_active_list(s, &uid)) => {
                            *cj = fresh;
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => return Err((updated, e.into())),
                    }
                    // Ours but not recorded: created just before a crash, or adopted.
                    self.recorder.warning(
                        &*cj,
                        "UnexpectedJob",
                        format!("Saw a job that the controller did not create or forgot: {job_name}"),
                    );
                }
                Some(condition) if found => {
                    delete_from_active_list(cj.status.get_or_insert_with(Default::default), &uid);
                    self.recorder.normal(
                        &*cj,
                        "SawCompletedJob",
                        format!("Saw completed job: {job_name}, condition: {condition}"),
                    );
                    updated = true;
                }
                _ => {}
            }
            let status = cj.status.get_or_insert_with(Default::default);
            if is_finished(j) == Some(COMPLETE)
                && let Some(done) = j.status.as_ref().and_then(|s| s.completion_time.clone())
                && status.last_successful_time.as_ref().is_none_or(|t| done.0 > t.0)
            {
                status.last_successful_time = Some(done);
                updated = true;
            }
        }
        // Active Jobs that vanished (checked against the API server, the cache may lag).
        let active: Vec<ObjectReference> = cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
        for r in active {
            if children.contains(r.uid.as_deref().unwrap_or_default()) {
                continue;
            }
            let job_name = r.name.clone().unwrap_or_default();
            match self.job_api(&ns).get_opt(&job_name).await {
                Ok(None) => {
                    self.recorder.normal(&*cj, "MissingJob", format!("Active job went missing: {job_name}"));
                    delete_from_active_list(
                        cj.status.get_or_insert_with(Default::default),
                        r.uid.as_deref().unwrap_or_default(),
                    );
                    updated = true;
                }
                Ok(Some(_)) => {}
                Err(e) => return Err((updated, e.into())),
            }
        }
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok((None, updated));
        }
        let spec = cj.spec.clone().unwrap_or_default();
        let tz = match spec.time_zone.as_deref() {
            None => TimeZone::system(),
            Some(zone) => match cron::load_location(zone) {
                Ok(tz) => tz,
                Err(e) => {
                    self.recorder.warning(&*cj, "UnknownTimeZone", format!("invalid timeZone: {zone:?}: {e}"));
                    return Ok((None, updated));
                }
            },
        };
        if spec.suspend.unwrap_or(false) {
            return Ok((None, updated));
        }
        if spec.time_zone.is_some() && (spec.schedule.contains("TZ=") || spec.schedule.contains("CRON_TZ=")) {
            self.recorder.warning(
                &*cj,
                "UnsupportedSchedule",
                format!(
                    "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
                    spec.schedule
                ),
            );
        }
        let sched = match cron::parse(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                self.recorder.warning(
                    &*cj,
                    "UnparseableSchedule",
                    format!("unparseable schedule: {:?} : {e}", spec.schedule),
                );
                return Ok((None, updated));
            }
        };
        let state = ScheduleState {
            created: cj.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0),
            last_schedule: cj.status.as_ref().and_then(|s| s.last_schedule_time.as_ref()).map(|t| t.0),
            starting_deadline_seconds: spec.starting_deadline_seconds,
        };
        let recent = match most_recent(&state, &sched, &tz, now, true) {
            Ok(r) => r,
            Err(e) => {
                self.recorder.warning(&*cj, "InvalidSchedule", format!("invalid schedule: {} : {e}", spec.schedule));
                return Ok((None, updated));
            }
        };
        if recent.missed > 100 {
            self.recorder.warning(
                &*cj,
                "TooManyMissedTimes",
                format!(
                    "too many missed start times: {}. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                    recent.missed
                ),
            );
        }
        let next = next_delay(&state, &sched, &tz, now);
        let Some(scheduled) = recent.time.filter(|t| *t <= now) else { return Ok((Some(next), updated)) };
        if let Some(deadline) = spec.starting_deadline_seconds
            && scheduled + jiff::SignedDuration::from_secs(deadline) < now
        {
            self.recorder.warning(
                &*cj,
                "MissSchedule",
                format!("Missed scheduled time to start a job: {}", rfc1123z(scheduled)),
            );
            return Ok((Some(next), updated));
        }
        let name_for_time = job_name(&name, scheduled);
        let status = cj.status.get_or_insert_with(Default::default);
        let already = status.active.iter().flatten().any(|r| r.name.as_deref() == Some(name_for_time.as_str()))
            || status.last_schedule_time.as_ref().is_some_and(|t| t.0 == scheduled);
        if already {
            return Ok((Some(next), updated));
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        if policy == "Forbid" && status.active.as_ref().is_some_and(|a| !a.is_empty()) {
            self.recorder.normal(
                &*cj,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid",
            );
            return Ok((Some(next), updated));
        }
        if policy == "Replace" {
            let active: Vec<ObjectReference> = status.active.clone().unwrap_or_default();
            for r in active {
                let job_name = r.name.clone().unwrap_or_default();
                let job = match self.job_api(&ns).get_opt(&job_name).await {
                    Ok(Some(j)) => j,
                    Ok(None) => continue,
                    Err(e) => {
                        self.recorder.warning(&*cj, "FailedGet", format!("Get job: {}", message(&e)));
                        return Err((updated, e.into()));
                    }
                };
                if !self.delete_job(cj, &job).await {
                    return Err((updated, Error::Failed(format!("could not replace job {ns}/{job_name}"))));
                }
                updated = true;
            }
        }

        let job = job_from_template(cj, scheduled, &tz);
        let created = match self.job_api(&ns).create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.recorder.normal(
                    &*cj,
                    "SuccessfulCreate",
                    format!("Created job {}", created.metadata.name.as_deref().unwrap_or_default()),
                );
                created
            }
            Err(e) if is_already_exists(&e) => {
                // Created by an earlier sync whose status update was lost, or by someone else.
                let existing = match self.job_api(&ns).get(&name_for_time).await {
                    Ok(j) => j,
                    Err(e) => return Err((updated, e.into())),
                };
                let uid = cj.metadata.uid.clone().unwrap_or_default();
                if !is_controlled_by(&existing.metadata, &uid) {
                    return Ok((None, updated));
                }
                if in_active_list(
                    cj.status.get_or_insert_with(Default::default),
                    existing.metadata.uid.as_deref().unwrap_or_default(),
                ) {
                    return Ok((None, updated));
                }
                debug!(cronjob = %name, job = %name_for_time, "job already exists");
                existing
            }
            Err(e) if crate::runtime::error::is_forbidden(&e) => return Err((updated, e.into())),
            Err(e) => {
                self.recorder.warning(&*cj, "FailedCreate", format!("Error creating job: {}", message(&e)));
                return Err((updated, e.into()));
            }
        };
        let status = cj.status.get_or_insert_with(Default::default);
        status.active.get_or_insert_with(Vec::new).push(job_reference(&created));
        status.last_schedule_time = Some(Time(scheduled));
        let state = ScheduleState { last_schedule: Some(scheduled), ..state };
        Ok((Some(next_delay(&state, &sched, &tz, now)), true))
    }

    /// Deletes a Job with its pods; true on success. Removes it from `status.active`.
    async fn delete_job(&self, cj: &mut CronJob, job: &Job) -> bool {
        let name = job.metadata.name.clone().unwrap_or_default();
        let ns = job.metadata.namespace.clone().unwrap_or_default();
        let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        match self.job_api(&ns).delete(&name, &dp).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                self.recorder.warning(&*cj, "FailedDelete", format!("Deleted job: {}", message(&e)));
                return false;
            }
        }
        delete_from_active_list(
            cj.status.get_or_insert_with(Default::default),
            job.metadata.uid.as_deref().unwrap_or_default(),
        );
        self.recorder.normal(&*cj, "SuccessfulDelete", format!("Deleted job {name}"));
        true
    }

    /// Deletes the oldest finished Jobs beyond the history limits; true if the status changed.
    async fn cleanup_finished_jobs(&self, cj: &mut CronJob, jobs: &[Arc<Job>]) -> bool {
        let spec = cj.spec.clone().unwrap_or_default();
        if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none() {
            return false;
        }
        let mut updated = false;
        for (kind, limit) in [(COMPLETE, spec.successful_jobs_history_limit), (FAILED, spec.failed_jobs_history_limit)]
        {
            let Some(limit) = limit else { continue };
            for job in beyond_history_limit(jobs, kind, limit) {
                if self.delete_job(cj, &job).await {
                    updated = true;
                }
            }
        }
        updated
    }
}

/// The oldest Jobs finished as `kind` (Complete or Failed) beyond the newest `limit`.
fn beyond_history_limit(jobs: &[Arc<Job>], kind: &str, limit: i32) -> Vec<Arc<Job>> {
    let mut finished: Vec<Arc<Job>> = jobs.iter().filter(|j| is_finished(j) == Some(kind)).cloned().collect();
    let excess = finished.len() as i64 - i64::from(limit.max(0));
    if excess <= 0 {
        return Vec::new();
    }
    finished.sort_by_key(|j| {
        (
            j.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            j.metadata.creation_timestamp.as_ref().map(|t| t.0),
            j.metadata.name.clone(),
        )
    });
    finished.truncate(excess as usize);
    finished
}

/// Go's RFC 1123 with numeric zone, in UTC: `Mon, 02 Jan 2006 15:04:05 +0000`.
fn rfc1123z(t: Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// The Job for an activation (upstream's `getJobFromTemplate2`).
fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let spec = cj.spec.clone().unwrap_or_default();
    let template = spec.job_template;
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let local = scheduled.to_zoned(tz.clone());
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.into(),
        local.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string().replace("+00:00", "Z"),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cj.metadata.name.as_deref().unwrap_or_default(), scheduled)),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_from_templates_are_named_for_their_activation() {
        let cj: CronJob = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "hello", "namespace": "default", "uid": "u1"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {
                "metadata": {"labels": {"app": "hello"}, "annotations": {"a": "b"}},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}}
        }))
        .unwrap();
        let at: Timestamp = "2024-03-10T12:34:00Z".parse().unwrap();
        let job = job_from_template(&cj, at, &TimeZone::UTC);
        assert_eq!(job.metadata.name.as_deref(), Some(job_name("hello", at).as_str()));
        let annotations = job.metadata.annotations.unwrap();
        assert_eq!(annotations[SCHEDULED_TIMESTAMP_ANNOTATION], "2024-03-10T12:34:00Z");
        assert_eq!(annotations["a"], "b");
        assert_eq!(job.metadata.labels.unwrap()["app"], "hello");
        assert_eq!(job.metadata.owner_references.unwrap()[0].kind, "CronJob");
        let tz = TimeZone::get("Asia/Tokyo").unwrap();
        let job = job_from_template(&cj, at, &tz);
        assert_eq!(job.metadata.annotations.unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION], "2024-03-10T21:34:00+09:00");
        assert_eq!(rfc1123z(at), "Sun, 10 Mar 2024 12:34:00 +0000");
    }

    fn finished_job(name: &str, started: &str, condition: &str) -> Arc<Job> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "status": {"startTime": started, "conditions": [{"type": condition, "status": "True"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn history_limits_remove_the_oldest_finished_jobs() {
        let jobs = vec![
            finished_job("c", "2024-01-01T00:03:00Z", COMPLETE),
            finished_job("a", "2024-01-01T00:01:00Z", COMPLETE),
            finished_job("f", "2024-01-01T00:02:00Z", FAILED),
            finished_job("b", "2024-01-01T00:02:00Z", COMPLETE),
        ];
        let names = |v: Vec<Arc<Job>>| v.iter().map(|j| j.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(beyond_history_limit(&jobs, COMPLETE, 1)), vec!["a", "b"]);
        assert_eq!(names(beyond_history_limit(&jobs, COMPLETE, 3)), Vec::<String>::new());
        assert_eq!(names(beyond_history_limit(&jobs, FAILED, 0)), vec!["f"]);
    }
}
