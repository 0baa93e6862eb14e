//! Conversion between autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers.
//!
//! v1 has one metric (`targetCPUUtilizationPercentage`); everything else a v2 object
//! holds travels in annotations on the v1 form, as upstream does, so a v1 client that
//! reads and writes back an object does not lose it:
//! - `autoscaling.alpha.kubernetes.io/metrics`: the other spec metrics,
//! - `autoscaling.alpha.kubernetes.io/current-metrics`: `status.currentMetrics`,
//! - `autoscaling.alpha.kubernetes.io/conditions`: `status.conditions`,
//! - `autoscaling.alpha.kubernetes.io/behavior`: `spec.behavior`.
//!
//! The metric annotations use the older metric shape (`targetAverageUtilization`,
//! `metricName`, ...), which is converted field by field.

use serde_json::{Map, Value, json};

use super::hpa::default_cpu_metric;

pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

const ROUND_TRIP_ANNOTATIONS: [&str; 4] =
    [METRIC_SPECS_ANNOTATION, METRIC_STATUSES_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION];

fn some(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// Inserts `value` under `key` unless it is `None`.
fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value.filter(|v| !v.is_null()) {
        map.insert(key.to_string(), v);
    }
}

/// Is this v2 metric the one v1 carries as `targetCPUUtilizationPercentage`?
fn is_cpu_utilization(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
        && some(metric.pointer("/resource/target/averageUtilization")).is_some()
}

/// autoscaling/v1 → autoscaling/v2. Errors name an annotation that does not parse.
pub fn v1_to_v2(v1: &Value) -> Result<Value, String> {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v2"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    let mut metadata = v1.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut annotations = metadata.get("annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut taken = |key: &str| -> Result<Option<Value>, String> {
        match annotations.remove(key) {
            None => Ok(None),
            Some(v) => serde_json::from_str(v.as_str().unwrap_or_default())
                .map(Some)
                .map_err(|e| format!("annotation {key}: {e}")),
        }
    };
    let other_metrics = taken(METRIC_SPECS_ANNOTATION)?;
    let current_metrics = taken(METRIC_STATUSES_ANNOTATION)?;
    let conditions = taken(CONDITIONS_ANNOTATION)?;
    let behavior = taken(BEHAVIOR_ANNOTATION)?;
    if let Some(m) = metadata.as_object_mut() {
        if annotations.is_empty() {
            m.remove("annotations");
        } else {
            m.insert("annotations".into(), Value::Object(annotations));
        }
    }
    out.insert("metadata".into(), metadata);

    let spec_in = v1.get("spec").unwrap_or(&Value::Null);
    let mut spec = Map::new();
    put(&mut spec, "scaleTargetRef", spec_in.get("scaleTargetRef").cloned());
    put(&mut spec, "minReplicas", spec_in.get("minReplicas").cloned());
    put(&mut spec, "maxReplicas", spec_in.get("maxReplicas").cloned());
    let mut metrics: Vec<Value> = other_metrics
        .as_ref()
        .and_then(Value::as_array)
        .map(|ms| ms.iter().map(metric_spec_v1_to_v2).collect())
        .unwrap_or_default();
    // The explicit CPU target comes after the annotation's metrics.
    if let Some(cpu) = some(spec_in.get("targetCPUUtilizationPercentage")) {
        metrics.push(json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}));
    }
    // v1 always meant "80% CPU" when nothing was set.
    if metrics.is_empty() {
        metrics.push(default_cpu_metric());
    }
    spec.insert("metrics".into(), Value::Array(metrics));
    if let Some(b) = behavior {
        spec.insert("behavior".into(), behavior_from_annotation(&b));
    }
    out.insert("spec".into(), Value::Object(spec));

    if let Some(status_in) = some(v1.get("status")) {
        let mut status = Map::new();
        for key in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
            put(&mut status, key, status_in.get(key).cloned());
        }
        let current = match current_metrics.as_ref().and_then(Value::as_array) {
            // The annotation holds every observed metric, CPU included.
            Some(ms) => Some(ms.iter().map(metric_status_v1_to_v2).collect::<Vec<_>>()),
            None => some(status_in.get("currentCPUUtilizationPercentage")).map(|cpu| {
                vec![json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}})]
            }),
        };
        put(&mut status, "currentMetrics", current.map(Value::Array));
        put(&mut status, "conditions", conditions);
        out.insert("status".into(), Value::Object(status));
    }
    Ok(Value::Object(out))
}

/// autoscaling/v2 → autoscaling/v1.
pub fn v2_to_v1(v2: &Value) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v1"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    let mut metadata = v2.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut annotations = metadata.get("annotations").and_then(Value::as_object).cloned().unwrap_or_default();
    // Only annotations this conversion produces may carry these keys.
    for key in ROUND_TRIP_ANNOTATIONS {
        annotations.remove(key);
    }
    let spec_in = v2.get("spec").unwrap_or(&Value::Null);
    let metrics = spec_in.get("metrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut spec = Map::new();
    put(&mut spec, "scaleTargetRef", spec_in.get("scaleTargetRef").cloned());
    put(&mut spec, "minReplicas", spec_in.get("minReplicas").cloned());
    put(&mut spec, "maxReplicas", spec_in.get("maxReplicas").cloned());
    if let Some(cpu) = metrics.iter().find(|m| is_cpu_utilization(m)) {
        put(&mut spec, "targetCPUUtilizationPercentage", cpu.pointer("/resource/target/averageUtilization").cloned());
    }
    let others: Vec<Value> = metrics.iter().filter(|m| !is_cpu_utilization(m)).map(metric_spec_v2_to_v1).collect();
    if !others.is_empty() {
        annotations.insert(METRIC_SPECS_ANNOTATION.into(), json!(Value::Array(others).to_string()));
    }
    if let Some(b) = some(spec_in.get("behavior")) {
        annotations.insert(BEHAVIOR_ANNOTATION.into(), json!(behavior_to_annotation(b).to_string()));
    }
    out.insert("spec".into(), Value::Object(spec));

    if let Some(status_in) = some(v2.get("status")) {
        let mut status = Map::new();
        for key in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] {
            put(&mut status, key, status_in.get(key).cloned());
        }
        let current = status_in.get("currentMetrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let cpu = current.iter().find_map(|m| {
            let is_cpu = m.get("type").and_then(Value::as_str) == Some("Resource")
                && m.pointer("/resource/name").and_then(Value::as_str) == Some("cpu");
            if is_cpu { some(m.pointer("/resource/current/averageUtilization")).cloned() } else { None }
        });
        put(&mut status, "currentCPUUtilizationPercentage", cpu);
        if !current.is_empty() {
            let converted: Vec<Value> = current.iter().map(metric_status_v2_to_v1).collect();
            annotations.insert(METRIC_STATUSES_ANNOTATION.into(), json!(Value::Array(converted).to_string()));
        }
        if let Some(conditions) = status_in.get("conditions").and_then(Value::as_array).filter(|c| !c.is_empty()) {
            annotations.insert(CONDITIONS_ANNOTATION.into(), json!(Value::Array(conditions.clone()).to_string()));
        }
        out.insert("status".into(), Value::Object(status));
    }
    if let Some(m) = metadata.as_object_mut() {
        if annotations.is_empty() {
            m.remove("annotations");
        } else {
            m.insert("annotations".into(), Value::Object(annotations));
        }
    }
    out.insert("metadata".into(), metadata);
    Value::Object(out)
}

fn reference(v: Option<&Value>) -> Value {
    let mut out = Map::new();
    for key in ["kind", "name", "apiVersion"] {
        put(&mut out, key, v.and_then(|r| r.get(key)).cloned());
    }
    Value::Object(out)
}

fn identifier(name: Option<&Value>, selector: Option<&Value>) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), name.cloned().unwrap_or_else(|| json!("")));
    put(&mut out, "selector", selector.cloned());
    Value::Object(out)
}

fn target(ty: &str, fields: &[(&str, Option<&Value>)]) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), json!(ty));
    for (k, v) in fields {
        put(&mut out, k, v.cloned());
    }
    Value::Object(out)
}

fn metric_spec_v1_to_v2(m: &Value) -> Value {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), json!(ty));
    if let Some(o) = some(m.get("object")) {
        let avg = some(o.get("averageValue"));
        let ty = if avg.is_none() { "Value" } else { "AverageValue" };
        out.insert(
            "object".into(),
            json!({
                "describedObject": reference(o.get("target")),
                "metric": identifier(o.get("metricName"), some(o.get("selector"))),
                "target": target(ty, &[("value", o.get("targetValue")), ("averageValue", avg)]),
            }),
        );
    }
    if let Some(p) = some(m.get("pods")) {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier(p.get("metricName"), some(p.get("selector"))),
                "target": target("AverageValue", &[("averageValue", p.get("targetAverageValue"))]),
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = some(m.get(key)) {
            let utilization = some(r.get("targetAverageUtilization"));
            let ty = if utilization.is_none() { "AverageValue" } else { "Utilization" };
            let mut src = Map::new();
            src.insert("name".into(), r.get("name").cloned().unwrap_or_else(|| json!("")));
            if container {
                src.insert("container".into(), r.get("container").cloned().unwrap_or_else(|| json!("")));
            }
            src.insert(
                "target".into(),
                target(ty, &[("averageUtilization", utilization), ("averageValue", r.get("targetAverageValue"))]),
            );
            out.insert(key.into(), Value::Object(src));
        }
    }
    if let Some(e) = some(m.get("external")) {
        let value = some(e.get("targetValue"));
        let ty = if value.is_none() { "AverageValue" } else { "Value" };
        out.insert(
            "external".into(),
            json!({
                "metric": identifier(e.get("metricName"), some(e.get("metricSelector"))),
                "target": target(ty, &[("value", value), ("averageValue", e.get("targetAverageValue"))]),
            }),
        );
    }
    Value::Object(out)
}

fn metric_spec_v2_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), m.get("type").cloned().unwrap_or_else(|| json!("")));
    if let Some(o) = some(m.get("object")) {
        let mut src = Map::new();
        src.insert("target".into(), reference(o.get("describedObject")));
        src.insert("metricName".into(), o.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        src.insert("targetValue".into(), o.pointer("/target/value").cloned().unwrap_or_else(|| json!("0")));
        put(&mut src, "selector", o.pointer("/metric/selector").cloned());
        put(&mut src, "averageValue", o.pointer("/target/averageValue").cloned());
        out.insert("object".into(), Value::Object(src));
    }
    if let Some(p) = some(m.get("pods")) {
        let mut src = Map::new();
        src.insert("metricName".into(), p.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        src.insert(
            "targetAverageValue".into(),
            p.pointer("/target/averageValue").cloned().unwrap_or_else(|| json!("0")),
        );
        put(&mut src, "selector", p.pointer("/metric/selector").cloned());
        out.insert("pods".into(), Value::Object(src));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = some(m.get(key)) {
            let mut src = Map::new();
            src.insert("name".into(), r.get("name").cloned().unwrap_or_else(|| json!("")));
            if container {
                src.insert("container".into(), r.get("container").cloned().unwrap_or_else(|| json!("")));
            }
            put(&mut src, "targetAverageUtilization", r.pointer("/target/averageUtilization").cloned());
            put(&mut src, "targetAverageValue", r.pointer("/target/averageValue").cloned());
            out.insert(key.into(), Value::Object(src));
        }
    }
    if let Some(e) = some(m.get("external")) {
        let mut src = Map::new();
        src.insert("metricName".into(), e.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        put(&mut src, "metricSelector", e.pointer("/metric/selector").cloned());
        put(&mut src, "targetValue", e.pointer("/target/value").cloned());
        put(&mut src, "targetAverageValue", e.pointer("/target/averageValue").cloned());
        out.insert("external".into(), Value::Object(src));
    }
    Value::Object(out)
}

fn metric_status_v1_to_v2(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), m.get("type").cloned().unwrap_or_else(|| json!("")));
    let current = |fields: &[(&str, Option<&Value>)]| {
        let mut c = Map::new();
        for (k, v) in fields {
            put(&mut c, k, v.cloned());
        }
        Value::Object(c)
    };
    if let Some(o) = some(m.get("object")) {
        out.insert(
            "object".into(),
            json!({
                "describedObject": reference(o.get("target")),
                "metric": identifier(o.get("metricName"), some(o.get("selector"))),
                "current": current(&[("value", o.get("currentValue")), ("averageValue", o.get("averageValue"))]),
            }),
        );
    }
    if let Some(p) = some(m.get("pods")) {
        out.insert(
            "pods".into(),
            json!({
                "metric": identifier(p.get("metricName"), some(p.get("selector"))),
                "current": current(&[("averageValue", p.get("currentAverageValue"))]),
            }),
        );
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = some(m.get(key)) {
            let mut src = Map::new();
            src.insert("name".into(), r.get("name").cloned().unwrap_or_else(|| json!("")));
            if container {
                src.insert("container".into(), r.get("container").cloned().unwrap_or_else(|| json!("")));
            }
            src.insert(
                "current".into(),
                current(&[
                    ("averageValue", r.get("currentAverageValue")),
                    ("averageUtilization", r.get("currentAverageUtilization")),
                ]),
            );
            out.insert(key.into(), Value::Object(src));
        }
    }
    if let Some(e) = some(m.get("external")) {
        out.insert(
            "external".into(),
            json!({
                "metric": identifier(e.get("metricName"), some(e.get("metricSelector"))),
                "current": current(&[("value", e.get("currentValue")), ("averageValue", e.get("currentAverageValue"))]),
            }),
        );
    }
    Value::Object(out)
}

fn metric_status_v2_to_v1(m: &Value) -> Value {
    let mut out = Map::new();
    out.insert("type".into(), m.get("type").cloned().unwrap_or_else(|| json!("")));
    let zero = || json!("0");
    if let Some(o) = some(m.get("object")) {
        let mut src = Map::new();
        src.insert("target".into(), reference(o.get("describedObject")));
        src.insert("metricName".into(), o.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        src.insert("currentValue".into(), o.pointer("/current/value").cloned().unwrap_or_else(zero));
        put(&mut src, "selector", o.pointer("/metric/selector").cloned());
        put(&mut src, "averageValue", o.pointer("/current/averageValue").cloned());
        out.insert("object".into(), Value::Object(src));
    }
    if let Some(p) = some(m.get("pods")) {
        let mut src = Map::new();
        src.insert("metricName".into(), p.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        src.insert("currentAverageValue".into(), p.pointer("/current/averageValue").cloned().unwrap_or_else(zero));
        put(&mut src, "selector", p.pointer("/metric/selector").cloned());
        out.insert("pods".into(), Value::Object(src));
    }
    for (key, container) in [("resource", false), ("containerResource", true)] {
        if let Some(r) = some(m.get(key)) {
            let mut src = Map::new();
            src.insert("name".into(), r.get("name").cloned().unwrap_or_else(|| json!("")));
            if container {
                src.insert("container".into(), r.get("container").cloned().unwrap_or_else(|| json!("")));
            }
            put(&mut src, "currentAverageUtilization", r.pointer("/current/averageUtilization").cloned());
            src.insert("currentAverageValue".into(), r.pointer("/current/averageValue").cloned().unwrap_or_else(zero));
            out.insert(key.into(), Value::Object(src));
        }
    }
    if let Some(e) = some(m.get("external")) {
        let mut src = Map::new();
        src.insert("metricName".into(), e.pointer("/metric/name").cloned().unwrap_or_else(|| json!("")));
        put(&mut src, "metricSelector", e.pointer("/metric/selector").cloned());
        src.insert("currentValue".into(), e.pointer("/current/value").cloned().unwrap_or_else(zero));
        put(&mut src, "currentAverageValue", e.pointer("/current/averageValue").cloned());
        out.insert("external".into(), Value::Object(src));
    }
    Value::Object(out)
}

/// The behavior annotation holds upstream's internal struct, whose JSON keys are Go
/// field names (`ScaleUp`, `StabilizationWindowSeconds`, ...).
fn behavior_to_annotation(b: &Value) -> Value {
    let rules = |r: Option<&Value>| match some(r) {
        None => Value::Null,
        Some(r) => {
            let policies: Vec<Value> = r
                .get("policies")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| json!({"Type": p.get("type"), "Value": p.get("value"), "PeriodSeconds": p.get("periodSeconds")}))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "StabilizationWindowSeconds": r.get("stabilizationWindowSeconds"),
                "SelectPolicy": r.get("selectPolicy"),
                "Policies": policies,
                "Tolerance": r.get("tolerance"),
            })
        }
    };
    json!({"ScaleUp": rules(b.get("scaleUp")), "ScaleDown": rules(b.get("scaleDown"))})
}

/// Reads the behavior annotation; keys match case-insensitively like Go's decoder.
fn behavior_from_annotation(b: &Value) -> Value {
    fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v).filter(|v| !v.is_null())
    }
    let rules = |r: Option<&Value>| {
        let r = r?;
        let mut out = Map::new();
        put(&mut out, "stabilizationWindowSeconds", get(r, "stabilizationWindowSeconds").cloned());
        put(&mut out, "selectPolicy", get(r, "selectPolicy").cloned());
        put(&mut out, "tolerance", get(r, "tolerance").cloned());
        if let Some(ps) = get(r, "policies").and_then(Value::as_array) {
            let policies: Vec<Value> = ps
                .iter()
                .map(|p| json!({"type": get(p, "type"), "value": get(p, "value"), "periodSeconds": get(p, "periodSeconds")}))
                .collect();
            out.insert("policies".into(), Value::Array(policies));
        }
        Some(Value::Object(out))
    };
    let mut out = Map::new();
    put(&mut out, "scaleUp", rules(get(b, "scaleUp")));
    put(&mut out, "scaleDown", rules(get(b, "scaleDown")));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::autoscaling::hpa::DEFAULT_CPU_UTILIZATION;

    fn v1() -> Value {
        json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 75}
        })
    }

    #[test]
    fn cpu_round_trips() {
        let v2 = v1_to_v2(&v1()).unwrap();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}])
        );
        assert_eq!(
            v2["status"]["currentMetrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75}}}])
        );
        let back = v2_to_v1(&v2);
        assert_eq!(back["spec"], v1()["spec"]);
        assert_eq!(back["status"], v1()["status"]);
        // The observed metrics also travel in an annotation, as upstream keeps them.
        assert!(back["metadata"]["annotations"][METRIC_STATUSES_ANNOTATION].is_string());
        // Upstream's v1 metric status has a non-optional raw value, so it comes back as "0".
        assert_eq!(
            v1_to_v2(&back).unwrap()["status"]["currentMetrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75, "averageValue": "0"}}}])
        );
    }

    #[test]
    fn v1_without_target_means_80_percent() {
        let mut obj = v1();
        obj["spec"].as_object_mut().unwrap().remove("targetCPUUtilizationPercentage");
        let v2 = v1_to_v2(&obj).unwrap();
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], DEFAULT_CPU_UTILIZATION);
    }

    #[test]
    fn other_metrics_behavior_and_conditions_round_trip() {
        let v2 = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "annotations": {"keep": "me"}},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 4,
                "metrics": [
                    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}},
                    {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
                    {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
                        "metric": {"name": "rps"}, "target": {"type": "Value", "value": "100"}}},
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]}}
            },
            "status": {"currentReplicas": 1, "desiredReplicas": 1,
                "conditions": [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
        });
        let v1 = v2_to_v1(&v2);
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        let ann = &v1["metadata"]["annotations"];
        assert_eq!(ann["keep"], "me");
        let specs: Value = serde_json::from_str(ann[METRIC_SPECS_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(specs[0], json!({"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}));
        assert_eq!(specs[1], json!({"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "1Gi"}}));
        let behavior: Value = serde_json::from_str(ann[BEHAVIOR_ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(behavior["ScaleDown"]["StabilizationWindowSeconds"], 60);
        let again = v1_to_v2(&v1).unwrap();
        assert_eq!(again["spec"], v2["spec"]);
        assert_eq!(again["status"], v2["status"]);
        assert_eq!(again["metadata"], v2["metadata"]);
    }

    #[test]
    fn bad_annotation_is_an_error() {
        let mut obj = v1();
        obj["metadata"]["annotations"] = json!({METRIC_SPECS_ANNOTATION: "not json"});
        assert!(v1_to_v2(&obj).unwrap_err().starts_with("annotation autoscaling.alpha.kubernetes.io/metrics"));
    }
}
