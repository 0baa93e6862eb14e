//! NodeRestriction: what a kubelet writes must concern itself. A node may create only its own
//! Node (with no labels reserved for administrators), change only its own Node and never its
//! taints, create only mirror pods bound to itself that use no secrets, config maps, claims
//! or service accounts, update only the status of pods, and create only its own Lease and
//! CSINode. Token requests are checked by the token handler ([`check_token_request`]).

use k3rs_api::{ApiError, meta};
use serde_json::{Map, Value};

use crate::authz::node::{node_name, refs};
use crate::rest::ResourceRequest;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

fn forbidden(r: &ResourceRequest, name: &str, why: String) -> ApiError {
    let resource = k3rs_api::error::qualified(&r.storage.plural, &r.storage.group);
    ApiError::forbidden(format!("{resource} {name:?} is forbidden: {why}")).with_details(
        &r.storage.group,
        &r.storage.plural,
        name,
    )
}

/// Labels a kubelet may set on its Node: well-known topology and OS labels, and anything
/// outside the `kubernetes.io`/`k8s.io` namespaces except `node-restriction.kubernetes.io/`.
pub fn kubelet_may_set_label(key: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "kubernetes.io/hostname",
        "kubernetes.io/arch",
        "kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    ];
    let prefix = key.split_once('/').map(|(p, _)| p).unwrap_or("");
    if prefix == "node-restriction.kubernetes.io" || prefix.ends_with(".node-restriction.kubernetes.io") {
        return false;
    }
    if ALLOWED.contains(&key) {
        return true;
    }
    let reserved = |ns: &str| prefix == ns || prefix.ends_with(&format!(".{ns}"));
    if reserved("kubernetes.io") || reserved("k8s.io") {
        return prefix == "kubelet.kubernetes.io"
            || prefix.ends_with(".kubelet.kubernetes.io")
            || prefix == "node.kubernetes.io"
            || prefix.ends_with(".node.kubernetes.io");
    }
    true
}

fn changed_labels<'a>(new: Option<&'a Map<String, Value>>, old: Option<&'a Map<String, Value>>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for (k, v) in new.into_iter().flatten() {
        if old.and_then(|o| o.get(k)) != Some(v) {
            out.push(k);
        }
    }
    for k in old.into_iter().flatten().map(|(k, _)| k) {
        if !new.is_some_and(|n| n.contains_key(k)) {
            out.push(k);
        }
    }
    out
}

fn check_labels(r: &ResourceRequest, node: &str, new: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut refused: Vec<&str> = changed_labels(meta::labels(new), old.and_then(meta::labels))
        .into_iter()
        .filter(|k| !kubelet_may_set_label(k))
        .collect();
    refused.sort_unstable();
    if refused.is_empty() {
        return Ok(());
    }
    Err(forbidden(r, meta::name(new), format!("node {node:?} is not allowed to modify labels: {}", refused.join(", "))))
}

pub fn admit_create(r: &ResourceRequest, obj: &Value) -> Result<(), ApiError> {
    let Some(node) = node_name(&r.user) else { return Ok(()) };
    let name = meta::name(obj);
    match (r.storage.group.as_str(), r.storage.plural.as_str()) {
        ("", "nodes") => {
            if name != node {
                return Err(forbidden(r, name, format!("node {node:?} is not allowed to modify node {name:?}")));
            }
            check_labels(r, &node, obj, None)
        }
        ("", "pods") => {
            if meta::annotation(obj, MIRROR_ANNOTATION).is_none() {
                return Err(forbidden(
                    r,
                    name,
                    format!(
                        "pod does not have \"{MIRROR_ANNOTATION}\" annotation, node {node:?} can only create mirror pods"
                    ),
                ));
            }
            if obj.pointer("/spec/nodeName").and_then(Value::as_str) != Some(node.as_str()) {
                return Err(forbidden(
                    r,
                    name,
                    format!("node {node:?} can only create pods with spec.nodeName set to itself"),
                ));
            }
            let sa = obj.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("");
            for (what, used) in [
                ("serviceaccounts", !sa.is_empty()),
                ("secrets", !refs::secrets(obj).is_empty()),
                ("configmaps", !refs::config_maps(obj).is_empty()),
                ("persistentvolumeclaims", !refs::claims(obj).is_empty()),
            ] {
                if used {
                    return Err(forbidden(r, name, format!("node {node:?} can not create pods that reference {what}")));
                }
            }
            Ok(())
        }
        ("coordination.k8s.io", "leases") | ("storage.k8s.io", "csinodes") if name != node => Err(forbidden(
            r,
            name,
            format!("node {node:?} may only create the {} named after itself", r.storage.plural),
        )),
        _ => Ok(()),
    }
}

pub fn admit_update(r: &ResourceRequest, new: &Value, old: &Value) -> Result<(), ApiError> {
    let Some(node) = node_name(&r.user) else { return Ok(()) };
    let name = meta::name(old);
    match (r.storage.group.as_str(), r.storage.plural.as_str()) {
        ("", "nodes") => {
            if name != node {
                return Err(forbidden(r, name, format!("node {node:?} is not allowed to modify node {name:?}")));
            }
            if r.info.subresource.is_none() && new.pointer("/spec/taints") != old.pointer("/spec/taints") {
                return Err(forbidden(r, name, format!("node {node:?} is not allowed to modify taints")));
            }
            check_labels(r, &node, new, Some(old))
        }
        ("", "pods") if r.info.subresource.as_deref() != Some("status") => {
            Err(forbidden(r, name, format!("node {node:?} can only update the status of pods")))
        }
        _ => Ok(()),
    }
}

/// A node may request tokens only for pods bound to itself.
pub fn check_token_request(
    r: &ResourceRequest,
    bound_kind: Option<&str>,
    bound_pod: Option<&Value>,
) -> Result<(), ApiError> {
    let Some(node) = node_name(&r.user) else { return Ok(()) };
    let name = r.name();
    if bound_kind != Some("Pod") {
        return Err(forbidden(r, name, format!("node {node:?} can only create tokens bound to pods")));
    }
    match bound_pod.and_then(|p| p.pointer("/spec/nodeName")).and_then(Value::as_str) {
        Some(n) if n == node => Ok(()),
        _ => Err(forbidden(r, name, format!("node {node:?} can only create tokens for pods bound to itself"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_policy() {
        for ok in [
            "kubernetes.io/hostname",
            "topology.kubernetes.io/zone",
            "node.kubernetes.io/foo",
            "example.com/x",
            "plain",
        ] {
            assert!(kubelet_may_set_label(ok), "{ok}");
        }
        for bad in [
            "node-restriction.kubernetes.io/x",
            "node-role.kubernetes.io/master",
            "foo.k8s.io/x",
            "kubernetes.io/other",
        ] {
            assert!(!kubelet_may_set_label(bad), "{bad}");
        }
    }

    #[test]
    fn changed_labels_cover_added_changed_and_removed() {
        let new = serde_json::json!({"a": "1", "b": "2"});
        let old = serde_json::json!({"a": "1", "b": "3", "c": "4"});
        let mut changed = changed_labels(new.as_object(), old.as_object());
        changed.sort();
        assert_eq!(changed, vec!["b", "c"]);
    }
}
