//! Pod status as the kubelet reports it: the phase from the containers' states
//! (upstream's `getPhase`), and the conditions PodReadyToStartContainers,
//! Initialized, ContainersReady and Ready with upstream's reasons and messages.

use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }
}

fn status_of<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn is_sidecar(c: &k8s_openapi::api::core::v1::Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn succeeded(s: &ContainerStatus) -> bool {
    s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code == 0)
}

fn failed(s: &ContainerStatus) -> bool {
    s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code != 0)
        || (s.state.as_ref().and_then(|st| st.waiting.as_ref()).is_some()
            && s.last_state.as_ref().and_then(|st| st.terminated.as_ref()).is_some_and(|t| t.exit_code != 0))
}

fn started(s: &ContainerStatus) -> bool {
    s.state.as_ref().and_then(|st| st.running.as_ref()).is_some() && s.started.unwrap_or(true)
}

/// Init containers still to complete (sidecars: still to start), by name.
pub fn pending_init_containers(spec: &PodSpec, init: &[ContainerStatus]) -> Vec<String> {
    spec.init_containers
        .iter()
        .flatten()
        .filter(|c| match status_of(init, &c.name) {
            None => true,
            Some(s) if is_sidecar(c) => !started(s),
            Some(s) => !succeeded(s),
        })
        .map(|c| c.name.clone())
        .collect()
}

/// The pod's phase (upstream `getPhase`). `terminal` is true once the kubelet
/// decided the pod is done (e.g. all containers stopped for good).
pub fn phase(spec: &PodSpec, init: &[ContainerStatus], containers: &[ContainerStatus], terminal: bool) -> Phase {
    let restart_policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let pending_init = !pending_init_containers(spec, init).is_empty();
    if pending_init {
        let init_failed = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| !is_sidecar(c))
            .filter_map(|c| status_of(init, &c.name))
            .any(failed);
        if init_failed && restart_policy == "Never" {
            return Phase::Failed;
        }
        return Phase::Pending;
    }
    let (mut running, mut waiting, mut stopped, mut ok, mut unknown) = (0, 0, 0, 0, 0);
    for c in &spec.containers {
        let Some(s) = status_of(containers, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                ok += 1;
            }
        } else if state.waiting.is_some() {
            if s.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 && unknown == 0 {
        return Phase::Running;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == ok { Phase::Succeeded } else { Phase::Failed };
        }
        if restart_policy == "Always" {
            return Phase::Running;
        }
        if stopped == ok {
            return Phase::Succeeded;
        }
        if restart_policy == "Never" {
            return Phase::Failed;
        }
        return Phase::Running;
    }
    Phase::Pending
}

fn condition(ty: &str, ok: bool, reason: Option<&str>, message: Option<String>, now: &Time) -> PodCondition {
    PodCondition {
        type_: ty.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(String::from),
        message,
        last_transition_time: Some(now.clone()),
        ..Default::default()
    }
}

/// The kubelet-owned conditions. `sandbox_ready` is whether the pod's network
/// namespace exists; `gates_ok` whether every readiness gate condition is True.
pub fn conditions(
    spec: &PodSpec,
    phase: Phase,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
    sandbox_ready: bool,
    gates_ok: bool,
    now: &Time,
) -> Vec<PodCondition> {
    let mut out = vec![condition("PodReadyToStartContainers", sandbox_ready, None, None, now)];
    let pending = pending_init_containers(spec, init);
    let initialized = pending.is_empty();
    out.push(if initialized || phase == Phase::Succeeded {
        condition("Initialized", true, None, None, now)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!("containers with incomplete status: [{}]", pending.join(" "))),
            now,
        )
    });
    let done = matches!(phase, Phase::Succeeded | Phase::Failed);
    let mut unready: Vec<String> = Vec::new();
    for c in spec.init_containers.iter().flatten().filter(|c| is_sidecar(c)) {
        if !status_of(init, &c.name).is_some_and(|s| s.ready) {
            unready.push(c.name.clone());
        }
    }
    for c in &spec.containers {
        if !status_of(containers, &c.name).is_some_and(|s| s.ready) {
            unready.push(c.name.clone());
        }
    }
    let (containers_ready, reason, message) = if done {
        (false, Some("PodCompleted"), None)
    } else if !initialized {
        (false, Some("ContainersNotReady"), Some(format!("containers with unready status: [{}]", unready.join(" "))))
    } else if unready.is_empty() {
        (true, None, None)
    } else {
        (false, Some("ContainersNotReady"), Some(format!("containers with unready status: [{}]", unready.join(" "))))
    };
    out.push(condition("ContainersReady", containers_ready, reason, message.clone(), now));
    let ready = containers_ready && gates_ok;
    let (reason, message) = match (containers_ready, gates_ok) {
        (true, false) => {
            (Some("ReadinessGatesNotReady"), Some("the status of pod readiness gate is not \"True\"".to_string()))
        }
        _ => (reason, message),
    };
    out.push(condition("Ready", ready, reason, message, now));
    out
}

/// Keeps a condition's last transition time when its status did not change.
pub fn carry_transition_times(new: &mut [PodCondition], old: &[PodCondition]) {
    for c in new.iter_mut() {
        if let Some(prev) = old.iter().find(|o| o.type_ == c.type_)
            && prev.status == c.status
        {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn status(v: serde_json::Value) -> ContainerStatus {
        serde_json::from_value(v).unwrap()
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        status(json!({"name": name, "image": "i", "imageID": "", "ready": ready, "restartCount": 0,
            "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}))
    }

    fn terminated(name: &str, code: i32) -> ContainerStatus {
        status(json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "reason": if code == 0 {"Completed"} else {"Error"}}}}))
    }

    fn crashlooping(name: &str) -> ContainerStatus {
        status(json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}))
    }

    #[test]
    fn phases() {
        let always = spec(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
        assert_eq!(phase(&always, &[], &[], false), Phase::Pending);
        assert_eq!(phase(&always, &[], &[running("a", true), running("b", false)], false), Phase::Running);
        assert_eq!(phase(&always, &[], &[running("a", true), crashlooping("b")], false), Phase::Running);
        let never = spec(json!({"restartPolicy": "Never", "containers": [{"name": "a"}]}));
        assert_eq!(phase(&never, &[], &[terminated("a", 0)], false), Phase::Succeeded);
        assert_eq!(phase(&never, &[], &[terminated("a", 2)], false), Phase::Failed);
        let on_failure = spec(json!({"restartPolicy": "OnFailure", "containers": [{"name": "a"}]}));
        assert_eq!(phase(&on_failure, &[], &[terminated("a", 2)], false), Phase::Running);
        let with_init =
            spec(json!({"restartPolicy": "Never", "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}));
        assert_eq!(phase(&with_init, &[running("i", false)], &[], false), Phase::Pending);
        assert_eq!(phase(&with_init, &[terminated("i", 1)], &[], false), Phase::Failed);
    }

    #[test]
    fn ready_conditions() {
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let s = spec(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
        let conds = conditions(&s, Phase::Running, &[], &[running("a", true), running("b", false)], true, true, &now);
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.message.as_deref(), Some("containers with unready status: [b]"));
        let conds = conditions(&s, Phase::Running, &[], &[running("a", true), running("b", true)], true, true, &now);
        assert!(conds.iter().all(|c| c.status == "True"));
        let with_init = spec(json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}));
        let conds = conditions(&with_init, Phase::Pending, &[], &[], true, true, &now);
        let init = conds.iter().find(|c| c.type_ == "Initialized").unwrap();
        assert_eq!(init.message.as_deref(), Some("containers with incomplete status: [i]"));
    }
}
