//! The events.k8s.io/v1 Event strategy: stored in core/v1 form; validation is the
//! strict one upstream applies to this API (on the core form, with upstream's field
//! names), printing and field selectors are those of core events.

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use serde_json::Value;

use super::conversion::{as_core, core_to_events};
use super::printing::{core_event_columns, core_event_row};
use crate::kinds::support::checks::{immutable, qualified_name};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::Column;
use crate::validation::{FieldError, FieldPath, names};

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

pub struct EventStrategy;

impl Strategy for EventStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Event>(obj)
    }

    fn to_storage(&self, obj: Value, _from_version: &str) -> Result<Value, String> {
        let mut core = as_core(&obj);
        normalize_as::<CoreEvent>(&mut core)?;
        Ok(core)
    }

    fn from_storage(&self, obj: Value, _to_version: &str) -> Result<Value, String> {
        let mut event = core_to_events(&obj);
        normalize_as::<Event>(&mut event)?;
        Ok(event)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(&as_core(obj))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let (new, old) = (as_core(new), as_core(old));
        let mut errs = legacy_rules(&new);
        if new.get("series") != old.get("series") {
            errs.extend(series_rules(&new));
        }
        // Upstream reports these under their core names, and reason twice.
        for (field, name) in [
            ("involvedObject", "involvedObject"),
            ("reason", "reason"),
            ("message", "message"),
            ("source", "source"),
            ("firstTimestamp", "firstTimestamp"),
            ("lastTimestamp", "lastTimestamp"),
            ("count", "count"),
            ("reason", "reason"),
            ("type", "type"),
            ("eventTime", "eventTime"),
            ("action", "action"),
            ("related", "related"),
            ("reportingComponent", "reportingController"),
            ("reportingInstance", "reportingInstance"),
        ] {
            errs.extend(immutable(new.get(field), old.get(field), &FieldPath::root(name)));
        }
        errs
    }

    fn name_column(&self) -> bool {
        false
    }

    fn columns(&self) -> Vec<Column> {
        core_event_columns()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        core_event_row(&as_core(obj), ctx)
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        let core = as_core(obj);
        let text = |p: &str| core.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        let value = match label {
            "reason" => text("/reason"),
            "type" => text("/type"),
            "reportingController" => text("/reportingComponent"),
            _ => {
                let field = label.strip_prefix("regarding.")?;
                if !["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"].contains(&field)
                {
                    return None;
                }
                text(&format!("/involvedObject/{field}"))
            }
        };
        Some(value)
    }
}

fn validate(core: &Value) -> Vec<FieldError> {
    let mut errs = legacy_rules(core);
    errs.extend(series_rules(core));
    let has = |k: &str| core.get(k).is_some_and(|v| !v.is_null());
    if !has("eventTime") {
        errs.push(FieldError::required("eventTime", ""));
    }
    let ty = core.get("type").and_then(Value::as_str).unwrap_or_default();
    if ty != "Normal" && ty != "Warning" {
        errs.push(FieldError::invalid("type", "", format!("has invalid value: {ty}")));
    }
    for (field, name) in [("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp")]
    {
        if has(field) {
            errs.push(FieldError::invalid(name, "", "needs to be unset"));
        }
    }
    if core.get("count").and_then(Value::as_i64).unwrap_or(0) != 0 {
        errs.push(FieldError::invalid("deprecatedCount", "", "needs to be unset"));
    }
    let source_set = ["component", "host"]
        .iter()
        .any(|k| core.pointer(&format!("/source/{k}")).and_then(Value::as_str).is_some_and(|s| !s.is_empty()));
    if source_set {
        errs.push(FieldError::invalid("deprecatedSource", "", "needs to be unset"));
    }
    errs
}

fn series_rules(core: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(series) = core.get("series").filter(|v| !v.is_null()) {
        if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
            errs.push(FieldError::invalid("series.count", "", "should be at least 2"));
        }
        if series.get("lastObservedTime").is_none_or(Value::is_null) {
            errs.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    errs
}

/// The rules every event passes whatever API wrote it (`legacyValidateEvent` for an
/// events.k8s.io request).
fn legacy_rules(core: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let text = |p: &str| core.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let namespace = text("/metadata/namespace");
    let involved_ns = text("/involvedObject/namespace");
    let mismatch = || FieldError::invalid("involvedObject.namespace", involved_ns, "does not match event.namespace");
    if core.get("eventTime").is_none_or(Value::is_null) {
        // Old-style events: the namespaces must agree (or the event lives in "default").
        if involved_ns.is_empty() {
            if !namespace.is_empty() && namespace != "default" {
                errs.push(mismatch());
            }
        } else if namespace != involved_ns {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            errs.push(mismatch());
        }
        let controller = text("/reportingComponent");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingController", ""));
        }
        errs.extend(qualified_name(controller, &FieldPath::root("reportingController")));
        let instance = text("/reportingInstance");
        if instance.is_empty() {
            errs.push(FieldError::required("reportingInstance", ""));
        }
        if instance.len() > REPORTING_INSTANCE_LIMIT {
            errs.push(FieldError::invalid(
                "reportingInstance",
                "",
                format!("can have at most {REPORTING_INSTANCE_LIMIT} characters"),
            ));
        }
        for (field, limit) in [("action", ACTION_LIMIT), ("reason", REASON_LIMIT)] {
            let value = text(&format!("/{field}"));
            if value.is_empty() {
                errs.push(FieldError::required(field, ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(field, "", format!("can have at most {limit} characters")));
            }
        }
        if text("/message").len() > NOTE_LIMIT {
            errs.push(FieldError::invalid("message", "", format!("can have at most {NOTE_LIMIT} characters")));
        }
    }
    for msg in names::dns1123_subdomain(namespace) {
        errs.push(FieldError::invalid("namespace", namespace, msg));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.17a", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reportingController": "k3rs.io/scheduler", "reportingInstance": "server-1",
            "action": "Binding", "reason": "Scheduled", "type": "Normal",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
            "note": "assigned"
        })
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn stored_as_core_events() {
        let defs = crate::kinds::builtin();
        let ev = defs.iter().find(|d| d.group == "events.k8s.io").unwrap();
        assert!(!ev.stored_as_itself(), "events.k8s.io events must be converted to core events for storage");
        assert_eq!((ev.storage_group.as_str(), ev.storage_resource.as_str()), ("", "events"));
        let core = defs.iter().find(|d| d.group.is_empty() && d.plural == "events").unwrap();
        assert!(core.stored_as_itself());
    }

    #[test]
    fn storage_round_trip() {
        let s = EventStrategy;
        let mut e = event();
        s.normalize(&mut e).unwrap();
        let stored = s.to_storage(e.clone(), "v1").unwrap();
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["involvedObject"]["name"], "web");
        assert_eq!(stored["reportingComponent"], "k3rs.io/scheduler");
        let served = s.from_storage(stored, "v1").unwrap();
        assert_eq!(served, e);
    }

    #[test]
    fn strict_validation() {
        let s = EventStrategy;
        assert!(s.validate_create(&event()).is_empty(), "{:?}", s.validate_create(&event()));
        let mut e = event();
        e.as_object_mut().unwrap().remove("eventTime");
        e["type"] = json!("Info");
        e["deprecatedCount"] = json!(3);
        e["series"] = json!({"count": 1});
        assert_eq!(
            messages(s.validate_create(&e)),
            vec![
                "series.count: Invalid value: \"\": should be at least 2",
                "series.lastObservedTime: Required value",
                "eventTime: Required value",
                "type: Invalid value: \"\": has invalid value: Info",
                "deprecatedCount: Invalid value: \"\": needs to be unset",
            ]
        );
        let mut e = event();
        e.as_object_mut().unwrap().remove("reportingController");
        e["regarding"]["namespace"] = json!("other");
        e.as_object_mut().unwrap().remove("action");
        assert_eq!(
            messages(s.validate_create(&e)),
            vec![
                "reportingController: Required value",
                "reportingController: Invalid value: \"\": name part must be non-empty",
                "action: Required value"
            ]
        );
    }

    #[test]
    fn updates_cannot_rewrite_history() {
        let old = event();
        let mut new = event();
        new["note"] = json!("changed");
        assert_eq!(
            messages(EventStrategy.validate_update(&new, &old)),
            vec!["message: Invalid value: \"changed\": field is immutable"]
        );
    }

    #[test]
    fn field_selectors_and_printing() {
        let s = EventStrategy;
        let e = event();
        assert_eq!(s.field_label(&e, "regarding.name").as_deref(), Some("web"));
        assert_eq!(s.field_label(&e, "reportingController").as_deref(), Some("k3rs.io/scheduler"));
        assert_eq!(s.field_label(&e, "involvedObject.name"), None);
        let core = s.to_storage(e.clone(), "v1").unwrap();
        assert_eq!(s.field_label(&core, "regarding.kind").as_deref(), Some("Pod"));
        let ctx = Context { now: "2024-01-01T00:00:30Z".parse().unwrap() };
        let row = s.row(&e, &ctx);
        assert_eq!(row[..4], [json!("30s"), json!("Normal"), json!("Scheduled"), json!("pod/web")]);
        assert!(!s.name_column());
    }
}
