//! Job conditions. A Job first gets an interim condition (`SuccessCriteriaMet` or
//! `FailureTarget`) and its terminal one (`Complete` or `Failed`) only when no pod of it
//! is left running or uncounted, as upstream does since Kubernetes 1.31.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const SUSPENDED: &str = "Suspended";

pub const REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
pub const REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub const REASON_POD_FAILURE_POLICY: &str = "PodFailurePolicy";
pub const REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

pub fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    let now = Time(Timestamp::from_second(now.as_second()).unwrap_or(now));
    JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

pub fn find<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

fn is_true(job: &Job, type_: &str) -> bool {
    find(job, type_).is_some_and(|c| c.status == "True")
}

/// Complete or Failed: nothing more to do for this Job.
pub fn is_finished(job: &Job) -> bool {
    is_true(job, COMPLETE) || is_true(job, FAILED)
}

/// `ensureJobConditionStatus`: adds or updates the condition; a False condition that
/// does not exist yet is not added. True if anything changed.
pub fn ensure(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status != status || c.reason.as_deref() != Some(reason) || c.message.as_deref() != Some(message) {
            *c = new_condition(type_, status, reason, message, now);
            return true;
        }
        return false;
    }
    if status != "False" {
        conditions.push(new_condition(type_, status, reason, message, now));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_adds_updates_and_skips_new_false_conditions() {
        let now = Timestamp::from_second(100).unwrap();
        let mut list = Vec::new();
        assert!(!ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert!(list.is_empty());
        assert!(ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(!ensure(&mut list, SUSPENDED, "True", "JobSuspended", "Job suspended", now));
        assert!(ensure(&mut list, SUSPENDED, "False", "JobResumed", "Job resumed", now));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, "False");
    }
}
