//! Escalation prevention on RBAC writes, as upstream does it: a Role or ClusterRole may only
//! grant what its author already holds (or the author has `escalate` on it), and a binding may
//! only reference a role whose permissions the author holds (or the author has `bind` on it).

use k3rs_api::{ApiError, meta};
use serde_json::Value;

use super::rules::PolicyRule;
use crate::authn::UserInfo;
use crate::authz::{Attributes, MASTERS_GROUP, ResourceAttributes, authorize};
use crate::state::AppState;

const GROUP: &str = "rbac.authorization.k8s.io";

async fn may(state: &AppState, user: &UserInfo, verb: &str, resource: &str, namespace: &str, name: &str) -> bool {
    let attrs = Attributes {
        user: user.clone(),
        verb: verb.into(),
        resource: Some(ResourceAttributes {
            group: GROUP.into(),
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Default::default()
        }),
        path: String::new(),
    };
    authorize(state, &attrs).await.is_ok()
}

fn render(rule: &PolicyRule) -> String {
    let list = |v: &[String]| v.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(" ");
    let mut parts = Vec::new();
    if !rule.api_groups.is_empty() {
        parts.push(format!("APIGroups:[{}]", list(&rule.api_groups)));
    }
    if !rule.resources.is_empty() {
        parts.push(format!("Resources:[{}]", list(&rule.resources)));
    }
    if !rule.resource_names.is_empty() {
        parts.push(format!("ResourceNames:[{}]", list(&rule.resource_names)));
    }
    if !rule.non_resource_urls.is_empty() {
        parts.push(format!("NonResourceURLs:[{}]", list(&rule.non_resource_urls)));
    }
    parts.push(format!("Verbs:[{}]", list(&rule.verbs)));
    format!("{{{}}}", parts.join(", "))
}

fn escalation_error(resource: &str, name: &str, user: &UserInfo, missing: &[PolicyRule]) -> ApiError {
    let groups = user.groups.iter().map(|g| format!("{g:?}")).collect::<Vec<_>>().join(" ");
    let rules = missing.iter().map(render).collect::<Vec<_>>().join("\n");
    ApiError::forbidden(format!(
        "{resource}.{GROUP} {name:?} is forbidden: user {:?} (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{rules}",
        user.name
    ))
    .with_details(GROUP, resource, name)
}

/// Checks a create or update of an RBAC object (`resource` is its plural) by `user`.
pub async fn check(state: &AppState, user: &UserInfo, resource: &str, obj: &Value) -> Result<(), ApiError> {
    if user.in_group(MASTERS_GROUP) {
        return Ok(());
    }
    let name = meta::name(obj);
    let namespace = meta::namespace(obj);
    let snapshot = state.rbac.snapshot();
    let held = snapshot.rules_for(user, namespace);
    let (requested, rules): (&str, Vec<PolicyRule>) = match resource {
        "roles" | "clusterroles" => {
            if may(state, user, "escalate", resource, namespace, name).await {
                return Ok(());
            }
            if resource == "clusterroles" && obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                let everything =
                    PolicyRule::from_json(&serde_json::json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}));
                if !PolicyRule::covers(&held, &everything) {
                    return Err(ApiError::forbidden(format!(
                        "clusterroles.{GROUP} {name:?} is forbidden: must have cluster-admin privileges to use the aggregationRule"
                    ))
                    .with_details(GROUP, resource, name));
                }
                return Ok(());
            }
            (resource, PolicyRule::all_from(obj))
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_kind = obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or("");
            let role_name = obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
            let role_resource = if role_kind == "Role" { "roles" } else { "clusterroles" };
            if may(state, user, "bind", role_resource, namespace, role_name).await {
                return Ok(());
            }
            let role_rules = match role_kind {
                "Role" => snapshot.roles.get(&(namespace.to_string(), role_name.to_string())),
                _ => snapshot.cluster_roles.get(role_name),
            };
            let Some(role_rules) = role_rules else {
                return Err(ApiError::forbidden(format!(
                    "{resource}.{GROUP} {name:?} is forbidden: {role_resource}.{GROUP} {role_name:?} not found"
                ))
                .with_details(GROUP, resource, name));
            };
            (resource, role_rules.as_ref().clone())
        }
        _ => return Ok(()),
    };
    let missing: Vec<PolicyRule> = rules.into_iter().filter(|r| !PolicyRule::covers(&held, r)).collect();
    if missing.is_empty() { Ok(()) } else { Err(escalation_error(requested, name, user, &missing)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_names_the_missing_permissions() {
        let user = UserInfo::authenticated("jane", vec![]);
        let rule = PolicyRule::from_json(&json!({"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}));
        let err = escalation_error("roles", "r", &user, &[rule]);
        assert_eq!(err.code, 403);
        assert!(
            err.message.ends_with("not currently held:\n{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"delete\"]}"),
            "{}",
            err.message
        );
    }
}
