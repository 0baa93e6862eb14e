//! ControllerRevisions, the history of DaemonSets and StatefulSets: each revision
//! stores the pod template as a patch (`{"spec":{"template":{…,"$patch":"replace"}}}`)
//! under `<owner>-<hash>`, with an increasing `revision` number, and pods carry the
//! `controller-revision-hash` label of the revision they were made from.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::{Value, json};

use crate::workloads::deployment::revision::safe_encode;

/// The label naming a pod's (and a revision's) template hash.
pub const CONTROLLER_REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The revision data of a template: a patch that replaces `spec.template`.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = t.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": t}})
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Upstream's `HashControllerRevision`: FNV-1a of the data (and collision count).
pub fn revision_hash(data: &Value, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(data).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// `<owner>-<hash>`, the owner part cut so the name stays a valid object name.
pub fn revision_name(owner: &str, hash: &str) -> String {
    let prefix: String = owner.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// Whether a revision holds `data`.
pub fn matches(revision: &ControllerRevision, data: &Value) -> bool {
    revision.data.as_ref().is_some_and(|d| &d.0 == data)
}

pub fn max_revision(revisions: &[&ControllerRevision]) -> i64 {
    revisions.iter().map(|r| r.revision).max().unwrap_or(0)
}

/// A new revision object (not yet stored).
pub fn new_revision(
    name: String,
    namespace: Option<String>,
    labels: BTreeMap<String, String>,
    data: Value,
    revision: i64,
) -> ControllerRevision {
    ControllerRevision {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name),
            namespace,
            labels: Some(labels),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// The template stored in a revision, if it can be read back.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(map) = t.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_round_trip_and_hash_stably() {
        let template: PodTemplateSpec = serde_json::from_value(json!({
            "metadata": {"labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "c", "image": "agent:1"}]}
        }))
        .unwrap();
        let data = template_patch(&template);
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(data["spec"]["template"]["spec"]["containers"][0]["image"], "agent:1");
        let r = new_revision("agent-x".into(), None, BTreeMap::new(), data.clone(), 3);
        assert!(matches(&r, &data));
        assert_eq!(template_of(&r), Some(template));
        assert_eq!(revision_hash(&data, None), revision_hash(&data, None));
        assert_ne!(revision_hash(&data, None), revision_hash(&data, Some(1)));
        assert_eq!(revision_name("agent", "abc"), "agent-abc");
        assert_eq!(max_revision(&[&r]), 3);
    }
}
