//! The node lifecycle controller. Kubelets prove they are alive by renewing their Lease in
//! `kube-node-lease` (and by posting node status); a node silent for the grace period
//! (`--node-monitor-grace-period`, 40s) gets its kubelet conditions set to Unknown. Taints
//! follow the conditions: NoSchedule taints for not-ready, unreachable, pressure and
//! cordoned nodes at once; the NoExecute `not-ready`/`unreachable` taint (which the taint
//! eviction controller acts on) rate-limited per zone, slowed down when much of a zone is
//! down, and withheld when every zone is down, since then the control plane's view is the
//! more likely fault. Pods on a node that stops being Ready are marked not ready.

use std::collections::HashMap;
use std::pin::pin;

use futures::StreamExt;
use jiff::Timestamp;
use k3rs_control_runtime::events::{EventRecorder, NewEvent};
use k3rs_control_runtime::watch::{Change, changes};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use super::NodeControllerConfig;
use super::conditions::{
    LABEL_EXCLUDE_DISRUPTION, ZoneState, mark_unknown, no_execute_keys, ready_status, reconcile_no_schedule,
    set_no_execute, wanted_no_execute, wanted_no_schedule_keys, zone_key, zone_state,
};
use super::writes::{node_ref, pod_ref, set_pod_condition, update_node};

pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// A token bucket with a burst of one: `rate` tokens per second.
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new() -> Self {
        TokenBucket { tokens: 1.0, last: Instant::now() }
    }

    fn take(&mut self, rate: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(1.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Tracked {
    node: Node,
    /// When this controller last saw the kubelet alive (heartbeat or lease renewal).
    probe: Instant,
    heartbeat: Option<Timestamp>,
    lease_renew: Option<Timestamp>,
    /// The Ready status last acted upon (events, pods marked not ready).
    ready_seen: Option<String>,
}

fn heartbeat(node: &Node) -> Option<Timestamp> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0)
}

struct Controller {
    config: NodeControllerConfig,
    nodes: Api<Node>,
    pods: Api<Pod>,
    recorder: EventRecorder,
    tracked: HashMap<String, Tracked>,
    /// Lease renewals seen, by node name (a Lease may come before its Node).
    leases: HashMap<String, Timestamp>,
    limiters: HashMap<String, TokenBucket>,
    nodes_synced: bool,
    leases_synced: bool,
}

impl Controller {
    async fn on_node(&mut self, change: Change<Node>) {
        match change {
            Change::Apply(node) => self.observe(node).await,
            Change::Delete(node) => {
                self.tracked.remove(&node.name_any());
            }
            Change::Resync(list) => {
                let names: Vec<String> = list.iter().map(|n| n.name_any()).collect();
                self.tracked.retain(|k, _| names.contains(k));
                for node in list {
                    self.observe(node).await;
                }
                self.nodes_synced = true;
            }
        }
    }

    async fn observe(&mut self, node: Node) {
        let name = node.name_any();
        let beat = heartbeat(&node);
        match self.tracked.get_mut(&name) {
            Some(t) => {
                if beat != t.heartbeat {
                    t.heartbeat = beat;
                    t.probe = Instant::now();
                }
                t.node = node;
            }
            None => {
                let ready_seen = ready_status(&node).map(String::from);
                let lease_renew = self.leases.get(&name).copied();
                self.tracked.insert(
                    name.clone(),
                    Tracked { node, probe: Instant::now(), heartbeat: beat, lease_renew, ready_seen },
                );
            }
        }
        self.no_schedule_taints(&name).await;
    }

    fn on_lease(&mut self, change: Change<Lease>) {
        let mut seen = |lease: &Lease| {
            let name = lease.name_any();
            let Some(renew) = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref()).map(|t| t.0) else { return };
            self.leases.insert(name.clone(), renew);
            if let Some(t) = self.tracked.get_mut(&name)
                && t.lease_renew != Some(renew)
            {
                t.lease_renew = Some(renew);
                t.probe = Instant::now();
            }
        };
        match change {
            Change::Apply(lease) => seen(&lease),
            Change::Delete(_) => {}
            Change::Resync(list) => {
                for lease in &list {
                    seen(lease);
                }
                self.leases_synced = true;
            }
        }
    }

    /// Makes the node's condition NoSchedule taints match its conditions (not rate-limited).
    async fn no_schedule_taints(&mut self, name: &str) {
        let Some(t) = self.tracked.get(name) else { return };
        let taints = t.node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        if reconcile_no_schedule(&taints, &wanted_no_schedule_keys(&t.node), Timestamp::now()).is_none() {
            return;
        }
        let result = update_node(&self.nodes, name, false, |n| {
            let taints = n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            match reconcile_no_schedule(&taints, &wanted_no_schedule_keys(n), Timestamp::now()) {
                Some(new) => {
                    n.spec.get_or_insert_with(Default::default).taints = Some(new);
                    true
                }
                None => false,
            }
        })
        .await;
        match result {
            Ok(Some(updated)) => {
                if let Some(t) = self.tracked.get_mut(name) {
                    t.node = updated;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(node = %name, error = %e, "updating the condition taints failed"),
        }
    }

    async fn monitor(&mut self) {
        let now = Timestamp::now();
        let names: Vec<String> = self.tracked.keys().cloned().collect();
        for name in &names {
            self.check_health(name, now).await;
        }
        // Zone health decides how fast (or whether) NoExecute taints go on.
        let mut zones: HashMap<String, (usize, usize)> = HashMap::new();
        for t in self.tracked.values() {
            if t.node.labels().contains_key(LABEL_EXCLUDE_DISRUPTION) {
                continue;
            }
            let counts = zones.entry(zone_key(&t.node)).or_default();
            if ready_status(&t.node) == Some("True") { counts.0 += 1 } else { counts.1 += 1 }
        }
        let states: HashMap<String, (ZoneState, usize)> = zones
            .into_iter()
            .map(|(z, (ready, not_ready))| {
                (z, (zone_state(ready, not_ready, self.config.unhealthy_zone_threshold), ready + not_ready))
            })
            .collect();
        let all_down = !states.is_empty() && states.values().all(|(s, _)| *s == ZoneState::FullDisruption);
        for name in &names {
            self.no_execute_taint(name, &states, all_down, now).await;
        }
    }

    /// Marks a silent node's conditions Unknown, and reacts to Ready transitions.
    async fn check_health(&mut self, name: &str, now: Timestamp) {
        let Some(t) = self.tracked.get(name) else { return };
        let silent = t.probe.elapsed() > self.config.grace_period;
        if silent && mark_unknown(&t.node, now).is_some() {
            let result = update_node(&self.nodes, name, true, |n| match mark_unknown(n, now) {
                Some(conditions) => {
                    n.status.get_or_insert_with(Default::default).conditions = Some(conditions);
                    true
                }
                None => false,
            })
            .await;
            match result {
                Ok(Some(updated)) => {
                    info!(node = %name, "node stopped posting status; conditions set to Unknown");
                    if let Some(t) = self.tracked.get_mut(name) {
                        t.node = updated;
                    }
                }
                Ok(None) => {}
                Err(e) => warn!(node = %name, error = %e, "marking the node's conditions Unknown failed"),
            }
        }
        let Some(t) = self.tracked.get_mut(name) else { return };
        let ready = ready_status(&t.node).map(String::from);
        if ready == t.ready_seen {
            return;
        }
        let was_ready = t.ready_seen.as_deref() == Some("True");
        t.ready_seen = ready.clone();
        if was_ready {
            self.recorder.record(NewEvent::normal(
                "NodeNotReady",
                "NodeStatusChange",
                format!("Node {name} status is now: NodeNotReady"),
                node_ref(name),
            ));
            self.mark_pods_not_ready(name).await;
        } else if ready.as_deref() == Some("True") {
            self.recorder.record(NewEvent::normal(
                "NodeReady",
                "NodeStatusChange",
                format!("Node {name} status is now: NodeReady"),
                node_ref(name),
            ));
        }
    }

    /// Pods on a node that is not Ready are not ready either (Services stop sending them traffic).
    async fn mark_pods_not_ready(&self, node: &str) {
        let params = ListParams::default().fields(&format!("spec.nodeName={node}"));
        let pods = match self.pods.list(&params).await {
            Ok(list) => list.items,
            Err(e) => {
                warn!(%node, error = %e, "listing the node's pods failed");
                return;
            }
        };
        for pod in pods {
            let ready = pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if !ready {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(
                self.pods.clone().into_client(),
                pod.metadata.namespace.as_deref().unwrap_or("default"),
            );
            let name = pod.name_any();
            if let Err(e) = set_pod_condition(&api, &name, "Ready", "False", None, serde_json::Value::Null).await {
                warn!(pod = %name, error = %e, "marking the pod not ready failed");
                continue;
            }
            self.recorder.record(NewEvent::warning(
                "NodeNotReady",
                "NodeStatusChange",
                "Node is not ready",
                pod_ref(&pod),
            ));
        }
    }

    /// Puts on (rate-limited) or takes off the NoExecute readiness taint.
    async fn no_execute_taint(
        &mut self,
        name: &str,
        zones: &HashMap<String, (ZoneState, usize)>,
        all_down: bool,
        now: Timestamp,
    ) {
        let Some(t) = self.tracked.get(name) else { return };
        let ready = ready_status(&t.node);
        if ready.is_none() && !all_down {
            // Not judged until it reports (or its grace period turns it Unknown).
            return;
        }
        let wanted = if all_down { None } else { wanted_no_execute(ready) };
        let taints = t.node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        let current = no_execute_keys(&taints);
        if current.len() == usize::from(wanted.is_some()) && wanted.is_none_or(|w| current.contains(&w)) {
            return;
        }
        if wanted.is_some() {
            let zone = zone_key(&t.node);
            let (state, size) = zones.get(&zone).copied().unwrap_or((ZoneState::Normal, 0));
            let rate = match state {
                ZoneState::Normal | ZoneState::FullDisruption => self.config.eviction_rate,
                ZoneState::PartialDisruption if size > self.config.large_cluster_threshold => {
                    self.config.secondary_eviction_rate
                }
                ZoneState::PartialDisruption => 0.0,
            };
            if !self.limiters.entry(zone).or_insert_with(TokenBucket::new).take(rate) {
                return;
            }
        }
        let result = update_node(&self.nodes, name, false, |n| {
            let taints = n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            let new = set_no_execute(&taints, wanted, now);
            if new == taints {
                return false;
            }
            n.spec.get_or_insert_with(Default::default).taints = Some(new);
            true
        })
        .await;
        match result {
            Ok(Some(updated)) => {
                match wanted {
                    Some(key) => info!(node = %name, taint = key, "tainted the node NoExecute"),
                    None => info!(node = %name, "removed the node's NoExecute readiness taint"),
                }
                if let Some(t) = self.tracked.get_mut(name) {
                    t.node = updated;
                }
            }
            Ok(None) => {}
            Err(e) => warn!(node = %name, error = %e, "updating the NoExecute taint failed"),
        }
    }
}

/// Runs the node lifecycle controller until the future is dropped.
pub async fn run(client: Client, config: NodeControllerConfig, recorder: EventRecorder) {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let mut node_changes = pin!(changes(nodes.clone(), watcher::Config::default(), "nodes"));
    let mut lease_changes = pin!(changes(leases, watcher::Config::default(), "node leases"));
    let mut tick = tokio::time::interval(config.monitor_period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut c = Controller {
        config,
        nodes,
        pods: Api::all(client),
        recorder,
        tracked: HashMap::new(),
        leases: HashMap::new(),
        limiters: HashMap::new(),
        nodes_synced: false,
        leases_synced: false,
    };
    loop {
        tokio::select! {
            Some(change) = node_changes.next() => c.on_node(change).await,
            Some(change) = lease_changes.next() => c.on_lease(change),
            _ = tick.tick() => {
                if c.nodes_synced && c.leases_synced {
                    c.monitor().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_bucket_allows_a_burst_of_one() {
        let mut b = TokenBucket::new();
        assert!(b.take(0.0));
        // A zero rate never refills.
        assert!(!b.take(0.0));
        let mut fast = TokenBucket::new();
        assert!(fast.take(1000.0));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert!(fast.take(1000.0));
    }
}
