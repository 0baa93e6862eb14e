//! API writes the node controllers share: read-modify-write of a node with retries on
//! conflicts, pod conditions, forced deletion, and object references for events.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod};
use kube::Error;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;

const CONFLICT_RETRIES: usize = 5;

pub fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Api(s) if s.code == 404)
}

fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Api(s) if s.code == 409)
}

/// Formats a timestamp as Kubernetes `Time` (seconds).
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Reads the node, lets `change` edit it (returning whether it did), and writes it back
/// (the status subresource when `status`); conflicts retry with a fresh read. `Ok(None)`
/// when the node is gone or nothing changed.
pub async fn update_node(
    api: &Api<Node>,
    name: &str,
    status: bool,
    mut change: impl FnMut(&mut Node) -> bool,
) -> Result<Option<Node>, Error> {
    for _ in 0..CONFLICT_RETRIES {
        let Some(mut node) = api.get_opt(name).await? else { return Ok(None) };
        if !change(&mut node) {
            return Ok(None);
        }
        let written = if status {
            api.replace_status(name, &PostParams::default(), &node).await
        } else {
            api.replace(name, &PostParams::default(), &node).await
        };
        match written {
            Ok(n) => return Ok(Some(n)),
            Err(e) if is_conflict(&e) => continue,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Err(Error::Api(Box::new(kube::core::Status {
        code: 409,
        message: format!("node {name} kept changing while it was being updated"),
        reason: "Conflict".into(),
        ..Default::default()
    })))
}

/// Sets a condition on a pod's status (strategic merge by condition type, so a reason or
/// message left out keeps its value), with more `status` fields from `extra_status`.
pub async fn set_pod_condition(
    api: &Api<Pod>,
    name: &str,
    ty: &str,
    status: &str,
    reason_and_message: Option<(&str, &str)>,
    extra_status: serde_json::Value,
) -> Result<(), Error> {
    let mut condition = json!({"type": ty, "status": status, "lastTransitionTime": format_time(Timestamp::now())});
    if let Some((reason, message)) = reason_and_message {
        condition["reason"] = json!(reason);
        condition["message"] = json!(message);
    }
    let mut patch = json!({"status": {"conditions": [condition]}});
    if let serde_json::Value::Object(extra) = extra_status {
        for (k, v) in extra {
            patch["status"][k] = v;
        }
    }
    match api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes a pod (this very one: the UID is a precondition), at once when `force`.
pub async fn delete_pod(api: &Api<Pod>, pod: &Pod, force: bool) -> Result<(), Error> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let params = DeleteParams {
        grace_period_seconds: force.then_some(0),
        preconditions: Some(Preconditions { uid: pod.metadata.uid.clone(), resource_version: None }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A node reference as `kubectl describe node` looks events up: the UID is the node name,
/// as the kubelet and upstream's node controllers record it.
pub fn node_ref(name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Node".into()),
        name: Some(name.into()),
        uid: Some(name.into()),
        ..Default::default()
    }
}

pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}
