//! Registering the Node: the object the kubelet creates for its machine, and what it
//! reconciles on an existing one (a restarted agent, or a node that was registered
//! before): the labels the kubelet owns. Taints are set only at creation, as upstream
//! does; afterwards they belong to administrators and controllers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};

use super::NodeConfig;
use super::labels;
use super::machine::Machine;

/// Annotations K3s-style nodes carry about how they were started.
pub const INTERNAL_IP_ANNOTATION: &str = "k3rs.io/internal-ip";
pub const HOSTNAME_ANNOTATION: &str = "k3rs.io/hostname";
/// Upstream kubelets announce that volumes are attached by the controller.
const ATTACH_DETACH_ANNOTATION: &str = "volumes.kubernetes.io/controller-managed-attach-detach";

/// The labels the kubelet sets on its Node: the well-known ones and `--node-label`s.
pub fn kubelet_labels(config: &NodeConfig, machine: &Machine) -> BTreeMap<String, String> {
    let mut out = labels::well_known(&config.hostname, &machine.operating_system, &machine.architecture);
    out.extend(config.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

fn annotations(config: &NodeConfig) -> BTreeMap<String, String> {
    let ips: Vec<String> = config.internal_ips.iter().map(ToString::to_string).collect();
    let mut out = BTreeMap::from([
        (ATTACH_DETACH_ANNOTATION.to_string(), "true".to_string()),
        (INTERNAL_IP_ANNOTATION.to_string(), ips.join(",")),
        (HOSTNAME_ANNOTATION.to_string(), config.hostname.clone()),
    ]);
    out.extend(config.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The Node as the kubelet first creates it. Its status is written right after by the
/// status loop (through the status subresource).
pub fn initial_node(config: &NodeConfig, machine: &Machine) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(config.name.clone()),
            labels: Some(kubelet_labels(config, machine)),
            annotations: Some(annotations(config)),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: Some(config.taints.clone()).filter(|t| !t.is_empty()),
            provider_id: Some(format!("k3rs://{}", config.name)),
            ..NodeSpec::default()
        }),
        status: None,
    }
}

/// What must change on an existing Node so that it carries the kubelet's labels and
/// annotations: a merge patch, or `None` when it already does.
pub fn reconcile_patch(existing: &Node, desired: &Node) -> Option<serde_json::Value> {
    let mut patch = serde_json::Map::new();
    for (field, want, have) in [
        ("labels", &desired.metadata.labels, &existing.metadata.labels),
        ("annotations", &desired.metadata.annotations, &existing.metadata.annotations),
    ] {
        let changed: serde_json::Map<String, serde_json::Value> = want
            .iter()
            .flatten()
            .filter(|(k, v)| have.as_ref().and_then(|h| h.get(*k)) != Some(*v))
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        if !changed.is_empty() {
            patch.insert(field.to_string(), serde_json::Value::Object(changed));
        }
    }
    (!patch.is_empty()).then(|| serde_json::json!({ "metadata": patch }))
}

/// Creates the Node, or brings an existing one's kubelet-owned labels and annotations up
/// to date. Returns the Node as stored.
pub async fn register(api: &Api<Node>, desired: &Node) -> Result<Node, kube::Error> {
    let name = desired.metadata.name.clone().unwrap_or_default();
    match api.create(&PostParams::default(), desired).await {
        Ok(node) => {
            tracing::info!(node = %name, "registered the node");
            Ok(node)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = api.get(&name).await?;
            match reconcile_patch(&existing, desired) {
                Some(patch) => {
                    tracing::info!(node = %name, "updating the labels of the registered node");
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await
                }
                None => Ok(existing),
            }
        }
        Err(e) => Err(e),
    }
}

/// Sets labels that a kubelet may not set on its own Node (the control-plane role) with
/// a client that is allowed to (the server's).
pub async fn apply_privileged_labels(
    api: &Api<Node>,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Result<(), kube::Error> {
    if labels.is_empty() {
        return Ok(());
    }
    let patch = serde_json::json!({ "metadata": { "labels": labels } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::tests::{sample_config, sample_machine};

    #[test]
    fn initial_node_carries_labels_taints_and_annotations() {
        let mut config = sample_config();
        config.labels.insert("example.com/zone".into(), "a".into());
        config.taints.push(labels::parse_taint("dedicated=gpu:NoSchedule").unwrap());
        let node = initial_node(&config, &sample_machine());
        let l = node.metadata.labels.as_ref().unwrap();
        assert_eq!(l[labels::HOSTNAME], "host-1");
        assert_eq!(l[labels::OS], "linux");
        assert_eq!(l[labels::ARCH], "amd64");
        assert_eq!(l["example.com/zone"], "a");
        assert!(!l.contains_key(labels::CONTROL_PLANE));
        let spec = node.spec.unwrap();
        assert_eq!(spec.taints.unwrap()[0].key, "dedicated");
        assert_eq!(spec.provider_id.as_deref(), Some("k3rs://node-1"));
        assert_eq!(node.metadata.annotations.unwrap()[INTERNAL_IP_ANNOTATION], "10.0.0.5");
    }

    #[test]
    fn reconcile_only_patches_what_differs() {
        let config = sample_config();
        let desired = initial_node(&config, &sample_machine());
        assert_eq!(reconcile_patch(&desired, &desired), None);
        let mut existing = desired.clone();
        let l = existing.metadata.labels.as_mut().unwrap();
        l.insert(labels::HOSTNAME.into(), "old".into());
        // Labels added by others are kept: a merge patch only names the kubelet's own.
        l.insert("admin/label".into(), "x".into());
        existing.spec.as_mut().unwrap().taints = None;
        let patch = reconcile_patch(&existing, &desired).unwrap();
        assert_eq!(patch, serde_json::json!({"metadata": {"labels": {labels::HOSTNAME: "host-1"}}}));
    }
}
