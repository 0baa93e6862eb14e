//! DaemonSet (apps/v1): defaults, validation, template-generation tracking and printing.

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

use super::workload::{containers_column, count, images_column, restart_policy_always, selector_column};
use crate::kinds::support::checks::{self, immutable_at, nonnegative_at};
use crate::kinds::support::json::{default_at, default_str, normalize_keeping_absent, object_mut};
use crate::kinds::support::lifecycle::keep_old_status;
use crate::kinds::support::pod_template::{default_template_at, pod_template_rules};
use crate::kinds::support::selector::{self, Selector, format_label_selector};
use crate::meta;
use crate::strategy::{Context, Strategy, reset_status};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

/// Where apps/v1 keeps the DaemonSet's template generation (a field of the internal
/// type upstream).
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

pub struct DaemonSetStrategy;

impl Strategy for DaemonSetStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_keeping_absent::<DaemonSet>(obj, &["/spec/selector"])
    }

    fn default(&self, obj: &mut Value) {
        if let Some(strategy) = object_mut(obj, &["spec", "updateStrategy"]) {
            default_str(strategy, "type", "RollingUpdate");
            if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
                default_at(obj, &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], json!(1));
                default_at(obj, &["spec", "updateStrategy", "rollingUpdate", "maxSurge"], json!(0));
            }
        }
        default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
        default_template_at(obj, "/spec/template");
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        reset_status(obj);
        let generation = template_generation(obj).max(1);
        set_template_generation(obj, generation);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
        // The template generation moves only with the template; clients cannot set it.
        let old_generation = template_generation(old);
        let generation = if new.pointer("/spec/template") != old.pointer("/spec/template") {
            old_generation + 1
        } else {
            old_generation
        };
        set_template_generation(new, generation);
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
            Column::new(
                "Desired",
                "integer",
                "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
            ),
            Column::new(
                "Current",
                "integer",
                "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
            ),
            Column::new(
                "Ready",
                "integer",
                "Total number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
            ),
            Column::new("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
            Column::new(
                "Available",
                "integer",
                "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
            ),
            Column::new(
                "Node Selector",
                "string",
                "NodeSelector is a selector which must be true for the pod to fit on a node.",
            ),
            Column::age(),
            containers_column(),
            images_column(),
            selector_column("A label query over pods that are managed by the daemon set."),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let (names, images) = table::container_cells(obj.pointer("/spec/template/spec"));
        vec![
            count(obj, "/status/desiredNumberScheduled"),
            count(obj, "/status/currentNumberScheduled"),
            count(obj, "/status/numberReady"),
            count(obj, "/status/updatedNumberScheduled"),
            count(obj, "/status/numberAvailable"),
            json!(table::labels_string(obj.pointer("/spec/template/spec/nodeSelector"))),
            json!(table::age(obj, ctx)),
            json!(names),
            json!(images),
            json!(format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }
}

fn template_generation(obj: &Value) -> i64 {
    meta::annotation(obj, TEMPLATE_GENERATION_ANNOTATION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn set_template_generation(obj: &mut Value, generation: i64) {
    if let Some(annotations) = object_mut(obj, &["metadata", "annotations"]) {
        annotations.insert(TEMPLATE_GENERATION_ANNOTATION.to_string(), json!(generation.to_string()));
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let sel_path = spec.child("selector");
    let sel = obj.pointer("/spec/selector").filter(|v| !v.is_null());
    let template = obj.pointer("/spec/template").unwrap_or(&Value::Null);
    let template_path = spec.child("template");
    let mut errs = selector::validate_label_selector(sel, &sel_path);
    match Selector::parse(sel) {
        Ok(parsed) => errs.extend(pod_template_rules(template, &parsed, &template_path)),
        // An unparsable selector is reported above; the template is still checked.
        Err(_) => errs.extend(crate::kinds::support::pod_template::validate_pod_template(template, &template_path)),
    }
    if let Some(s) = sel.filter(|s| selector::is_empty_selector(s)) {
        errs.push(FieldError::invalid(&sel_path, s.clone(), "empty selector is invalid for daemonset"));
    }
    errs.extend(restart_policy_always(template, &template_path, "DaemonSet"));
    errs.extend(nonnegative_at(obj, "/spec/minReadySeconds", &spec.child("minReadySeconds")));
    errs.extend(validate_update_strategy(obj, &spec.child("updateStrategy")));
    errs.extend(nonnegative_at(obj, "/spec/revisionHistoryLimit", &spec.child("revisionHistoryLimit")));
    errs
}

fn validate_update_strategy(obj: &Value, path: &FieldPath) -> Vec<FieldError> {
    let strategy = obj.pointer("/spec/updateStrategy").cloned().unwrap_or(Value::Null);
    match strategy.get("type").and_then(Value::as_str).unwrap_or_default() {
        "OnDelete" => Vec::new(),
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => vec![FieldError::required(path.child("rollingUpdate"), "")],
            Some(ru) => validate_rolling_update(ru, &path.child("rollingUpdate")),
        },
        _ => vec![FieldError::not_supported(path, strategy.clone(), &["RollingUpdate", "OnDelete"])],
    }
}

fn validate_rolling_update(ru: &Value, path: &FieldPath) -> Vec<FieldError> {
    let zero = json!(0);
    let max_unavailable = ru.get("maxUnavailable").filter(|v| !v.is_null()).unwrap_or(&zero);
    let max_surge = ru.get("maxSurge").filter(|v| !v.is_null()).unwrap_or(&zero);
    let mut errs = checks::positive_int_or_percent(max_unavailable, &path.child("maxUnavailable"));
    errs.extend(checks::positive_int_or_percent(max_surge, &path.child("maxSurge")));
    errs.extend(checks::not_more_than_100_percent(max_unavailable, &path.child("maxUnavailable")));
    errs.extend(checks::not_more_than_100_percent(max_surge, &path.child("maxSurge")));
    let has_unavailable = checks::int_or_percent_value(max_unavailable) != 0;
    let has_surge = checks::int_or_percent_value(max_surge) != 0;
    match (has_unavailable, has_surge) {
        (true, true) => errs.push(FieldError::invalid(
            path.child("maxSurge"),
            max_surge.clone(),
            "may not be set when maxUnavailable is non-zero",
        )),
        (false, false) => {
            errs.push(FieldError::required(path.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
        }
        _ => {}
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Value {
        let mut ds = json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "a", "image": "agent:1"}]}}
            }
        });
        DaemonSetStrategy.normalize(&mut ds).unwrap();
        DaemonSetStrategy.default(&mut ds);
        ds
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults() {
        let d = ds();
        assert_eq!(
            d["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert!(DaemonSetStrategy.validate_create(&d).is_empty());
    }

    #[test]
    fn rolling_update_rules() {
        let mut d = ds();
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 1, "maxSurge": 1});
        assert_eq!(
            messages(DaemonSetStrategy.validate_create(&d)),
            vec![
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"
            ]
        );
        d["spec"]["updateStrategy"]["rollingUpdate"] = json!({"maxUnavailable": 0, "maxSurge": 0});
        assert_eq!(
            messages(DaemonSetStrategy.validate_create(&d)),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"]
        );
        d["spec"]["updateStrategy"] = json!({"type": "Sometimes"});
        assert_eq!(
            messages(DaemonSetStrategy.validate_create(&d)),
            vec![
                "spec.updateStrategy: Unsupported value: {\"type\":\"Sometimes\"}: supported values: \"RollingUpdate\", \"OnDelete\""
            ]
        );
    }

    #[test]
    fn selector_rules() {
        let mut d = ds();
        d["spec"]["selector"] = json!({});
        assert_eq!(
            messages(DaemonSetStrategy.validate_create(&d)),
            vec!["spec.selector: Invalid value: {}: empty selector is invalid for daemonset"]
        );
        d["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        assert!(
            messages(DaemonSetStrategy.validate_create(&d))[0].ends_with("`selector` does not match template `labels`")
        );
    }

    #[test]
    fn template_generation_follows_template() {
        let mut d = ds();
        DaemonSetStrategy.prepare_for_create(&mut d);
        assert_eq!(d["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION], "1");
        let mut same = d.clone();
        same["spec"]["minReadySeconds"] = json!(5);
        DaemonSetStrategy.prepare_for_update(&mut same, &d);
        assert_eq!(same["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION], "1");
        let mut changed = d.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("agent:2");
        DaemonSetStrategy.prepare_for_update(&mut changed, &d);
        assert_eq!(changed["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION], "2");
    }

    #[test]
    fn prints() {
        let mut d = ds();
        d["status"] = json!({"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2});
        let ctx = Context { now: "2024-01-01T01:00:00Z".parse().unwrap() };
        let row = DaemonSetStrategy.row(&d, &ctx);
        assert_eq!(DaemonSetStrategy.columns().len(), row.len());
        assert_eq!(
            row,
            vec![
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("60m"),
                json!("a"),
                json!("agent:1"),
                json!("app=agent")
            ]
        );
    }
}
