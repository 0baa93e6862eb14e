//! HorizontalPodAutoscaler in autoscaling/v2: defaults, validation and printing.
//! The v1 strategy reuses these on the converted object.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{Value, json};

use crate::kinds::support::checks::{dns1123_label, path_segment, quantity_sign};
use crate::kinds::support::json::{default_key, object_mut};
use crate::kinds::support::selector::validate_label_selector;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath, names};

/// The CPU utilization an HPA without metrics targets.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;
const MAX_PERIOD_SECONDS: i64 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;

pub struct HorizontalPodAutoscalerStrategy;

impl Strategy for HorizontalPodAutoscalerStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<HorizontalPodAutoscaler>(obj)
    }

    fn default(&self, obj: &mut Value) {
        default_v2(obj);
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_v2(obj)
    }

    fn columns(&self) -> Vec<Column> {
        columns()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        row_v2(obj, ctx)
    }
}

/// autoscaling/v2 defaulting.
pub fn default_v2(obj: &mut Value) {
    let Some(spec) = object_mut(obj, &["spec"]) else { return };
    default_key(spec, "minReplicas", json!(1));
    if spec.get("metrics").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        spec.insert("metrics".into(), json!([default_cpu_metric()]));
    }
    if let Some(behavior) = spec.get_mut("behavior").and_then(Value::as_object_mut) {
        let up = behavior.remove("scaleUp").filter(|v| !v.is_null());
        behavior.insert("scaleUp".into(), scaling_rules_with_defaults(up, true));
        let down = behavior.remove("scaleDown").filter(|v| !v.is_null());
        behavior.insert("scaleDown".into(), scaling_rules_with_defaults(down, false));
    }
}

/// The metric an HPA gets when it names none: 80% average CPU utilization.
pub fn default_cpu_metric() -> Value {
    json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}})
}

/// Fills unset parts of scaling rules with the controller's defaults: scale up by
/// at most 4 pods or 100% per 15s without stabilization; scale down by at most 100%
/// per 15s (its stabilization window stays the controller's setting).
fn scaling_rules_with_defaults(rules: Option<Value>, scale_up: bool) -> Value {
    let mut out = if scale_up {
        json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15}]})
    } else {
        json!({"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
    };
    if let Some(Value::Object(given)) = rules {
        for (k, v) in given {
            if !v.is_null() {
                out[k] = v;
            }
        }
    }
    out
}

/// Validation of an autoscaling/v2 object (upstream validates the internal form,
/// which has the same field names).
pub fn validate_v2(obj: &Value) -> Vec<FieldError> {
    let spec_path = FieldPath::root("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    let min = spec.get("minReplicas").and_then(Value::as_i64);
    let max = spec.get("maxReplicas").and_then(Value::as_i64).unwrap_or(0);
    if let Some(min) = min.filter(|m| *m < 1) {
        errs.push(FieldError::invalid(spec_path.child("minReplicas"), min, "must be greater than or equal to 1"));
    }
    if max < 1 {
        errs.push(FieldError::invalid(spec_path.child("maxReplicas"), max, "must be greater than 0"));
    }
    if min.is_some_and(|min| max < min) {
        errs.push(FieldError::invalid(
            spec_path.child("maxReplicas"),
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    errs.extend(object_reference(spec.get("scaleTargetRef"), &spec_path.child("scaleTargetRef")));
    let metrics = spec.get("metrics").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for (i, metric) in metrics.iter().enumerate() {
        errs.extend(metric_spec(metric, &spec_path.child("metrics").index(i)));
    }
    if min == Some(0) {
        let scales_to_zero =
            metrics.iter().any(|m| matches!(m.get("type").and_then(Value::as_str), Some("Object" | "External")));
        if !scales_to_zero {
            errs.push(FieldError::forbidden(
                spec_path.child("metrics"),
                "must specify at least one Object or External metric to support scaling to zero replicas",
            ));
        }
    }
    if let Some(behavior) = spec.get("behavior").filter(|v| !v.is_null()) {
        for (key, name) in [("scaleUp", "scaleUp"), ("scaleDown", "scaleDown")] {
            if let Some(rules) = behavior.get(key).filter(|v| !v.is_null()) {
                errs.extend(scaling_rules(rules, &spec_path.child("behavior").child(name)));
            }
        }
    }
    errs
}

/// `ValidateCrossVersionObjectReference`.
fn object_reference(reference: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for field in ["kind", "name"] {
        let value = reference.and_then(|r| r.get(field)).and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            errs.push(FieldError::required(path.child(field), ""));
        } else {
            errs.extend(path_segment(value, &path.child(field)));
        }
    }
    errs
}

const METRIC_TYPES: &[&str] = &["ContainerResource", "External", "Object", "Pods", "Resource"];

fn metric_spec(metric: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = metric.get("type").and_then(Value::as_str).unwrap_or_default();
    if ty.is_empty() {
        errs.push(FieldError::required(path.child("type"), "must specify a metric source type"));
    }
    if !METRIC_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(path.child("type"), ty, METRIC_TYPES));
    }
    let sources = ["object", "external", "pods", "resource", "containerResource"];
    let present: Vec<&str> = sources.iter().copied().filter(|s| metric.get(*s).is_some_and(|v| !v.is_null())).collect();
    // Only the first source given is validated, as upstream does.
    if let Some(first) = present.first() {
        let src = &metric[*first];
        let p = path.child(first);
        errs.extend(match *first {
            "object" => object_source(src, &p),
            "external" => external_source(src, &p),
            "pods" => pods_source(src, &p),
            "resource" => resource_source(src, &p, false),
            _ => resource_source(src, &p, true),
        });
    }
    let expected = match ty {
        "Object" => Some("object"),
        "Pods" => Some("pods"),
        "Resource" => Some("resource"),
        "External" => Some("external"),
        "ContainerResource" => Some("containerResource"),
        _ => None,
    };
    match expected {
        Some(field) => {
            if !present.contains(&field) {
                errs.push(FieldError::required(
                    path.child(field),
                    "must populate information for the given metric source",
                ));
            }
        }
        None => errs.push(FieldError::not_supported(path.child("type"), ty, METRIC_TYPES)),
    }
    if present.len() != 1 {
        for other in present.iter().filter(|p| Some(**p) != expected) {
            errs.push(FieldError::forbidden(path.child(other), "must populate the given metric source only"));
        }
    }
    errs
}

fn metric_identifier(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let name = src.pointer("/metric/name").and_then(Value::as_str).unwrap_or_default();
    let p = path.child("metric").child("name");
    let mut errs = if name.is_empty() {
        vec![FieldError::required(&p, "must specify a metric name")]
    } else {
        path_segment(name, &p)
    };
    errs.extend(validate_label_selector(src.pointer("/metric/selector"), &path.child("metric").child("selector")));
    errs
}

fn metric_target(target: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = target.get("type").and_then(Value::as_str).unwrap_or_default();
    if ty.is_empty() {
        errs.push(FieldError::required(path.child("type"), "must specify a metric target type"));
    }
    if !matches!(ty, "Utilization" | "Value" | "AverageValue") {
        errs.push(FieldError::invalid(path.child("type"), ty, "must be either Utilization, Value, or AverageValue"));
    }
    for field in ["value", "averageValue"] {
        if let Some(q) = target.get(field).and_then(Value::as_str)
            && quantity_sign(q) != Some(1)
        {
            errs.push(FieldError::invalid(path.child(field), q, "must be positive"));
        }
    }
    if let Some(u) = target.get("averageUtilization").and_then(Value::as_i64).filter(|u| *u < 1) {
        errs.push(FieldError::invalid(path.child("averageUtilization"), u, "must be greater than 0"));
    }
    errs
}

fn target_has(src: &Value, field: &str) -> bool {
    src.pointer(&format!("/target/{field}")).is_some_and(|v| !v.is_null())
}

fn object_source(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = object_reference(src.get("describedObject"), &path.child("describedObject"));
    errs.extend(metric_identifier(src, path));
    errs.extend(metric_target(src.get("target").unwrap_or(&Value::Null), &path.child("target")));
    if !target_has(src, "value") && !target_has(src, "averageValue") {
        errs.push(FieldError::required(
            path.child("target").child("averageValue"),
            "must set either a target value or averageValue",
        ));
    }
    errs
}

fn external_source(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = metric_identifier(src, path);
    errs.extend(metric_target(src.get("target").unwrap_or(&Value::Null), &path.child("target")));
    let (value, average) = (target_has(src, "value"), target_has(src, "averageValue"));
    if !value && !average {
        errs.push(FieldError::required(
            path.child("target").child("averageValue"),
            "must set either a target value for metric or a per-pod target",
        ));
    }
    if value && average {
        errs.push(FieldError::forbidden(
            path.child("target").child("value"),
            "may not set both a target value for metric and a per-pod target",
        ));
    }
    errs
}

fn pods_source(src: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = metric_identifier(src, path);
    errs.extend(metric_target(src.get("target").unwrap_or(&Value::Null), &path.child("target")));
    if !target_has(src, "averageValue") {
        errs.push(FieldError::required(
            path.child("target").child("averageValue"),
            "must specify a positive target averageValue",
        ));
    }
    errs
}

fn resource_source(src: &Value, path: &FieldPath, container: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = src.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), "must specify a resource name"));
    } else {
        errs.extend(resource_name(name, &path.child("name")));
    }
    if container {
        let c = src.get("container").and_then(Value::as_str).unwrap_or_default();
        if c.is_empty() {
            errs.push(FieldError::required(path.child("container"), "must specify a container"));
        } else {
            errs.extend(dns1123_label(c, &path.child("container")));
        }
    }
    errs.extend(metric_target(src.get("target").unwrap_or(&Value::Null), &path.child("target")));
    let (utilization, average) = (target_has(src, "averageUtilization"), target_has(src, "averageValue"));
    if !utilization && !average {
        errs.push(FieldError::required(
            path.child("target").child("averageUtilization"),
            "must set either a target raw value or a target utilization",
        ));
    }
    if utilization && average {
        errs.push(FieldError::forbidden(
            path.child("target").child("averageValue"),
            "may not set both a target raw value and a target utilization",
        ));
    }
    errs
}

/// `ValidateContainerResourceName`: a qualified name; unprefixed ones must be standard.
fn resource_name(name: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs: Vec<FieldError> =
        names::qualified_name(name).into_iter().map(|m| FieldError::invalid(path, name, m)).collect();
    let standard = ["cpu", "memory", "ephemeral-storage"];
    if errs.is_empty() && !name.contains('/') && !standard.contains(&name) && !name.starts_with("hugepages-") {
        errs.push(FieldError::invalid(path, name, "must be a standard resource for containers"));
    }
    errs
}

const SELECT_POLICIES: &[&str] = &["Disabled", "Max", "Min"];
const POLICY_TYPES: &[&str] = &["Percent", "Pods"];

fn scaling_rules(rules: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(w) = rules.get("stabilizationWindowSeconds").and_then(Value::as_i64) {
        if w < 0 {
            errs.push(FieldError::invalid(
                path.child("stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        }
        if w > MAX_STABILIZATION_WINDOW_SECONDS {
            errs.push(FieldError::invalid(
                path.child("stabilizationWindowSeconds"),
                w,
                format!("must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"),
            ));
        }
    }
    if let Some(p) = rules.get("selectPolicy").and_then(Value::as_str)
        && !SELECT_POLICIES.contains(&p)
    {
        errs.push(FieldError::not_supported(path.child("selectPolicy"), p, SELECT_POLICIES));
    }
    let policies = rules.get("policies").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if policies.is_empty() {
        errs.push(FieldError::required(path.child("policies"), "must specify at least one Policy"));
    }
    for (i, policy) in policies.iter().enumerate() {
        let p = path.child("policies").index(i);
        let ty = policy.get("type").and_then(Value::as_str).unwrap_or_default();
        if !POLICY_TYPES.contains(&ty) {
            errs.push(FieldError::not_supported(p.child("type"), ty, POLICY_TYPES));
        }
        let value = policy.get("value").and_then(Value::as_i64).unwrap_or(0);
        if value <= 0 {
            errs.push(FieldError::invalid(p.child("value"), value, "must be greater than zero"));
        }
        let period = policy.get("periodSeconds").and_then(Value::as_i64).unwrap_or(0);
        if period <= 0 {
            errs.push(FieldError::invalid(p.child("periodSeconds"), period, "must be greater than zero"));
        }
        if period > MAX_PERIOD_SECONDS {
            errs.push(FieldError::invalid(
                p.child("periodSeconds"),
                period,
                format!("must be less than or equal to {MAX_PERIOD_SECONDS}"),
            ));
        }
    }
    errs
}

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

    fn hpa() -> Value {
        let mut h = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10}
        });
        HorizontalPodAutoscalerStrategy.normalize(&mut h).unwrap();
        HorizontalPodAutoscalerStrategy.default(&mut h);
        h
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults() {
        let h = hpa();
        assert_eq!(h["spec"]["minReplicas"], 1);
        assert_eq!(h["spec"]["metrics"], json!([default_cpu_metric()]));
        assert!(h["spec"].get("behavior").is_none());
        assert!(HorizontalPodAutoscalerStrategy.validate_create(&h).is_empty());
        let mut with_behavior = json!({"spec": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}});
        default_v2(&mut with_behavior);
        assert_eq!(
            with_behavior["spec"]["behavior"]["scaleDown"],
            json!({"stabilizationWindowSeconds": 60, "selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]})
        );
        assert_eq!(
            with_behavior["spec"]["behavior"]["scaleUp"]["policies"][0],
            json!({"type": "Pods", "value": 4, "periodSeconds": 15})
        );
        assert_eq!(with_behavior["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
    }

    #[test]
    fn replica_bounds_and_target() {
        let mut h = hpa();
        h["spec"]["minReplicas"] = json!(5);
        h["spec"]["maxReplicas"] = json!(2);
        h["spec"]["scaleTargetRef"] = json!({"kind": "", "name": "a/b"});
        assert_eq!(
            messages(HorizontalPodAutoscalerStrategy.validate_create(&h)),
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
            ]
        );
        h["spec"]["minReplicas"] = json!(0);
        h["spec"]["maxReplicas"] = json!(0);
        h["spec"]["scaleTargetRef"] = json!({"kind": "Deployment", "name": "web"});
        assert_eq!(
            messages(HorizontalPodAutoscalerStrategy.validate_create(&h)),
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.metrics: Forbidden: must specify at least one Object or External metric to support scaling to zero replicas",
            ]
        );
    }

    #[test]
    fn metric_rules() {
        let mut h = hpa();
        h["spec"]["metrics"] = json!([
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 0}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}}},
            {"type": "Resource"},
            {"type": "Bogus"}
        ]);
        let errs = messages(HorizontalPodAutoscalerStrategy.validate_create(&h));
        for want in [
            "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            "spec.metrics[1].pods.target.averageValue: Required value: must specify a positive target averageValue",
            "spec.metrics[2].resource: Required value: must populate information for the given metric source",
            "spec.metrics[3].type: Unsupported value: \"Bogus\": supported values: \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
    }

    #[test]
    fn behavior_rules() {
        let mut h = hpa();
        h["spec"]["behavior"] = json!({"scaleUp": {"stabilizationWindowSeconds": 4000, "selectPolicy": "Most", "policies": [{"type": "Pods", "value": 0, "periodSeconds": 2000}]}});
        default_v2(&mut h);
        let errs = messages(HorizontalPodAutoscalerStrategy.validate_create(&h));
        assert_eq!(
            errs,
            vec![
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 4000: must be less than or equal to 3600",
                "spec.behavior.scaleUp.selectPolicy: Unsupported value: \"Most\": supported values: \"Disabled\", \"Max\", \"Min\"",
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 2000: must be less than or equal to 1800",
            ]
        );
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
