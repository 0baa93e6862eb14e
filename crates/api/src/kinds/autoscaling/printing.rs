//! The HorizontalPodAutoscaler table: reference, targets (`cpu: 40%/80%`), bounds,
//! replicas, age.

use serde_json::{Value, json};

use crate::strategy::Context;
use crate::table::{self, Column};

pub fn columns() -> Vec<Column> {
    vec![
        Column::new(
            "Reference",
            "string",
            "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
        ),
        Column::new(
            "Targets",
            "string",
            "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).",
        ),
        Column::new(
            "MinPods",
            "string",
            "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
        ),
        Column::new(
            "MaxPods",
            "string",
            "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
        ),
        Column::new(
            "Replicas",
            "string",
            "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
        ),
        Column::age(),
    ]
}

/// The row of an autoscaling/v2 object.
pub fn row_v2(obj: &Value, ctx: &Context) -> Vec<Value> {
    let kind = obj.pointer("/spec/scaleTargetRef/kind").and_then(Value::as_str).unwrap_or_default();
    let name = obj.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str).unwrap_or_default();
    let min = match obj.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(m) => m.to_string(),
        None => "<unset>".to_string(),
    };
    vec![
        json!(format!("{kind}/{name}")),
        json!(format_metrics(obj)),
        json!(min),
        json!(obj.pointer("/spec/maxReplicas").and_then(Value::as_i64).unwrap_or(0)),
        json!(obj.pointer("/status/currentReplicas").and_then(Value::as_i64).unwrap_or(0)),
        json!(table::age(obj, ctx)),
    ]
}

/// The Targets cell: `cpu: 40%/80%`, `<unknown>` for metrics not yet observed, at
/// most two entries and a count of the rest.
fn format_metrics(obj: &Value) -> String {
    let specs = obj.pointer("/spec/metrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    let statuses = obj.pointer("/status/currentMetrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let q = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("0").to_string();
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = |src: &str| statuses.get(i).and_then(|s| s.get(src)).filter(|v| !v.is_null());
        let unknown = || "<unknown>".to_string();
        let entry = match spec.get("type").and_then(Value::as_str).unwrap_or_default() {
            "External" | "Object" => {
                let src = if spec["type"] == "External" { "external" } else { "object" };
                let target = &spec[src]["target"];
                if target.get("averageValue").is_some_and(|v| !v.is_null()) {
                    let current = status(src)
                        .and_then(|s| s.pointer("/current/averageValue"))
                        .filter(|v| !v.is_null())
                        .map_or_else(unknown, |v| q(Some(v)));
                    format!("{current}/{} (avg)", q(target.get("averageValue")))
                } else {
                    let current = status(src).map_or_else(unknown, |s| q(s.pointer("/current/value")));
                    format!("{current}/{}", q(target.get("value")))
                }
            }
            "Pods" => {
                let current = status("pods").map_or_else(unknown, |s| q(s.pointer("/current/averageValue")));
                format!("{current}/{}", q(spec.pointer("/pods/target/averageValue")))
            }
            "Resource" | "ContainerResource" => {
                let src = if spec["type"] == "Resource" { "resource" } else { "containerResource" };
                let name = spec[src]["name"].as_str().unwrap_or_default();
                let target = &spec[src]["target"];
                if target.get("averageValue").is_some_and(|v| !v.is_null()) {
                    let current = status(src).map_or_else(unknown, |s| q(s.pointer("/current/averageValue")));
                    format!("{name}: {current}/{}", q(target.get("averageValue")))
                } else {
                    let current = status(src)
                        .and_then(|s| s.pointer("/current/averageUtilization"))
                        .and_then(Value::as_i64)
                        .map_or_else(unknown, |u| format!("{u}%"));
                    let goal = target
                        .get("averageUtilization")
                        .and_then(Value::as_i64)
                        .map_or("<auto>".to_string(), |u| format!("{u}%"));
                    format!("{name}: {current}/{goal}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    const MAX: usize = 2;
    if list.len() > MAX {
        let more = list.len() - MAX;
        format!("{} + {more} more...", list[..MAX].join(", "))
    } else {
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::autoscaling::hpa::default_v2;

    fn hpa() -> Value {
        let mut h = json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10}
        });
        default_v2(&mut h);
        h
    }

    #[test]
    fn targets_column() {
        let ctx = Context { now: "2024-01-01T00:01:00Z".parse().unwrap() };
        let mut h = hpa();
        assert_eq!(
            row_v2(&h, &ctx),
            vec![json!("Deployment/web"), json!("cpu: <unknown>/80%"), json!("1"), json!(10), json!(0), json!("60s")]
        );
        h["status"] = json!({"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}]});
        h["spec"]["metrics"].as_array_mut().unwrap().extend([
            json!({"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}),
            json!({"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}),
        ]);
        assert_eq!(row_v2(&h, &ctx)[1], json!("cpu: 42%/80%, <unknown>/10 + 1 more..."));
    }
}
