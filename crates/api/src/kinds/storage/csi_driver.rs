//! CSIDriver (storage.k8s.io/v1): defaults, validation, printing.

use k8s_openapi::api::storage::v1::CSIDriver;
use serde_json::{Value, json};

use super::csi_driver_name;
use crate::kinds::support::checks::immutable_at;
use crate::kinds::support::json::{default_key, object_mut};
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

const FS_GROUP_POLICIES: &[&str] = &["File", "None", "ReadWriteOnceWithFSType"];
const LIFECYCLE_MODES: &[&str] = &["Ephemeral", "Persistent"];

pub struct CSIDriverStrategy;

impl Strategy for CSIDriverStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<CSIDriver>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = object_mut(obj, &["spec"]) else { return };
        default_key(spec, "attachRequired", json!(true));
        default_key(spec, "podInfoOnMount", json!(false));
        default_key(spec, "storageCapacity", json!(false));
        default_key(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
        default_key(spec, "requiresRepublish", json!(false));
        default_key(spec, "seLinuxMount", json!(false));
        if spec.get("volumeLifecycleModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
            spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        let spec = FieldPath::root("spec");
        for field in ["attachRequired", "fsGroupPolicy", "volumeLifecycleModes"] {
            errs.extend(immutable_at(new, old, &format!("/spec/{field}"), &spec.child(field)));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "AttachRequired",
                "boolean",
                "attachRequired indicates this CSI volume driver requires an attach operation.",
            ),
            Column::new(
                "PodInfoOnMount",
                "boolean",
                "podInfoOnMount indicates this CSI volume driver requires additional pod information (like podName, podUID, etc.) during mount operations.",
            ),
            Column::new(
                "StorageCapacity",
                "boolean",
                "storageCapacity indicates that the CSI volume driver wants pod scheduling to consider the storage capacity that the driver deployment will report.",
            ),
            Column::new(
                "TokenRequests",
                "string",
                "tokenRequests indicates the CSI driver needs pods' service account tokens it is mounting volume for to do necessary authentication.",
            ),
            Column::new(
                "RequiresRepublish",
                "boolean",
                "requiresRepublish indicates the CSI driver wants NodePublishVolume being periodically called to reflect any possible change in the mounted volume.",
            ),
            Column::new(
                "Modes",
                "string",
                "volumeLifecycleModes defines what kind of volumes this CSI volume driver supports.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let flag =
            |k: &str, default: bool| obj.pointer(&format!("/spec/{k}")).and_then(Value::as_bool).unwrap_or(default);
        let modes: Vec<&str> = obj
            .pointer("/spec/volumeLifecycleModes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let tokens = match obj.pointer("/spec/tokenRequests").and_then(Value::as_array) {
            None => "<unset>".to_string(),
            Some(reqs) => {
                reqs.iter().filter_map(|r| r.get("audience").and_then(Value::as_str)).collect::<Vec<_>>().join(",")
            }
        };
        vec![
            json!(flag("attachRequired", true)),
            json!(flag("podInfoOnMount", false)),
            json!(flag("storageCapacity", false)),
            json!(tokens),
            json!(flag("requiresRepublish", false)),
            json!(if modes.is_empty() { "<none>".to_string() } else { modes.join(",") }),
            json!(table::age(obj, ctx)),
        ]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = csi_driver_name(meta::name(obj), &FieldPath::root("name"));
    let path = FieldPath::root("spec");
    for field in ["attachRequired", "podInfoOnMount", "storageCapacity", "requiresRepublish", "seLinuxMount"] {
        if obj.pointer(&format!("/spec/{field}")).is_none_or(Value::is_null) {
            errs.push(FieldError::required(path.child(field), ""));
        }
    }
    if let Some(policy) = obj.pointer("/spec/fsGroupPolicy").and_then(Value::as_str)
        && !FS_GROUP_POLICIES.contains(&policy)
    {
        errs.push(FieldError::not_supported(path.child("fsGroupPolicy"), policy, FS_GROUP_POLICIES));
    }
    for (i, mode) in
        obj.pointer("/spec/volumeLifecycleModes").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        let mode = mode.as_str().unwrap_or_default();
        if !LIFECYCLE_MODES.contains(&mode) {
            errs.push(FieldError::not_supported(path.child("volumeLifecycleModes").index(i), mode, LIFECYCLE_MODES));
        }
    }
    let mut audiences: Vec<&str> = Vec::new();
    for (i, req) in obj.pointer("/spec/tokenRequests").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let audience = req.get("audience").and_then(Value::as_str).unwrap_or_default();
        if audiences.contains(&audience) {
            errs.push(FieldError::duplicate(path.child("tokenRequests").index(i).child("audience"), audience));
        }
        audiences.push(audience);
        if let Some(secs) = req.get("expirationSeconds").and_then(Value::as_i64) {
            if secs < 600 {
                errs.push(FieldError::invalid(
                    path.child("tokenRequests").index(i).child("expirationSeconds"),
                    secs,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if secs > 1 << 32 {
                errs.push(FieldError::invalid(
                    path.child("tokenRequests").index(i).child("expirationSeconds"),
                    secs,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_rules_and_printing() {
        let s = CSIDriverStrategy;
        let mut d =
            json!({"metadata": {"name": "ebs.csi.aws.com", "creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": {}});
        s.default(&mut d);
        assert_eq!(
            d["spec"],
            json!({"attachRequired": true, "podInfoOnMount": false, "storageCapacity": false, "fsGroupPolicy": "ReadWriteOnceWithFSType",
                   "requiresRepublish": false, "seLinuxMount": false, "volumeLifecycleModes": ["Persistent"]})
        );
        assert!(s.validate_create(&d).is_empty());
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        assert_eq!(
            s.row(&d, &ctx),
            vec![
                json!(true),
                json!(false),
                json!(false),
                json!("<unset>"),
                json!(false),
                json!("Persistent"),
                json!("0s")
            ]
        );
        let mut changed = d.clone();
        changed["spec"]["attachRequired"] = json!(false);
        changed["spec"]["volumeLifecycleModes"] = json!(["Sometimes"]);
        let errs: Vec<String> = s.validate_update(&changed, &d).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.volumeLifecycleModes[0]: Unsupported value: \"Sometimes\": supported values: \"Ephemeral\", \"Persistent\"",
                "spec.attachRequired: Invalid value: false: field is immutable",
                "spec.volumeLifecycleModes: Invalid value: [\"Sometimes\"]: field is immutable",
            ]
        );
    }
}
