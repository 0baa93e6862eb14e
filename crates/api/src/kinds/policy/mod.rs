//! policy/v1: PodDisruptionBudget.

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::{Value, json};

use crate::kinds::support::checks::{not_more_than_100_percent, positive_int_or_percent};
use crate::kinds::support::selector::validate_label_selector;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct PodDisruptionBudgetStrategy;

impl Strategy for PodDisruptionBudgetStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<PodDisruptionBudget>(obj)
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Min Available", "string", "The minimum number of pods that must be available."),
            Column::new("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
            Column::new(
                "Allowed Disruptions",
                "integer",
                "Calculated number of pods that may be disrupted at this time.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let int_or_string = |p: &str| match obj.pointer(p).filter(|v| !v.is_null()) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => "N/A".to_string(),
        };
        vec![
            json!(int_or_string("/spec/minAvailable")),
            json!(int_or_string("/spec/maxUnavailable")),
            json!(obj.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0)),
            json!(table::age(obj, ctx)),
        ]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::root("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let mut errs = Vec::new();
    let min = spec.get("minAvailable").filter(|v| !v.is_null());
    let max = spec.get("maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        errs.push(FieldError::invalid(&path, spec.clone(), "minAvailable and maxUnavailable cannot be both set"));
    }
    for (field, value) in [("minAvailable", min), ("maxUnavailable", max)] {
        if let Some(v) = value {
            errs.extend(positive_int_or_percent(v, &path.child(field)));
            errs.extend(not_more_than_100_percent(v, &path.child(field)));
        }
    }
    errs.extend(validate_label_selector(spec.get("selector"), &path.child("selector")));
    if let Some(policy) = spec.get("unhealthyPodEvictionPolicy").and_then(Value::as_str)
        && policy != "AlwaysAllow"
        && policy != "IfHealthyBudget"
    {
        errs.push(FieldError::not_supported(
            path.child("unhealthyPodEvictionPolicy"),
            policy,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_printing() {
        let s = PodDisruptionBudgetStrategy;
        let pdb = json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}, "status": {"disruptionsAllowed": 1}});
        assert!(s.validate_create(&pdb).is_empty());
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        assert_eq!(s.row(&pdb, &ctx), vec![json!("50%"), json!("N/A"), json!(1), json!("0s")]);
        let both =
            json!({"spec": {"minAvailable": 1, "maxUnavailable": "120%", "unhealthyPodEvictionPolicy": "Never"}});
        let errs: Vec<String> = s.validate_create(&both).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec: Invalid value: {\"maxUnavailable\":\"120%\",\"minAvailable\":1,\"unhealthyPodEvictionPolicy\":\"Never\"}: minAvailable and maxUnavailable cannot be both set",
                "spec.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%",
                "spec.unhealthyPodEvictionPolicy: Unsupported value: \"Never\": supported values: \"AlwaysAllow\", \"IfHealthyBudget\"",
            ]
        );
    }
}
