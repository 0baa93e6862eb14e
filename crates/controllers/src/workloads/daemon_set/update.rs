//! The DaemonSet rolling update (upstream's `rollingUpdate`): per node, an old pod is
//! replaced by a new one either by deleting it first (within `maxUnavailable`) or, with
//! `maxSurge`, by starting the new pod next to it and deleting the old one once the new
//! one is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::workloads::history::CONTROLLER_REVISION_HASH_LABEL;
use crate::workloads::pods::is_available;

/// The pod label carrying the DaemonSet's template generation.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// Whether a pod was made from the current template (by hash or template generation).
pub fn is_updated(pod: &Pod, hash: &str, generation: Option<i64>) -> bool {
    let labels = pod.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let by_generation = generation.is_some_and(|g| label(TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    let by_hash = !hash.is_empty() && label(CONTROLLER_REVISION_HASH_LABEL) == Some(hash);
    by_hash || by_generation
}

/// The updated and the old pod on a node, if any.
type NewAndOld<'a> = (Option<&'a Arc<Pod>>, Option<&'a Arc<Pod>>);

/// The new and old pod on a node; `None` when there are several of one kind (the
/// manage loop cleans that up first).
fn updated_and_old<'a>(pods: &'a [Arc<Pod>], hash: &str, generation: Option<i64>) -> Option<NewAndOld<'a>> {
    let (mut new, mut old) = (None, None);
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let slot = if is_updated(p, hash, generation) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(p);
    }
    Some((new, old))
}

/// What a rolling update step does: pods to delete and nodes to create a pod on.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub delete: Vec<String>,
    pub create_on: Vec<String>,
}

pub struct Budget {
    pub max_surge: i32,
    pub max_unavailable: i32,
    pub desired: i32,
    pub min_ready_seconds: i32,
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap_or_default()
}

/// One rolling update step over `node_pods` (daemon pods per node).
pub fn plan(
    node_pods: &BTreeMap<String, Vec<Arc<Pod>>>,
    should_run: impl Fn(&str) -> bool,
    hash: &str,
    generation: Option<i64>,
    budget: &Budget,
    now: Timestamp,
) -> Plan {
    let available = |p: &Pod| is_available(p, budget.min_ready_seconds, now);
    if budget.max_surge == 0 {
        let mut unavailable = 0;
        let mut replace_now = Vec::new();
        let mut candidates = Vec::new();
        for pods in node_pods.values() {
            match updated_and_old(pods, hash, generation) {
                None | Some((None, None)) | Some((Some(_), Some(_))) => unavailable += 1,
                Some((Some(new), None)) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                Some((None, Some(old))) => {
                    if !available(old) {
                        // Not serving anyway: replace it at once.
                        replace_now.push(name(old));
                    } else if unavailable < budget.max_unavailable {
                        candidates.push(name(old));
                    }
                }
            }
        }
        let remaining = (budget.max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        replace_now.extend(candidates.into_iter().take(remaining));
        return Plan { delete: replace_now, create_on: Vec::new() };
    }

    let mut delete = Vec::new();
    let mut should_not_run = Vec::new();
    let mut candidates = Vec::new();
    let mut allowed = Vec::new();
    let mut surging = 0;
    let mut available_count = 0;
    for (node, pods) in node_pods {
        let Some((new, old)) = updated_and_old(pods, hash, generation) else {
            surging += 1;
            continue;
        };
        match (old, new) {
            (Some(o), _) if available(o) => available_count += 1,
            (None, Some(n)) if available(n) => available_count += 1,
            _ => {}
        }
        match (old, new) {
            (None, _) => {}
            (Some(old), None) => {
                if !available(old) {
                    if !should_run(node) {
                        delete.push(name(old));
                        continue;
                    }
                    allowed.push(node.clone());
                } else {
                    if !should_run(node) {
                        should_not_run.push(name(old));
                        continue;
                    }
                    if surging >= budget.max_surge {
                        continue;
                    }
                    candidates.push(node.clone());
                }
            }
            (Some(old), Some(new)) => {
                if !available(new) {
                    surging += 1;
                    continue;
                }
                delete.push(name(old));
            }
        }
    }
    // Pods on nodes the DaemonSet left go only once others are available in their place.
    let deletable = (available_count - budget.desired).clamp(0, should_not_run.len() as i32) as usize;
    delete.extend(should_not_run.into_iter().take(deletable));
    let remaining = (budget.max_surge - surging).clamp(0, candidates.len() as i32) as usize;
    allowed.extend(candidates.into_iter().take(remaining));
    Plan { delete, create_on: allowed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::pods::tests::pod;

    fn labelled(name: &str, node: &str, hash: &str, ready: bool) -> Arc<Pod> {
        let now = Timestamp::from_second(100_000).unwrap();
        let mut p = (*pod(name, node, "Running", ready.then(|| now - jiff::SignedDuration::from_secs(100)))).clone();
        p.metadata.labels = Some([(CONTROLLER_REVISION_HASH_LABEL.to_string(), hash.to_string())].into());
        Arc::new(p)
    }

    fn nodes(pods: Vec<(&str, Vec<Arc<Pod>>)>) -> BTreeMap<String, Vec<Arc<Pod>>> {
        pods.into_iter().map(|(n, p)| (n.to_string(), p)).collect()
    }

    #[test]
    fn without_surge_old_pods_go_within_max_unavailable() {
        let now = Timestamp::from_second(100_000).unwrap();
        let np = nodes(vec![
            ("a", vec![labelled("a-old", "a", "v1", true)]),
            ("b", vec![labelled("b-old", "b", "v1", true)]),
            ("c", vec![labelled("c-old", "c", "v1", false)]),
            ("d", vec![labelled("d-new", "d", "v2", true)]),
        ]);
        let budget = Budget { max_surge: 0, max_unavailable: 1, desired: 4, min_ready_seconds: 0 };
        let p = plan(&np, |_| true, "v2", None, &budget, now);
        // The unready old pod goes regardless, plus one available one.
        assert_eq!(p.delete, vec!["c-old".to_string(), "a-old".to_string()]);
        assert!(p.create_on.is_empty());
        // A new pod not yet available uses up the budget.
        let mut np2 = np.clone();
        np2.insert("d".into(), vec![labelled("d-new", "d", "v2", false)]);
        let p = plan(&np2, |_| true, "v2", None, &budget, now);
        assert_eq!(p.delete, vec!["c-old".to_string()]);
    }

    #[test]
    fn with_surge_new_pods_start_beside_old_ones() {
        let now = Timestamp::from_second(100_000).unwrap();
        let np = nodes(vec![
            ("a", vec![labelled("a-old", "a", "v1", true)]),
            ("b", vec![labelled("b-old", "b", "v1", true)]),
            ("c", vec![labelled("c-old", "c", "v1", true), labelled("c-new", "c", "v2", true)]),
        ]);
        let budget = Budget { max_surge: 1, max_unavailable: 0, desired: 3, min_ready_seconds: 0 };
        let p = plan(&np, |_| true, "v2", None, &budget, now);
        assert_eq!(p.delete, vec!["c-old".to_string()], "the available new pod replaces the old one");
        assert_eq!(p.create_on, vec!["a".to_string()], "one surge pod at a time");
    }

    #[test]
    fn updated_by_hash_or_generation() {
        let p = labelled("x", "a", "v2", true);
        assert!(is_updated(&p, "v2", None));
        assert!(!is_updated(&p, "v3", Some(4)));
        let mut q = (*p).clone();
        q.metadata.labels.as_mut().unwrap().insert(TEMPLATE_GENERATION_LABEL.into(), "4".into());
        assert!(is_updated(&q, "v3", Some(4)));
    }
}
