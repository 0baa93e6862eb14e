//! Events the cluster controllers emit (shown by `kubectl describe`). Repeats of
//! one event are aggregated into a series by kube-rs' recorder. Publishing is
//! best effort: a failure is logged and never fails a reconcile.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::debug;

#[derive(Clone)]
pub struct EventRecorder {
    recorder: Recorder,
}

impl EventRecorder {
    /// `component` is the upstream reporting controller name, e.g. `endpoint-controller`.
    pub fn new(client: Client, component: &str) -> Self {
        let reporter = Reporter { controller: component.to_string(), instance: Some(hostname()) };
        EventRecorder { recorder: Recorder::new(client, reporter) }
    }

    pub async fn normal(&self, regarding: &ObjectReference, reason: &str, note: String) {
        self.publish(regarding, EventType::Normal, reason, note).await;
    }

    pub async fn warning(&self, regarding: &ObjectReference, reason: &str, note: String) {
        self.publish(regarding, EventType::Warning, reason, note).await;
    }

    async fn publish(&self, regarding: &ObjectReference, type_: EventType, reason: &str, note: String) {
        let event =
            Event { type_, reason: reason.to_string(), note: Some(note), action: reason.to_string(), secondary: None };
        if let Err(e) = self.recorder.publish(&event, regarding).await {
            debug!(reason, error = %e, "could not record an event");
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "k3rs".to_string())
}
