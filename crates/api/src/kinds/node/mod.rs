//! node.k8s.io/v1: RuntimeClass.

use k8s_openapi::api::node::v1::RuntimeClass;
use serde_json::{Value, json};

use crate::kinds::support::checks::{dns1123_label, immutable_at};
use crate::kinds::support::selector::validate_labels;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct RuntimeClassStrategy;

impl Strategy for RuntimeClassStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<RuntimeClass>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        errs.extend(immutable_at(new, old, "/handler", &FieldPath::root("handler")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Handler",
                "string",
                "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![json!(obj.get("handler").and_then(Value::as_str).unwrap_or_default()), json!(table::age(obj, ctx))]
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let handler = obj.get("handler").and_then(Value::as_str).unwrap_or_default();
    let mut errs = dns1123_label(handler, &FieldPath::root("handler"));
    errs.extend(validate_labels(
        obj.pointer("/scheduling/nodeSelector"),
        &FieldPath::root("scheduling").child("nodeSelector"),
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_rules() {
        let s = RuntimeClassStrategy;
        let rc =
            json!({"metadata": {"name": "gvisor", "creationTimestamp": "2024-01-01T00:00:00Z"}, "handler": "runsc"});
        assert!(s.validate_create(&rc).is_empty());
        let bad = json!({"handler": "Run_SC"});
        assert!(
            s.validate_create(&bad)[0]
                .to_string()
                .starts_with("handler: Invalid value: \"Run_SC\": a lowercase RFC 1123 label")
        );
        let changed = json!({"handler": "kata"});
        assert_eq!(
            s.validate_update(&changed, &rc)[0].to_string(),
            "handler: Invalid value: \"kata\": field is immutable"
        );
        let ctx = Context { now: "2024-01-01T00:00:00Z".parse().unwrap() };
        assert_eq!(s.row(&rc, &ctx), vec![json!("runsc"), json!("0s")]);
    }
}
