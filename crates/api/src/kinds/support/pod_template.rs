//! The shared pod-template rules of workload kinds (Deployment, ReplicaSet,
//! DaemonSet, StatefulSet, Job, CronJob): upstream defaults and validates a
//! workload's `spec.template` with the same code as a Pod's spec, which lives in
//! `kinds::common::pod_spec`; this module applies it to templates held as JSON.
//!
//! [`pod_template_rules`] is the one entry point the kinds call for validation: the
//! selector-vs-labels check followed by the template validation.

use serde_json::Value;

use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::json;
use super::selector::{Selector, validate_labels};
use crate::kinds::common::pod_spec::{default_pod_template_spec, validate_pod_template_spec};
use crate::validation::{FieldError, FieldPath};

/// Pod-template defaulting (upstream `SetDefaults_PodSpec` and friends). Like upstream,
/// whose template and pod spec are values rather than pointers, it defaults even a
/// template the client left out.
pub fn default_pod_template(template: &mut Value) {
    if json::object_mut(template, &["spec"]).is_none() {
        return;
    }
    crate::strategy::typed::<PodTemplateSpec>(template, default_pod_template_spec);
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

/// Pod-template validation (upstream `ValidatePodTemplateSpec`).
pub fn validate_pod_template(template: &Value, path: &FieldPath) -> Vec<FieldError> {
    match serde_json::from_value::<PodTemplateSpec>(template.clone()) {
        Ok(t) => validate_pod_template_spec(&t, path),
        // Shape errors are reported by the kind's decoding; keep the label check meaningful.
        Err(_) => validate_labels(template.pointer("/metadata/labels"), &path.child("metadata").child("labels")),
    }
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
        let mut t = json!({"spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        default_pod_template(&mut t);
        assert_eq!(t["spec"]["restartPolicy"], "Always");
        assert_eq!(t["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(t["spec"]["dnsPolicy"], "ClusterFirst");
        let mut t = json!({"spec": {"restartPolicy": "Never"}});
        default_pod_template(&mut t);
        assert_eq!(t["spec"]["restartPolicy"], "Never");
        let mut obj = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}});
        default_template_at(&mut obj, "/spec/jobTemplate/spec/template");
        assert_eq!(obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn selector_must_match_labels() {
        let sel = Selector::parse(Some(&json!({"matchLabels": {"app": "web"}}))).unwrap();
        let path = FieldPath::root("spec").child("template");
        let valid = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i",
            "imagePullPolicy": "IfNotPresent", "terminationMessagePolicy": "File"}], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}});
        assert_eq!(pod_template_rules(&valid, &sel, &path), vec![]);
        let errs = pod_template_rules(&json!({"metadata": {"labels": {"app": "db"}}}), &sel, &path);
        assert_eq!(
            errs[0].to_string(),
            "spec.template.metadata.labels: Invalid value: {\"app\":\"db\"}: `selector` does not match template `labels`"
        );
    }
}
