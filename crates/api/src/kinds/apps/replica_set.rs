//! ReplicaSet (apps/v1): defaults, validation, printing, the `status.replicas`
//! field selector and `/scale`.

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde_json::{Value, json};

use super::workload::{
    containers_column, count, images_column, required_selector, restart_policy_always, selector_column,
    standard_scale_paths,
};
use crate::kinds::support::checks::{immutable_at, nonnegative_at};
use crate::kinds::support::json::{default_at, normalize_keeping_absent};
use crate::kinds::support::pod_template::{default_template_at, pod_template_rules};
use crate::kinds::support::selector::format_label_selector;
use crate::strategy::{Context, ScalePaths, Strategy};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct ReplicaSetStrategy;

impl Strategy for ReplicaSetStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_keeping_absent::<ReplicaSet>(obj, &["/spec/selector"])
    }

    fn default(&self, obj: &mut Value) {
        default_at(obj, &["spec", "replicas"], json!(1));
        default_template_at(obj, "/spec/template");
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        errs.extend(immutable_at(new, old, "/spec/selector", &FieldPath::root("spec").child("selector")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Desired", "integer", "Replicas is the number of desired pods."),
            Column::new("Current", "integer", "Replicas is the most recently observed number of non-terminating pods."),
            Column::new(
                "Ready",
                "integer",
                "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
            ),
            Column::age(),
            containers_column(),
            images_column(),
            selector_column("Selector is a label query over pods that should match the replica count."),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let (names, images) = table::container_cells(obj.pointer("/spec/template/spec"));
        vec![
            count(obj, "/spec/replicas"),
            count(obj, "/status/replicas"),
            count(obj, "/status/readyReplicas"),
            json!(table::age(obj, ctx)),
            json!(names),
            json!(images),
            json!(format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "status.replicas").then(|| count(obj, "/status/replicas").to_string())
    }

    fn scale_paths(&self) -> Option<ScalePaths> {
        Some(standard_scale_paths())
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    errs.extend(nonnegative_at(obj, "/spec/replicas", &spec.child("replicas")));
    errs.extend(nonnegative_at(obj, "/spec/minReadySeconds", &spec.child("minReadySeconds")));
    // Upstream shares this message with Deployments.
    let (sel_errs, parsed) = required_selector(obj, "deployment");
    errs.extend(sel_errs);
    let template = obj.pointer("/spec/template").unwrap_or(&Value::Null);
    let template_path = spec.child("template");
    match parsed {
        Err(()) => errs.push(FieldError::invalid(
            spec.child("selector"),
            obj.pointer("/spec/selector").cloned().unwrap_or(Value::Null),
            "invalid label selector",
        )),
        Ok(sel) => {
            errs.extend(pod_template_rules(template, &sel, &template_path));
            errs.extend(restart_policy_always(template, &template_path, "ReplicaSet"));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs() -> Value {
        let mut rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-abc", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
            }
        });
        ReplicaSetStrategy.normalize(&mut rs).unwrap();
        ReplicaSetStrategy.default(&mut rs);
        rs
    }

    #[test]
    fn defaults_and_valid() {
        let rs = rs();
        assert_eq!(rs["spec"]["replicas"], 1);
        assert!(ReplicaSetStrategy.validate_create(&rs).is_empty());
    }

    #[test]
    fn rules() {
        let mut r = rs();
        r["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(5);
        r["spec"]["minReadySeconds"] = json!(-1);
        let errs: Vec<String> = ReplicaSetStrategy.validate_create(&r).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported",
            ]
        );
        let mut bad = rs();
        bad["spec"]["selector"] = json!({"matchExpressions": [{"key": "app", "operator": "Sideways"}]});
        let errs: Vec<String> = ReplicaSetStrategy.validate_create(&bad).iter().map(ToString::to_string).collect();
        assert!(errs.iter().any(|e| e.ends_with(": invalid label selector")), "{errs:?}");
    }

    #[test]
    fn printing_and_field_selector() {
        let mut r = rs();
        r["status"] = json!({"replicas": 1, "readyReplicas": 1});
        let ctx = Context { now: "2024-01-03T00:00:00Z".parse().unwrap() };
        assert_eq!(
            ReplicaSetStrategy.row(&r, &ctx),
            vec![json!(1), json!(1), json!(1), json!("2d"), json!("c"), json!("i"), json!("app=web")]
        );
        assert_eq!(ReplicaSetStrategy.field_label(&r, "status.replicas").as_deref(), Some("1"));
        assert_eq!(ReplicaSetStrategy.field_label(&r, "spec.replicas"), None);
    }
}
