//! batch/v1: Job and CronJob, and the cron schedule parser CronJobs use.

pub mod cron;
mod cron_job;
mod job;
mod job_spec;
mod job_update;

pub use cron_job::CronJobStrategy;
pub use job::{
    CONTROLLER_UID_LABEL, JOB_NAME_LABEL, JobStrategy, LEGACY_CONTROLLER_UID_LABEL, LEGACY_JOB_NAME_LABEL,
    generate_selector,
};
