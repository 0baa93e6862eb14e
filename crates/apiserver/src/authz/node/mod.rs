//! The Node authorizer: what a kubelet (`system:node:<name>` in `system:nodes`) may do.
//!
//! A node reads and writes only its own Node object and Lease, the pods bound to it (lists and
//! watches must select `spec.nodeName=<itself>`), and only the Secrets, ConfigMaps, claims,
//! volumes and service accounts those pods use. Anything else falls back to the static rules
//! of the `system:node` role (events, services, runtime classes, reviews). NodeRestriction
//! admission then checks the content of what a node writes.

pub mod refs;

use std::sync::OnceLock;

use k3rs_api::selector::FieldSelector;
use serde_json::Value;

use super::rbac::PolicyRule;
use super::{Attributes, Decision, ResourceAttributes};
use crate::authn::UserInfo;
use crate::state::AppState;

pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node a user is, if it is one (`Some("")` for a node user without a name).
pub fn node_name(user: &UserInfo) -> Option<String> {
    if !user.in_group(NODES_GROUP) {
        return None;
    }
    user.name.strip_prefix(NODE_USER_PREFIX).map(String::from)
}

fn no_relationship(node: &str) -> Decision {
    Decision::NoOpinion(format!("no relationship found between node '{node}' and this object"))
}

fn verb_in(attrs: &Attributes, verbs: &[&str]) -> bool {
    verbs.contains(&attrs.verb.as_str())
}

pub async fn authorize(state: &AppState, node: &str, attrs: &Attributes) -> Decision {
    if node.is_empty() {
        return Decision::NoOpinion("unknown node".into());
    }
    let Some(r) = &attrs.resource else { return static_rules(attrs) };
    match (r.group.as_str(), r.resource.as_str()) {
        ("", "nodes") => own_node(node, attrs, r),
        ("", "pods") => pods(state, node, attrs, r).await,
        ("", "secrets") => used_by_pods(state, node, attrs, r, refs::secrets).await,
        ("", "configmaps") => used_by_pods(state, node, attrs, r, refs::config_maps).await,
        ("", "persistentvolumeclaims") => {
            let allowed = if r.subresource == "status" { &["get", "update", "patch"][..] } else { &["get"][..] };
            if !verb_in(attrs, allowed) {
                return no_relationship(node);
            }
            used_by_pods(state, node, attrs, r, refs::claims).await
        }
        ("", "persistentvolumes") => volume(state, node, attrs, r).await,
        ("", "serviceaccounts") => service_account(state, node, attrs, r).await,
        ("coordination.k8s.io", "leases") => named_after_node(
            node,
            attrs,
            r,
            r.namespace == NODE_LEASE_NAMESPACE,
            "can only access node lease with the same name as the requesting node",
        ),
        ("storage.k8s.io", "csinodes") => named_after_node(
            node,
            attrs,
            r,
            r.namespace.is_empty(),
            "can only access CSINode with the same name as the requesting node",
        ),
        _ => static_rules(attrs),
    }
}

/// What `system:node` grants beyond the objects the authorizer checks one by one.
fn static_rules(attrs: &Attributes) -> Decision {
    static RULES: OnceLock<Vec<PolicyRule>> = OnceLock::new();
    let rules = RULES.get_or_init(|| crate::policy::node_static_rules().iter().map(PolicyRule::from_json).collect());
    if rules.iter().any(|r| r.allows(attrs)) { Decision::Allow } else { Decision::NoOpinion(String::new()) }
}

fn own_node(node: &str, attrs: &Attributes, r: &ResourceAttributes) -> Decision {
    // The name of a new Node is in the body: NodeRestriction checks it.
    if attrs.verb == "create" && r.subresource.is_empty() {
        return Decision::Allow;
    }
    let verbs: &[&str] = match r.subresource.as_str() {
        "" => &["get", "list", "watch", "update", "patch", "delete"],
        "status" => &["get", "update", "patch"],
        _ => &[],
    };
    if r.name == node && verb_in(attrs, verbs) {
        return Decision::Allow;
    }
    Decision::NoOpinion(format!("node '{node}' may only read and write its own Node object"))
}

fn selects_node(field_selector: &str, node: &str) -> bool {
    FieldSelector::parse(field_selector)
        .map(|s| s.requirements.iter().any(|req| req.field == "spec.nodeName" && req.value == node && !req.negated))
        .unwrap_or(false)
}

async fn pods(state: &AppState, node: &str, attrs: &Attributes, r: &ResourceAttributes) -> Decision {
    match (r.subresource.as_str(), attrs.verb.as_str()) {
        // Mirror pods: NodeRestriction checks they are bound to this node.
        ("", "create") => return Decision::Allow,
        ("", "list" | "watch") if r.name.is_empty() => {
            return if selects_node(&r.field_selector, node) {
                Decision::Allow
            } else {
                Decision::NoOpinion("can only list/watch pods with spec.nodeName field selector".into())
            };
        }
        ("", "get" | "list" | "watch" | "update" | "patch" | "delete")
        | ("status", "get" | "update" | "patch")
        | ("eviction", "create") => {}
        _ => return no_relationship(node),
    }
    match get(state, &format!("/registry/pods/{}/{}", r.namespace, r.name)).await {
        Some(pod) if bound_to(&pod, node) => Decision::Allow,
        _ => no_relationship(node),
    }
}

fn bound_to(pod: &Value, node: &str) -> bool {
    pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
}

/// The pods in `namespace` bound to `node`.
async fn pods_on_node(state: &AppState, namespace: &str, node: &str) -> Vec<Value> {
    let Ok(list) = state.store.list(&format!("/registry/pods/{namespace}/"), Default::default()).await else {
        return Vec::new();
    };
    list.items.iter().filter_map(|kv| state.codec.decode(kv).ok()).filter(|p| bound_to(p, node)).collect()
}

/// Read access to a namespaced object by name, when a pod on the node uses it.
async fn used_by_pods(
    state: &AppState,
    node: &str,
    attrs: &Attributes,
    r: &ResourceAttributes,
    uses: fn(&Value) -> Vec<String>,
) -> Decision {
    let readable = verb_in(attrs, &["get", "list", "watch"]) && r.subresource.is_empty();
    let status_write = r.resource == "persistentvolumeclaims" && r.subresource == "status";
    if r.name.is_empty() || !(readable || status_write) {
        return no_relationship(node);
    }
    let used = pods_on_node(state, &r.namespace, node).await.iter().any(|p| uses(p).contains(&r.name));
    if used { Decision::Allow } else { no_relationship(node) }
}

async fn volume(state: &AppState, node: &str, attrs: &Attributes, r: &ResourceAttributes) -> Decision {
    if attrs.verb != "get" || r.name.is_empty() || !r.subresource.is_empty() {
        return no_relationship(node);
    }
    let Some(pv) = get(state, &format!("/registry/persistentvolumes/{}", r.name)).await else {
        return no_relationship(node);
    };
    let ns = pv.pointer("/spec/claimRef/namespace").and_then(Value::as_str).unwrap_or("");
    let claim = pv.pointer("/spec/claimRef/name").and_then(Value::as_str).unwrap_or("");
    if ns.is_empty() || claim.is_empty() {
        return no_relationship(node);
    }
    let used = pods_on_node(state, ns, node).await.iter().any(|p| refs::claims(p).iter().any(|c| c == claim));
    if used { Decision::Allow } else { no_relationship(node) }
}

async fn service_account(state: &AppState, node: &str, attrs: &Attributes, r: &ResourceAttributes) -> Decision {
    let allowed = match r.subresource.as_str() {
        "" => verb_in(attrs, &["get", "list", "watch"]),
        // NodeRestriction checks that the token is bound to a pod on this node.
        "token" => attrs.verb == "create",
        _ => false,
    };
    if !allowed || r.name.is_empty() {
        return no_relationship(node);
    }
    let used = pods_on_node(state, &r.namespace, node).await.iter().any(|p| refs::service_account(p) == r.name);
    if used { Decision::Allow } else { no_relationship(node) }
}

fn named_after_node(node: &str, attrs: &Attributes, r: &ResourceAttributes, scope_ok: bool, why: &str) -> Decision {
    if !scope_ok || !r.subresource.is_empty() || !verb_in(attrs, &["get", "create", "update", "patch", "delete"]) {
        return Decision::NoOpinion(why.to_string());
    }
    // A create names the object in its body; NodeRestriction checks it.
    if attrs.verb == "create" || r.name == node {
        return Decision::Allow;
    }
    Decision::NoOpinion(why.to_string())
}

async fn get(state: &AppState, key: &str) -> Option<Value> {
    state.get_object(key).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_identity() {
        let node = UserInfo::authenticated("system:node:n1", vec![NODES_GROUP.into()]);
        assert_eq!(node_name(&node).as_deref(), Some("n1"));
        let impostor = UserInfo::authenticated("system:node:n1", vec![]);
        assert_eq!(node_name(&impostor), None);
    }

    #[test]
    fn pods_must_be_selected_by_node() {
        assert!(selects_node("spec.nodeName=n1", "n1"));
        assert!(selects_node("status.phase!=Failed,spec.nodeName==n1", "n1"));
        assert!(!selects_node("spec.nodeName=n2", "n1"));
        assert!(!selects_node("spec.nodeName!=n1", "n1"));
        assert!(!selects_node("", "n1"));
    }

    fn attrs(verb: &str, resource: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            user: UserInfo::authenticated("system:node:n1", vec![NODES_GROUP.into()]),
            verb: verb.into(),
            resource: Some(ResourceAttributes {
                resource: resource.into(),
                namespace: ns.into(),
                name: name.into(),
                ..Default::default()
            }),
            path: String::new(),
        }
    }

    #[test]
    fn own_node_only() {
        let a = attrs("patch", "nodes", "", "n1");
        assert_eq!(own_node("n1", &a, a.resource.as_ref().unwrap()), Decision::Allow);
        let a = attrs("patch", "nodes", "", "n2");
        assert!(matches!(own_node("n1", &a, a.resource.as_ref().unwrap()), Decision::NoOpinion(_)));
        let a = attrs("list", "nodes", "", "");
        assert!(matches!(own_node("n1", &a, a.resource.as_ref().unwrap()), Decision::NoOpinion(_)));
    }

    #[test]
    fn static_rules_cover_events_and_services() {
        assert_eq!(static_rules(&attrs("create", "events", "default", "")), Decision::Allow);
        assert_eq!(static_rules(&attrs("list", "services", "", "")), Decision::Allow);
        assert!(matches!(static_rules(&attrs("delete", "services", "default", "x")), Decision::NoOpinion(_)));
    }
}
