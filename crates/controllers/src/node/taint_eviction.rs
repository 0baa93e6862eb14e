//! The NoExecute taint eviction controller (upstream's taint manager): a pod on a node with
//! a NoExecute taint it does not tolerate is deleted at once; one it tolerates for
//! `tolerationSeconds` is deleted when that time has passed since the taint went on
//! (tolerations without seconds tolerate for ever). Removing the taint in time cancels.

use std::collections::{HashMap, HashSet};
use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k3rs_api::scheduling::tolerates;
use k3rs_control_runtime::events::{EventRecorder, NewEvent};
use k3rs_control_runtime::watch::{Change, changes};
use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use super::writes::{delete_pod, pod_key, pod_ref, set_pod_condition};

/// What to do about a pod on a tainted node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    EvictNow,
    EvictAt(Timestamp),
}

/// Decides for a pod with `tolerations` on a node with `taints` (NoExecute ones count),
/// where `since` is when the taints went on.
pub fn verdict(tolerations: &[Toleration], taints: &[Taint], since: Timestamp) -> Verdict {
    let mut shortest: Option<i64> = None;
    for taint in taints.iter().filter(|t| t.effect == "NoExecute") {
        let usable: Vec<&Toleration> = tolerations
            .iter()
            .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "NoExecute"))
            .filter(|t| tolerates(t, taint))
            .collect();
        if usable.is_empty() {
            return Verdict::EvictNow;
        }
        for t in usable {
            if let Some(secs) = t.toleration_seconds {
                let secs = secs.max(0);
                shortest = Some(shortest.map_or(secs, |s| s.min(secs)));
            }
        }
    }
    match shortest {
        None => Verdict::Keep,
        Some(secs) => Verdict::EvictAt(since + SignedDuration::from_secs(secs)),
    }
}

#[derive(Debug, Default)]
struct NodeTaints {
    taints: Vec<Taint>,
    /// When this controller first saw the current NoExecute taints (for taints without `timeAdded`).
    seen: Option<Timestamp>,
}

impl NodeTaints {
    fn since(&self) -> Timestamp {
        let added = self.taints.iter().filter_map(|t| t.time_added.as_ref().map(|t| t.0)).min();
        added.or(self.seen).unwrap_or_else(Timestamp::now)
    }
}

struct Controller {
    client: Client,
    recorder: EventRecorder,
    nodes: HashMap<String, NodeTaints>,
    /// Bound, not terminating pods by key.
    pods: HashMap<String, Pod>,
    by_node: HashMap<String, HashSet<String>>,
    /// Evictions waiting for their time, by pod key.
    scheduled: HashMap<String, Timestamp>,
}

fn no_execute(node: &Node) -> Vec<Taint> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoExecute")
        .cloned()
        .collect()
}

impl Controller {
    fn node_of(pod: &Pod) -> Option<&str> {
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
    }

    async fn on_node(&mut self, change: Change<Node>) {
        let apply = |this: &mut Self, node: &Node| -> bool {
            let taints = no_execute(node);
            let entry = this.nodes.entry(node.name_any()).or_default();
            if entry.taints == taints {
                return false;
            }
            entry.seen = if taints.is_empty() { None } else { entry.seen.or(Some(Timestamp::now())) };
            entry.taints = taints;
            true
        };
        let touched: Vec<String> = match change {
            Change::Apply(node) => {
                if apply(self, &node) {
                    vec![node.name_any()]
                } else {
                    vec![]
                }
            }
            Change::Delete(node) => {
                self.nodes.remove(&node.name_any());
                vec![node.name_any()]
            }
            Change::Resync(list) => {
                let names: HashSet<String> = list.iter().map(|n| n.name_any()).collect();
                self.nodes.retain(|k, _| names.contains(k));
                list.iter().filter(|n| apply(self, n)).map(|n| n.name_any()).collect()
            }
        };
        for node in touched {
            let keys: Vec<String> = self.by_node.get(&node).into_iter().flatten().cloned().collect();
            for key in keys {
                self.evaluate(&key).await;
            }
        }
    }

    fn forget_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key)
            && let Some(node) = Self::node_of(&old)
            && let Some(set) = self.by_node.get_mut(node)
        {
            set.remove(key);
        }
        self.scheduled.remove(key);
    }

    async fn on_pod(&mut self, change: Change<Pod>) {
        match change {
            Change::Apply(pod) => self.track(pod).await,
            Change::Delete(pod) => self.forget_pod(&pod_key(&pod)),
            Change::Resync(list) => {
                let keys: HashSet<String> = list.iter().map(pod_key).collect();
                let gone: Vec<String> = self.pods.keys().filter(|k| !keys.contains(*k)).cloned().collect();
                for key in gone {
                    self.forget_pod(&key);
                }
                for pod in list {
                    self.track(pod).await;
                }
            }
        }
    }

    async fn track(&mut self, pod: Pod) {
        let key = pod_key(&pod);
        self.forget_pod(&key);
        let Some(node) = Self::node_of(&pod).map(String::from) else { return };
        if pod.metadata.deletion_timestamp.is_some() {
            return;
        }
        self.by_node.entry(node).or_default().insert(key.clone());
        self.pods.insert(key.clone(), pod);
        self.evaluate(&key).await;
    }

    async fn evaluate(&mut self, key: &str) {
        let Some(pod) = self.pods.get(key) else { return };
        let Some(node) = Self::node_of(pod).and_then(|n| self.nodes.get(n)) else {
            // The node is gone: pod garbage collection deals with its pods.
            self.scheduled.remove(key);
            return;
        };
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or_default();
        match verdict(tolerations, &node.taints, node.since()) {
            Verdict::Keep => {
                if self.scheduled.remove(key).is_some() {
                    let pod = pod.clone();
                    self.recorder.record(NewEvent::normal(
                        "TaintManagerEviction",
                        "Cancelling",
                        format!("Cancelling deletion of Pod {key}"),
                        pod_ref(&pod),
                    ));
                }
            }
            Verdict::EvictNow => self.evict(key).await,
            Verdict::EvictAt(at) if at <= Timestamp::now() => self.evict(key).await,
            Verdict::EvictAt(at) => {
                self.scheduled.insert(key.to_string(), at);
            }
        }
    }

    async fn evict(&mut self, key: &str) {
        self.scheduled.remove(key);
        let Some(pod) = self.pods.get(key).cloned() else { return };
        info!(pod = %key, "evicting: NoExecute taint not tolerated (any more)");
        self.recorder.record(NewEvent::normal(
            "TaintManagerEviction",
            "Deleting",
            format!("Marking for deletion Pod {key}"),
            pod_ref(&pod),
        ));
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), pod.metadata.namespace.as_deref().unwrap_or("default"));
        let reason = ("DeletionByTaintManager", "Taint manager: deleting due to NoExecute taint");
        if let Err(e) =
            set_pod_condition(&api, &pod.name_any(), "DisruptionTarget", "True", Some(reason), serde_json::Value::Null)
                .await
        {
            warn!(pod = %key, error = %e, "adding the DisruptionTarget condition failed");
        }
        match delete_pod(&api, &pod, false).await {
            // The watch reports the deletion; until then, do not evict it twice.
            Ok(()) => self.forget_pod(key),
            Err(e) => {
                warn!(pod = %key, error = %e, "deleting the pod failed; retrying");
                self.scheduled.insert(key.to_string(), Timestamp::now() + SignedDuration::from_secs(5));
            }
        }
    }

    async fn run_due(&mut self) {
        let now = Timestamp::now();
        let due: Vec<String> = self.scheduled.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
        for key in due {
            self.evict(&key).await;
        }
    }

    fn next_due(&self) -> Duration {
        let now = Timestamp::now();
        self.scheduled
            .values()
            .min()
            .map(|at| at.duration_since(now).unsigned_abs().min(Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Runs the NoExecute taint eviction controller until the future is dropped.
pub async fn run(client: Client, recorder: EventRecorder) {
    let mut node_changes = pin!(changes(Api::<Node>::all(client.clone()), watcher::Config::default(), "nodes"));
    let mut pod_changes = pin!(changes(Api::<Pod>::all(client.clone()), watcher::Config::default(), "pods"));
    let mut c = Controller {
        client,
        recorder,
        nodes: HashMap::new(),
        pods: HashMap::new(),
        by_node: HashMap::new(),
        scheduled: HashMap::new(),
    };
    loop {
        let wait = c.next_due();
        tokio::select! {
            Some(change) = node_changes.next() => c.on_node(change).await,
            Some(change) = pod_changes.next() => c.on_pod(change).await,
            _ = tokio::time::sleep(wait) => c.run_due().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tol(v: serde_json::Value) -> Vec<Toleration> {
        serde_json::from_value(v).unwrap()
    }

    fn unreachable() -> Vec<Taint> {
        vec![Taint {
            key: "node.kubernetes.io/unreachable".into(),
            effect: "NoExecute".into(),
            value: None,
            time_added: None,
        }]
    }

    #[test]
    fn verdicts() {
        let since: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(verdict(&[], &unreachable(), since), Verdict::EvictNow);
        assert_eq!(verdict(&[], &[], since), Verdict::Keep);
        let five_minutes = tol(
            json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
        );
        assert_eq!(
            verdict(&five_minutes, &unreachable(), since),
            Verdict::EvictAt(since + SignedDuration::from_secs(300))
        );
        let forever = tol(json!([{"operator": "Exists"}]));
        assert_eq!(verdict(&forever, &unreachable(), since), Verdict::Keep);
        // The shortest of the tolerations in use wins.
        let both = tol(json!([
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 60},
            {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}
        ]));
        assert_eq!(verdict(&both, &unreachable(), since), Verdict::EvictAt(since + SignedDuration::from_secs(10)));
        // A NoSchedule toleration does not help against NoExecute.
        let wrong =
            tol(json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}]));
        assert_eq!(verdict(&wrong, &unreachable(), since), Verdict::EvictNow);
    }
}
