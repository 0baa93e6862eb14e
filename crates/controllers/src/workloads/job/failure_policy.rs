//! `spec.podFailurePolicy`: the first rule matching a failed pod (by container exit
//! code or pod condition) decides whether the failure fails the Job at once, is
//! ignored, or counts toward `backoffLimit`.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    FailJob,
    FailIndex,
    Ignore,
    Count,
}

/// What a failed pod means under the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The Job's failure message when a `FailJob` rule matched.
    pub fail_job: Option<String>,
    /// Whether the failure counts toward `backoffLimit`.
    pub counts: bool,
    pub action: Option<Action>,
}

fn matching_container<'a>(
    statuses: Option<&'a Vec<ContainerStatus>>,
    req: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'a ContainerStatus> {
    statuses?.iter().find(|cs| {
        let Some(code) = cs.state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code) else {
            return false;
        };
        // Exit code 0 never matches: a container that succeeded did not fail the pod.
        let name_ok = req.container_name.as_ref().is_none_or(|n| *n == cs.name);
        name_ok
            && code != 0
            && match req.operator.as_str() {
                "In" => req.values.contains(&code),
                "NotIn" => !req.values.contains(&code),
                _ => false,
            }
    })
}

/// Upstream's `matchPodFailurePolicy`.
pub fn evaluate(policy: Option<&PodFailurePolicy>, pod: &Pod) -> Verdict {
    let no_match = Verdict { fail_job: None, counts: true, action: None };
    let Some(policy) = policy else { return no_match };
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    for (index, rule) in policy.rules.iter().enumerate() {
        let action = match rule.action.as_str() {
            "FailJob" => Action::FailJob,
            "FailIndex" => Action::FailIndex,
            "Ignore" => Action::Ignore,
            "Count" => Action::Count,
            _ => continue,
        };
        let message = if let Some(req) = &rule.on_exit_codes {
            let found = matching_container(status.and_then(|s| s.container_statuses.as_ref()), req)
                .or_else(|| matching_container(status.and_then(|s| s.init_container_statuses.as_ref()), req));
            let Some(cs) = found else { continue };
            let code = cs.state.as_ref().and_then(|s| s.terminated.as_ref()).map_or(0, |t| t.exit_code);
            format!(
                "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                cs.name, rule.action
            )
        } else if let Some(patterns) = &rule.on_pod_conditions {
            let conditions = status.and_then(|s| s.conditions.as_ref());
            let found = conditions
                .into_iter()
                .flatten()
                .find(|c| patterns.iter().any(|p| p.type_ == c.type_ && p.status == c.status));
            let Some(c) = found else { continue };
            format!("Pod {ns}/{name} has condition {} matching {} rule at index {index}", c.type_, rule.action)
        } else {
            continue;
        };
        return match action {
            Action::Ignore => Verdict { fail_job: None, counts: false, action: Some(action) },
            Action::FailJob => Verdict { fail_job: Some(message), counts: true, action: Some(action) },
            other => Verdict { fail_job: None, counts: true, action: Some(other) },
        };
    }
    no_match
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_exit(code: i32, conditions: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pi-x", "namespace": "default"},
            "status": {"phase": "Failed", "conditions": conditions,
                       "containerStatuses": [{"name": "main", "image": "i", "imageID": "", "ready": false,
                                              "restartCount": 0, "state": {"terminated": {"exitCode": code}}}]}
        }))
        .unwrap()
    }

    fn policy() -> PodFailurePolicy {
        serde_json::from_value(serde_json::json!({"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ]}))
        .unwrap()
    }

    #[test]
    fn rules_match_in_order() {
        let p = policy();
        let v = evaluate(Some(&p), &pod_exit(42, serde_json::json!([])));
        assert_eq!(v.action, Some(Action::FailJob));
        assert_eq!(
            v.fail_job.as_deref(),
            Some("Container main for pod default/pi-x failed with exit code 42 matching FailJob rule at index 0")
        );
        let v = evaluate(Some(&p), &pod_exit(1, serde_json::json!([{"type": "DisruptionTarget", "status": "True"}])));
        assert_eq!((v.action, v.counts), (Some(Action::Ignore), false));
        let v = evaluate(Some(&p), &pod_exit(7, serde_json::json!([])));
        assert_eq!((v.action, v.counts), (Some(Action::Count), true));
        let v = evaluate(Some(&p), &pod_exit(1, serde_json::json!([])));
        assert_eq!((v.action, v.counts), (None, true));
        assert_eq!(evaluate(None, &pod_exit(42, serde_json::json!([]))).fail_job, None);
    }
}
