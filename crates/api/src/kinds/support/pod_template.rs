//! CALL POINT for the shared pod-template rules of workload kinds (Deployment,
//! ReplicaSet, DaemonSet, StatefulSet, Job, CronJob).
//!
//! Upstream defaults and validates a workload's `spec.template` with the same code as
//! a Pod's spec (`SetDefaults_PodSpec`, `ValidatePodTemplateSpec`). That code lives in
//! `kinds/common`, written alongside this module; once it is merged, the bodies of
//! [`default_pod_template`] and [`validate_pod_template`] call it. Until then they
//! apply only what the workload rules here depend on:
//! - defaulting sets `spec.restartPolicy: Always` when unset (as `SetDefaults_PodSpec`
//!   does), so the workloads' "restartPolicy must be Always" rule sees what upstream sees;
//! - validation checks the template's labels (`ValidateLabels`).
//!
//! [`pod_template_rules`] is the one entry point the kinds call for validation: the
//! selector-vs-labels check followed by the template validation.

use serde_json::Value;

use super::json;
use super::selector::{Selector, validate_labels};
use crate::validation::{FieldError, FieldPath};

/// Pod-template defaulting (interim subset; see the module docs). Like upstream, whose
/// template and pod spec are values rather than pointers, it defaults even a template
/// the client left out.
pub fn default_pod_template(template: &mut Value) {
    if let Some(spec) = json::object_mut(template, &["spec"]) {
        json::default_key(spec, "restartPolicy", Value::String("Always".into()));
    }
}

/// [`default_pod_template`] for the template at a JSON pointer (`/spec/template`),
/// created when missing.
pub fn default_template_at(obj: &mut Value, pointer: &str) {
    let path: Vec<&str> = pointer.split('/').filter(|s| !s.is_empty()).collect();
    if json::object_mut(obj, &path).is_some()
        && let Some(template) = obj.pointer_mut(pointer)
    {
        default_pod_template(template);
    }
}

/// Pod-template validation (interim subset; see the module docs).
pub fn validate_pod_template(template: &Value, path: &FieldPath) -> Vec<FieldError> {
    validate_labels(template.pointer("/metadata/labels"), &path.child("metadata").child("labels"))
}

/// The rules every selector-driven workload applies to its template, in upstream's
/// order: the selector must match the template's labels, then the template itself
/// must be valid. `path` is the template's path (`spec.template`).
pub fn pod_template_rules(template: &Value, selector: &Selector, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let labels = template.pointer("/metadata/labels");
    if !selector.matches(labels) {
        errs.push(FieldError::invalid(
            path.child("metadata").child("labels"),
            labels.cloned().unwrap_or(Value::Null),
            "`selector` does not match template `labels`",
        ));
    }
    errs.extend(validate_pod_template(template, path));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restart_policy_defaults_to_always() {
        let mut t = json!({"spec": {"containers": []}});
        default_pod_template(&mut t);
        assert_eq!(t["spec"]["restartPolicy"], "Always");
        let mut t = json!({"spec": {"restartPolicy": "Never"}});
        default_pod_template(&mut t);
        assert_eq!(t["spec"]["restartPolicy"], "Never");
        let mut obj = json!({"spec": {}});
        default_template_at(&mut obj, "/spec/jobTemplate/spec/template");
        assert_eq!(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn selector_must_match_labels() {
        let sel = Selector::parse(Some(&json!({"matchLabels": {"app": "web"}}))).unwrap();
        let path = FieldPath::root("spec").child("template");
        assert!(pod_template_rules(&json!({"metadata": {"labels": {"app": "web"}}}), &sel, &path).is_empty());
        let errs = pod_template_rules(&json!({"metadata": {"labels": {"app": "db"}}}), &sel, &path);
        assert_eq!(
            errs[0].to_string(),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"db\"}: `selector` does not match template `labels`"
        );
    }
}
