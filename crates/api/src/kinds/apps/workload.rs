//! Rules and columns the selector-driven workloads share: the required selector,
//! the "restartPolicy must be Always" rule, `/scale` paths and the wide columns.

use serde_json::Value;

use crate::kinds::support::selector::{self, Selector};
use crate::strategy::ScalePaths;
use crate::table::Column;
use crate::validation::{FieldError, FieldPath};

/// `spec.selector` of Deployments, ReplicaSets and StatefulSets: required, valid, not
/// empty (`empty selector is invalid for <kind>`). Returns the errors and the parsed
/// selector (`Err` when it does not parse).
pub fn required_selector(obj: &Value, kind_word: &str) -> (Vec<FieldError>, Result<Selector, ()>) {
    let path = FieldPath::root("spec").child("selector");
    let sel = obj.pointer("/spec/selector").filter(|v| !v.is_null());
    let mut errs = Vec::new();
    match sel {
        None => errs.push(FieldError::required(&path, "")),
        Some(s) => {
            errs.extend(selector::validate_label_selector(Some(s), &path));
            if selector::is_empty_selector(s) {
                errs.push(FieldError::invalid(&path, s.clone(), format!("empty selector is invalid for {kind_word}")));
            }
        }
    }
    (errs, Selector::parse(sel).map_err(|_| ()))
}

/// The pod template's restartPolicy must be `Always` and activeDeadlineSeconds unset.
pub fn restart_policy_always(template: &Value, template_path: &FieldPath, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec_path = template_path.child("spec");
    let policy = template.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or_default();
    if policy != "Always" {
        errs.push(FieldError::not_supported(spec_path.child("restartPolicy"), policy, &["Always"]));
    }
    if template.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null()) {
        errs.push(FieldError::forbidden(
            spec_path.child("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// `/scale` of kinds with `spec.replicas`, `status.replicas` and a `spec.selector`.
pub fn standard_scale_paths() -> ScalePaths {
    ScalePaths {
        spec_replicas: "/spec/replicas".to_string(),
        status_replicas: "/status/replicas".to_string(),
        selector: Some("/spec/selector".to_string()),
    }
}

pub const fn containers_column() -> Column {
    Column::wide("Containers", "string", "Names of each container in the template.")
}

pub const fn images_column() -> Column {
    Column::wide("Images", "string", "Images referenced by each container in the template.")
}

pub const fn selector_column(description: &'static str) -> Column {
    Column::wide("Selector", "string", description)
}

/// The replica count at a pointer, 0 when unset (`ptr.Deref(x, 0)`).
pub fn count(obj: &Value, pointer: &str) -> Value {
    Value::from(obj.pointer(pointer).and_then(Value::as_i64).unwrap_or(0))
}
