//! TTL-after-finished: a Job with `spec.ttlSecondsAfterFinished` is deleted
//! (in the foreground, so its pods go first) that many seconds after it
//! completed or failed.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, Preconditions};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tracing::info;

use super::{Error, is_not_found};
use crate::runtime::{Informer, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers};

const WORKERS: usize = 2;

/// When the Job finished: the transition time of its Complete or Failed condition.
pub fn finish_time(job: &Job) -> Option<jiff::Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

fn finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True"))
}

/// Whether the controller has anything to do with this Job.
fn needs_cleanup(job: &Job) -> bool {
    job.metadata.deletion_timestamp.is_none()
        && job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished).is_some()
        && finished(job)
}

/// How long until the Job expires (zero: expired), or why that cannot be told.
pub fn time_left(job: &Job, now: jiff::Timestamp) -> Result<Duration, String> {
    let ttl = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished).unwrap_or(0).max(0);
    let finished = finish_time(job).ok_or_else(|| {
        format!(
            "unable to find the time when the Job {}/{} finished",
            job.namespace().unwrap_or_default(),
            job.name_any()
        )
    })?;
    let expires = finished + jiff::SignedDuration::from_secs(i64::from(ttl));
    Ok(now.duration_until(expires).try_into().unwrap_or(Duration::ZERO))
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watch.
    let (_stop, shutdown) = Shutdown::new();
    let jobs = Informer::watch(Api::<Job>::all(client.clone()), watcher::Config::default(), shutdown.clone());
    jobs.wait_synced().await;
    let queue = WorkQueue::default();
    {
        let queue = queue.clone();
        jobs.add_handler(move |change| {
            if let Some(job) = change.applied()
                && needs_cleanup(job)
            {
                queue.add(ObjectKey::of(job.as_ref()));
            }
        });
    }
    let controller = Arc::new(Controller { client, jobs });
    run_workers("ttl-after-finished", queue, WORKERS, shutdown, move |key| {
        let controller = controller.clone();
        async move { controller.sync(&key).await }
    })
    .await;
    Ok(())
}

struct Controller {
    client: Client,
    jobs: Informer<Job>,
}

impl Controller {
    async fn sync(&self, key: &ObjectKey) -> Result<Requeue, Error> {
        let Some(job) = self.jobs.get(key) else { return Ok(None) };
        if !needs_cleanup(&job) {
            return Ok(None);
        }
        let left = time_left(&job, jiff::Timestamp::now()).map_err(Error::Retry)?;
        if !left.is_zero() {
            return Ok(Some(left));
        }
        // The cache may be stale (TTL changed, Job re-run): decide on the live Job.
        let api: Api<Job> = Api::namespaced(self.client.clone(), &key.namespace);
        let Some(fresh) = api.get_opt(&key.name).await? else { return Ok(None) };
        if !needs_cleanup(&fresh) {
            return Ok(None);
        }
        let left = time_left(&fresh, jiff::Timestamp::now()).map_err(Error::Retry)?;
        if !left.is_zero() {
            return Ok(Some(left));
        }
        info!(job = %key, "deleting a finished Job whose TTL expired");
        let params = DeleteParams {
            preconditions: Some(Preconditions { uid: fresh.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::foreground()
        };
        match api.delete(&key.name, &params).await {
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn job(ttl: Option<i32>, condition: Option<(&str, &str, i64)>) -> Job {
        Job {
            metadata: Default::default(),
            spec: Some(JobSpec { ttl_seconds_after_finished: ttl, ..Default::default() }),
            status: Some(JobStatus {
                conditions: condition.map(|(t, s, at)| {
                    vec![JobCondition {
                        type_: t.into(),
                        status: s.into(),
                        last_transition_time: Some(Time(jiff::Timestamp::from_second(at).unwrap())),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn only_finished_jobs_with_a_ttl_are_cleaned_up() {
        assert!(needs_cleanup(&job(Some(10), Some(("Complete", "True", 100)))));
        assert!(needs_cleanup(&job(Some(0), Some(("Failed", "True", 100)))));
        assert!(!needs_cleanup(&job(None, Some(("Complete", "True", 100)))));
        assert!(!needs_cleanup(&job(Some(10), Some(("Complete", "False", 100)))));
        assert!(!needs_cleanup(&job(Some(10), None)));
    }

    #[test]
    fn expiry_counts_from_the_finish_condition() {
        let j = job(Some(60), Some(("Complete", "True", 1_000)));
        let at = |s| jiff::Timestamp::from_second(s).unwrap();
        assert_eq!(time_left(&j, at(1_030)).unwrap(), Duration::from_secs(30));
        assert_eq!(time_left(&j, at(1_060)).unwrap(), Duration::ZERO);
        assert_eq!(time_left(&j, at(5_000)).unwrap(), Duration::ZERO);
        let mut no_time = j.clone();
        no_time.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].last_transition_time = None;
        assert!(time_left(&no_time, at(1_000)).is_err());
    }
}
