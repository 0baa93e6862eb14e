//! Event recording for the workload controllers: a thin layer over
//! `k3rs_control_runtime::EventRecorder` (events.k8s.io Events, aggregated into series
//! like upstream's recorder) that takes the object itself, as upstream's
//! `recorder.Eventf(obj, type, reason, message)` does. The `action` of each event is its
//! reason, since the legacy events these controllers emit upstream have none.

use k3rs_control_runtime::events::{EventRecorder as Recorder, EventType, NewEvent};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::{Client, Resource};

/// Makes recorders for one manager (one reporting instance).
#[derive(Clone)]
pub struct EventSink {
    client: Client,
    instance: String,
}

impl EventSink {
    pub fn new(client: Client, instance: &str) -> EventSink {
        EventSink { client, instance: instance.to_string() }
    }

    /// A recorder whose events name `component` (`deployment-controller`, ...) as source.
    pub fn recorder(&self, component: &'static str) -> EventRecorder {
        EventRecorder { inner: Recorder::new(self.client.clone(), component, &self.instance) }
    }
}

/// This machine's host name, a reporting instance for controllers that run without a
/// manager identity.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "k3rs".to_string())
}

/// A reference to `obj` for an event's `regarding`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// Records events of one controller; cheap to clone, never blocks.
#[derive(Clone)]
pub struct EventRecorder {
    inner: Recorder,
}

impl EventRecorder {
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: impl Into<String>) {
        self.record(object_reference(obj), EventType::Normal, reason, message.into());
    }

    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, message: impl Into<String>) {
        self.record(object_reference(obj), EventType::Warning, reason, message.into());
    }

    /// A Normal event about the object `regarding` refers to.
    pub fn normal_ref(&self, regarding: &ObjectReference, reason: &str, message: impl Into<String>) {
        self.record(regarding.clone(), EventType::Normal, reason, message.into());
    }

    /// A Warning event about the object `regarding` refers to.
    pub fn warning_ref(&self, regarding: &ObjectReference, reason: &str, message: impl Into<String>) {
        self.record(regarding.clone(), EventType::Warning, reason, message.into());
    }

    pub fn record(&self, regarding: ObjectReference, type_: EventType, reason: &str, message: String) {
        let event = match type_ {
            EventType::Normal => NewEvent::normal(reason, reason, message, regarding),
            EventType::Warning => NewEvent::warning(reason, reason, message, regarding),
        };
        self.inner.record(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn references_name_the_kind_and_object() {
        let d = Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = object_reference(&d);
        assert_eq!((r.kind.as_deref(), r.api_version.as_deref()), (Some("Deployment"), Some("apps/v1")));
        assert_eq!((r.name.as_deref(), r.uid.as_deref()), (Some("web"), Some("u1")));
    }
}
