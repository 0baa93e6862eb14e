//! ReplicationControllers and PodTemplates: pod-template defaulting and validation
//! (shared with the workload kinds), RC's selector/labels/replicas defaults, the
//! template rules of replicated pods, `/scale`, their rows and field selectors.

use k8s_openapi::api::core::v1::{PodTemplate, ReplicationController};
use serde_json::{Value, json};

use crate::kinds::common::labels::{format_labels, selector_matches, validate_labels};
use crate::kinds::common::pod_spec::{default_pod_template_spec, template_labels, validate_pod_template_spec};
use crate::kinds::common::printing::{container_cells, container_columns, since_time};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, ScalePaths, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::{FieldError, FieldPath};

pub struct ReplicationControllerStrategy;

fn validate_rc(rc: &ReplicationController) -> Vec<FieldError> {
    let spec = rc.spec.clone().unwrap_or_default();
    let path = FieldPath::root("spec");
    let mut errs = Vec::new();
    for (field, value) in [("replicas", spec.replicas), ("minReadySeconds", spec.min_ready_seconds)] {
        if let Some(v) = value.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(path.child(field), v, "must be greater than or equal to 0"));
        }
    }
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required(path.child("selector"), ""));
    } else {
        errs.extend(validate_labels(&selector, &path.child("selector")));
    }
    let tpath = path.child("template");
    match &spec.template {
        None => errs.push(FieldError::required(&tpath, "")),
        Some(template) => {
            let labels = template_labels(template);
            if !selector.is_empty() && !selector_matches(&selector, Some(&labels)) {
                errs.push(FieldError::invalid(
                    tpath.child("metadata").child("labels"),
                    json!(labels),
                    "`selector` does not match template `labels`",
                ));
            }
            errs.extend(validate_pod_template_spec(template, &tpath));
            let tspec = template.spec.clone().unwrap_or_default();
            if let Some(p) = tspec.restart_policy.as_deref().filter(|p| *p != "Always") {
                errs.push(FieldError::not_supported(tpath.child("spec").child("restartPolicy"), p, &["Always"]));
            }
            if tspec.active_deadline_seconds.is_some() {
                errs.push(FieldError::forbidden(
                    tpath.child("spec").child("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}

impl Strategy for ReplicationControllerStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ReplicationController>(obj)
    }

    /// Selector and object labels default to the template's labels; one replica.
    fn default(&self, obj: &mut Value) {
        typed::<ReplicationController>(obj, |rc| {
            let spec = rc.spec.get_or_insert_with(Default::default);
            if let Some(template) = spec.template.as_mut() {
                default_pod_template_spec(template);
                if let Some(labels) = template.metadata.as_ref().and_then(|m| m.labels.clone()) {
                    if spec.selector.as_ref().is_none_or(|s| s.is_empty()) {
                        spec.selector = Some(labels.clone());
                    }
                    if rc.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
                        rc.metadata.labels = Some(labels);
                    }
                }
            }
            if spec.replicas.is_none() {
                spec.replicas = Some(1);
            }
        });
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"replicas": 0});
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<ReplicationController>(obj) {
            Ok(rc) => validate_rc(&rc),
            Err(e) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    fn columns(&self) -> Vec<Column> {
        let [names, images] = container_columns(1);
        vec![
            Column::new("Desired", "integer", "Replicas is the number of desired replicas."),
            Column::new("Current", "integer", "Replicas is the most recently observed number of replicas."),
            Column::new("Ready", "integer", "The number of ready replicas for this replication controller."),
            Column::age(),
            names,
            images,
            Column::wide(
                "Selector",
                "string",
                "Selector is a label query over pods that should match the Replicas count.",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let rc: ReplicationController = decode_or_default(obj);
        let spec = rc.spec.clone().unwrap_or_default();
        let status = rc.status.clone().unwrap_or_default();
        let containers =
            spec.template.as_ref().and_then(|t| t.spec.as_ref()).map(|s| s.containers.clone()).unwrap_or_default();
        let (names, images) = container_cells(&containers);
        vec![
            json!(spec.replicas.unwrap_or(0)),
            json!(status.replicas),
            json!(status.ready_replicas.unwrap_or(0)),
            json!(since_time(rc.metadata.creation_timestamp.as_ref(), ctx)),
            json!(names),
            json!(images),
            json!(format_labels(spec.selector.as_ref())),
        ]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "status.replicas")
            .then(|| obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0).to_string())
    }

    /// RC selectors are label maps, not `LabelSelector`s, so no selector path is given.
    fn scale_paths(&self) -> Option<ScalePaths> {
        Some(ScalePaths {
            spec_replicas: "/spec/replicas".into(),
            status_replicas: "/status/replicas".into(),
            selector: None,
        })
    }
}

pub struct PodTemplateStrategy;

impl Strategy for PodTemplateStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<PodTemplate>(obj)
    }

    fn default(&self, obj: &mut Value) {
        typed::<PodTemplate>(obj, |pt| default_pod_template_spec(pt.template.get_or_insert_with(Default::default)));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<PodTemplate>(obj) {
            Ok(pt) => validate_pod_template_spec(&pt.template.unwrap_or_default(), &FieldPath::root("template")),
            Err(e) => vec![FieldError::invalid("template", Value::Null, e)],
        }
    }

    fn columns(&self) -> Vec<Column> {
        let [names, images] = container_columns(0);
        vec![names, images, Column::new("Pod Labels", "string", "The labels for the pod template.")]
    }

    fn row(&self, obj: &Value, _ctx: &Context) -> Vec<Value> {
        let pt: PodTemplate = decode_or_default(obj);
        let template = pt.template.unwrap_or_default();
        let containers = template.spec.as_ref().map(|s| s.containers.clone()).unwrap_or_default();
        let (names, images) = container_cells(&containers);
        let labels = template.metadata.and_then(|m| m.labels);
        vec![json!(names), json!(images), json!(format_labels(labels.as_ref()))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(v: Value) -> Value {
        let mut v = v;
        ReplicationControllerStrategy.normalize(&mut v).unwrap();
        ReplicationControllerStrategy.default(&mut v);
        v
    }

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]}})
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn defaults_from_template() {
        let v = rc(json!({"metadata": {"name": "web"}, "spec": {"template": template(json!({"app": "web"}))}}));
        assert_eq!(v["spec"]["replicas"], 1);
        assert_eq!(v["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(v["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Always");
        assert!(v["spec"]["template"]["spec"].get("enableServiceLinks").is_none());
        assert!(ReplicationControllerStrategy.validate_create(&v).is_empty());
    }

    #[test]
    fn validation() {
        let mut v = rc(
            json!({"metadata": {"name": "web"}, "spec": {"replicas": -1, "selector": {"app": "other"}, "template": template(json!({"app": "web"}))}}),
        );
        v["spec"]["template"]["spec"]["restartPolicy"] = json!("Never");
        v["spec"]["template"]["spec"]["activeDeadlineSeconds"] = json!(10);
        assert_eq!(
            messages(ReplicationControllerStrategy.validate_create(&v)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`",
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
                "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicationController is not Supported",
            ]
        );
        let no_template = rc(json!({"spec": {"selector": {"a": "b"}}}));
        assert_eq!(
            messages(ReplicationControllerStrategy.validate_create(&no_template)),
            vec!["spec.template: Required value"]
        );
        let bad_container = rc(
            json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "x"}]}}}}),
        );
        assert_eq!(
            messages(ReplicationControllerStrategy.validate_create(&bad_container)),
            vec!["spec.template.spec.containers[0].image: Required value"]
        );
    }

    #[test]
    fn rows_fields_and_scale() {
        let mut v = rc(
            json!({"metadata": {"name": "web", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"replicas": 3, "template": template(json!({"app": "web"}))}}),
        );
        ReplicationControllerStrategy.prepare_for_create(&mut v);
        assert_eq!(v["status"], json!({"replicas": 0}));
        v["status"] = json!({"replicas": 3, "readyReplicas": 2});
        let ctx = Context { now: "2024-01-01T00:00:30Z".parse().unwrap() };
        assert_eq!(
            ReplicationControllerStrategy.row(&v, &ctx),
            vec![
                json!(3),
                json!(3),
                json!(2),
                json!("30s"),
                json!("web,log"),
                json!("nginx:1,busybox"),
                json!("app=web")
            ]
        );
        assert_eq!(ReplicationControllerStrategy.field_label(&v, "status.replicas").as_deref(), Some("3"));
        assert!(ReplicationControllerStrategy.tracks_generation());
        assert_eq!(
            ReplicationControllerStrategy.scale_paths().map(|s| s.spec_replicas),
            Some("/spec/replicas".to_string())
        );
    }

    #[test]
    fn pod_templates() {
        let mut v = json!({"metadata": {"name": "t"}, "template": template(json!({"app": "web"}))});
        PodTemplateStrategy.normalize(&mut v).unwrap();
        PodTemplateStrategy.default(&mut v);
        assert_eq!(v["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert!(PodTemplateStrategy.validate_create(&v).is_empty());
        assert_eq!(
            PodTemplateStrategy.row(&v, &Context::now()),
            vec![json!("web,log"), json!("nginx:1,busybox"), json!("app=web")]
        );
        v["template"]["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
        assert!(
            messages(PodTemplateStrategy.validate_create(&v)).contains(
                &"template.spec.ephemeralContainers: Forbidden: ephemeral containers not allowed in pod template"
                    .to_string()
            )
        );
    }
}
