//! RoleBindings and ClusterRoleBindings: defaults, role reference and subject rules,
//! printing.

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use serde_json::{Value, json};

use super::GROUP;
use crate::kinds::support::checks::{dns1123_subdomain, path_segment};
use crate::kinds::support::json::{default_key, existing_object_mut};
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

pub struct RoleBindingStrategy;
pub struct ClusterRoleBindingStrategy;

impl Strategy for RoleBindingStrategy {
    /// RBAC objects may be named like path segments (`system:controller:x`).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::path_segment_name(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<RoleBinding>(obj)
    }

    fn default(&self, obj: &mut Value) {
        defaults(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj, true)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new, true);
        errs.extend(role_ref_unchanged(new, old));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        columns("roleBinding")
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        row(obj, ctx)
    }
}

impl Strategy for ClusterRoleBindingStrategy {
    /// RBAC objects may be named like path segments (`system:controller:x`).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::path_segment_name(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ClusterRoleBinding>(obj)
    }

    fn default(&self, obj: &mut Value) {
        defaults(obj);
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate(obj, false)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new, false);
        errs.extend(role_ref_unchanged(new, old));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        columns("clusterRoleBinding")
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        row(obj, ctx)
    }
}

fn defaults(obj: &mut Value) {
    if let Some(role_ref) = existing_object_mut(obj, &["roleRef"])
        && role_ref.get("apiGroup").and_then(Value::as_str).is_none_or(str::is_empty)
    {
        role_ref.insert("apiGroup".into(), json!(GROUP));
    }
    let subjects = obj.get_mut("subjects").and_then(Value::as_array_mut);
    for subject in subjects.into_iter().flatten().filter_map(Value::as_object_mut) {
        if subject.get("apiGroup").and_then(Value::as_str).is_some_and(|g| !g.is_empty()) {
            continue;
        }
        match subject.get("kind").and_then(Value::as_str) {
            Some("ServiceAccount") => default_key(subject, "apiGroup", json!("")),
            Some("User" | "Group") => {
                subject.insert("apiGroup".into(), json!(GROUP));
            }
            _ => {}
        }
    }
}

fn validate(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let role_ref = FieldPath::root("roleRef");
    let group = obj.pointer("/roleRef/apiGroup").and_then(Value::as_str).unwrap_or_default();
    if group != GROUP {
        errs.push(FieldError::not_supported(role_ref.child("apiGroup"), group, &[GROUP]));
    }
    let kind = obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
    let kinds: &[&str] = if namespaced { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
    if !kinds.contains(&kind) {
        errs.push(FieldError::not_supported(role_ref.child("kind"), kind, kinds));
    }
    let name = obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required(role_ref.child("name"), ""));
    } else {
        errs.extend(path_segment(name, &role_ref.child("name")));
    }
    for (i, subject) in obj.get("subjects").and_then(Value::as_array).into_iter().flatten().enumerate() {
        errs.extend(validate_subject(subject, namespaced, &FieldPath::root("subjects").index(i)));
    }
    errs
}

fn validate_subject(subject: &Value, namespaced: bool, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let get = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or_default();
    let (name, group) = (get("name"), get("apiGroup"));
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    }
    match get("kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                errs.extend(dns1123_subdomain(name, &path.child("name")));
            }
            if !group.is_empty() {
                errs.push(FieldError::not_supported(path.child("apiGroup"), group, &[""]));
            }
            if !namespaced && get("namespace").is_empty() {
                errs.push(FieldError::required(path.child("namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != GROUP {
                errs.push(FieldError::not_supported(path.child("apiGroup"), group, &[GROUP]));
            }
        }
        other => errs.push(FieldError::not_supported(path.child("kind"), other, &["ServiceAccount", "User", "Group"])),
    }
    errs
}

fn role_ref_unchanged(new: &Value, old: &Value) -> Option<FieldError> {
    let role_ref = new.get("roleRef").cloned().unwrap_or(Value::Null);
    (old.get("roleRef").cloned().unwrap_or(Value::Null) != role_ref)
        .then(|| FieldError::invalid("roleRef", role_ref, "cannot change roleRef"))
}

fn columns(what: &str) -> Vec<Column> {
    let (users, groups, sas) = match what {
        "roleBinding" => {
            ("Users in the roleBinding", "Groups in the roleBinding", "ServiceAccounts in the roleBinding")
        }
        _ => (
            "Users in the clusterRoleBinding",
            "Groups in the clusterRoleBinding",
            "ServiceAccounts in the clusterRoleBinding",
        ),
    };
    vec![
        Column::new(
            "Role",
            "string",
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        ),
        Column::age(),
        Column::wide("Users", "string", users),
        Column::wide("Groups", "string", groups),
        Column::wide("ServiceAccounts", "string", sas),
    ]
}

fn row(obj: &Value, ctx: &Context) -> Vec<Value> {
    let kind = obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
    let name = obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in obj.get("subjects").and_then(Value::as_array).into_iter().flatten() {
        let get = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
        match get("kind") {
            "ServiceAccount" => sas.push(format!("{}/{}", get("namespace"), get("name"))),
            "User" => users.push(get("name").to_string()),
            "Group" => groups.push(get("name").to_string()),
            _ => {}
        }
    }
    vec![
        json!(format!("{kind}/{name}")),
        json!(table::age(obj, ctx)),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    fn binding() -> Value {
        let mut b = json!({
            "metadata": {"name": "read", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "Group", "name": "devs"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]
        });
        RoleBindingStrategy.default(&mut b);
        b
    }

    #[test]
    fn defaults_api_groups() {
        let b = binding();
        assert_eq!(b["roleRef"]["apiGroup"], GROUP);
        assert_eq!(b["subjects"][0]["apiGroup"], GROUP);
        assert_eq!(b["subjects"][2]["apiGroup"], "");
        assert!(RoleBindingStrategy.validate_create(&b).is_empty());
    }

    #[test]
    fn rules() {
        let mut b = binding();
        b["roleRef"]["kind"] = json!("Role");
        b["subjects"][2].as_object_mut().unwrap().remove("namespace");
        b["subjects"].as_array_mut().unwrap().push(json!({"kind": "Robot", "name": "r2"}));
        assert_eq!(
            messages(ClusterRoleBindingStrategy.validate_create(&b)),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[2].namespace: Required value",
                "subjects[3].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        let old = binding();
        let mut new = binding();
        new["roleRef"]["name"] = json!("edit");
        assert_eq!(
            messages(RoleBindingStrategy.validate_update(&new, &old)),
            vec![
                "roleRef: Invalid value: {\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"edit\"}: cannot change roleRef"
            ]
        );
    }

    #[test]
    fn prints_subjects() {
        let ctx = Context { now: "2024-01-01T00:00:07Z".parse().unwrap() };
        assert_eq!(
            RoleBindingStrategy.row(&binding(), &ctx),
            vec![json!("ClusterRole/view"), json!("7s"), json!("jane"), json!("devs"), json!("build/ci")]
        );
    }
}
