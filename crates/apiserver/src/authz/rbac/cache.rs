//! The RBAC objects in memory, kept current by watching the store, so authorizing a request
//! costs no datastore read. Writes made through the API are applied at once as well (read
//! your own writes); every entry remembers its revision so a late watch event never rolls
//! a newer state back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use k3rs_api::meta;
use k3rs_api::selector::LabelSelector;
use serde_json::Value;
use tracing::warn;

use super::rules::PolicyRule;
use super::snapshot::{Binding, RbacSnapshot};
use crate::state::AppState;

pub const CLUSTER_ROLES: &str = "/registry/clusterroles/";
pub const ROLES: &str = "/registry/roles/";
pub const CLUSTER_ROLE_BINDINGS: &str = "/registry/clusterrolebindings/";
pub const ROLE_BINDINGS: &str = "/registry/rolebindings/";
pub const PREFIXES: [&str; 4] = [CLUSTER_ROLES, ROLES, CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS];

/// A stored RBAC object (or its deletion) at a revision.
struct Entry {
    revision: i64,
    object: Option<Value>,
}

#[derive(Default)]
pub struct RbacCache {
    entries: Mutex<BTreeMap<String, Entry>>,
    snapshot: RwLock<Arc<RbacSnapshot>>,
}

impl RbacCache {
    /// The current view (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<RbacSnapshot> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records the object at `key` as of `revision` (`None`: deleted) and republishes.
    pub fn apply(&self, key: &str, revision: i64, object: Option<Value>) {
        self.apply_all(vec![(key.to_string(), revision, object)]);
    }

    fn apply_all(&self, changes: Vec<(String, i64, Option<Value>)>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (key, revision, object) in changes {
            if !PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            if entries.get(&key).is_some_and(|e| e.revision > revision) {
                continue;
            }
            entries.insert(key, Entry { revision, object });
            changed = true;
        }
        if changed {
            let snapshot = build(&entries);
            *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        }
    }

    /// Replaces everything under `prefix` with a fresh list taken at `revision`.
    fn replace_prefix(&self, prefix: &str, revision: i64, objects: Vec<(String, i64, Value)>) {
        let mut changes: Vec<(String, i64, Option<Value>)> =
            objects.into_iter().map(|(k, rev, obj)| (k, rev, Some(obj))).collect();
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            for (key, entry) in entries.range(prefix.to_string()..) {
                if !key.starts_with(prefix) {
                    break;
                }
                if entry.object.is_some() && !changes.iter().any(|(k, _, _)| k == key) {
                    changes.push((key.clone(), revision, None));
                }
            }
        }
        self.apply_all(changes);
    }

    /// The ClusterRoles as stored (for aggregation).
    pub fn cluster_role_objects(&self) -> Vec<Value> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .range(CLUSTER_ROLES.to_string()..)
            .take_while(|(k, _)| k.starts_with(CLUSTER_ROLES))
            .filter_map(|(_, e)| e.object.clone())
            .collect()
    }
}

fn build(entries: &BTreeMap<String, Entry>) -> RbacSnapshot {
    let mut s = RbacSnapshot::default();
    for (key, entry) in entries {
        let Some(obj) = &entry.object else { continue };
        if key.starts_with(CLUSTER_ROLES) {
            s.cluster_roles.insert(meta::name(obj).to_string(), Arc::new(PolicyRule::all_from(obj)));
        } else if key.starts_with(ROLES) {
            let id = (meta::namespace(obj).to_string(), meta::name(obj).to_string());
            s.roles.insert(id, Arc::new(PolicyRule::all_from(obj)));
        } else if key.starts_with(CLUSTER_ROLE_BINDINGS) {
            s.cluster_role_bindings.push(Binding::from_json(obj));
        } else if key.starts_with(ROLE_BINDINGS) {
            let b = Binding::from_json(obj);
            s.role_bindings.entry(b.namespace.clone()).or_default().push(b);
        }
    }
    s
}

/// Loads every RBAC object; returns the revision to watch from, per prefix.
pub async fn load(state: &AppState) -> Result<Vec<i64>, String> {
    let mut revisions = Vec::new();
    for prefix in PREFIXES {
        revisions.push(load_prefix(state, prefix).await?);
    }
    Ok(revisions)
}

async fn load_prefix(state: &AppState, prefix: &str) -> Result<i64, String> {
    let list = state.store.list(prefix, Default::default()).await.map_err(|e| e.to_string())?;
    let mut objects = Vec::new();
    for kv in &list.items {
        match state.codec.decode(kv) {
            Ok(obj) => objects.push((kv.key.clone(), kv.mod_revision, obj)),
            Err(e) => warn!(key = %kv.key, error = %e.message, "skipping an unreadable RBAC object"),
        }
    }
    state.rbac.replace_prefix(prefix, list.revision, objects);
    Ok(list.revision)
}

/// Follows one prefix for the life of the server, starting after `revision`.
pub async fn follow(state: Arc<AppState>, prefix: &'static str, mut revision: i64) {
    loop {
        if let Err(e) = watch_from(&state, prefix, revision).await {
            warn!(%prefix, error = %e, "RBAC watch ended; reloading");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        match load_prefix(&state, prefix).await {
            Ok(rev) => revision = rev,
            Err(e) => warn!(%prefix, error = %e, "reloading RBAC objects failed"),
        }
        if prefix == CLUSTER_ROLES {
            super::aggregation::reconcile(&state).await;
        }
    }
}

async fn watch_from(state: &Arc<AppState>, prefix: &str, revision: i64) -> Result<(), String> {
    let mut stream = state.store.watch(prefix, revision).await.map_err(|e| e.to_string())?;
    while let Some(event) = stream.next().await {
        let event = event.map_err(|e| e.to_string())?;
        let object = match event.kind {
            k3rs_store::EventKind::Put => match state.codec.decode(&event.kv) {
                Ok(obj) => Some(obj),
                Err(e) => {
                    warn!(key = %event.kv.key, error = %e.message, "skipping an unreadable RBAC object");
                    continue;
                }
            },
            k3rs_store::EventKind::Delete => None,
        };
        state.rbac.apply(&event.kv.key, event.revision(), object);
        if prefix == CLUSTER_ROLES {
            super::aggregation::reconcile(state).await;
        }
    }
    Ok(())
}

/// The label selectors of an aggregated ClusterRole (`None`: not aggregated).
pub fn aggregation_selectors(role: &Value) -> Option<Vec<LabelSelector>> {
    let list = role.pointer("/aggregationRule/clusterRoleSelectors")?.as_array()?;
    Some(list.iter().filter_map(|s| LabelSelector::from_object(Some(s)).ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn late_events_do_not_roll_back() {
        let cache = RbacCache::default();
        let role = |verb: &str| json!({"metadata": {"name": "r"}, "rules": [{"verbs": [verb], "apiGroups": [""], "resources": ["pods"]}]});
        cache.apply("/registry/clusterroles/r", 10, Some(role("list")));
        cache.apply("/registry/clusterroles/r", 9, Some(role("get")));
        assert_eq!(cache.snapshot().cluster_roles["r"][0].verbs, vec!["list"]);
        cache.apply("/registry/clusterroles/r", 11, None);
        assert!(cache.snapshot().cluster_roles.is_empty());
        // Unrelated keys are ignored.
        cache.apply("/registry/pods/x/y", 12, Some(json!({})));
        assert!(cache.cluster_role_objects().is_empty());
    }

    #[test]
    fn a_fresh_list_removes_what_is_gone() {
        let cache = RbacCache::default();
        let b = |name: &str| json!({"metadata": {"name": name}, "roleRef": {"kind": "ClusterRole", "name": "view"}});
        cache.apply("/registry/clusterrolebindings/a", 1, Some(b("a")));
        cache.apply("/registry/clusterrolebindings/b", 2, Some(b("b")));
        cache.replace_prefix(CLUSTER_ROLE_BINDINGS, 5, vec![("/registry/clusterrolebindings/b".into(), 2, b("b"))]);
        let names: Vec<String> = cache.snapshot().cluster_role_bindings.iter().map(|b| b.name.clone()).collect();
        assert_eq!(names, vec!["b"]);
    }
}
