//! scheduling.k8s.io/v1: PriorityClass.

use k8s_openapi::api::scheduling::v1::PriorityClass;
use serde_json::{Value, json};

use crate::kinds::support::checks::immutable_at;
use crate::kinds::support::json::default_key;
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

/// The highest priority a user-defined class may have.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;
const SYSTEM_PREFIX: &str = "system-";
/// The built-in classes: name and value (neither is a global default).
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i64); 2] =
    [("system-node-critical", 2_000_001_000), ("system-cluster-critical", 2_000_000_000)];

pub struct PriorityClassStrategy;

impl Strategy for PriorityClassStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<PriorityClass>(obj)
    }

    fn default(&self, obj: &mut Value) {
        if let Some(map) = obj.as_object_mut() {
            default_key(map, "preemptionPolicy", json!("PreemptLowerPriority"));
        }
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // Upstream checks only what may change, not the create rules again.
        let mut errs = Vec::new();
        if new.get("value") != old.get("value") {
            errs.push(FieldError::forbidden("value", "may not be changed in an update."));
        }
        errs.extend(immutable_at(new, old, "/preemptionPolicy", &FieldPath::root("preemptionPolicy")));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Value", "integer", "value represents the integer value of this priority class."),
            Column::new(
                "Global-Default",
                "boolean",
                "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
            ),
            Column::age(),
            Column::new(
                "PreemptionPolicy",
                "string",
                "preemptionPolicy is the Policy for preempting pods with lower priority.",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![
            json!(obj.get("value").and_then(Value::as_i64).unwrap_or(0)),
            json!(obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
            json!(table::age(obj, ctx)),
            json!(obj.get("preemptionPolicy").and_then(Value::as_str).unwrap_or_default()),
        ]
    }
}

/// Whether `name` is a built-in class with exactly its built-in settings.
fn known_system_class(name: &str, value: i64, global_default: bool) -> Result<(), String> {
    let Some((_, want)) = SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) else {
        return Err(format!("{name} is not a known system priority class"));
    };
    if value != *want {
        return Err(format!("value of {name} PriorityClass must be {want}"));
    }
    if global_default {
        return Err(format!("globalDefault of {name} PriorityClass must be false"));
    }
    Ok(())
}

fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta::name(obj);
    let value = obj.get("value").and_then(Value::as_i64).unwrap_or(0);
    let global_default = obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false);
    if name.starts_with(SYSTEM_PREFIX) {
        if let Err(e) = known_system_class(name, value, global_default) {
            errs.push(FieldError::forbidden(
                "metadata.name",
                format!(
                    "priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system use only. error: {e}"
                ),
            ));
        }
    } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
        errs.push(FieldError::forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
        ));
    }
    if let Some(policy) = obj.get("preemptionPolicy").and_then(Value::as_str)
        && policy != "PreemptLowerPriority"
        && policy != "Never"
    {
        errs.push(FieldError::not_supported("preemptionPolicy", policy, &["PreemptLowerPriority", "Never"]));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_rules() {
        let s = PriorityClassStrategy;
        let mut pc = json!({"metadata": {"name": "high", "creationTimestamp": "2024-01-01T00:00:00Z"}, "value": 1000});
        s.default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        assert!(s.validate_create(&pc).is_empty());
        pc["value"] = json!(2_000_000_000);
        assert_eq!(
            messages(s.validate_create(&pc)),
            vec!["value: Forbidden: maximum allowed value of a user defined priority is 1000000000"]
        );
        let sys = json!({"metadata": {"name": "system-custom"}, "value": 5});
        assert_eq!(
            messages(s.validate_create(&sys)),
            vec![
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-custom is not a known system priority class"
            ]
        );
        let ok = json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000});
        assert!(s.validate_create(&ok).is_empty());
        let old = json!({"value": 1, "preemptionPolicy": "Never"});
        let new = json!({"value": 2, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            messages(s.validate_update(&new, &old)),
            vec![
                "value: Forbidden: may not be changed in an update.",
                "preemptionPolicy: Invalid value: \"PreemptLowerPriority\": field is immutable"
            ]
        );
    }

    #[test]
    fn prints() {
        let pc = json!({"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}, "value": 100, "globalDefault": true, "preemptionPolicy": "Never"});
        let ctx = Context { now: "2024-01-01T00:00:02Z".parse().unwrap() };
        assert_eq!(PriorityClassStrategy.row(&pc, &ctx), vec![json!(100), json!(true), json!("2s"), json!("Never")]);
    }
}
