//! Revisions of a Deployment: which ReplicaSet is new (same pod template, ignoring the
//! `pod-template-hash` label), revision numbers in `deployment.kubernetes.io/revision`
//! (what `kubectl rollout history` lists and `rollout undo` picks from), the history of a
//! ReplicaSet that was rolled back to, the annotations copied from the Deployment, and
//! the template hash that names ReplicaSets.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::maths::{DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, max_surge, replicas};

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
const DEPRECATED_ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
/// Upstream caps `revision-history` at this many characters.
pub const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Deployment annotations that are not copied to its ReplicaSets.
fn skip_copy(key: &str) -> bool {
    matches!(
        key,
        LAST_APPLIED_ANNOTATION
            | REVISION_ANNOTATION
            | REVISION_HISTORY_ANNOTATION
            | DESIRED_REPLICAS_ANNOTATION
            | MAX_REPLICAS_ANNOTATION
            | DEPRECATED_ROLLBACK_TO
    )
}

pub fn annotation<'a>(rs: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    rs.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

pub fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    annotation(rs, key)?.parse().ok()
}

/// The revision of a ReplicaSet (0 when unset or unreadable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(rs, REVISION_ANNOTATION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn max_revision(rss: &[&ReplicaSet]) -> i64 {
    rss.iter().map(|rs| revision(rs)).max().unwrap_or(0)
}

/// Whether two templates are equal apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: Option<&PodTemplateSpec>, b: Option<&PodTemplateSpec>) -> bool {
    fn strip(t: Option<&PodTemplateSpec>) -> PodTemplateSpec {
        let mut t = t.cloned().unwrap_or_default();
        if let Some(meta) = t.metadata.as_mut()
            && let Some(labels) = meta.labels.as_mut()
        {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
        // An empty metadata and no metadata are the same template.
        if t.metadata.as_ref().is_some_and(|m| *m == Default::default()) {
            t.metadata = None;
        }
        t
    }
    strip(a) == strip(b)
}

/// The ReplicaSet whose template is the Deployment's (the oldest, if several are).
pub fn find_new<'a>(d: &Deployment, sorted_by_age: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let template = d.spec.as_ref().map(|s| &s.template);
    sorted_by_age
        .iter()
        .copied()
        .find(|rs| equal_ignore_hash(rs.spec.as_ref().and_then(|s| s.template.as_ref()), template))
}

const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// 32-bit FNV-1a.
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Upstream's `rand.SafeEncodeString`: each character mapped into an alphabet without
/// vowels, so hashes never spell words.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| SAFE_ALPHABET[b as usize % SAFE_ALPHABET.len()] as char).collect()
}

/// The `pod-template-hash` of a template and collision count: FNV-1a of the template's
/// JSON (and the count, when set), encoded as upstream encodes it.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = serde_json::to_vec(template).unwrap_or_default();
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// Copies the Deployment's annotations (except the skipped ones) to the ReplicaSet;
/// true if anything changed.
fn copy_annotations(d: &Deployment, rs_annotations: &mut BTreeMap<String, String>) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) || rs_annotations.get(k) == Some(v) {
            continue;
        }
        rs_annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// Sets `desired-replicas` and `max-replicas`; true if they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS_ANNOTATION, desired), (MAX_REPLICAS_ANNOTATION, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(rs, DESIRED_REPLICAS_ANNOTATION) != Some(desired.to_string().as_str())
        || annotation(rs, MAX_REPLICAS_ANNOTATION) != Some(max.to_string().as_str())
}

/// `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the
/// revision to `new_revision` (remembering the old one in `revision-history` when a
/// ReplicaSet is reused by a rollback), and for a ReplicaSet about to be created sets
/// the replicas annotations. True if anything changed.
pub fn set_new_replica_set_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let mut changed = copy_annotations(d, annotations);
    let old = annotations.get(REVISION_ANNOTATION).cloned();
    let old_revision = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            // Upstream leaves a ReplicaSet with an unreadable revision alone.
            Err(_) => return false,
        },
    };
    if old_revision < new_revision {
        annotations.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations.get(REVISION_HISTORY_ANNOTATION).cloned().unwrap_or_default();
            let updated = append_history(&history, &old, MAX_REVISION_HISTORY_CHARS);
            if let Some(h) = updated {
                annotations.insert(REVISION_HISTORY_ANNOTATION.into(), h);
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// Appends `old` to a comma-separated revision history, dropping the oldest entries to
/// stay within `limit` characters; `None` if even that cannot fit it.
fn append_history(history: &str, old: &str, limit: usize) -> Option<String> {
    if history.is_empty() {
        return Some(old.to_string());
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut total = history.len() + old.len() + 1;
    let mut start = 0;
    while total > limit && start < entries.len() {
        total -= entries[start].len() + 1;
        start += 1;
    }
    if total > limit {
        return None;
    }
    entries.drain(..start);
    entries.push(old);
    Some(entries.join(","))
}

/// Sets the Deployment's revision annotation; true if it changed.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(REVISION_ANNOTATION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION_ANNOTATION.into(), revision.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::deployment::maths::tests::{deployment, rs};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn template(image: &str, hash: Option<&str>) -> PodTemplateSpec {
        let mut labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        if let Some(h) = hash {
            labels.insert(POD_TEMPLATE_HASH_LABEL.into(), h.into());
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))
        .unwrap()
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        assert!(equal_ignore_hash(Some(&template("a", Some("x"))), Some(&template("a", None))));
        assert!(!equal_ignore_hash(Some(&template("a", Some("x"))), Some(&template("b", None))));
    }

    #[test]
    fn hashes_are_stable_safe_and_change_with_collisions() {
        let t = template("nginx:1", None);
        let h = template_hash(&t, None);
        assert_eq!(h, template_hash(&t, None));
        assert!(h.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{h}");
        assert_ne!(h, template_hash(&t, Some(1)));
        assert_ne!(h, template_hash(&template("nginx:2", None), None));
        assert_eq!(fnv32a(b""), 0x811c9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c292c);
    }

    #[test]
    fn new_revisions_keep_the_history_of_reused_replica_sets() {
        let mut d = deployment(3, IntOrString::Int(1), IntOrString::Int(0));
        d.metadata = ObjectMeta {
            annotations: Some(BTreeMap::from([
                ("kubernetes.io/change-cause".to_string(), "undo".to_string()),
                (REVISION_ANNOTATION.to_string(), "5".to_string()),
            ])),
            ..Default::default()
        };
        // A brand-new ReplicaSet.
        let mut fresh = rs("web-a", 0, 0, None);
        assert!(set_new_replica_set_annotations(&d, &mut fresh, 1, false));
        assert_eq!(annotation(&fresh, REVISION_ANNOTATION), Some("1"));
        assert_eq!(annotation(&fresh, "kubernetes.io/change-cause"), Some("undo"));
        assert_eq!(annotation(&fresh, DESIRED_REPLICAS_ANNOTATION), Some("3"));
        assert_eq!(annotation(&fresh, MAX_REPLICAS_ANNOTATION), Some("4"));
        // Rolled back to: revision 2 becomes 4, history remembers 2.
        let mut old = rs("web-b", 0, 0, None);
        old.metadata.annotations = Some(BTreeMap::from([(REVISION_ANNOTATION.to_string(), "2".to_string())]));
        assert!(set_new_replica_set_annotations(&d, &mut old, 4, true));
        assert_eq!(annotation(&old, REVISION_ANNOTATION), Some("4"));
        assert_eq!(annotation(&old, REVISION_HISTORY_ANNOTATION), Some("2"));
        assert!(set_new_replica_set_annotations(&d, &mut old, 6, true));
        assert_eq!(annotation(&old, REVISION_HISTORY_ANNOTATION), Some("2,4"));
        // Nothing new: no change.
        assert!(!set_new_replica_set_annotations(&d, &mut old, 6, true));
        assert_eq!(max_revision(&[&fresh, &old]), 6);
    }

    #[test]
    fn revision_history_is_bounded() {
        assert_eq!(append_history("1,2,3", "4", 7), Some("1,2,3,4".into()));
        assert_eq!(append_history("1,2,3", "4", 6), Some("2,3,4".into()));
        assert_eq!(append_history("", "4", 7), Some("4".into()));
        assert_eq!(append_history("1", "12345678", 5), None);
    }
}
