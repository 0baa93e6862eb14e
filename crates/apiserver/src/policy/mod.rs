//! The default RBAC policy, created at every start like upstream's bootstrap policy: the
//! user-facing roles (`cluster-admin`, `admin`, `edit`, `view`), discovery and self-review
//! access for everyone authenticated, and the roles and bindings of kubelets, proxies, the
//! scheduler and the controllers. Objects annotated `rbac.authorization.kubernetes.io/autoupdate:
//! "true"` get missing rules and subjects back; other changes an administrator made are kept.

pub mod bindings;
mod cluster_roles;
mod controllers;
pub mod rule;

use std::sync::OnceLock;

use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};
use tracing::info;

use crate::state::AppState;
use rule::AUTOUPDATE_ANNOTATION;

/// The rules of the `system:node` role.
pub fn node_static_rules() -> &'static [Value] {
    static RULES: OnceLock<Vec<Value>> = OnceLock::new();
    RULES.get_or_init(cluster_roles::node_rules)
}

/// Every default ClusterRole, the controllers' included.
pub fn cluster_roles() -> Vec<Value> {
    let mut out = cluster_roles::all();
    for (controller, rules) in controllers::all() {
        out.push(rule::cluster_role(&format!("system:controller:{controller}"), rules));
    }
    out
}

/// Creates the default policy objects, or restores what they lack.
pub async fn ensure(state: &AppState) -> Result<(), ApiError> {
    let mut created = 0;
    for role in cluster_roles() {
        let key = format!("/registry/clusterroles/{}", meta::name(&role));
        created += usize::from(reconcile(state, "clusterroles", &key, role).await?);
    }
    for binding in bindings::cluster_role_bindings() {
        let key = format!("/registry/clusterrolebindings/{}", meta::name(&binding));
        created += usize::from(reconcile(state, "clusterrolebindings", &key, binding).await?);
    }
    for role in bindings::roles() {
        let key = format!("/registry/roles/{}/{}", meta::namespace(&role), meta::name(&role));
        created += usize::from(reconcile(state, "roles", &key, role).await?);
    }
    for binding in bindings::role_bindings() {
        let key = format!("/registry/rolebindings/{}/{}", meta::namespace(&binding), meta::name(&binding));
        created += usize::from(reconcile(state, "rolebindings", &key, binding).await?);
    }
    if created > 0 {
        info!(objects = created, "created the default RBAC policy");
    }
    Ok(())
}

/// Adds to `current` what `desired` has and it lacks: rules (roles) or subjects (bindings).
/// `None` when nothing is missing.
pub fn missing_parts(current: &Value, desired: &Value) -> Option<Value> {
    let field = if desired.get("subjects").is_some() { "subjects" } else { "rules" };
    // An aggregated role's rules are the aggregation's to manage.
    if field == "rules" && desired.get("aggregationRule").is_some() {
        if current.get("aggregationRule") == desired.get("aggregationRule") {
            return None;
        }
        let mut next = current.clone();
        next["aggregationRule"] = desired["aggregationRule"].clone();
        return Some(next);
    }
    let have: Vec<Value> = current.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
    let want = desired.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
    let missing: Vec<Value> = want.into_iter().filter(|w| !have.contains(w)).collect();
    if missing.is_empty() {
        return None;
    }
    let mut next = current.clone();
    let mut all = have;
    all.extend(missing);
    next[field] = json!(all);
    Some(next)
}

/// Creates `desired` at `key`, or fills in what an auto-updated stored copy lacks. Returns
/// whether it created the object.
async fn reconcile(state: &AppState, resource: &str, key: &str, desired: Value) -> Result<bool, ApiError> {
    for _ in 0..5 {
        let Some(kv) = state.store.get(key).await.map_err(crate::objects::generic_store_error)? else {
            return crate::bootstrap::ensure(state, rule::RBAC_GROUP, resource, key, desired).await;
        };
        let current = state.codec.decode(&kv)?;
        if meta::annotation(&current, AUTOUPDATE_ANNOTATION) != Some("true") {
            return Ok(false);
        }
        let Some(next) = missing_parts(&current, &desired) else { return Ok(false) };
        match state.store.update(key, state.codec.encode(key, &next)?, kv.mod_revision).await {
            Ok(_) => {
                info!(key, "restored missing parts of a default RBAC object");
                return Ok(false);
            }
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(e) => return Err(crate::objects::generic_store_error(e)),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_has_the_named_roles() {
        let names: Vec<String> = cluster_roles().iter().map(|r| meta::name(r).to_string()).collect();
        for want in [
            "cluster-admin",
            "admin",
            "edit",
            "view",
            "system:basic-user",
            "system:discovery",
            "system:public-info-viewer",
            "system:node",
            "system:kube-scheduler",
            "system:kube-controller-manager",
            "system:controller:deployment-controller",
        ] {
            assert!(names.iter().any(|n| n == want), "missing {want}");
        }
        // Every binding points at a role that exists.
        for b in bindings::cluster_role_bindings() {
            let role = b["roleRef"]["name"].as_str().unwrap();
            assert!(names.iter().any(|n| n == role), "{role}");
        }
        let roles: Vec<Value> = bindings::roles();
        for b in bindings::role_bindings() {
            assert!(
                roles
                    .iter()
                    .any(|r| meta::name(r) == b["roleRef"]["name"] && meta::namespace(r) == meta::namespace(&b))
            );
        }
    }

    #[test]
    fn missing_rules_and_subjects_are_added_and_extras_kept() {
        let desired = rule::cluster_role("r", vec![rule::rule(&["get"], &[""], &["pods"])]);
        let mut current = rule::cluster_role("r", vec![rule::rule(&["list"], &[""], &["secrets"])]);
        let next = missing_parts(&current, &desired).unwrap();
        assert_eq!(next["rules"].as_array().unwrap().len(), 2);
        current["rules"] = next["rules"].clone();
        assert!(missing_parts(&current, &desired).is_none());

        let desired = rule::cluster_role_binding("b", "r", vec![rule::user("a")]);
        let current = rule::cluster_role_binding("b", "r", vec![rule::user("x")]);
        assert_eq!(missing_parts(&current, &desired).unwrap()["subjects"].as_array().unwrap().len(), 2);
    }
}
