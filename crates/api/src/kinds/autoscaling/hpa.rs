//! HorizontalPodAutoscaler in autoscaling/v2: the strategy and its defaults. The
//! v1 strategy reuses the validation and printing on the converted object.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{Value, json};

use super::printing::{columns, row_v2};
use super::validation::validate_v2;
use crate::kinds::support::json::{default_key, object_mut};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::Column;
use crate::validation::FieldError;

/// The CPU utilization an HPA without metrics targets.
pub const DEFAULT_CPU_UTILIZATION: i64 = 80;

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
}
