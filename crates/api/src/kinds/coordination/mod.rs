//! coordination.k8s.io/v1: Lease.

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{Value, json};

use crate::kinds::support::json::remove_at;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Lease>(obj)
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        drop_coordinated_election_fields(obj, None);
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        drop_coordinated_election_fields(new, Some(old));
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![
            json!(obj.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or_default()),
            json!(table::age(obj, ctx)),
        ]
    }
}

/// `strategy` and `preferredHolder` belong to coordinated leader election, an alpha
/// feature this server does not enable; like upstream with the gate off, they are
/// dropped unless the stored object already had them.
fn drop_coordinated_election_fields(obj: &mut Value, old: Option<&Value>) {
    for field in ["strategy", "preferredHolder"] {
        let kept = old.is_some_and(|o| o.pointer(&format!("/spec/{field}")).is_some_and(|v| !v.is_null()));
        if !kept {
            remove_at(obj, &format!("/spec/{field}"));
        }
    }
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let spec = FieldPath::root("spec");
    let mut errs = Vec::new();
    if let Some(d) = obj.pointer("/spec/leaseDurationSeconds").and_then(Value::as_i64).filter(|d| *d <= 0) {
        errs.push(FieldError::invalid(spec.child("leaseDurationSeconds"), d, "must be greater than 0"));
    }
    if let Some(t) = obj.pointer("/spec/leaseTransitions").and_then(Value::as_i64).filter(|t| *t < 0) {
        errs.push(FieldError::invalid(spec.child("leaseTransitions"), t, "must be greater than or equal to 0"));
    }
    let has_strategy = obj.pointer("/spec/strategy").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let has_preferred = obj.pointer("/spec/preferredHolder").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if has_preferred && !has_strategy {
        errs.push(FieldError::forbidden(
            spec.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_rules_and_printing() {
        let s = LeaseStrategy;
        let lease = json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 0, "leaseTransitions": -1}});
        let errs: Vec<String> = s.validate_create(&lease).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
        let ctx = Context { now: "2024-01-01T00:00:40Z".parse().unwrap() };
        assert_eq!(s.row(&lease, &ctx), vec![json!("node-1"), json!("40s")]);
        let mut with_strategy = json!({"spec": {"strategy": "OldestEmulationVersion", "preferredHolder": "a"}});
        s.prepare_for_create(&mut with_strategy);
        assert_eq!(with_strategy, json!({"spec": {}}));
    }
}
