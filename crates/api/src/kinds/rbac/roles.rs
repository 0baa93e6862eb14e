//! Roles and ClusterRoles: their policy rules and aggregation rules.

use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use serde_json::{Value, json};

use crate::kinds::support::selector::{Selector, validate_label_selector};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct RoleStrategy;
pub struct ClusterRoleStrategy;

impl Strategy for RoleStrategy {
    /// RBAC objects may be named like path segments (`system:controller:x`).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::path_segment_name(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Role>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        rules(obj, true)
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::created_at()]
    }

    fn row(&self, obj: &Value, _ctx: &Context) -> Vec<Value> {
        vec![json!(table::created_at(obj))]
    }
}

impl Strategy for ClusterRoleStrategy {
    /// RBAC objects may be named like path segments (`system:controller:x`).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::path_segment_name(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ClusterRole>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = rules(obj, false);
        if let Some(rule) = obj.get("aggregationRule").filter(|v| !v.is_null()) {
            let path = FieldPath::root("aggregationRule").child("clusterRoleSelectors");
            let selectors =
                rule.get("clusterRoleSelectors").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
            if selectors.is_empty() {
                errs.push(FieldError::required(
                    &path,
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                ));
            }
            for (i, sel) in selectors.iter().enumerate() {
                errs.extend(validate_label_selector(Some(sel), &path.index(i)));
                if Selector::parse(Some(sel)).is_err() {
                    errs.push(FieldError::invalid(path.index(i), sel.clone(), "invalid label selector."));
                }
            }
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::created_at()]
    }

    fn row(&self, obj: &Value, _ctx: &Context) -> Vec<Value> {
        vec![json!(table::created_at(obj))]
    }
}

/// `ValidatePolicyRule` for each rule; namespaced rules cannot name URLs.
fn rules(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let list = obj.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for (i, rule) in list.iter().enumerate() {
        let path = FieldPath::root("rules").index(i);
        let len = |k: &str| rule.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        if len("verbs") == 0 {
            errs.push(FieldError::required(path.child("verbs"), "verbs must contain at least one value"));
        }
        if len("nonResourceURLs") > 0 {
            let urls = rule.get("nonResourceURLs").cloned().unwrap_or(Value::Null);
            if namespaced {
                errs.push(FieldError::invalid(
                    path.child("nonResourceURLs"),
                    urls.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if len("apiGroups") > 0 || len("resources") > 0 || len("resourceNames") > 0 {
                errs.push(FieldError::invalid(
                    path.child("nonResourceURLs"),
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if len("apiGroups") == 0 {
            errs.push(FieldError::required(
                path.child("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if len("resources") == 0 {
            errs.push(FieldError::required(
                path.child("resources"),
                "resource rules must supply at least one resource",
            ));
        }
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
    fn rule_checks() {
        let role = json!({"rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}
        ]});
        assert_eq!(
            messages(RoleStrategy.validate_create(&role)),
            vec![
                "rules[1].verbs: Required value: verbs must contain at least one value",
                "rules[2].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[2].resources: Required value: resource rules must supply at least one resource",
                "rules[3].nonResourceURLs: Invalid value: [\"/healthz\"]: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let cluster = json!({"rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}], "aggregationRule": {"clusterRoleSelectors": []}});
        assert_eq!(
            messages(ClusterRoleStrategy.validate_create(&cluster)),
            vec![
                "aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"
            ]
        );
    }

    #[test]
    fn prints_created_at() {
        let role = json!({"metadata": {"name": "reader", "creationTimestamp": "2024-05-06T07:08:09Z"}});
        let ctx = Context { now: "2024-05-07T00:00:00Z".parse().unwrap() };
        assert_eq!(RoleStrategy.row(&role, &ctx), vec![json!("2024-05-06T07:08:09Z")]);
        assert_eq!(ClusterRoleStrategy.columns()[0].name, "Created At");
        assert_eq!(ClusterRoleStrategy.columns()[0].ty, "date");
    }
}
