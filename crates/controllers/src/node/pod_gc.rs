//! Pod garbage collection: deletes pods bound to a node that no longer exists (after the
//! node has been gone a quarantine period, and a fresh read confirms it), terminating pods
//! that were never scheduled, terminating pods on nodes taken out of service, and the
//! oldest finished pods beyond `--terminated-pod-gc-threshold`.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use k3rs_control_runtime::watch::{Change, changes};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use super::conditions::{TAINT_OUT_OF_SERVICE, ready_status};
use super::writes::{delete_pod, pod_key, set_pod_condition};

#[derive(Debug, Clone)]
pub struct PodGcConfig {
    pub period: Duration,
    /// How long a pod's node must have been gone.
    pub quarantine: Duration,
    /// Finished pods kept at most (0: no limit).
    pub terminated_threshold: usize,
}

fn phase(pod: &Pod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn finished(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

/// The finished pods to delete, oldest first, so that `threshold` remain.
pub fn excess_finished<'a>(pods: impl Iterator<Item = &'a Pod>, threshold: usize) -> Vec<&'a Pod> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut done: Vec<&Pod> = pods.filter(|p| finished(p)).collect();
    if done.len() <= threshold {
        return Vec::new();
    }
    done.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0), pod_key(p)));
    let excess = done.len() - threshold;
    done.truncate(excess);
    done
}

struct Collector {
    client: Client,
    nodes_api: Api<Node>,
    config: PodGcConfig,
    pods: HashMap<String, Pod>,
    nodes: HashMap<String, Node>,
    /// When a pod's missing node was first noticed.
    orphan_since: HashMap<String, Instant>,
    synced: HashSet<&'static str>,
}

impl Collector {
    fn pods_api(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(self.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"))
    }

    /// Marks a running pod failed with the DisruptionTarget condition, then deletes it at once.
    async fn fail_and_delete(&self, pod: &Pod, why: &str) {
        let api = self.pods_api(pod);
        if !finished(pod) {
            let extra = json!({"phase": "Failed"});
            if let Err(e) = set_pod_condition(
                &api,
                &pod.name_any(),
                "DisruptionTarget",
                "True",
                Some(("DeletionByPodGC", why)),
                extra,
            )
            .await
            {
                warn!(pod = %pod_key(pod), error = %e, "marking the pod failed");
            }
        }
        match delete_pod(&api, pod, true).await {
            Ok(()) => info!(pod = %pod_key(pod), reason = why, "garbage-collected the pod"),
            Err(e) => warn!(pod = %pod_key(pod), error = %e, "deleting the pod failed"),
        }
    }

    async fn collect(&mut self) {
        if self.synced.len() < 2 {
            return;
        }
        for pod in excess_finished(self.pods.values(), self.config.terminated_threshold) {
            match delete_pod(&self.pods_api(pod), pod, true).await {
                Ok(()) => info!(pod = %pod_key(pod), "deleted a finished pod over the threshold"),
                Err(e) => warn!(pod = %pod_key(pod), error = %e, "deleting a finished pod failed"),
            }
        }
        let mut orphans = Vec::new();
        let mut unscheduled = Vec::new();
        let mut out_of_service = Vec::new();
        let mut missing_now = HashSet::new();
        for (key, pod) in &self.pods {
            match node_of(pod) {
                None if pod.metadata.deletion_timestamp.is_some() => unscheduled.push(pod.clone()),
                None => {}
                Some(node) => match self.nodes.get(node) {
                    None => {
                        missing_now.insert(key.clone());
                        let since = *self.orphan_since.entry(key.clone()).or_insert_with(Instant::now);
                        if since.elapsed() >= self.config.quarantine {
                            orphans.push(pod.clone());
                        }
                    }
                    Some(n) => {
                        let tainted = n.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|ts| {
                            ts.iter().any(|t| t.key == TAINT_OUT_OF_SERVICE && t.effect == "NoExecute")
                        });
                        if tainted && ready_status(n) != Some("True") && pod.metadata.deletion_timestamp.is_some() {
                            out_of_service.push(pod.clone());
                        }
                    }
                },
            }
        }
        self.orphan_since.retain(|k, _| missing_now.contains(k));
        for pod in orphans {
            let node = node_of(&pod).unwrap_or_default().to_string();
            // The watch may lag: only a fresh read proves the node is gone.
            match self.nodes_api.get_opt(&node).await {
                Ok(None) => self.fail_and_delete(&pod, "PodGC: node no longer exists").await,
                Ok(Some(_)) => {}
                Err(e) => warn!(%node, error = %e, "checking the node failed"),
            }
        }
        for pod in unscheduled {
            match delete_pod(&self.pods_api(&pod), &pod, true).await {
                Ok(()) => info!(pod = %pod_key(&pod), "deleted a terminating pod that was never scheduled"),
                Err(e) => warn!(pod = %pod_key(&pod), error = %e, "deleting the pod failed"),
            }
        }
        for pod in out_of_service {
            self.fail_and_delete(&pod, "PodGC: node is out-of-service").await;
        }
    }
}

/// Runs pod garbage collection until the future is dropped.
pub async fn run(client: Client, config: PodGcConfig) {
    let nodes_api: Api<Node> = Api::all(client.clone());
    let mut node_changes = pin!(changes(nodes_api.clone(), watcher::Config::default(), "nodes"));
    let mut pod_changes = pin!(changes(Api::<Pod>::all(client.clone()), watcher::Config::default(), "pods"));
    let mut tick = tokio::time::interval(config.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut c = Collector {
        client,
        nodes_api,
        config,
        pods: HashMap::new(),
        nodes: HashMap::new(),
        orphan_since: HashMap::new(),
        synced: HashSet::new(),
    };
    loop {
        tokio::select! {
            Some(change) = node_changes.next() => match change {
                Change::Apply(n) => { c.nodes.insert(n.name_any(), n); }
                Change::Delete(n) => { c.nodes.remove(&n.name_any()); }
                Change::Resync(list) => {
                    c.nodes = list.into_iter().map(|n| (n.name_any(), n)).collect();
                    c.synced.insert("nodes");
                }
            },
            Some(change) = pod_changes.next() => match change {
                Change::Apply(p) => { c.pods.insert(pod_key(&p), p); }
                Change::Delete(p) => { c.pods.remove(&pod_key(&p)); }
                Change::Resync(list) => {
                    c.pods = list.into_iter().map(|p| (pod_key(&p), p)).collect();
                    c.synced.insert("pods");
                }
            },
            _ = tick.tick() => c.collect().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, created: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": phase}}))
        .unwrap()
    }

    #[test]
    fn oldest_finished_pods_go_first() {
        let pods = [
            pod("new", "Succeeded", "2024-01-03T00:00:00Z"),
            pod("running", "Running", "2024-01-01T00:00:00Z"),
            pod("old", "Failed", "2024-01-01T00:00:00Z"),
            pod("mid", "Succeeded", "2024-01-02T00:00:00Z"),
        ];
        let names = |v: Vec<&Pod>| v.into_iter().map(|p| p.name_any()).collect::<Vec<_>>();
        assert_eq!(names(excess_finished(pods.iter(), 1)), vec!["old", "mid"]);
        assert!(excess_finished(pods.iter(), 3).is_empty());
        assert!(excess_finished(pods.iter(), 0).is_empty());
    }
}
