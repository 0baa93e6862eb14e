//! StorageClass (storage.k8s.io/v1): defaults, validation, printing with the
//! `(default)` marker.

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{Value, json};

use crate::kinds::support::checks::{immutable_at, qualified_name};
use crate::kinds::support::json::default_key;
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::FieldError;

const MAX_PARAMETERS: usize = 512;
const MAX_PARAMETERS_SIZE: usize = 256 * 1024;
/// Marks the class PVCs without a class get.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
const BETA_DEFAULT_CLASS_ANNOTATION: &str = "storageclass.beta.kubernetes.io/is-default-class";

pub struct StorageClassStrategy;

impl Strategy for StorageClassStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<StorageClass>(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            default_key(map, "reclaimPolicy", json!("Delete"));
            default_key(map, "volumeBindingMode", json!("Immediate"));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        let params = |o: &Value| o.get("parameters").filter(|p| p.as_object().is_some_and(|m| !m.is_empty())).cloned();
        if params(new) != params(old) {
            errs.push(FieldError::forbidden("parameters", "updates to parameters are forbidden."));
        }
        if new.get("provisioner") != old.get("provisioner") {
            errs.push(FieldError::forbidden("provisioner", "updates to provisioner are forbidden."));
        }
        if new.get("reclaimPolicy") != old.get("reclaimPolicy") {
            errs.push(FieldError::forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."));
        }
        errs.extend(immutable_at(
            new,
            old,
            "/volumeBindingMode",
            &crate::validation::FieldPath::root("volumeBindingMode"),
        ));
        errs
    }

    fn name_column(&self) -> bool {
        false
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::name(),
            Column::new("Provisioner", "string", "provisioner indicates the type of the provisioner."),
            Column::new(
                "ReclaimPolicy",
                "string",
                "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
            ),
            Column::new(
                "VolumeBindingMode",
                "string",
                "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
            ),
            Column::new(
                "AllowVolumeExpansion",
                "string",
                "allowVolumeExpansion shows whether the storage class allow volume expand.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let mut name = meta::name(obj).to_string();
        if is_default_class(obj) {
            name.push_str(" (default)");
        }
        vec![
            json!(name),
            json!(obj.get("provisioner").and_then(Value::as_str).unwrap_or_default()),
            json!(obj.get("reclaimPolicy").and_then(Value::as_str).unwrap_or("Delete")),
            json!(obj.get("volumeBindingMode").and_then(Value::as_str).unwrap_or("Immediate")),
            json!(obj.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)),
            json!(table::age(obj, ctx)),
        ]
    }
}

/// Whether the class is annotated as the cluster's default.
pub fn is_default_class(obj: &Value) -> bool {
    [DEFAULT_CLASS_ANNOTATION, BETA_DEFAULT_CLASS_ANNOTATION].iter().any(|a| meta::annotation(obj, a) == Some("true"))
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let provisioner = obj.get("provisioner").and_then(Value::as_str).unwrap_or_default();
    if provisioner.is_empty() {
        errs.push(FieldError::required("provisioner", ""));
    } else {
        errs.extend(qualified_name(&provisioner.to_lowercase(), &crate::validation::FieldPath::root("provisioner")));
    }
    if let Some(params) = obj.get("parameters").and_then(Value::as_object) {
        if params.len() > MAX_PARAMETERS {
            errs.push(FieldError::too_long("parameters", MAX_PARAMETERS));
        } else {
            let mut size = 0;
            for (k, v) in params {
                if k.is_empty() {
                    errs.push(FieldError::invalid("parameters", k.as_str(), "field can not be empty."));
                }
                size += k.len() + v.as_str().map_or(0, str::len);
            }
            if size > MAX_PARAMETERS_SIZE {
                errs.push(FieldError::too_long("parameters", MAX_PARAMETERS_SIZE));
            }
        }
    }
    if let Some(policy) = obj.get("reclaimPolicy").and_then(Value::as_str).filter(|p| !p.is_empty())
        && policy != "Delete"
        && policy != "Retain"
    {
        errs.push(FieldError::not_supported("reclaimPolicy", policy, &["Delete", "Retain"]));
    }
    match obj.get("volumeBindingMode").and_then(Value::as_str) {
        None => errs.push(FieldError::required("volumeBindingMode", "")),
        Some("Immediate" | "WaitForFirstConsumer") => {}
        Some(other) => {
            errs.push(FieldError::not_supported("volumeBindingMode", other, &["Immediate", "WaitForFirstConsumer"]))
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class() -> Value {
        let mut sc = json!({"metadata": {"name": "local-path", "creationTimestamp": "2024-01-01T00:00:00Z",
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}}, "provisioner": "rancher.io/local-path"});
        StorageClassStrategy.default(&mut sc);
        sc
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_rules() {
        let sc = class();
        assert_eq!(
            (sc["reclaimPolicy"].clone(), sc["volumeBindingMode"].clone()),
            (json!("Delete"), json!("Immediate"))
        );
        assert!(StorageClassStrategy.validate_create(&sc).is_empty());
        let bad = json!({"reclaimPolicy": "Recycle", "volumeBindingMode": "Later", "parameters": {"": "x"}});
        assert_eq!(
            messages(StorageClassStrategy.validate_create(&bad)),
            vec![
                "provisioner: Required value",
                "parameters: Invalid value: \"\": field can not be empty.",
                "reclaimPolicy: Unsupported value: \"Recycle\": supported values: \"Delete\", \"Retain\"",
                "volumeBindingMode: Unsupported value: \"Later\": supported values: \"Immediate\", \"WaitForFirstConsumer\"",
            ]
        );
    }

    #[test]
    fn updates() {
        let old = class();
        let mut new = class();
        new["parameters"] = json!({"a": "b"});
        new["provisioner"] = json!("other.io/p");
        new["volumeBindingMode"] = json!("WaitForFirstConsumer");
        assert_eq!(
            messages(StorageClassStrategy.validate_update(&new, &old)),
            vec![
                "parameters: Forbidden: updates to parameters are forbidden.",
                "provisioner: Forbidden: updates to provisioner are forbidden.",
                "volumeBindingMode: Invalid value: \"WaitForFirstConsumer\": field is immutable",
            ]
        );
    }

    #[test]
    fn prints_default_marker() {
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        assert_eq!(
            StorageClassStrategy.row(&class(), &ctx),
            vec![
                json!("local-path (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("Immediate"),
                json!(false),
                json!("0s")
            ]
        );
        assert!(!StorageClassStrategy.name_column());
        assert_eq!(StorageClassStrategy.columns().len(), 6);
    }
}
