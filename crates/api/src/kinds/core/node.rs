//! Nodes: status as the kubelet registers it (kept on create, owned by `/status`
//! afterwards), allocatable defaulted from capacity, taint and pod-CIDR rules, the
//! STATUS/ROLES/VERSION row and the `spec.unschedulable` field selector.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, NodeSpec, Taint};
use serde_json::{Value, json};

use crate::kinds::common::pod_spec::validate_taint_effect;
use crate::kinds::common::printing::since_time;
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::Column;
use crate::validation::names::{label_value, qualified_name};
use crate::validation::{FieldError, FieldPath};

pub struct NodeStrategy;

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

fn validate_taints(taints: &[Taint], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, t) in taints.iter().enumerate() {
        let ip = path.index(i);
        errs.extend(
            qualified_name(&t.key).into_iter().map(|m| FieldError::invalid(ip.child("key"), t.key.as_str(), m)),
        );
        if let Some(v) = t.value.as_deref() {
            errs.extend(label_value(v).into_iter().map(|m| FieldError::invalid(ip.child("value"), v, m)));
        }
        errs.extend(validate_taint_effect(&t.effect, false, &ip.child("effect")));
        if !seen.insert((t.key.as_str(), t.effect.as_str())) {
            let mut dup = FieldError::duplicate(ip, json!({"key": t.key, "effect": t.effect}));
            dup.detail = "taints must be unique by key and effect pair".into();
            errs.push(dup);
        }
    }
    errs
}

fn validate_spec(spec: &NodeSpec) -> Vec<FieldError> {
    let path = FieldPath::root("spec");
    let mut errs = validate_taints(spec.taints.as_deref().unwrap_or_default(), &path.child("taints"));
    let cidrs = spec.pod_cidrs.clone().unwrap_or_default();
    for (i, c) in cidrs.iter().enumerate() {
        if !is_cidr(c) {
            errs.push(FieldError::invalid(path.child("podCIDRs").index(i), json!(cidrs), "must be valid CIDR"));
        }
    }
    if cidrs.len() > 2 {
        errs.push(FieldError::invalid(
            path.child("podCIDRs"),
            json!(cidrs),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    if let Some(c) = spec.pod_cidr.as_deref().filter(|c| !c.is_empty())
        && cidrs.first().is_some_and(|first| first != c)
    {
        errs.push(FieldError::invalid(path.child("podCIDR"), c, "must match the first element of podCIDRs"));
    }
    errs
}

/// `address/prefix` with a prefix that fits the address family.
pub fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else { return false };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|p| p <= max) && !prefix.starts_with('+')
}

/// `Ready`/`NotReady`/`Unknown`, plus `SchedulingDisabled` when cordoned.
fn status_cell(node: &Node) -> String {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().rev().find(|c| c.type_ == "Ready"))
        .map(|c| if c.status == "True" { "Ready" } else { "NotReady" });
    let mut parts = vec![ready.unwrap_or("Unknown").to_string()];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        parts.push("SchedulingDisabled".into());
    }
    parts.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` keys and the `kubernetes.io/role` value, sorted.
fn roles_cell(node: &Node) -> String {
    let mut roles = BTreeSet::new();
    for (k, v) in node.metadata.labels.iter().flatten() {
        if let Some(role) = k.strip_prefix(ROLE_PREFIX).filter(|r| !r.is_empty()) {
            roles.insert(role.to_string());
        } else if k == ROLE_LABEL && !v.is_empty() {
            roles.insert(v.clone());
        }
    }
    if roles.is_empty() { "<none>".into() } else { roles.into_iter().collect::<Vec<_>>().join(",") }
}

fn address(node: &Node, ty: &str) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .and_then(|a| a.iter().find(|a| a.type_ == ty))
        .map_or_else(|| "<none>".into(), |a| a.address.clone())
}

impl Strategy for NodeStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Node>(obj)
    }

    /// Allocatable defaults to capacity (upstream's `SetDefaults_NodeStatus`).
    fn default(&self, obj: &mut Value) {
        typed::<Node>(obj, |n| {
            if let Some(status) = n.status.as_mut()
                && status.allocatable.is_none()
                && let Some(cap) = &status.capacity
            {
                status.allocatable = Some(cap.clone());
            }
        });
    }

    /// The kubelet registers its node with status; creation keeps it.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<Node>(obj) {
            Ok(n) => validate_spec(&n.spec.unwrap_or_default()),
            Err(e) => vec![FieldError::invalid("spec", Value::Null, e)],
        }
    }

    /// Pod CIDRs and the provider ID may only go from unset to set.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = self.validate_create(new);
        let (n, o): (Node, Node) = (decode_or_default(new), decode_or_default(old));
        let (ns, os) = (n.spec.unwrap_or_default(), o.spec.unwrap_or_default());
        let old_cidrs = os.pod_cidrs.clone().unwrap_or_default();
        if !old_cidrs.is_empty() && ns.pod_cidrs.clone().unwrap_or_default() != old_cidrs {
            errs.push(FieldError::forbidden(
                FieldPath::root("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let old_provider = os.provider_id.unwrap_or_default();
        if !old_provider.is_empty() && ns.provider_id.unwrap_or_default() != old_provider {
            errs.push(FieldError::forbidden(
                FieldPath::root("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Status", "string", "The status of the node"),
            Column::new("Roles", "string", "The roles of the node"),
            Column::age(),
            Column::new("Version", "string", "Kubelet Version reported by the node."),
            Column::wide("Internal-IP", "string", "List of addresses reachable to the node."),
            Column::wide("External-IP", "string", "List of addresses reachable to the node."),
            Column::wide(
                "OS-Image",
                "string",
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            ),
            Column::wide(
                "Kernel-Version",
                "string",
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            ),
            Column::wide(
                "Container-Runtime",
                "string",
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            ),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let node: Node = decode_or_default(obj);
        let info = node.status.as_ref().and_then(|s| s.node_info.clone()).unwrap_or_default();
        let unknown = |s: String| if s.is_empty() { "<unknown>".to_string() } else { s };
        vec![
            json!(status_cell(&node)),
            json!(roles_cell(&node)),
            json!(since_time(node.metadata.creation_timestamp.as_ref(), ctx)),
            json!(info.kubelet_version),
            json!(address(&node, "InternalIP")),
            json!(address(&node, "ExternalIP")),
            json!(unknown(info.os_image)),
            json!(unknown(info.kernel_version)),
            json!(unknown(info.container_runtime_version)),
        ]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "spec.unschedulable")
            .then(|| obj.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: Value) -> Value {
        let mut v = v;
        NodeStrategy.normalize(&mut v).unwrap();
        NodeStrategy.default(&mut v);
        v
    }

    #[test]
    fn rows() {
        let v = node(json!({
            "metadata": {"name": "n1", "creationTimestamp": "2024-01-01T00:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "true", "kubernetes.io/role": "etcd"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "n1"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.0+k3rs", "osImage": "Debian GNU/Linux 13", "kernelVersion": "6.12.0",
                                    "containerRuntimeVersion": "containerd://2.0.0", "architecture": "amd64", "bootID": "", "kubeProxyVersion": "",
                                    "machineID": "", "operatingSystem": "linux", "systemUUID": ""}}
        }));
        let ctx = Context { now: "2024-01-03T00:00:00Z".parse().unwrap() };
        assert_eq!(
            NodeStrategy.row(&v, &ctx),
            vec![
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,etcd,master"),
                json!("2d"),
                json!("v1.33.0+k3rs"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 13"),
                json!("6.12.0"),
                json!("containerd://2.0.0"),
            ]
        );
        let bare = node(json!({"metadata": {"name": "n2"}}));
        let cells = NodeStrategy.row(&bare, &ctx);
        assert_eq!((&cells[0], &cells[1], &cells[6]), (&json!("Unknown"), &json!("<none>"), &json!("<unknown>")));
        let not_ready = node(
            json!({"metadata": {"name": "n3"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        );
        assert_eq!(NodeStrategy.row(&not_ready, &ctx)[0], json!("NotReady"));
        assert_eq!(NodeStrategy.field_label(&v, "spec.unschedulable").as_deref(), Some("true"));
        assert_eq!(NodeStrategy.field_label(&bare, "spec.unschedulable").as_deref(), Some("false"));
    }

    #[test]
    fn status_is_kept_and_allocatable_defaulted() {
        let mut v = node(json!({"metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4"}}}));
        NodeStrategy.prepare_for_create(&mut v);
        assert_eq!(v["status"]["allocatable"], json!({"cpu": "4"}));
    }

    #[test]
    fn taints_and_cidrs() {
        let v = node(json!({"metadata": {"name": "n1"}, "spec": {
            "podCIDRs": ["10.42.0.0/24", "bogus"],
            "taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "Sometimes"}]
        }}));
        let errs: Vec<String> = NodeStrategy.validate_create(&v).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            vec![
                "spec.taints[1]: Duplicate value: {\"effect\":\"NoSchedule\",\"key\":\"a\"}: taints must be unique by key and effect pair",
                "spec.taints[2].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "spec.podCIDRs[1]: Invalid value: [\"10.42.0.0/24\",\"bogus\"]: must be valid CIDR",
            ]
        );
        let old = node(json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.42.0.0/24"]}}));
        let new = node(json!({"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.42.1.0/24"]}}));
        assert_eq!(
            NodeStrategy.validate_update(&new, &old)[0].to_string(),
            "spec.podCIDRs: Forbidden: node updates may not change podCIDR except from \"\" to valid"
        );
    }
}
