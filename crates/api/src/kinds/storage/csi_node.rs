//! CSINode (storage.k8s.io/v1): the CSI drivers registered on a node.

use k8s_openapi::api::storage::v1::CSINode;
use serde_json::{Value, json};

use super::csi_driver_name;
use crate::kinds::support::checks::{IMMUTABLE, nonnegative_at, qualified_name};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

const MAX_NODE_ID_LENGTH: usize = 192;

pub struct CSINodeStrategy;

impl Strategy for CSINodeStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<CSINode>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        // A registered driver keeps its node id and topology keys.
        let old_drivers = old.pointer("/spec/drivers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for (i, driver) in new.pointer("/spec/drivers").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let Some(before) = old_drivers.iter().find(|d| d.get("name") == driver.get("name")) else { continue };
            let path = FieldPath::root("spec").child("drivers").index(i);
            for field in ["nodeID", "topologyKeys"] {
                let value = |d: &Value| d.get(field).filter(|v| !v.is_null()).cloned();
                if value(driver) != value(before) {
                    errs.push(FieldError::invalid(path.child(field), value(driver).unwrap_or(Value::Null), IMMUTABLE));
                }
            }
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let drivers = obj.pointer("/spec/drivers").and_then(Value::as_array).map_or(0, Vec::len);
        vec![json!(drivers), json!(table::age(obj, ctx))]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, driver) in obj.pointer("/spec/drivers").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let path = FieldPath::root("spec").child("drivers").index(i);
        let name = driver.get("name").and_then(Value::as_str).unwrap_or_default();
        errs.extend(csi_driver_name(name, &path.child("name")));
        if names.contains(&name) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        }
        names.push(name);
        let node_id = driver.get("nodeID").and_then(Value::as_str).unwrap_or_default();
        if node_id.is_empty() {
            errs.push(FieldError::required(path.child("nodeID"), ""));
        } else if node_id.len() > MAX_NODE_ID_LENGTH {
            errs.push(FieldError::too_long(path.child("nodeID"), MAX_NODE_ID_LENGTH));
        }
        let mut keys: Vec<&str> = Vec::new();
        for (j, key) in driver.get("topologyKeys").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let key = key.as_str().unwrap_or_default();
            let kp = path.child("topologyKeys").index(j);
            if key.is_empty() {
                errs.push(FieldError::required(&kp, ""));
            }
            if keys.contains(&key) {
                errs.push(FieldError::duplicate(&kp, key));
            }
            keys.push(key);
            errs.extend(qualified_name(key, &kp));
        }
        errs.extend(nonnegative_at(driver, "/allocatable/count", &path.child("allocatable").child("count")));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drivers() {
        let s = CSINodeStrategy;
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"drivers": [{"name": "ebs.csi.aws.com", "nodeID": "i-1", "topologyKeys": ["topology.ebs.csi.aws.com/zone"]}]}});
        assert!(s.validate_create(&node).is_empty());
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        assert_eq!(s.row(&node, &ctx), vec![json!(1), json!("0s")]);
        let bad = json!({"spec": {"drivers": [{"name": "a.b", "nodeID": ""}, {"name": "a.b", "nodeID": "x"}]}});
        let errs: Vec<String> = s.validate_create(&bad).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec!["spec.drivers[0].nodeID: Required value", "spec.drivers[1].name: Duplicate value: \"a.b\""]
        );
        let mut moved = node.clone();
        moved["spec"]["drivers"][0]["nodeID"] = json!("i-2");
        assert_eq!(
            s.validate_update(&moved, &node)[0].to_string(),
            "spec.drivers[0].nodeID: Invalid value: \"i-2\": field is immutable"
        );
    }
}
