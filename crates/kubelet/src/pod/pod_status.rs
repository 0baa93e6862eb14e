//! The pod's status as the kubelet reports it, computed from the worker's container
//! records: container statuses (state, lastState, ready, started, restartCount, image,
//! imageID, containerID), the phase and the kubelet-owned conditions (via
//! [`crate::status`]), host and pod IPs and the start time. Conditions the kubelet does not
//! own (readiness gates, DisruptionTarget) are kept from the current status; the
//! scheduler's `PodScheduled` is kept as it is, and added as upstream's kubelet adds it
//! when a pod was bound without the scheduler.

use std::collections::HashMap;

use jiff::Timestamp;
use k3rs_runtime::ImageRef;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::record::{ContainerRecord, Kind, Terminated, spec_containers};
use crate::status::{self, Phase};

/// Conditions the kubelet computes (upstream's `PodConditionsByKubelet` plus
/// PodReadyToStartContainers), in the order upstream lists them.
const KUBELET_CONDITIONS: [&str; 5] =
    ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];

/// Inputs of the status besides the pod and the records.
pub(crate) struct StatusInputs<'a> {
    pub pod: &'a Pod,
    pub records: &'a HashMap<String, ContainerRecord>,
    pub sandbox_ready: bool,
    pub host_ips: &'a [String],
    pub pod_ips: &'a [String],
    pub start_time: Option<Timestamp>,
    /// The phase once the pod has finished (it never changes afterwards).
    pub terminal_phase: Option<Phase>,
    /// Why the kubelet ended the pod (`DeadlineExceeded` and its message).
    pub terminal_reason: Option<(String, String)>,
    pub now: Timestamp,
}

fn terminated(t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(format!("containerd://{}", t.container_id)),
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone().filter(|m| !m.is_empty()),
            started_at: t.started_at.map(Time),
            finished_at: Some(Time(t.finished_at)),
            signal: None,
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.to_string()), message }),
        ..Default::default()
    }
}

/// The image as the runtime names it (`busybox` is `docker.io/library/busybox:latest`).
fn image_name(image: &str) -> String {
    ImageRef::parse(image).map(|r| r.to_string()).unwrap_or_else(|_| image.to_string())
}

fn container_status(
    c: &Container,
    record: Option<&ContainerRecord>,
    kind: Kind,
    initializing: bool,
) -> ContainerStatus {
    let default_reason = if kind.is_init_list() || initializing { "PodInitializing" } else { "ContainerCreating" };
    let mut s = ContainerStatus {
        name: c.name.clone(),
        image: image_name(c.image.as_deref().unwrap_or("")),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        started: Some(false),
        state: Some(waiting(default_reason, None)),
        ..Default::default()
    };
    let Some(r) = record else { return s };
    s.restart_count = i32::try_from(r.restart_count).unwrap_or(i32::MAX);
    s.last_state = r.last_termination.as_ref().map(terminated);
    let wait = |w: &super::record::Waiting| waiting(&w.reason, w.message.clone());
    match &r.run {
        None => {
            if let Some(w) = &r.waiting {
                s.state = Some(wait(w));
            }
        }
        Some(run) => {
            s.container_id = Some(format!("containerd://{}", run.id));
            s.image_id = run.image_id.clone();
            match &run.exit {
                None if !run.post_start_done => s.state = Some(waiting("ContainerCreating", None)),
                None => {
                    s.state = Some(ContainerState {
                        running: Some(ContainerStateRunning { started_at: Some(Time(run.started_at)) }),
                        ..Default::default()
                    });
                    s.started = Some(r.started);
                    s.ready = r.ready;
                }
                Some(exit) => match &r.waiting {
                    // Waiting to be restarted (back-off): the exit becomes lastState.
                    Some(w) => {
                        s.state = Some(wait(w));
                        s.last_state = Some(terminated(exit));
                    }
                    None => {
                        s.state = Some(terminated(exit));
                        // A completed init container counts as ready, as upstream reports it.
                        s.ready = kind == Kind::Init && exit.exit_code == 0;
                    }
                },
            }
        }
    }
    s
}

/// The full status to write.
pub(crate) fn pod_status(inputs: &StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let spec = pod.spec.clone().unwrap_or_default();
    let current = pod.status.clone().unwrap_or_default();
    let now = Time(inputs.now);

    let containers = spec_containers(&spec);
    let regular_started = containers
        .iter()
        .filter(|(_, k)| *k == Kind::Regular)
        .any(|(c, _)| inputs.records.get(&c.name).is_some_and(ContainerRecord::ever_ran));
    let init_statuses: Vec<ContainerStatus> = containers
        .iter()
        .filter(|(_, k)| k.is_init_list())
        .map(|(c, kind)| container_status(c, inputs.records.get(&c.name), *kind, true))
        .collect();
    let initializing = !regular_started && !status::pending_init_containers(&spec, &init_statuses).is_empty();
    let statuses: Vec<ContainerStatus> = containers
        .iter()
        .filter(|(_, k)| *k == Kind::Regular)
        .map(|(c, kind)| container_status(c, inputs.records.get(&c.name), *kind, initializing))
        .collect();

    let phase = inputs.terminal_phase.unwrap_or_else(|| status::phase(&spec, &init_statuses, &statuses, false));
    let old_conditions = current.conditions.clone().unwrap_or_default();
    let gates_ok = spec
        .readiness_gates
        .iter()
        .flatten()
        .all(|gate| old_conditions.iter().any(|c| c.type_ == gate.condition_type && c.status == "True"));
    let mut ours = status::conditions(&spec, phase, &init_statuses, &statuses, inputs.sandbox_ready, gates_ok, &now);
    status::carry_transition_times(&mut ours, &old_conditions);
    let scheduled = old_conditions.iter().find(|c| c.type_ == "PodScheduled").cloned().unwrap_or(PodCondition {
        type_: "PodScheduled".to_string(),
        status: "True".to_string(),
        last_transition_time: Some(now.clone()),
        ..Default::default()
    });
    ours.push(scheduled);
    ours.sort_by_key(|c| KUBELET_CONDITIONS.iter().position(|t| *t == c.type_).unwrap_or(usize::MAX));
    let mut conditions: Vec<PodCondition> =
        old_conditions.into_iter().filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())).collect();
    conditions.extend(ours);

    let host_network = spec.host_network == Some(true);
    let pod_ips: Vec<String> = if host_network { inputs.host_ips.to_vec() } else { inputs.pod_ips.to_vec() };
    let (reason, message) = match &inputs.terminal_reason {
        Some((reason, message)) => (Some(reason.clone()), Some(message.clone())),
        None => (current.reason.clone(), current.message.clone()),
    };
    PodStatus {
        phase: Some(phase.as_str().to_string()),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: inputs.host_ips.first().cloned(),
        host_ips: (!inputs.host_ips.is_empty())
            .then(|| inputs.host_ips.iter().map(|ip| HostIP { ip: ip.clone() }).collect()),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty()).then(|| pod_ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        start_time: current.start_time.clone().or_else(|| inputs.start_time.map(Time)),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        qos_class: current.qos_class.clone().or_else(|| Some(k3rs_api::kinds::core::pod::qos_class(&spec).to_string())),
        ..current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::record::{Run, Waiting};
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn run(id: &str) -> Run {
        Run {
            id: id.into(),
            image: "i".into(),
            image_id: "img@sha256:1".into(),
            started_at: at(5),
            post_start_done: true,
            exit: None,
        }
    }

    fn exit(id: &str, code: i32) -> Terminated {
        Terminated {
            container_id: id.into(),
            exit_code: code,
            reason: "Error".into(),
            message: None,
            started_at: Some(at(5)),
            finished_at: at(9),
        }
    }

    fn status_for(p: &Pod, records: &HashMap<String, ContainerRecord>) -> PodStatus {
        pod_status(&StatusInputs {
            pod: p,
            records,
            sandbox_ready: true,
            host_ips: &["192.168.1.10".to_string()],
            pod_ips: &[],
            start_time: Some(at(1)),
            terminal_phase: None,
            terminal_reason: None,
            now: at(10),
        })
    }

    #[test]
    fn running_and_ready() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}}));
        let mut r = ContainerRecord::new("c", Kind::Regular);
        r.begin_run(run("abc"), 0);
        r.started = true;
        r.ready = true;
        let s = status_for(&p, &HashMap::from([("c".to_string(), r)]));
        assert_eq!(s.phase.as_deref(), Some("Running"));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert!(c.ready);
        assert_eq!(c.image, "docker.io/library/busybox:latest");
        assert_eq!(c.container_id.as_deref(), Some("containerd://abc"));
        assert!(c.state.as_ref().unwrap().running.is_some());
        let types: Vec<&str> = s.conditions.as_ref().unwrap().iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec!["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
        let scheduled = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "PodScheduled").unwrap();
        assert_eq!(scheduled.last_transition_time.as_ref().unwrap().0, "2024-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(s.host_ip.as_deref(), Some("192.168.1.10"));
        assert_eq!(s.pod_ip, None, "no pod network yet");
        assert_eq!(s.start_time.unwrap().0, at(1));
    }

    #[test]
    fn back_off_shows_waiting_with_the_exit_as_last_state() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}));
        let mut r = ContainerRecord::new("c", Kind::Regular);
        r.begin_run(run("a"), 2);
        r.record_exit("a", exit("a", 1));
        r.waiting = Some(Waiting::new("CrashLoopBackOff", "back-off 20s restarting failed container=c pod=p_(u)"));
        let s = status_for(&p, &HashMap::from([("c".to_string(), r)]));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(c.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 1);
        assert_eq!(c.restart_count, 2);
        assert_eq!(s.phase.as_deref(), Some("Running"));
    }

    #[test]
    fn containers_not_yet_created_are_container_creating() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "y"}]}}));
        let s = status_for(&p, &HashMap::new());
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("ContainerCreating"));
        assert_eq!(s.phase.as_deref(), Some("Pending"));
    }

    #[test]
    fn init_phase_reports_pod_initializing() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"initContainers": [{"name": "i", "image": "x"}],
            "containers": [{"name": "c", "image": "y"}]}}));
        let mut init = ContainerRecord::new("i", Kind::Init);
        init.begin_run(run("i1"), 0);
        let s = status_for(&p, &HashMap::from([("i".to_string(), init.clone())]));
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        let c = &s.container_statuses.as_ref().unwrap()[0];
        assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("PodInitializing"));
        init.record_exit("i1", Terminated { exit_code: 0, reason: "Completed".into(), ..exit("i1", 0) });
        let s = status_for(&p, &HashMap::from([("i".to_string(), init)]));
        assert!(s.init_container_statuses.as_ref().unwrap()[0].ready, "a completed init container is ready");
        let initialized = s.conditions.as_ref().unwrap().iter().find(|c| c.type_ == "Initialized").unwrap();
        assert_eq!(initialized.status, "True");
    }

    #[test]
    fn a_deadline_fails_the_pod_with_a_reason() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}));
        let s = pod_status(&StatusInputs {
            pod: &p,
            records: &HashMap::new(),
            sandbox_ready: true,
            host_ips: &[],
            pod_ips: &[],
            start_time: None,
            terminal_phase: Some(Phase::Failed),
            terminal_reason: Some(("DeadlineExceeded".into(), "too long".into())),
            now: at(10),
        });
        assert_eq!(s.phase.as_deref(), Some("Failed"));
        assert_eq!((s.reason.as_deref(), s.message.as_deref()), (Some("DeadlineExceeded"), Some("too long")));
    }

    #[test]
    fn other_conditions_are_kept_and_gates_respected() {
        let p =
            pod(json!({"metadata": {"name": "p"}, "spec": {"readinessGates": [{"conditionType": "example.com/gate"}],
            "containers": [{"name": "c", "image": "i"}]},
            "status": {"conditions": [{"type": "example.com/gate", "status": "False"}]}}));
        let mut r = ContainerRecord::new("c", Kind::Regular);
        r.begin_run(run("a"), 0);
        r.started = true;
        r.ready = true;
        let s = status_for(&p, &HashMap::from([("c".to_string(), r)]));
        let conds = s.conditions.unwrap();
        assert_eq!(conds[0].type_, "example.com/gate");
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("ReadinessGatesNotReady")));
    }
}
