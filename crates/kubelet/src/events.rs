//! Events as the kubelet records them: core/v1 Events with `source` = the kubelet on this
//! node, about a pod or one of its containers (`fieldPath: spec.containers{name}`).
//!
//! Like upstream's event correlator, a repeat of the same event (same object, type, reason
//! and message) within ten minutes increments `count` and moves `lastTimestamp` of the
//! event already written instead of creating another, which `kubectl describe` shows as
//! `x3 over 40s`. Recording never blocks the caller: events go through a queue to one
//! background task, and a failure to write one is logged, never returned.
//!
//! (kube-runtime's `events::Recorder` is not used: it keys repeats without the message,
//! so a "Liveness probe failed" after a "Readiness probe failed" on the same container
//! would only bump the readiness event, and it writes no `source`.)

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tokio::sync::mpsc;

/// How long a written event can still be bumped by a repeat.
const REPEAT_WINDOW: Duration = Duration::from_secs(600);
/// How many distinct recent events are remembered for repeats.
const CACHE_LIMIT: usize = 4096;

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One event to write.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub object: ObjectReference,
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// Records events for the kubelet. Cheap to clone; clones share the queue.
#[derive(Clone)]
pub struct EventRecorder {
    queue: mpsc::UnboundedSender<EventRecord>,
}

impl EventRecorder {
    /// A recorder writing through `client` as `component` on `host` (the node name).
    pub fn new(client: Client, component: &str, host: &str) -> EventRecorder {
        let (queue, pending) = mpsc::unbounded_channel();
        let writer = Writer {
            client,
            source: EventSource { component: Some(component.to_string()), host: Some(host.to_string()) },
            recent: HashMap::new(),
        };
        tokio::spawn(writer.run(pending));
        EventRecorder { queue }
    }

    /// A recorder that hands events to a channel instead of the API (for tests).
    pub fn to_channel() -> (EventRecorder, mpsc::UnboundedReceiver<EventRecord>) {
        let (queue, pending) = mpsc::unbounded_channel();
        (EventRecorder { queue }, pending)
    }

    /// Records an event about `object`.
    pub fn record(&self, object: &ObjectReference, type_: EventType, reason: &str, message: impl Into<String>) {
        let record = EventRecord { object: object.clone(), type_, reason: reason.to_string(), message: message.into() };
        tracing::debug!(object = ?record.object.name, field = ?record.object.field_path, reason, message = %record.message, "event");
        let _ = self.queue.send(record);
    }
}

/// A reference to a pod, as events name it.
pub fn pod_reference(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Pod".to_string()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// A reference to a container of a pod: `spec.containers{name}` or
/// `spec.initContainers{name}`.
pub fn container_reference(pod: &Pod, container: &str, init: bool) -> ObjectReference {
    let list = if init { "initContainers" } else { "containers" };
    ObjectReference { field_path: Some(format!("spec.{list}{{{container}}}")), ..pod_reference(pod) }
}

/// What makes two events the same (upstream's aggregation key without the source).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    uid: String,
    name: String,
    field_path: String,
    type_: EventType,
    reason: String,
    message: String,
}

impl Key {
    fn of(record: &EventRecord) -> Key {
        let o = &record.object;
        Key {
            namespace: o.namespace.clone().unwrap_or_default(),
            uid: o.uid.clone().unwrap_or_default(),
            name: o.name.clone().unwrap_or_default(),
            field_path: o.field_path.clone().unwrap_or_default(),
            type_: record.type_,
            reason: record.reason.clone(),
            message: record.message.clone(),
        }
    }
}

struct Written {
    name: String,
    count: i32,
    last: Timestamp,
}

struct Writer {
    client: Client,
    source: EventSource,
    recent: HashMap<Key, Written>,
}

impl Writer {
    async fn run(mut self, mut pending: mpsc::UnboundedReceiver<EventRecord>) {
        while let Some(record) = pending.recv().await {
            if let Err(err) = self.write(&record).await {
                tracing::warn!(reason = %record.reason, object = ?record.object.name, %err, "writing event failed");
            }
        }
    }

    fn forget_old(&mut self, now: Timestamp) {
        let window = jiff::SignedDuration::try_from(REPEAT_WINDOW).unwrap_or_default();
        self.recent.retain(|_, w| now.duration_since(w.last) < window);
        if self.recent.len() > CACHE_LIMIT {
            self.recent.clear();
        }
    }

    async fn write(&mut self, record: &EventRecord) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        self.forget_old(now);
        let key = Key::of(record);
        let namespace = record.object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(written) = self.recent.get_mut(&key) {
            let patch = serde_json::json!({"count": written.count + 1, "lastTimestamp": Time(now)});
            match events.patch(&written.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {
                    written.count += 1;
                    written.last = now;
                    return Ok(());
                }
                // Gone (expired or deleted): write it afresh.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err),
            }
        }
        let base = record.object.name.clone().unwrap_or_else(|| "event".into());
        let name = format!("{base}.{:x}", now.as_nanosecond());
        let event = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace), ..Default::default() },
            involved_object: record.object.clone(),
            reason: Some(record.reason.clone()),
            message: Some(record.message.clone()),
            type_: Some(record.type_.as_str().to_string()),
            source: Some(self.source.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: self.source.component.clone(),
            reporting_instance: self.source.host.clone(),
            event_time: None::<MicroTime>,
            ..Default::default()
        };
        events.create(&PostParams::default(), &event).await?;
        self.recent.insert(key, Written { name, count: 1, last: now });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_references_name_the_field() {
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u1"}})).unwrap();
        let r = container_reference(&pod, "app", false);
        assert_eq!(r.field_path.as_deref(), Some("spec.containers{app}"));
        assert_eq!(r.kind.as_deref(), Some("Pod"));
        assert_eq!(container_reference(&pod, "init", true).field_path.as_deref(), Some("spec.initContainers{init}"));
    }

    #[test]
    fn repeats_share_a_key_only_with_the_same_message() {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web", "uid": "u1"}})).unwrap();
        let record = |message: &str| EventRecord {
            object: container_reference(&pod, "app", false),
            type_: EventType::Warning,
            reason: "Unhealthy".into(),
            message: message.into(),
        };
        assert_eq!(Key::of(&record("Liveness probe failed: x")), Key::of(&record("Liveness probe failed: x")));
        assert_ne!(Key::of(&record("Liveness probe failed: x")), Key::of(&record("Readiness probe failed: x")));
    }

    #[tokio::test]
    async fn channel_recorder_delivers_in_order() {
        let (recorder, mut rx) = EventRecorder::to_channel();
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap();
        recorder.record(&pod_reference(&pod), EventType::Normal, "Pulling", "Pulling image \"x\"");
        recorder.record(&pod_reference(&pod), EventType::Warning, "Failed", "Error: ErrImagePull");
        assert_eq!(rx.recv().await.unwrap().reason, "Pulling");
        assert_eq!(rx.recv().await.unwrap().type_, EventType::Warning);
    }
}
