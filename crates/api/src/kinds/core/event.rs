//! Core (v1) events: upstream's legacy validation (namespace agreement; reporting
//! fields for new-style events), the event table (no leading Name column; the name
//! is the last, wide, column) and the event field selectors.

use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

use crate::kinds::common::typed::str_at;
use crate::strategy::{Context, Strategy, decode, normalize_as};
use crate::table::Column;
use crate::validation::names::{dns1123_subdomain, qualified_name};
use crate::validation::{FieldError, FieldPath};

pub struct EventStrategy;

const REPORTING_INSTANCE_LIMIT: usize = 128;
const ACTION_LIMIT: usize = 128;
const REASON_LIMIT: usize = 128;
const NOTE_LIMIT: usize = 1024;

fn validate(ev: &Event) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = ev.metadata.namespace.as_deref().unwrap_or("");
    let involved_ns = ev.involved_object.namespace.as_deref().unwrap_or("");
    let ns_path = FieldPath::root("involvedObject").child("namespace");
    let mismatch = || FieldError::invalid(&ns_path, involved_ns, "does not match event.namespace");
    if ev.event_time.is_none() {
        let ok = if involved_ns.is_empty() { ns.is_empty() || ns == "default" } else { ns == involved_ns };
        if !ok {
            errs.push(mismatch());
        }
    } else {
        if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let controller = ev.reporting_component.as_deref().unwrap_or("");
        if controller.is_empty() {
            errs.push(FieldError::required("reportingComponent", ""));
        }
        errs.extend(
            qualified_name(controller).into_iter().map(|m| FieldError::invalid("reportingComponent", controller, m)),
        );
        let limited = [
            ("reportingInstance", ev.reporting_instance.as_deref(), REPORTING_INSTANCE_LIMIT, true),
            ("action", ev.action.as_deref(), ACTION_LIMIT, true),
            ("reason", ev.reason.as_deref(), REASON_LIMIT, true),
            ("message", ev.message.as_deref(), NOTE_LIMIT, false),
        ];
        for (field, value, limit, required) in limited {
            let value = value.unwrap_or("");
            if required && value.is_empty() {
                errs.push(FieldError::required(field, ""));
            }
            if value.len() > limit {
                errs.push(FieldError::invalid(field, "", format!("can have at most {limit} characters")));
            }
        }
    }
    errs.extend(dns1123_subdomain(ns).into_iter().map(|m| FieldError::invalid("namespace", ns, m)));
    errs
}

impl Strategy for EventStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Event>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<Event>(obj) {
            Ok(ev) => validate(&ev),
            Err(e) => vec![FieldError::invalid("involvedObject", Value::Null, e)],
        }
    }

    fn name_column(&self) -> bool {
        false
    }

    fn columns(&self) -> Vec<Column> {
        crate::kinds::events::core_event_columns()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        crate::kinds::events::core_event_row(obj, ctx)
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        let pointer = match label {
            "involvedObject.kind" => "/involvedObject/kind",
            "involvedObject.namespace" => "/involvedObject/namespace",
            "involvedObject.name" => "/involvedObject/name",
            "involvedObject.uid" => "/involvedObject/uid",
            "involvedObject.apiVersion" => "/involvedObject/apiVersion",
            "involvedObject.resourceVersion" => "/involvedObject/resourceVersion",
            "involvedObject.fieldPath" => "/involvedObject/fieldPath",
            "reason" => "/reason",
            "reportingComponent" => "/reportingComponent",
            "source" => "/source/component",
            "type" => "/type",
            _ => return None,
        };
        Some(str_at(obj, pointer).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Context {
        Context { now: "2024-01-01T00:10:00Z".parse().unwrap() }
    }

    fn event() -> Value {
        json!({
            "metadata": {"name": "web.17a", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "message": "Pulled image \"nginx\" \n", "type": "Normal",
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:05:00Z", "count": 3
        })
    }

    #[test]
    fn row_and_columns() {
        assert!(!EventStrategy.name_column());
        let cols = EventStrategy.columns();
        assert_eq!(cols.len(), 10);
        assert_eq!((cols[9].name, cols[9].priority), ("Name", 1));
        assert_eq!(
            EventStrategy.row(&event(), &ctx()),
            vec![
                json!("5m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{web}"),
                json!("kubelet, n1"),
                json!("Pulled image \"nginx\""),
                json!("10m"),
                json!(3),
                json!("web.17a"),
            ]
        );
        let new_style = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Node"},
            "eventTime": "2024-01-01T00:09:00.000000Z", "reportingComponent": "k3rs-scheduler", "reportingInstance": "s1"});
        let cells = EventStrategy.row(&new_style, &ctx());
        assert_eq!(
            (&cells[0], &cells[3], &cells[5], &cells[8]),
            (&json!("60s"), &json!("node"), &json!("k3rs-scheduler, s1"), &json!(1))
        );
    }

    #[test]
    fn validation() {
        assert!(EventStrategy.validate_create(&event()).is_empty());
        let mut other_ns = event();
        other_ns["involvedObject"]["namespace"] = json!("kube-system");
        assert_eq!(
            EventStrategy.validate_create(&other_ns)[0].to_string(),
            "involvedObject.namespace: Invalid value: \"kube-system\": does not match event.namespace"
        );
        let new_style = json!({"metadata": {"name": "e", "namespace": "default"}, "involvedObject": {"kind": "Pod", "namespace": "default"},
            "eventTime": "2024-01-01T00:09:00.000000Z"});
        let errs: Vec<String> = EventStrategy.validate_create(&new_style).iter().map(|e| e.to_string()).collect();
        assert!(errs.contains(&"reportingComponent: Required value".to_string()), "{errs:?}");
        assert!(errs.contains(&"action: Required value".to_string()));
        assert!(errs.contains(&"reason: Required value".to_string()));
    }

    #[test]
    fn field_labels() {
        let e = event();
        assert_eq!(EventStrategy.field_label(&e, "involvedObject.uid").as_deref(), Some("u1"));
        assert_eq!(EventStrategy.field_label(&e, "source").as_deref(), Some("kubelet"));
        assert_eq!(EventStrategy.field_label(&e, "type").as_deref(), Some("Normal"));
        assert_eq!(EventStrategy.field_label(&e, "reportingComponent").as_deref(), Some(""));
        assert_eq!(EventStrategy.field_label(&e, "message"), None);
    }
}
