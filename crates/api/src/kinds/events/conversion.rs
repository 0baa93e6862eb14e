//! events.k8s.io/v1 ⇄ core/v1 Event. The two describe the same object with
//! different field names: `regarding`/`involvedObject`, `note`/`message`,
//! `reportingController`/`reportingComponent`, and the `deprecated*` fields that map to
//! core's `source`, `firstTimestamp`, `lastTimestamp` and `count`.

use serde_json::{Map, Value, json};

/// (events.k8s.io name, core name) of every field the two versions share.
const FIELDS: &[(&str, &str)] = &[
    ("metadata", "metadata"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("note", "message"),
    ("reason", "reason"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, api_version: &str, to_core: bool) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    for (events_name, core_name) in FIELDS {
        let (from, to) = if to_core { (events_name, core_name) } else { (core_name, events_name) };
        if let Some(v) = obj.get(*from).filter(|v| !v.is_null()) {
            out.insert(to.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event as the core/v1 Event it is stored as.
pub fn events_to_core(obj: &Value) -> Value {
    let mut core = rename(obj, "v1", true);
    // involvedObject is required in core; an event about nothing refers to `{}`.
    if core.get("involvedObject").is_none() {
        core["involvedObject"] = json!({});
    }
    core
}

/// A stored core/v1 Event as an events.k8s.io/v1 Event.
pub fn core_to_events(obj: &Value) -> Value {
    rename(obj, "events.k8s.io/v1", false)
}

/// The core form of an event in either version.
pub fn as_core(obj: &Value) -> Value {
    if obj.get("apiVersion").and_then(Value::as_str) == Some("v1") { obj.clone() } else { events_to_core(obj) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events_event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "k3rs.io/scheduler", "reportingInstance": "server-1",
            "action": "Binding", "reason": "Scheduled", "type": "Normal",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1"},
            "related": {"kind": "Node", "name": "n1"},
            "note": "Successfully assigned default/web to n1",
            "series": {"count": 2, "lastObservedTime": "2024-01-01T00:01:00.000000Z"},
            "deprecatedSource": {"component": "scheduler"},
            "deprecatedFirstTimestamp": "2024-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2024-01-01T00:01:00Z",
            "deprecatedCount": 2
        })
    }

    #[test]
    fn converts_both_ways() {
        let core = events_to_core(&events_event());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Successfully assigned default/web to n1");
        assert_eq!(core["reportingComponent"], "k3rs.io/scheduler");
        assert_eq!(core["source"], json!({"component": "scheduler"}));
        assert_eq!(core["firstTimestamp"], "2024-01-01T00:00:00Z");
        assert_eq!(core["lastTimestamp"], "2024-01-01T00:01:00Z");
        assert_eq!(core["count"], 2);
        assert!(core.get("regarding").is_none() && core.get("note").is_none());
        assert_eq!(core_to_events(&core), events_event());
        assert_eq!(as_core(&core), core);
    }

    #[test]
    fn involved_object_is_always_present_in_core() {
        let core = events_to_core(&json!({"metadata": {"name": "x"}}));
        assert_eq!(core["involvedObject"], json!({}));
    }
}
