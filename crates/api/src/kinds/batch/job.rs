//! Job (batch/v1): defaults, the generated selector, validation, printing and the
//! `status.successful` field selector.

use k8s_openapi::api::batch::v1::Job;
use serde_json::{Map, Value, json};

use super::job_spec::validate_job_spec;
use super::job_update::validate_spec_update;
use crate::kinds::apps::{containers_column, images_column};
use crate::kinds::support::json::{default_key, object_mut};
use crate::kinds::support::pod_template::default_template_at;
use crate::kinds::support::selector::{Selector, format_label_selector, validate_label_selector};
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as, reset_status};
use crate::table::{self, Column, human_duration, parse_time};
use crate::validation::{FieldError, FieldPath, names};

/// Labels the API server puts on a Job's pod template and selects by.
pub const CONTROLLER_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
pub const LEGACY_CONTROLLER_UID_LABEL: &str = "controller-uid";
pub const LEGACY_JOB_NAME_LABEL: &str = "job-name";

pub struct JobStrategy;

impl Strategy for JobStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Job>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = object_mut(obj, &["spec"]) else { return };
        if spec.get("completions").is_none_or(Value::is_null) && spec.get("parallelism").is_none_or(Value::is_null) {
            spec.insert("completions".into(), json!(1));
            spec.insert("parallelism".into(), json!(1));
        }
        default_key(spec, "parallelism", json!(1));
        let per_index = spec.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null());
        default_key(spec, "backoffLimit", json!(if per_index { i64::from(i32::MAX) } else { 6 }));
        default_key(spec, "completionMode", json!("NonIndexed"));
        default_key(spec, "suspend", json!(false));
        let has_failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
        default_key(
            spec,
            "podReplacementPolicy",
            json!(if has_failure_policy { "Failed" } else { "TerminatingOrFailed" }),
        );
        default_key(spec, "manualSelector", json!(false));
        if let Some(Value::Array(rules)) = spec.get_mut("podFailurePolicy").and_then(|p| p.get_mut("rules")) {
            for rule in rules {
                if let Some(Value::Array(patterns)) = rule.get_mut("onPodConditions") {
                    for pattern in patterns.iter_mut().filter_map(Value::as_object_mut) {
                        default_key(pattern, "status", json!("True"));
                    }
                }
            }
        }
        // A Job without labels of its own takes its pod template's.
        if let Some(template_labels) = obj.pointer("/spec/template/metadata/labels").filter(|v| v.is_object()).cloned()
            && meta::labels(obj).is_none_or(Map::is_empty)
        {
            meta::set_meta(obj, "labels", template_labels);
        }
        default_template_at(obj, "/spec/template");
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) != Some(true) {
            generate_selector(obj);
        }
        reset_status(obj);
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // Jobs created before the prefixed labels existed keep validating without them.
        let old_labels = old.pointer("/spec/template/metadata/labels");
        let had_prefixed =
            [CONTROLLER_UID_LABEL, JOB_NAME_LABEL].iter().all(|k| old_labels.and_then(|l| l.get(k)).is_some());
        let mut errs = validate(new, had_prefixed);
        errs.extend(validate_spec_update(new, old));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Status", "string", "Status of the job."),
            Column::new("Completions", "string", "The number of pods which reached phase Succeeded."),
            Column::new("Duration", "string", "Time required to complete the job."),
            Column::age(),
            containers_column(),
            images_column(),
            Column::wide("Selector", "string", "A label query over pods that should match the pod count."),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let succeeded = obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0);
        let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(c) => format!("{succeeded}/{c}"),
            None => match obj.pointer("/spec/parallelism").and_then(Value::as_i64).unwrap_or(0) {
                p if p > 1 => format!("{succeeded}/1 of {p}"),
                _ => format!("{succeeded}/1"),
            },
        };
        let start = obj.pointer("/status/startTime").and_then(Value::as_str).and_then(parse_time);
        let end = obj.pointer("/status/completionTime").and_then(Value::as_str).and_then(parse_time);
        let duration = match (start, end) {
            (None, _) => String::new(),
            (Some(s), None) => human_duration(ctx.now.duration_since(s).as_secs()),
            (Some(s), Some(e)) => human_duration(e.duration_since(s).as_secs()),
        };
        let (names, images) = table::container_cells(obj.pointer("/spec/template/spec"));
        vec![
            json!(status_word(obj)),
            json!(completions),
            json!(duration),
            json!(table::age(obj, ctx)),
            json!(names),
            json!(images),
            json!(format_label_selector(obj.pointer("/spec/selector"))),
        ]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "status.successful")
            .then(|| obj.pointer("/status/succeeded").and_then(Value::as_i64).unwrap_or(0).to_string())
    }
}

/// The Status column: the first true terminal or notable condition.
fn status_word(obj: &Value) -> &'static str {
    let has = |ty: &str| {
        obj.pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(ty)))
            .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if meta::deletion_timestamp(obj).is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

/// Selects the Job's pods by its uid and labels the template to match (upstream
/// does this in PrepareForCreate, after the API server assigned `metadata.uid`).
/// Labels the client set are kept; conflicting ones fail validation.
pub fn generate_selector(obj: &mut Value) {
    let uid = meta::uid(obj).to_string();
    let name = meta::name(obj).to_string();
    if let Some(labels) = object_mut(obj, &["spec", "template", "metadata", "labels"]) {
        for key in [LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL] {
            labels.entry(key).or_insert_with(|| json!(name));
        }
        for key in [LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL] {
            labels.entry(key).or_insert_with(|| json!(uid));
        }
    }
    if let Some(match_labels) = object_mut(obj, &["spec", "selector", "matchLabels"]) {
        match_labels.entry(CONTROLLER_UID_LABEL).or_insert_with(|| json!(uid));
    }
}

fn validate(obj: &Value, require_prefixed_labels: bool) -> Vec<FieldError> {
    let spec_path = FieldPath::root("spec");
    let mut errs = validate_generated_selector(obj, require_prefixed_labels);
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_job_spec(spec, &spec_path));
    let selector = spec.get("selector").filter(|v| !v.is_null());
    match selector {
        None => errs.push(FieldError::required(spec_path.child("selector"), "")),
        Some(sel) => errs.extend(validate_label_selector(Some(sel), &spec_path.child("selector"))),
    }
    if let Ok(sel) = Selector::parse(selector) {
        let labels = spec.pointer("/template/metadata/labels");
        if !sel.matches(labels) {
            errs.push(FieldError::invalid(
                spec_path.child("template").child("metadata").child("labels"),
                labels.cloned().unwrap_or(Value::Null),
                "`selector` does not match template `labels`",
            ));
        }
    }
    // Indexed pods are named <job>-<index>; the longest must still be a DNS label.
    let indexed = spec.get("completionMode").and_then(Value::as_str) == Some("Indexed");
    if let Some(completions) = spec.get("completions").and_then(Value::as_i64).filter(|c| indexed && *c > 0) {
        let hostname = format!("{}-{}", meta::name(obj), completions - 1);
        if !names::dns1123_label(&hostname).is_empty() {
            errs.push(FieldError::invalid(
                "metadata.name",
                meta::name(obj),
                format!("will not able to create pod with invalid DNS label: {hostname}"),
            ));
        }
    }
    errs
}

/// `validateGeneratedSelector`: a generated selector must select this Job's uid and
/// the template must carry the generated labels.
fn validate_generated_selector(obj: &Value, require_prefixed_labels: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return errs;
    }
    let Some(selector) = obj.pointer("/spec/selector").filter(|v| !v.is_null()) else { return errs };
    let uid = meta::uid(obj);
    let name = meta::name(obj);
    if uid.is_empty() {
        errs.push(FieldError::required("metadata.uid", ""));
    }
    let meta_path = FieldPath::root("spec").child("template").child("metadata");
    let labels = obj.pointer("/spec/template/metadata/labels");
    let mut expected = vec![(LEGACY_CONTROLLER_UID_LABEL, uid), (LEGACY_JOB_NAME_LABEL, name)];
    if require_prefixed_labels {
        expected.extend([(CONTROLLER_UID_LABEL, uid), (JOB_NAME_LABEL, name)]);
    }
    for (key, want) in &expected {
        let path = meta_path.child("labels").key(key);
        match labels.and_then(|l| l.get(*key)).and_then(Value::as_str) {
            None => errs.push(FieldError::required(path, format!("must be '{want}'"))),
            Some(actual) if actual != *want => errs.push(FieldError::invalid(
                path,
                labels.cloned().unwrap_or(Value::Null),
                format!("must be '{want}'"),
            )),
            Some(_) => {}
        }
    }
    let expected_labels: Map<String, Value> = expected.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    if let Ok(sel) = Selector::parse(Some(selector))
        && !sel.matches(Some(&Value::Object(expected_labels)))
    {
        errs.push(FieldError::invalid("spec.selector", selector.clone(), "`selector` not auto-generated"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created_job() -> Value {
        let s = JobStrategy;
        let mut job = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "default", "uid": "1111-2222", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"template": {"metadata": {"labels": {"app": "pi"}}, "spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}
        });
        s.normalize(&mut job).unwrap();
        s.default(&mut job);
        s.prepare_for_create(&mut job);
        job
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_generated_selector() {
        let job = created_job();
        let spec = &job["spec"];
        assert_eq!((spec["completions"].clone(), spec["parallelism"].clone()), (json!(1), json!(1)));
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["manualSelector"], false);
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(job["metadata"]["labels"], json!({"app": "pi"}));
        assert_eq!(spec["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "1111-2222"}}));
        assert_eq!(
            spec["template"]["metadata"]["labels"],
            json!({"app": "pi", "batch.kubernetes.io/controller-uid": "1111-2222", "batch.kubernetes.io/job-name": "pi",
                   "controller-uid": "1111-2222", "job-name": "pi"})
        );
        assert!(JobStrategy.validate_create(&job).is_empty(), "{:?}", JobStrategy.validate_create(&job));
    }

    #[test]
    fn parallelism_alone_leaves_completions_unset() {
        let mut job = json!({"spec": {"parallelism": 3}});
        JobStrategy.default(&mut job);
        assert!(job["spec"].get("completions").is_none());
        let mut job = json!({"spec": {"backoffLimitPerIndex": 1, "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}});
        JobStrategy.default(&mut job);
        assert_eq!(job["spec"]["backoffLimit"], 2147483647);
        assert_eq!(job["spec"]["podReplacementPolicy"], "Failed");
        assert_eq!(job["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"], "True");
    }

    #[test]
    fn foreign_selector_is_rejected() {
        let mut job = created_job();
        job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] = json!("other");
        let errs = messages(JobStrategy.validate_create(&job));
        assert!(errs.contains(&"spec.selector: Invalid value: {\"matchLabels\":{\"batch.kubernetes.io/controller-uid\":\"other\"}}: `selector` not auto-generated".to_string()), "{errs:?}");
        assert!(errs.iter().any(|e| e.ends_with("`selector` does not match template `labels`")));
    }

    #[test]
    fn manual_selector_needs_a_selector() {
        let mut job = json!({"metadata": {"name": "m", "uid": "u"}, "spec": {"manualSelector": true,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        JobStrategy.default(&mut job);
        JobStrategy.prepare_for_create(&mut job);
        let errs = messages(JobStrategy.validate_create(&job));
        assert!(errs.contains(&"spec.selector: Required value".to_string()), "{errs:?}");
    }

    #[test]
    fn update_rules() {
        let old = created_job();
        let mut new = old.clone();
        new["spec"]["completions"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:2");
        let errs = messages(JobStrategy.validate_update(&new, &old));
        assert!(errs.contains(&"spec.completions: Invalid value: 5: field is immutable".to_string()), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.starts_with("spec.template: Invalid value: ") && e.ends_with(": field is immutable"))
        );
        // Suspended, never started: the node selector may change.
        let mut old = created_job();
        old["spec"]["suspend"] = json!(true);
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["nodeSelector"] = json!({"disk": "ssd"});
        assert!(JobStrategy.validate_update(&new, &old).is_empty());
        old["status"] = json!({"startTime": "2024-01-01T00:00:00Z"});
        assert_eq!(JobStrategy.validate_update(&new, &old).len(), 1);
    }

    #[test]
    fn elastic_indexed_completions() {
        let mut old = created_job();
        old["spec"]["completionMode"] = json!("Indexed");
        let mut new = old.clone();
        new["spec"]["completions"] = json!(4);
        new["spec"]["parallelism"] = json!(4);
        assert!(JobStrategy.validate_update(&new, &old).is_empty());
        new["spec"]["parallelism"] = json!(2);
        assert_eq!(
            messages(JobStrategy.validate_update(&new, &old)),
            vec!["spec.completions: Invalid value: 4: can only be modified in tandem with spec.parallelism"]
        );
    }

    #[test]
    fn printing_and_field_selector() {
        let mut job = created_job();
        job["status"] = json!({"succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:12Z",
            "conditions": [{"type": "Complete", "status": "True"}]});
        let ctx = Context { now: "2024-01-01T00:01:00Z".parse().unwrap() };
        let row = JobStrategy.row(&job, &ctx);
        assert_eq!(row[..4], [json!("Complete"), json!("1/1"), json!("12s"), json!("60s")]);
        assert_eq!(row[6], json!("batch.kubernetes.io/controller-uid=1111-2222"));
        assert_eq!(JobStrategy.field_label(&job, "status.successful").as_deref(), Some("1"));
        let running = json!({"spec": {"parallelism": 3}, "status": {"startTime": "2024-01-01T00:00:00Z"}});
        assert_eq!(JobStrategy.row(&running, &ctx)[..3], [json!("Running"), json!("0/1 of 3"), json!("60s")]);
    }
}
