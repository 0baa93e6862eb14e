//! ControllerRevision (apps/v1): immutable snapshots of a controller's template.

use k8s_openapi::api::apps::v1::ControllerRevision;
use serde_json::{Value, json};

use crate::kinds::support::checks::{immutable_at, nonnegative_at};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct ControllerRevisionStrategy;

impl Strategy for ControllerRevisionStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ControllerRevision>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        errs.extend(immutable_at(new, old, "/data", &FieldPath::root("data")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Controller", "string", "Controller of the object"),
            Column::new("Revision", "string", "Revision indicates the revision of the state represented by Data."),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![
            json!(controller_name(obj)),
            json!(obj.get("revision").and_then(Value::as_i64).unwrap_or(0)),
            json!(table::age(obj, ctx)),
        ]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.get("data").is_none_or(Value::is_null) {
        errs.push(FieldError::required("data", "data is mandatory"));
    }
    errs.extend(nonnegative_at(obj, "/revision", &FieldPath::root("revision")));
    errs
}

/// `kind.group/name` of the controlling owner (`statefulset.apps/web`), `<none>` without one.
fn controller_name(obj: &Value) -> String {
    let owners = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array);
    let Some(owner) = owners.into_iter().flatten().find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
    else {
        return "<none>".to_string();
    };
    let api_version = owner.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = owner.get("kind").and_then(Value::as_str).unwrap_or_default();
    let name = owner.get("name").and_then(Value::as_str).unwrap_or_default();
    let (group, _) = crate::resource::split_api_version(api_version);
    if kind.is_empty() && group.is_empty() {
        return name.to_string();
    }
    let group_kind = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
    format!("{}/{name}", group_kind.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_required_and_immutable() {
        let s = ControllerRevisionStrategy;
        let errs: Vec<String> = s.validate_create(&json!({"revision": -1})).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "data: Required value: data is mandatory",
                "revision: Invalid value: -1: must be greater than or equal to 0"
            ]
        );
        let old = json!({"revision": 1, "data": {"a": 1}});
        let new = json!({"revision": 1, "data": {"a": 2}});
        assert_eq!(s.validate_update(&new, &old)[0].to_string(), "data: Invalid value: {\"a\":2}: field is immutable");
    }

    #[test]
    fn prints_controller() {
        let cr = json!({
            "metadata": {"name": "web-7d4", "creationTimestamp": "2024-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": true}]},
            "revision": 2, "data": {}
        });
        let ctx = Context { now: "2024-01-01T00:00:30Z".parse().unwrap() };
        assert_eq!(
            ControllerRevisionStrategy.row(&cr, &ctx),
            vec![json!("statefulset.apps/web"), json!(2), json!("30s")]
        );
        assert_eq!(ControllerRevisionStrategy.row(&json!({"revision": 1}), &ctx)[0], json!("<none>"));
    }
}
