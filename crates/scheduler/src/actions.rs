//! What the scheduler writes through the API: bindings (`pods/<name>/binding`), the
//! PodScheduled condition and nominated node of a pod that waits, victims of preemption,
//! and the events users read in `kubectl describe`.

use jiff::Timestamp;
use k3rs_control_runtime::events::{EventRecorder, NewEvent};
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, Error};
use serde_json::{Value, json};

pub struct Actions {
    client: Client,
    recorder: EventRecorder,
    scheduler_name: String,
}

fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Api(s) if s.code == 404)
}

fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn now() -> String {
    format_time(Timestamp::now())
}

impl Actions {
    pub fn new(client: Client, recorder: EventRecorder, scheduler_name: &str) -> Self {
        Actions { client, recorder, scheduler_name: scheduler_name.to_string() }
    }

    fn pods(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(self.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"))
    }

    fn name(pod: &Pod) -> &str {
        pod.metadata.name.as_deref().unwrap_or_default()
    }

    /// Binds the pod (the UID guards against a pod recreated under the same name).
    pub async fn bind(&self, pod: &Pod, node: &str) -> Result<(), Error> {
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": Self::name(pod), "namespace": pod.metadata.namespace, "uid": pod.metadata.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        self.pods(pod)
            .create_subresource::<Value, Value>("binding", Self::name(pod), &PostParams::default(), &binding)
            .await?;
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        self.recorder.record(NewEvent::normal(
            "Scheduled",
            "Binding",
            format!("Successfully assigned {ns}/{} to {node}", Self::name(pod)),
            pod_ref(pod),
        ));
        Ok(())
    }

    /// Records why the pod waits: a FailedScheduling event and the PodScheduled=False
    /// condition (written only when it changes).
    pub async fn unschedulable(&self, pod: &Pod, message: &str) -> Result<(), Error> {
        self.recorder.record(NewEvent::warning("FailedScheduling", "Scheduling", message, pod_ref(pod)));
        let current = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        if current.is_some_and(|c| {
            c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)
        }) {
            return Ok(());
        }
        let since = match current {
            Some(c) if c.status == "False" => c.last_transition_time.as_ref().map(|t| format_time(t.0)),
            _ => None,
        }
        .unwrap_or_else(now);
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": null, "lastTransitionTime": since,
        }]}});
        match self.pods(pod).patch_status(Self::name(pod), &PatchParams::default(), &Patch::Strategic(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets (or with `None` clears) `status.nominatedNodeName`.
    pub async fn nominate(&self, pod: &Pod, node: Option<&str>) -> Result<(), Error> {
        let patch = json!({"status": {"nominatedNodeName": node}});
        match self.pods(pod).patch_status(Self::name(pod), &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Evicts a victim for `preemptor`: marks it with the DisruptionTarget condition,
    /// deletes it (with its grace period) and records a Preempted event.
    pub async fn preempt(&self, victim: &Pod, preemptor: &Pod, node: &str) -> Result<(), Error> {
        let api = self.pods(victim);
        let name = Self::name(victim);
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", self.scheduler_name),
            "lastTransitionTime": now(),
        }]}});
        match api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&condition)).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        let preconditions = kube::api::Preconditions { uid: victim.metadata.uid.clone(), resource_version: None };
        match api.delete(name, &DeleteParams { preconditions: Some(preconditions), ..Default::default() }).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        let note = format!("Preempted by pod {} on node {node}", preemptor.metadata.uid.as_deref().unwrap_or_default());
        self.recorder.record(
            NewEvent::normal("Preempted", "Preempting", note, pod_ref(victim)).with_related(pod_ref(preemptor)),
        );
        Ok(())
    }
}
