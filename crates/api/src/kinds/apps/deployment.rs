//! Deployment (apps/v1): defaults, validation, printing and `/scale`.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

use super::workload::{
    containers_column, count, images_column, required_selector, restart_policy_always, selector_column,
    standard_scale_paths,
};
use crate::kinds::support::checks::{self, immutable_at, nonnegative_at};
use crate::kinds::support::json::{default_at, default_key, default_str, normalize_keeping_absent, object_mut};
use crate::kinds::support::lifecycle::{bump_generation, keep_old_status};
use crate::kinds::support::pod_template::{default_template_at, pod_template_rules};
use crate::kinds::support::selector::selector_string_or_invalid;
use crate::strategy::{Context, ScalePaths, Strategy};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct DeploymentStrategy;

impl Strategy for DeploymentStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_keeping_absent::<Deployment>(obj, &["/spec/selector"])
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = object_mut(obj, &["spec"]) else { return };
        default_key(spec, "replicas", json!(1));
        default_key(spec, "revisionHistoryLimit", json!(10));
        default_key(spec, "progressDeadlineSeconds", json!(600));
        if let Some(strategy) = object_mut(obj, &["spec", "strategy"]) {
            default_str(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                default_at(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], json!("25%"));
                default_at(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"], json!("25%"));
            }
        }
        default_template_at(obj, "/spec/template");
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
        // Annotations are copied to the ReplicaSets, so changing them is a rollout
        // like a spec change (upstream bumps the generation for both).
        if new.pointer("/metadata/annotations") != old.pointer("/metadata/annotations") {
            bump_generation(new, old);
        }
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        // apps/v1 made the selector immutable.
        errs.extend(immutable_at(new, old, "/spec/selector", &FieldPath::root("spec").child("selector")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Ready", "string", "Number of the pod with ready state"),
            Column::new(
                "Up-to-date",
                "string",
                "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
            ),
            Column::new(
                "Available",
                "string",
                "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            Column::age(),
            containers_column(),
            images_column(),
            selector_column(
                "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let ready = obj.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0);
        let desired = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
        let (names, images) = table::container_cells(obj.pointer("/spec/template/spec"));
        vec![
            json!(format!("{ready}/{desired}")),
            count(obj, "/status/updatedReplicas"),
            count(obj, "/status/availableReplicas"),
            json!(table::age(obj, ctx)),
            json!(names),
            json!(images),
            json!(selector_string_or_invalid(obj.pointer("/spec/selector"))),
        ]
    }

    fn scale_paths(&self) -> Option<ScalePaths> {
        Some(standard_scale_paths())
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    errs.extend(nonnegative_at(obj, "/spec/replicas", &spec.child("replicas")));
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
    errs.extend(validate_strategy(obj, &spec.child("strategy")));
    errs.extend(nonnegative_at(obj, "/spec/minReadySeconds", &spec.child("minReadySeconds")));
    errs.extend(nonnegative_at(obj, "/spec/revisionHistoryLimit", &spec.child("revisionHistoryLimit")));
    if let Some(deadline) = obj.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64) {
        let path = spec.child("progressDeadlineSeconds");
        errs.extend(checks::nonnegative(deadline, &path));
        let min_ready = obj.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
        if deadline <= min_ready {
            errs.push(FieldError::invalid(&path, deadline, "must be greater than minReadySeconds"));
        }
    }
    errs
}

fn validate_strategy(obj: &Value, path: &FieldPath) -> Vec<FieldError> {
    let strategy = obj.pointer("/spec/strategy").cloned().unwrap_or(Value::Null);
    let rolling = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    let mut errs = Vec::new();
    match strategy.get("type").and_then(Value::as_str).unwrap_or_default() {
        "Recreate" => {
            if rolling.is_some() {
                errs.push(FieldError::forbidden(
                    path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match rolling {
            None => errs
                .push(FieldError::required(path.child("rollingUpdate"), "this should be defaulted and never be nil")),
            Some(ru) => errs.extend(validate_rolling_update(ru, &path.child("rollingUpdate"))),
        },
        _ => errs.push(FieldError::not_supported(path, strategy.clone(), &["Recreate", "RollingUpdate"])),
    }
    errs
}

fn validate_rolling_update(ru: &Value, path: &FieldPath) -> Vec<FieldError> {
    let zero = json!(0);
    let max_unavailable = ru.get("maxUnavailable").filter(|v| !v.is_null()).unwrap_or(&zero);
    let max_surge = ru.get("maxSurge").filter(|v| !v.is_null()).unwrap_or(&zero);
    let mut errs = checks::positive_int_or_percent(max_unavailable, &path.child("maxUnavailable"));
    errs.extend(checks::positive_int_or_percent(max_surge, &path.child("maxSurge")));
    if checks::int_or_percent_value(max_unavailable) == 0 && checks::int_or_percent_value(max_surge) == 0 {
        errs.push(FieldError::invalid(
            path.child("maxUnavailable"),
            max_unavailable.clone(),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.extend(checks::not_more_than_100_percent(max_unavailable, &path.child("maxUnavailable")));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}
            }
        })
    }

    fn prepared() -> Value {
        let s = DeploymentStrategy;
        let mut d = deployment();
        s.normalize(&mut d).unwrap();
        s.default(&mut d);
        d
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_like_upstream() {
        let d = prepared();
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(DeploymentStrategy.validate_create(&d).is_empty());
    }

    #[test]
    fn recreate_gets_no_rolling_update_defaults() {
        let mut d = deployment();
        d["spec"]["strategy"] = json!({"type": "Recreate"});
        DeploymentStrategy.default(&mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn missing_selector_is_required() {
        let mut d = deployment();
        d["spec"].as_object_mut().unwrap().remove("selector");
        DeploymentStrategy.normalize(&mut d).unwrap();
        assert!(d["spec"].get("selector").is_none());
        DeploymentStrategy.default(&mut d);
        let errs = messages(DeploymentStrategy.validate_create(&d));
        assert!(errs.contains(&"spec.selector: Required value".to_string()), "{errs:?}");
        assert!(errs.iter().any(|e| e.ends_with("`selector` does not match template `labels`")));
    }

    #[test]
    fn validation_messages() {
        let mut d = prepared();
        d["spec"]["replicas"] = json!(-1);
        d["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        d["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        d["spec"]["strategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": "0%"});
        d["spec"]["progressDeadlineSeconds"] = json!(5);
        d["spec"]["minReadySeconds"] = json!(10);
        d["spec"]["revisionHistoryLimit"] = json!(-2);
        let errs = messages(DeploymentStrategy.validate_create(&d));
        for want in [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
            "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
    }

    #[test]
    fn strategy_rules() {
        let mut d = prepared();
        d["spec"]["strategy"]["type"] = json!("Recreate");
        let errs = messages(DeploymentStrategy.validate_create(&d));
        assert_eq!(
            errs,
            vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]
        );
        d["spec"]["strategy"] = json!({"type": "Blue"});
        let errs = messages(DeploymentStrategy.validate_create(&d));
        assert_eq!(
            errs,
            vec![
                "spec.strategy: Unsupported value: {\"type\":\"Blue\"}: supported values: \"Recreate\", \"RollingUpdate\""
            ]
        );
        d["spec"]["strategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": 1}});
        let errs = messages(DeploymentStrategy.validate_create(&d));
        assert_eq!(
            errs,
            vec!["spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"]
        );
    }

    #[test]
    fn empty_selector_is_invalid() {
        let mut d = prepared();
        d["spec"]["selector"] = json!({});
        let errs = messages(DeploymentStrategy.validate_create(&d));
        assert_eq!(errs, vec!["spec.selector: Invalid value: {}: empty selector is invalid for deployment"]);
    }

    #[test]
    fn selector_is_immutable() {
        let old = prepared();
        let mut new = old.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "v": "2"}});
        new["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        let errs = messages(DeploymentStrategy.validate_update(&new, &old));
        assert_eq!(
            errs,
            vec!["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"v\":\"2\"}}: field is immutable"]
        );
    }

    #[test]
    fn annotation_changes_bump_generation_and_keep_status() {
        let mut old = prepared();
        old["metadata"]["generation"] = json!(3);
        old["status"] = json!({"replicas": 1});
        let mut new = old.clone();
        new["status"] = json!({"replicas": 7});
        new["metadata"]["annotations"] = json!({"a": "b"});
        DeploymentStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["metadata"]["generation"], 4);
        assert_eq!(new["status"], json!({"replicas": 1}));
    }

    #[test]
    fn prints_like_kubectl() {
        let mut d = prepared();
        d["spec"]["replicas"] = json!(3);
        d["status"] = json!({"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2});
        let ctx = Context { now: "2024-01-01T00:05:00Z".parse().unwrap() };
        let s = DeploymentStrategy;
        assert_eq!(s.columns().len(), s.row(&d, &ctx).len());
        assert_eq!(
            s.row(&d, &ctx),
            vec![json!("2/3"), json!(3), json!(2), json!("5m"), json!("nginx"), json!("nginx:1.27"), json!("app=web")]
        );
        let names: Vec<&str> = s.columns().iter().filter(|c| c.priority == 0).map(|c| c.name).collect();
        assert_eq!(names, ["Ready", "Up-to-date", "Available", "Age"]);
        assert_eq!(s.scale_paths().unwrap().selector.as_deref(), Some("/spec/selector"));
    }
}
