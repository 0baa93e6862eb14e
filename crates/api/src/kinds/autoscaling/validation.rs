//! Validation of autoscaling/v2 HorizontalPodAutoscalers (upstream validates its
//! internal form, which has the same field names): replica bounds, the scale target,
//! metric sources and targets, scaling behavior.

use serde_json::Value;

use crate::kinds::support::checks::{dns1123_label, path_segment, quantity_sign};
use crate::kinds::support::selector::validate_label_selector;
use crate::validation::{FieldError, FieldPath, names};

const MAX_PERIOD_SECONDS: i64 = 1800;
const MAX_STABILIZATION_WINDOW_SECONDS: i64 = 3600;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::autoscaling::hpa::default_v2;
    use serde_json::json;

    fn hpa() -> Value {
        let mut h = json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10}
        });
        default_v2(&mut h);
        h
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn replica_bounds_and_target() {
        let mut h = hpa();
        h["spec"]["minReplicas"] = json!(5);
        h["spec"]["maxReplicas"] = json!(2);
        h["spec"]["scaleTargetRef"] = json!({"kind": "", "name": "a/b"});
        assert_eq!(
            messages(validate_v2(&h)),
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
            messages(validate_v2(&h)),
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
        let errs = messages(validate_v2(&h));
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
        let errs = messages(validate_v2(&h));
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
}
