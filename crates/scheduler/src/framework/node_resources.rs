//! Resources: a pod fits where its requests fit into allocatable minus what the node's
//! pods request (and the pod count into `allocatable.pods`). Scores prefer the node left
//! with the most free CPU and memory (least allocated) and the node whose CPU and memory
//! use stay in balance.

use super::Status;
use crate::node_info::NodeInfo;
use crate::pod_info::PodInfo;

pub const TOO_MANY_PODS: &str = "Too many pods";

/// Resources checked first and in this order (upstream's order of reasons).
const BASIC: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
/// Resources scored, with equal weights.
const SCORED: [&str; 2] = ["cpu", "memory"];

pub fn filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allowed_pods() {
        reasons.push(TOO_MANY_PODS.to_string());
    }
    let free = |r: &str| node.allocatable.get(r).saturating_sub(node.requested.get(r));
    for r in BASIC {
        let want = pod.requests.get(r);
        if want > 0 && want > free(r) {
            reasons.push(format!("Insufficient {r}"));
        }
    }
    for (r, want) in pod.requests.iter() {
        if BASIC.contains(&r) || r == "pods" || want <= 0 {
            continue;
        }
        if want > free(r) {
            reasons.push(format!("Insufficient {r}"));
        }
    }
    if reasons.is_empty() { Ok(()) } else { Err(Status { code: super::Code::Unschedulable, reasons }) }
}

/// Share of allocatable the node would have in use with this pod, per scored resource
/// (`None` when the node has none of it).
fn fractions(pod: &PodInfo, node: &NodeInfo) -> Vec<Option<f64>> {
    SCORED
        .iter()
        .map(|r| {
            let alloc = node.allocatable.get(r);
            let used = node.non_zero_requested.get(r).saturating_add(pod.non_zero_requests.get(r));
            (alloc > 0).then(|| used as f64 / alloc as f64)
        })
        .collect()
}

/// 100 for an idle node, 0 for a full one, averaged over CPU and memory.
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let scores: Vec<f64> =
        fractions(pod, node).into_iter().map(|f| f.map_or(0.0, |f| (1.0 - f).max(0.0) * 100.0)).collect();
    (scores.iter().sum::<f64>() / scores.len() as f64).floor() as i64
}

/// 100 when CPU and memory would be used in the same proportion.
pub fn balanced_allocation(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let fr: Vec<f64> = fractions(pod, node).into_iter().flatten().map(|f| f.min(1.0)).collect();
    if fr.len() < 2 {
        return 100;
    }
    let mean = fr.iter().sum::<f64>() / fr.len() as f64;
    let variance = fr.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / fr.len() as f64;
    ((1.0 - variance.sqrt()) * 100.0).floor() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::tests::node;
    use crate::pod_info::tests::pod;
    use serde_json::json;
    use std::sync::Arc;

    fn requesting(name: &str, cpu: &str, mem: &str) -> PodInfo {
        pod(json!({"metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}}))
    }

    #[test]
    fn fit_reports_every_short_resource() {
        let mut n = node("n1", "2", "2Gi", json!({}));
        n.add_pod(Arc::new(requesting("a", "1500m", "1Gi")));
        assert!(filter(&requesting("b", "500m", "1Gi"), &n).is_ok());
        let err = filter(&requesting("b", "600m", "2Gi"), &n).unwrap_err();
        assert_eq!(err.reasons, vec!["Insufficient cpu", "Insufficient memory"]);
        assert_eq!(err.code, super::super::Code::Unschedulable);
        let gpu = pod(json!({"metadata": {"name": "g"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}));
        assert_eq!(filter(&gpu, &n).unwrap_err().reasons, vec!["Insufficient nvidia.com/gpu"]);
    }

    #[test]
    fn pod_count_limit() {
        let mut n = node("n1", "2", "2Gi", json!({"status": {"allocatable": {"pods": "1"}}}));
        assert!(filter(&requesting("a", "0", "0"), &n).is_ok());
        n.add_pod(Arc::new(requesting("a", "0", "0")));
        assert_eq!(filter(&requesting("b", "0", "0"), &n).unwrap_err().reasons, vec![TOO_MANY_PODS]);
    }

    #[test]
    fn scores_prefer_free_and_balanced_nodes() {
        let idle = node("idle", "4", "4Gi", json!({}));
        let mut busy = node("busy", "4", "4Gi", json!({}));
        busy.add_pod(Arc::new(requesting("a", "2", "2Gi")));
        let p = requesting("p", "1", "1Gi");
        assert!(least_allocated(&p, &idle) > least_allocated(&p, &busy));
        assert_eq!(least_allocated(&p, &idle), 75);
        assert_eq!(balanced_allocation(&p, &idle), 100);
        let mut lopsided = node("lop", "4", "4Gi", json!({}));
        lopsided.add_pod(Arc::new(requesting("a", "3", "0")));
        assert!(balanced_allocation(&p, &lopsided) < 100);
    }
}
