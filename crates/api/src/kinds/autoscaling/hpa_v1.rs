//! HorizontalPodAutoscaler in autoscaling/v1: stored as v2. Validation and printing
//! run on the v2 form, as upstream runs them on its internal type.

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use serde_json::{Value, json};

use super::hpa::default_v2;
use super::printing::{columns, row_v2};
use super::v1_conversion::{v1_to_v2, v2_to_v1};
use super::validation::validate_v2;
use crate::kinds::support::json::default_at;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::Column;
use crate::validation::FieldError;

pub struct HorizontalPodAutoscalerV1Strategy;

/// The v2 form of an object that may be in either version.
fn as_v2(obj: &Value) -> Result<Value, String> {
    if obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v2") {
        Ok(obj.clone())
    } else {
        v1_to_v2(obj)
    }
}

fn conversion_error(e: String) -> Vec<FieldError> {
    vec![FieldError::invalid("metadata.annotations", Value::Null, e)]
}

impl Strategy for HorizontalPodAutoscalerV1Strategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<HorizontalPodAutoscaler>(obj)
    }

    fn to_storage(&self, obj: Value, _from_version: &str) -> Result<Value, String> {
        let mut v2 = as_v2(&obj)?;
        // Upstream defaults the v2 form when it decodes it from storage; doing it here
        // gives the same stored and returned object.
        default_v2(&mut v2);
        normalize_as::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(&mut v2)?;
        Ok(v2)
    }

    fn from_storage(&self, obj: Value, _to_version: &str) -> Result<Value, String> {
        let mut v1 = v2_to_v1(&obj);
        normalize_as::<HorizontalPodAutoscaler>(&mut v1)?;
        Ok(v1)
    }

    fn default(&self, obj: &mut Value) {
        if obj.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v2") {
            default_v2(obj);
        } else {
            default_at(obj, &["spec", "minReplicas"], json!(1));
        }
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match as_v2(obj) {
            Ok(v2) => validate_v2(&v2),
            Err(e) => conversion_error(e),
        }
    }

    fn columns(&self) -> Vec<Column> {
        columns()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        match as_v2(obj) {
            Ok(v2) => row_v2(&v2, ctx),
            Err(_) => row_v2(obj, ctx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> Value {
        json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
        })
    }

    #[test]
    fn stores_v2_and_serves_v1() {
        let s = HorizontalPodAutoscalerV1Strategy;
        let mut obj = v1();
        s.normalize(&mut obj).unwrap();
        s.default(&mut obj);
        assert_eq!(obj["spec"]["minReplicas"], 1);
        assert!(s.validate_create(&obj).is_empty());
        let stored = s.to_storage(obj, "v1").unwrap();
        assert_eq!(stored["apiVersion"], "autoscaling/v2");
        assert_eq!(stored["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
        let served = s.from_storage(stored, "v1").unwrap();
        assert_eq!(served["apiVersion"], "autoscaling/v1");
        assert_eq!(served["spec"]["targetCPUUtilizationPercentage"], 80);
        assert!(served["metadata"].get("annotations").is_none());
    }

    #[test]
    fn validates_the_v2_form() {
        let mut obj = v1();
        obj["spec"]["targetCPUUtilizationPercentage"] = json!(0);
        obj["spec"]["maxReplicas"] = json!(0);
        let errs: Vec<String> =
            HorizontalPodAutoscalerV1Strategy.validate_create(&obj).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
            ]
        );
    }

    #[test]
    fn prints_from_the_v2_form() {
        let mut obj = v1();
        obj["spec"]["targetCPUUtilizationPercentage"] = json!(50);
        obj["status"] = json!({"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 20});
        let ctx = Context { now: "2024-01-01T00:00:10Z".parse().unwrap() };
        assert_eq!(
            HorizontalPodAutoscalerV1Strategy.row(&obj, &ctx),
            vec![json!("Deployment/web"), json!("cpu: 20%/50%"), json!("<unset>"), json!(5), json!(1), json!("10s")]
        );
    }
}
