//! Recording events.k8s.io/v1 Events the way upstream's `client-go/tools/events` does:
//! the first occurrence creates an Event; an identical one (same object, reason, action,
//! note, type and related object) within six minutes becomes a series on that Event
//! (`series.count`, `series.lastObservedTime`), which `kubectl describe` shows as
//! `(x3 over 2m)`. A changed note starts a new Event, so the newest message is what
//! users see.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Error};
use serde_json::json;
use tokio::sync::Mutex;
use tracing::warn;

/// How long an event stays open for aggregation after its last occurrence.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// Upstream's limit on `note`; longer notes are cut rather than rejected.
const NOTE_LIMIT: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// One occurrence to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub type_: EventType,
    /// Short, CamelCase: `Scheduled`, `FailedScheduling`.
    pub reason: String,
    /// What was done or tried: `Binding`, `Scheduling`.
    pub action: String,
    /// The human-readable message (`kubectl describe`'s Message column).
    pub note: String,
    /// The object the event is about. Cluster-scoped objects get their events in `default`.
    pub regarding: ObjectReference,
    pub related: Option<ObjectReference>,
}

impl NewEvent {
    pub fn normal(reason: &str, action: &str, note: impl Into<String>, regarding: ObjectReference) -> Self {
        NewEvent {
            type_: EventType::Normal,
            reason: reason.into(),
            action: action.into(),
            note: note.into(),
            regarding,
            related: None,
        }
    }

    pub fn warning(reason: &str, action: &str, note: impl Into<String>, regarding: ObjectReference) -> Self {
        NewEvent { type_: EventType::Warning, ..Self::normal(reason, action, note, regarding) }
    }

    pub fn with_related(mut self, related: ObjectReference) -> Self {
        self.related = Some(related);
        self
    }
}

/// The parts of a reference that identify the object (not its resourceVersion, which
/// changes with every write and would defeat aggregation).
type RefKey = (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);

fn ref_key(r: &ObjectReference) -> RefKey {
    (r.api_version.clone(), r.kind.clone(), r.namespace.clone(), r.name.clone(), r.uid.clone(), r.field_path.clone())
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EventKey {
    type_: EventType,
    reason: String,
    action: String,
    note: String,
    regarding: RefKey,
    related: Option<RefKey>,
}

#[derive(Debug, Clone)]
struct OpenEvent {
    namespace: String,
    name: String,
    count: i32,
    last: Timestamp,
}

struct Inner {
    client: Client,
    controller: String,
    instance: String,
    /// Held across the API call, so occurrences of one event are written in order and a
    /// repeat never races the creation of its first occurrence.
    open: Mutex<HashMap<EventKey, OpenEvent>>,
}

/// Records events for a controller (`reportingController`, e.g. `default-scheduler`) and
/// instance (`reportingInstance`). Cheap to clone.
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Inner>,
}

fn truncate(note: &str) -> String {
    if note.len() <= NOTE_LIMIT {
        return note.to_string();
    }
    let mut end = NOTE_LIMIT;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

impl EventRecorder {
    pub fn new(client: Client, controller: &str, instance: &str) -> Self {
        EventRecorder {
            inner: Arc::new(Inner {
                client,
                controller: controller.to_string(),
                instance: instance.to_string(),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Records without waiting; a failure is logged (events are best effort upstream too).
    pub fn record(&self, event: NewEvent) {
        let this = self.clone();
        tokio::spawn(async move {
            let reason = event.reason.clone();
            if let Err(e) = this.publish(event).await {
                warn!(%reason, error = %e, "recording an event failed");
            }
        });
    }

    /// Creates the event, or adds an occurrence to its open series.
    pub async fn publish(&self, event: NewEvent) -> Result<(), Error> {
        let note = truncate(&event.note);
        let key = EventKey {
            type_: event.type_,
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: note.clone(),
            regarding: ref_key(&event.regarding),
            related: event.related.as_ref().map(ref_key),
        };
        let now = Timestamp::now();
        let mut open = self.inner.open.lock().await;
        open.retain(|_, e| e.last + SERIES_WINDOW > now);
        if let Some(existing) = open.get_mut(&key) {
            let count = existing.count + 1;
            let api: Api<Event> = Api::namespaced(self.inner.client.clone(), &existing.namespace);
            let patch = json!({"series": {"count": count, "lastObservedTime": MicroTime(now)}});
            match api.patch(&existing.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {
                    existing.count = count;
                    existing.last = now;
                    return Ok(());
                }
                // Deleted meanwhile (TTL, namespace cleanup): start afresh.
                Err(Error::Api(s)) if s.code == 404 => {
                    open.remove(&key);
                }
                Err(e) => return Err(e),
            }
        }
        let namespace = event.regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let base =
            event.regarding.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| self.inner.controller.clone());
        let name = format!("{base}.{:x}", now.as_nanosecond());
        let obj = Event {
            metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(namespace.clone()), ..Default::default() },
            event_time: Some(MicroTime(now)),
            type_: Some(event.type_.as_str().to_string()),
            reason: Some(event.reason),
            action: Some(event.action),
            note: Some(note),
            regarding: Some(event.regarding),
            related: event.related,
            reporting_controller: Some(self.inner.controller.clone()),
            reporting_instance: Some(self.inner.instance.clone()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.inner.client.clone(), &namespace);
        api.create(&PostParams::default(), &obj).await?;
        open.insert(key, OpenEvent { namespace, name, count: 1, last: now });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_the_limit_on_a_character_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long);
        assert!(cut.len() <= NOTE_LIMIT && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn keys_ignore_resource_versions() {
        let a = ObjectReference { name: Some("p".into()), resource_version: Some("1".into()), ..Default::default() };
        let b = ObjectReference { resource_version: Some("2".into()), ..a.clone() };
        assert_eq!(ref_key(&a), ref_key(&b));
    }
}
