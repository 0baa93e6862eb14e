//! ClusterRole aggregation: a ClusterRole with an `aggregationRule` gets, as its `rules`, the
//! rules of every ClusterRole its label selectors match (in name order, without duplicates),
//! the way upstream's clusterrole-aggregation controller keeps `admin`, `edit` and `view`
//! current. Runs whenever a ClusterRole changes.

use serde_json::{Value, json};
use tracing::{debug, warn};

use super::cache::aggregation_selectors;
use crate::state::AppState;

/// The rules `role` should have, given every ClusterRole; `None` when it is not aggregated.
pub fn aggregated_rules(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors = aggregation_selectors(role)?;
    let name = k3rs_api::meta::name(role);
    let mut sources: Vec<&Value> = all
        .iter()
        .filter(|r| k3rs_api::meta::name(r) != name)
        .filter(|r| selectors.iter().any(|s| s.matches(k3rs_api::meta::labels(r))))
        .collect();
    sources.sort_by_key(|r| k3rs_api::meta::name(r).to_string());
    let mut rules: Vec<Value> = Vec::new();
    for source in sources {
        for rule in source.get("rules").and_then(Value::as_array).into_iter().flatten() {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    Some(rules)
}

/// Brings every aggregated ClusterRole's rules up to date in the store.
pub async fn reconcile(state: &AppState) {
    let all = state.rbac.cluster_role_objects();
    for role in &all {
        let Some(desired) = aggregated_rules(role, &all) else { continue };
        let current = role.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
        if current != desired {
            update_rules(state, k3rs_api::meta::name(role), desired).await;
        }
    }
}

async fn update_rules(state: &AppState, name: &str, rules: Vec<Value>) {
    let key = format!("/registry/clusterroles/{name}");
    let Ok(Some(kv)) = state.store.get(&key).await else { return };
    let Ok(mut role) = state.codec.decode(&kv) else { return };
    role["rules"] = json!(rules);
    let Ok(bytes) = state.codec.encode(&key, &role) else { return };
    match state.store.update(&key, bytes, kv.mod_revision).await {
        Ok(_) => debug!(role = name, "aggregated cluster role rules updated"),
        // Someone else changed it: the watch brings the change, and another reconcile.
        Err(k3rs_store::Error::Conflict { .. }) | Err(k3rs_store::Error::NotFound { .. }) => {}
        Err(e) => warn!(role = name, error = %e, "updating an aggregated cluster role failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_come_from_matching_roles_in_name_order() {
        let aggregate = json!({
            "metadata": {"name": "view"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-view": "true"}}]},
            "rules": [],
        });
        let rule = |r: &str| json!({"verbs": ["get"], "apiGroups": [""], "resources": [r]});
        let b = json!({"metadata": {"name": "b", "labels": {"aggregate-to-view": "true"}}, "rules": [rule("pods"), rule("secrets")]});
        let a = json!({"metadata": {"name": "a", "labels": {"aggregate-to-view": "true"}}, "rules": [rule("secrets")]});
        let other = json!({"metadata": {"name": "c"}, "rules": [rule("nodes")]});
        let all = vec![aggregate.clone(), b, a, other.clone()];
        assert_eq!(aggregated_rules(&aggregate, &all), Some(vec![rule("secrets"), rule("pods")]));
        assert_eq!(aggregated_rules(&other, &all), None);
    }
}
