//! The event printer (`kubectl get events`), shared by core and events.k8s.io events:
//! it reads the core form.

use serde_json::{Value, json};

use crate::strategy::Context;
use crate::table::{self, Column};

/// Event columns: the name comes last and only with `-o wide`.
pub fn core_event_columns() -> Vec<Column> {
    vec![
        Column::new("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
        Column::new("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        Column::new(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        Column::new("Object", "string", "The object that this event is about."),
        Column::wide(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go-field access statement, such as desiredState.manifest.containers[2].",
        ),
        Column::wide(
            "Source",
            "string",
            "The component reporting this event. Should be a short machine understandable string.",
        ),
        Column::new("Message", "string", "A human-readable description of the status of this operation."),
        Column::wide(
            "First Seen",
            "string",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        ),
        Column::wide("Count", "string", "The number of times this event has occurred."),
        Column { name: "Name", ty: "string", format: "name", description: Column::name().description, priority: 1 },
    ]
}

/// The cells of a core/v1 Event.
pub fn core_event_row(obj: &Value, ctx: &Context) -> Vec<Value> {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let since =
        |p: &str| obj.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(|s| table::since(Some(s), ctx));
    let first =
        since("/firstTimestamp").unwrap_or_else(|| table::since(obj.get("eventTime").and_then(Value::as_str), ctx));
    let mut last = since("/lastTimestamp").unwrap_or_else(|| first.clone());
    let mut count = obj.get("count").and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| !s.is_null()) {
        last = table::since(series.get("lastObservedTime").and_then(Value::as_str), ctx);
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // Events of the new API do not count singletons.
        count = 1;
    }
    let kind = text("/involvedObject/kind").to_lowercase();
    let name = text("/involvedObject/name");
    let target = if name.is_empty() { kind } else { format!("{kind}/{name}") };
    let first_non_empty = |a: &'static str, b: &'static str| {
        let a = text(a);
        if a.is_empty() { text(b) } else { a }
    };
    let component = first_non_empty("/source/component", "/reportingComponent");
    let host = first_non_empty("/source/host", "/reportingInstance");
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    vec![
        json!(last),
        json!(text("/type")),
        json!(text("/reason")),
        json!(target),
        json!(text("/involvedObject/fieldPath")),
        json!(source),
        json!(text("/message").trim()),
        json!(first),
        json!(count),
        json!(text("/metadata/name")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let ctx = Context { now: "2024-01-01T00:10:00Z".parse().unwrap() };
        let legacy = json!({
            "metadata": {"name": "web.1"}, "type": "Warning", "reason": "BackOff", "message": " Back-off restarting \n",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
            "source": {"component": "kubelet", "host": "n1"},
            "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:09:00Z", "count": 5
        });
        assert_eq!(
            core_event_row(&legacy, &ctx),
            vec![
                json!("60s"),
                json!("Warning"),
                json!("BackOff"),
                json!("pod/web"),
                json!("spec.containers{app}"),
                json!("kubelet, n1"),
                json!("Back-off restarting"),
                json!("10m"),
                json!(5),
                json!("web.1")
            ]
        );
        let modern = json!({
            "metadata": {"name": "web.2"}, "type": "Normal", "reason": "Scheduled", "involvedObject": {"kind": "Pod", "name": "web"},
            "eventTime": "2024-01-01T00:08:00.000000Z", "reportingComponent": "default-scheduler"
        });
        let row = core_event_row(&modern, &ctx);
        assert_eq!(
            (row[0].clone(), row[5].clone(), row[7].clone(), row[8].clone()),
            (json!("2m"), json!("default-scheduler"), json!("2m"), json!(1))
        );
        assert_eq!(core_event_columns().len(), row.len());
    }
}
