//! Which pod and container a streaming request means, from the pod's spec and the status
//! its worker computed, with upstream's answers when there is none: 404 for a pod or
//! container that does not exist here, 400 for a container with nothing to show yet
//! (`container "app" in pod "web" is waiting to start: ContainerCreating`).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use super::backend::{BackendError, PodRef};
use crate::pod::{PodDirectory, PodEntry};

/// The pod a request names (and pins by UID, if it does).
pub fn find_pod(directory: &PodDirectory, pod: &PodRef) -> Result<std::sync::Arc<PodEntry>, BackendError> {
    directory
        .find(&pod.namespace, &pod.name, pod.uid.as_deref())
        .ok_or_else(|| BackendError::NotFound(format!("pod {:?} does not exist", pod.name)))
}

/// Fails with 404 unless `container` is a container, init container or ephemeral container
/// of the pod.
pub fn check_container(pod: &Pod, container: &str) -> Result<(), BackendError> {
    let spec = pod.spec.as_ref();
    let in_spec = spec.is_some_and(|s| {
        s.containers.iter().any(|c| c.name == container)
            || s.init_containers.iter().flatten().any(|c| c.name == container)
            || s.ephemeral_containers.iter().flatten().any(|c| c.name == container)
    });
    if in_spec {
        Ok(())
    } else {
        Err(BackendError::NotFound(format!("container {container:?} not found in pod {:?}", pod_name(pod))))
    }
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

fn status_of<'a>(pod: &'a Pod, container: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    [&status.container_statuses, &status.init_container_statuses, &status.ephemeral_container_statuses]
        .into_iter()
        .flatten()
        .flatten()
        .find(|s| s.name == container)
}

/// `containerd://<id>` → `<id>`; `None` when empty.
fn runtime_id(container_id: Option<&String>) -> Option<String> {
    let id = container_id?;
    let id = id.split_once("://").map_or(id.as_str(), |(_, id)| id);
    (!id.is_empty()).then(|| id.to_string())
}

/// The runtime id of the container run whose log a request wants: the current (or last)
/// run, or with `previous` the one before it. Upstream's rules and messages.
pub fn log_container_id(pod: &Pod, container: &str, previous: bool) -> Result<String, BackendError> {
    check_container(pod, container)?;
    let name = pod_name(pod);
    let bad = |what: String| BackendError::BadRequest(format!("container {container:?} in pod {name:?} {what}"));
    let Some(status) = status_of(pod, container) else {
        return Err(bad("is not available".into()));
    };
    let last = status.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    let state = status.state.clone().unwrap_or_default();
    if previous {
        return runtime_id(last.and_then(|t| t.container_id.as_ref())).ok_or_else(|| {
            BackendError::BadRequest(format!("previous terminated container {container:?} in pod {name:?} not found"))
        });
    }
    if state.running.is_some() {
        return runtime_id(status.container_id.as_ref()).ok_or_else(|| bad("is waiting to start - no logs yet".into()));
    }
    if let Some(terminated) = &state.terminated {
        // The next run may not have started: the last one's log is what there is.
        return runtime_id(terminated.container_id.as_ref())
            .or_else(|| runtime_id(last.and_then(|t| t.container_id.as_ref())))
            .ok_or_else(|| bad("is terminated".into()));
    }
    if let Some(last) = last {
        return runtime_id(last.container_id.as_ref()).ok_or_else(|| bad("is terminated".into()));
    }
    if let Some(waiting) = &state.waiting {
        // A run that exists but whose postStart hook has not finished still has a log.
        if let Some(id) = runtime_id(status.container_id.as_ref()) {
            return Ok(id);
        }
        return Err(match waiting.reason.as_deref().unwrap_or("") {
            "ErrImagePull" => bad("is waiting to start: image can't be pulled".into()),
            "ImagePullBackOff" => bad("is waiting to start: trying and failing to pull image".into()),
            reason => bad(format!("is waiting to start: {reason}")),
        });
    }
    Err(bad("is waiting to start - no logs yet".into()))
}

/// Why exec or attach cannot reach `container`: it has no running process.
pub fn not_running(pod: &Pod, container: &str) -> BackendError {
    let name = pod_name(pod);
    let waiting = status_of(pod, container)
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone());
    match waiting {
        Some(reason) => {
            BackendError::BadRequest(format!("container {container:?} in pod {name:?} is waiting to start: {reason}"))
        }
        None => BackendError::BadRequest(format!("container {container:?} in pod {name:?} is not running")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "app", "image": "x"}], "initContainers": [{"name": "init", "image": "x"}]},
            "status": {"containerStatuses": statuses},
        }))
        .unwrap()
    }

    fn status(state: serde_json::Value, last: serde_json::Value, id: Option<&str>) -> serde_json::Value {
        json!([{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 1,
                "state": state, "lastState": last, "containerID": id}])
    }

    fn message(e: BackendError) -> (u16, String) {
        (e.status_code().as_u16(), e.to_string())
    }

    #[test]
    fn running_and_previous_runs() {
        let p = pod(status(
            json!({"running": {}}),
            json!({"terminated": {"exitCode": 1, "containerID": "containerd://old"}}),
            Some("containerd://new"),
        ));
        assert_eq!(log_container_id(&p, "app", false).unwrap(), "new");
        assert_eq!(log_container_id(&p, "app", true).unwrap(), "old");
    }

    #[test]
    fn waiting_containers_say_why() {
        let p = pod(status(json!({"waiting": {"reason": "ContainerCreating"}}), json!({}), None));
        assert_eq!(
            message(log_container_id(&p, "app", false).unwrap_err()),
            (400, r#"container "app" in pod "web" is waiting to start: ContainerCreating"#.into())
        );
        assert_eq!(
            message(log_container_id(&p, "app", true).unwrap_err()),
            (400, r#"previous terminated container "app" in pod "web" not found"#.into())
        );
        assert_eq!(
            message(not_running(&p, "app")),
            (400, r#"container "app" in pod "web" is waiting to start: ContainerCreating"#.into())
        );
        let p = pod(status(json!({"waiting": {"reason": "ImagePullBackOff"}}), json!({}), None));
        assert!(
            log_container_id(&p, "app", false).unwrap_err().to_string().ends_with("trying and failing to pull image")
        );
    }

    #[test]
    fn crash_looping_containers_show_the_last_run() {
        let p = pod(status(
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
            json!({"terminated": {"exitCode": 1, "containerID": "containerd://dead"}}),
            Some("containerd://dead"),
        ));
        assert_eq!(log_container_id(&p, "app", false).unwrap(), "dead");
        let p =
            pod(status(json!({"terminated": {"exitCode": 0, "containerID": "containerd://done"}}), json!({}), None));
        assert_eq!(log_container_id(&p, "app", false).unwrap(), "done");
        assert_eq!(message(not_running(&p, "app")), (400, r#"container "app" in pod "web" is not running"#.into()));
    }

    #[test]
    fn unknown_containers_are_not_found() {
        let p = pod(json!([]));
        assert_eq!(
            message(log_container_id(&p, "nope", false).unwrap_err()),
            (404, r#"container "nope" not found in pod "web""#.into())
        );
        // In the spec, not yet in the status.
        assert_eq!(
            message(log_container_id(&p, "init", false).unwrap_err()),
            (400, r#"container "init" in pod "web" is not available"#.into())
        );
        let directory = PodDirectory::default();
        let missing = PodRef { namespace: "default".into(), name: "web".into(), uid: None };
        assert_eq!(message(find_pod(&directory, &missing).unwrap_err()), (404, r#"pod "web" does not exist"#.into()));
    }
}
