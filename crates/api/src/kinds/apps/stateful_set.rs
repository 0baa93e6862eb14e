//! StatefulSet (apps/v1): defaults, validation (including which spec fields an
//! update may change), printing and `/scale`.

use k8s_openapi::api::apps::v1::StatefulSet;
use serde_json::{Value, json};

use super::workload::{
    containers_column, images_column, required_selector, restart_policy_always, standard_scale_paths,
};
use crate::kinds::support::checks::nonnegative_at;
use crate::kinds::support::json::{default_at, default_key, default_str, normalize_keeping_absent, object_mut};
use crate::kinds::support::pod_template::{default_template_at, pod_template_rules};
use crate::strategy::{Context, ScalePaths, Strategy};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

/// Spec fields an update may change; anything else is forbidden.
const MUTABLE_SPEC_FIELDS: &[&str] = &[
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

pub struct StatefulSetStrategy;

impl Strategy for StatefulSetStrategy {
    /// Pod names derive from the set's name, so it must be a DNS-1123 label.
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::dns1123_label(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_keeping_absent::<StatefulSet>(obj, &["/spec/selector"])
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = object_mut(obj, &["spec"]) else { return };
        default_str(spec, "podManagementPolicy", "OrderedReady");
        default_key(spec, "replicas", json!(1));
        default_key(spec, "revisionHistoryLimit", json!(10));
        if let Some(strategy) = object_mut(obj, &["spec", "updateStrategy"]) {
            // Only a strategy left entirely to the server gets a rollingUpdate block.
            if strategy.get("type").is_none_or(|t| t.as_str().is_none_or(str::is_empty)) {
                strategy.insert("type".into(), json!("RollingUpdate"));
                default_key(strategy, "rollingUpdate", json!({}));
            }
            let rolling = strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate");
            if let Some(ru) = strategy.get_mut("rollingUpdate").and_then(Value::as_object_mut).filter(|_| rolling) {
                default_key(ru, "partition", json!(0));
            }
        }
        default_at(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], json!("Retain"));
        default_at(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], json!("Retain"));
        default_template_at(obj, "/spec/template");
        if let Some(Value::Array(claims)) = obj.pointer_mut("/spec/volumeClaimTemplates") {
            for claim in claims {
                default_claim_template(claim);
            }
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
        let fixed = |obj: &Value| {
            let mut spec = obj.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(map) = spec.as_object_mut() {
                for key in MUTABLE_SPEC_FIELDS {
                    map.remove(*key);
                }
            }
            spec
        };
        if fixed(new) != fixed(old) {
            errs.push(FieldError::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Ready", "string", "Number of the pod with ready state"),
            Column::age(),
            containers_column(),
            images_column(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let ready = obj.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0);
        let desired = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
        let (names, images) = table::container_cells(obj.pointer("/spec/template/spec"));
        vec![json!(format!("{ready}/{desired}")), json!(table::age(obj, ctx)), json!(names), json!(images)]
    }

    fn scale_paths(&self) -> Option<ScalePaths> {
        Some(standard_scale_paths())
    }
}

/// PersistentVolumeClaim defaults applied to each claim template (upstream runs the
/// PVC defaulter on them): `Filesystem` volume mode and a `Pending` phase.
fn default_claim_template(claim: &mut Value) {
    default_at(claim, &["spec", "volumeMode"], json!("Filesystem"));
    default_at(claim, &["status", "phase"], json!("Pending"));
}

/// The pod template as its pods will be: each volumeClaimTemplate is a volume of that
/// name (the controller adds it), so volume mounts may refer to claim templates.
fn template_with_claim_volumes(obj: &Value) -> Value {
    let mut template = obj.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let claims: Vec<String> = obj
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string))
        .collect();
    if claims.is_empty() {
        return template;
    }
    if let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(list) = volumes.as_array_mut() {
            for claim in claims {
                if !list.iter().any(|v| v.get("name").and_then(Value::as_str) == Some(claim.as_str())) {
                    list.push(json!({"name": claim, "persistentVolumeClaim": {"claimName": claim}}));
                }
            }
        }
    }
    template
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    let policy_path = spec.child("podManagementPolicy");
    match obj.pointer("/spec/podManagementPolicy").and_then(Value::as_str).unwrap_or_default() {
        "" => errs.push(FieldError::required(&policy_path, "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(&policy_path, other, "must be 'OrderedReady' or 'Parallel'")),
    }
    errs.extend(validate_update_strategy(obj, &spec.child("updateStrategy")));
    for which in ["whenDeleted", "whenScaled"] {
        if obj.pointer("/spec/persistentVolumeClaimRetentionPolicy").is_some_and(|p| !p.is_null()) {
            let value = obj
                .pointer(&format!("/spec/persistentVolumeClaimRetentionPolicy/{which}"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if value != "Retain" && value != "Delete" {
                errs.push(FieldError::not_supported(
                    spec.child("persistentVolumeClaimRetentionPolicy").child(which),
                    value,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonnegative_at(obj, "/spec/replicas", &spec.child("replicas")));
    errs.extend(nonnegative_at(obj, "/spec/minReadySeconds", &spec.child("minReadySeconds")));
    errs.extend(nonnegative_at(obj, "/spec/ordinals/start", &spec.child("ordinals.start")));
    let (sel_errs, parsed) = required_selector(obj, "statefulset");
    errs.extend(sel_errs);
    let template = template_with_claim_volumes(obj);
    let template = &template;
    let template_path = spec.child("template");
    match parsed {
        Err(()) => errs.push(FieldError::invalid(
            spec.child("selector"),
            obj.pointer("/spec/selector").cloned().unwrap_or(Value::Null),
            "",
        )),
        Ok(sel) => errs.extend(pod_template_rules(template, &sel, &template_path)),
    }
    errs.extend(restart_policy_always(template, &template_path, "StatefulSet"));
    errs.extend(nonnegative_at(obj, "/spec/revisionHistoryLimit", &spec.child("revisionHistoryLimit")));
    errs
}

fn validate_update_strategy(obj: &Value, path: &FieldPath) -> Vec<FieldError> {
    let strategy = obj.pointer("/spec/updateStrategy").cloned().unwrap_or(Value::Null);
    let rolling = strategy.get("rollingUpdate").filter(|v| !v.is_null());
    match strategy.get("type").and_then(Value::as_str).unwrap_or_default() {
        "" => vec![FieldError::required(path, "")],
        "OnDelete" => rolling
            .map(|ru| {
                FieldError::invalid(
                    path.child("rollingUpdate"),
                    ru.clone(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                )
            })
            .into_iter()
            .collect(),
        "RollingUpdate" => rolling
            .and_then(|ru| ru.get("partition").and_then(Value::as_i64))
            .and_then(|p| {
                crate::kinds::support::checks::nonnegative(p, &path.child("rollingUpdate").child("partition"))
            })
            .into_iter()
            .collect(),
        _ => vec![FieldError::invalid(path, strategy.clone(), "must be 'RollingUpdate' or 'OnDelete'")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_mounts_may_name_claim_templates() {
        let mut s = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                                      "volumeMounts": [{"name": "www", "mountPath": "/data"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        });
        StatefulSetStrategy.normalize(&mut s).unwrap();
        StatefulSetStrategy.default(&mut s);
        assert!(StatefulSetStrategy.validate_create(&s).is_empty(), "{:?}", StatefulSetStrategy.validate_create(&s));
        s["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] = json!("other");
        assert!(!StatefulSetStrategy.validate_create(&s).is_empty());
    }

    fn sts() -> Value {
        let mut s = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {
                "serviceName": "db",
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]
            }
        });
        StatefulSetStrategy.normalize(&mut s).unwrap();
        StatefulSetStrategy.default(&mut s);
        s
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults() {
        let s = sts();
        assert_eq!(s["spec"]["replicas"], 1);
        assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(s["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(
            s["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(s["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"], "Filesystem");
        assert_eq!(s["spec"]["volumeClaimTemplates"][0]["status"]["phase"], "Pending");
        assert!(StatefulSetStrategy.validate_create(&s).is_empty(), "{:?}", StatefulSetStrategy.validate_create(&s));
    }

    #[test]
    fn explicit_strategy_type_keeps_no_rolling_update() {
        let mut s = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        StatefulSetStrategy.default(&mut s);
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn validation_messages() {
        let mut s = sts();
        s["spec"]["podManagementPolicy"] = json!("Random");
        s["spec"]["updateStrategy"] = json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
        s["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] = json!("Keep");
        s["spec"]["selector"] = json!({});
        let errs = messages(StatefulSetStrategy.validate_create(&s));
        assert_eq!(
            errs,
            vec![
                "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
                "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed for updateStrategy 'RollingUpdate'",
                "spec.persistentVolumeClaimRetentionPolicy.whenScaled: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
                "spec.selector: Invalid value: {}: empty selector is invalid for statefulset",
            ]
        );
    }

    #[test]
    fn only_some_fields_may_change() {
        let old = sts();
        let mut new = old.clone();
        new["spec"]["replicas"] = json!(3);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("postgres:17");
        assert!(StatefulSetStrategy.validate_update(&new, &old).is_empty());
        new["spec"]["serviceName"] = json!("other");
        let errs = messages(StatefulSetStrategy.validate_update(&new, &old));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec: Forbidden: updates to statefulset spec for fields other than 'replicas'"));
    }

    #[test]
    fn prints() {
        let mut s = sts();
        s["status"] = json!({"readyReplicas": 1});
        let ctx = Context { now: "2024-01-01T00:00:09Z".parse().unwrap() };
        assert_eq!(
            StatefulSetStrategy.row(&s, &ctx),
            vec![json!("1/1"), json!("9s"), json!("pg"), json!("postgres:16")]
        );
        assert_eq!(StatefulSetStrategy.scale_paths().unwrap().spec_replicas, "/spec/replicas");
    }
}
