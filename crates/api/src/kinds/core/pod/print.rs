//! The pod row of `kubectl get pods`: READY, the STATUS reason (`Init:0/1`,
//! `CrashLoopBackOff`, `Completed`, `Terminating`, ...), RESTARTS with the time of
//! the last restart, and the wide columns, following upstream's pod printer.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

use crate::kinds::common::printing::{since_time, string};
use crate::strategy::Context;
use crate::table::Column;

/// Reason upstream's node controller gives pods on an unreachable node.
const NODE_UNREACHABLE_REASON: &str = "NodeLost";

pub fn columns() -> Vec<Column> {
    vec![
        Column::new("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        Column::new("Status", "string", "The aggregate status of the containers in this pod."),
        Column::new(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        Column::age(),
        Column::wide(
            "IP",
            "string",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        ),
        Column::wide("Node", "string", "NodeName indicates in which node this pod is scheduled."),
        Column::wide(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node.",
        ),
        Column::wide(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness.",
        ),
    ]
}

fn is_sidecar(spec: &PodSpec, name: &str) -> bool {
    spec.init_containers.iter().flatten().any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
}

fn condition_true(status: &PodStatus, ty: &str) -> bool {
    status.conditions.iter().flatten().any(|c| c.type_ == ty && c.status == "True")
}

fn last_termination(c: &ContainerStatus) -> Option<&Time> {
    c.last_state.as_ref()?.terminated.as_ref()?.finished_at.as_ref()
}

fn later<'a>(a: Option<&'a Time>, b: Option<&'a Time>) -> Option<&'a Time> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 > x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What the pod row shows: ready count, status reason and restarts.
pub struct PodSummary {
    pub ready: String,
    pub reason: String,
    pub restarts: String,
}

pub fn summarize(pod: &Pod, ctx: &Context) -> PodSummary {
    let empty_spec = PodSpec::default();
    let empty_status = PodStatus::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty_spec);
    let status = pod.status.as_ref().unwrap_or(&empty_status);
    let init_specs = spec.init_containers.as_deref().unwrap_or_default();

    let total =
        spec.containers.len() + init_specs.iter().filter(|c| c.restart_policy.as_deref() == Some("Always")).count();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut sidecar_restarts: i64 = 0;
    let mut last_restart: Option<&Time> = None;
    let mut last_sidecar_restart: Option<&Time> = None;

    let phase = status.phase.as_deref().unwrap_or("");
    let mut reason = status.reason.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| phase.to_string());
    if status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".to_string();
    }

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.as_deref().unwrap_or_default();
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += i64::from(c.restart_count);
        last_restart = later(last_restart, last_termination(c));
        let sidecar = is_sidecar(spec, &c.name);
        if sidecar {
            sidecar_restarts += i64::from(c.restart_count);
            last_sidecar_restart = later(last_sidecar_restart, last_termination(c));
        }
        let state = c.state.clone().unwrap_or_default();
        let terminated = state.terminated.as_ref();
        let waiting_reason = state.waiting.as_ref().and_then(|w| w.reason.as_deref()).unwrap_or("");
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && c.started == Some(true) {
            if c.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None => match t.signal.filter(|s| *s != 0) {
                    Some(sig) => format!("Init:Signal:{sig}"),
                    None => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += i64::from(c.restart_count);
            last_restart = later(last_restart, last_termination(c));
            let state = c.state.clone().unwrap_or_default();
            let waiting = state.waiting.as_ref().and_then(|w| w.reason.as_deref()).filter(|r| !r.is_empty());
            if let Some(w) = waiting {
                reason = w.to_string();
            } else if let Some(t) = &state.terminated {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None => match t.signal.filter(|s| *s != 0) {
                        Some(sig) => format!("Signal:{sig}"),
                        None => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if c.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose last container completed but another still runs is not "Completed".
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }

    let terminal = matches!(phase, "Succeeded" | "Failed");
    if pod.metadata.deletion_timestamp.is_some() && status.reason.as_deref() == Some(NODE_UNREACHABLE_REASON) {
        reason = "Unknown".to_string();
    } else if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".to_string();
    }

    let restarts = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since_time(Some(t), ctx)),
        _ => restarts.to_string(),
    };
    PodSummary { ready: format!("{ready}/{total}"), reason, restarts }
}

fn or_none(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "<none>".to_string(),
    }
}

/// The cells after NAME, in the order of [`columns`].
pub fn row(pod: &Pod, ctx: &Context) -> Vec<Value> {
    let summary = summarize(pod, ctx);
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let ip = status.pod_ips.as_ref().and_then(|ips| ips.first()).map(|p| p.ip.as_str());
    let gates = spec.readiness_gates.as_deref().unwrap_or_default();
    let readiness = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions: HashMap<&str, &str> =
            status.conditions.iter().flatten().rev().map(|c| (c.type_.as_str(), c.status.as_str())).collect();
        let true_count = gates.iter().filter(|g| conditions.get(g.condition_type.as_str()) == Some(&"True")).count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        string(summary.ready),
        string(summary.reason),
        string(summary.restarts),
        string(since_time(pod.metadata.creation_timestamp.as_ref(), ctx)),
        string(or_none(ip)),
        string(or_none(spec.node_name.as_deref())),
        string(or_none(status.nominated_node_name.as_deref())),
        string(readiness),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context { now: "2024-01-01T01:00:00Z".parse().unwrap() }
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn cells(v: Value) -> Vec<Value> {
        row(&pod(v), &ctx())
    }

    #[test]
    fn running_pod() {
        let c = cells(json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:55:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.42.0.5"}],
                "containerStatuses": [
                    {"name": "a", "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}},
                    {"name": "b", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}
                ]}
        }));
        assert_eq!(
            c,
            vec![
                json!("1/2"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.42.0.5"),
                json!("n1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn crash_loop_with_restarts_ago() {
        let c = cells(json!({
            "metadata": {"name": "crash", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "a", "ready": false, "restartCount": 4, "image": "", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-01-01T00:55:00Z"}}
            }]}
        }));
        assert_eq!(&c[..4], &[json!("0/1"), json!("CrashLoopBackOff"), json!("4 (5m ago)"), json!("60m")]);
    }

    #[test]
    fn terminating_and_completed() {
        let terminating = cells(json!({
            "metadata": {"name": "t", "deletionTimestamp": "2024-01-01T00:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}]}
        }));
        assert_eq!(terminating[1], json!("Terminating"));
        let completed = cells(json!({
            "metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
        }));
        assert_eq!(&completed[..2], &[json!("0/1"), json!("Completed")]);
        let lost = cells(json!({
            "metadata": {"name": "l", "deletionTimestamp": "2024-01-01T00:59:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "reason": "NodeLost"}
        }));
        assert_eq!(lost[1], json!("Unknown"));
    }

    #[test]
    fn pending_and_init_states() {
        let pending = cells(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}),
        );
        assert_eq!(&pending[..4], &[json!("0/1"), json!("Pending"), json!("0"), json!("<unknown>")]);
        let creating = cells(json!({
            "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"waiting": {"reason": "ContainerCreating"}}}]}
        }));
        assert_eq!(creating[1], json!("ContainerCreating"));
        let init = cells(json!({
            "metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}],
                       "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"waiting": {"reason": "PodInitializing"}}}]}
        }));
        assert_eq!(init[1], json!("Init:0/1"));
        let init_failed = cells(json!({
            "metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "ready": false, "restartCount": 2, "image": "", "imageID": "", "state": {"terminated": {"exitCode": 3}}}]}
        }));
        assert_eq!(&init_failed[1..3], &[json!("Init:ExitCode:3"), json!("2")]);
        let init_done = cells(json!({
            "metadata": {"name": "i"}, "spec": {"initContainers": [{"name": "i1"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [{"name": "i1", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
                       "containerStatuses": [{"name": "a", "ready": false, "restartCount": 0, "image": "", "imageID": "", "state": {"waiting": {"reason": "PodInitializing"}}}]}
        }));
        assert_eq!(init_done[1], json!("PodInitializing"));
    }

    #[test]
    fn sidecars_count_as_containers() {
        let c = cells(json!({
            "metadata": {"name": "s"},
            "spec": {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "a"}],
                     "readinessGates": [{"conditionType": "example.com/gate"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "example.com/gate", "status": "True"}],
                "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1, "image": "", "imageID": "", "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "image": "", "imageID": "", "state": {"running": {}}}]}
        }));
        assert_eq!(&c[..3], &[json!("2/2"), json!("Running"), json!("1")]);
        assert_eq!(c[7], json!("1/1"));
    }
}
