//! The scheduler's main loop: watches feed the cache and queue; each popped pod gets a
//! decision from the cache; a binding is assumed in the cache before it is written, so
//! the next decision counts it; a pod that fits nowhere may preempt, and waits.

use std::sync::{Arc, Mutex};

use k3rs_control_runtime::events::EventRecorder;
use k3rs_control_runtime::leader::{LeaderElection, LeaseConfig};
use kube::{Api, Client};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::actions::Actions;
use crate::cache::ClusterState;
use crate::config::{LEASE_NAME, SchedulerConfig};
use crate::cycle::{self, Decision};
use crate::fit_error::Diagnosis;
use crate::framework::{inter_pod_affinity, node_ports, node_resources, topology_spread};
use crate::informers::{self, PodHandler};
use crate::preemption::{self, Candidate, Preemption};
use crate::queue::{SchedulingQueue, wake};
use k3rs_control_runtime::watch::Synced;

pub struct Scheduler {
    client: Client,
    config: SchedulerConfig,
    state: Arc<Mutex<ClusterState>>,
    queue: Arc<SchedulingQueue>,
    actions: Actions,
}

/// The changes that can help a pod that failed for these reasons (upstream's queueing hints).
fn wake_on(d: &Diagnosis) -> u8 {
    let mut kinds = wake::NODE;
    if d.prefilter.is_some() {
        kinds |= wake::CLAIM;
    }
    for r in d.node_statuses.values().flat_map(|s| s.reasons.iter()) {
        kinds |= match r.as_str() {
            inter_pod_affinity::REASON_AFFINITY => wake::POD_ADDED,
            topology_spread::REASON | topology_spread::REASON_MISSING_LABEL => wake::POD_ADDED | wake::POD_REMOVED,
            inter_pod_affinity::REASON_ANTI_AFFINITY
            | inter_pod_affinity::REASON_EXISTING_ANTI_AFFINITY
            | node_ports::REASON
            | node_resources::TOO_MANY_PODS => wake::POD_REMOVED,
            r if r.starts_with("Insufficient ") => wake::POD_REMOVED,
            r if r.starts_with("node(s)") => 0,
            _ => wake::ANY,
        };
    }
    kinds
}

impl Scheduler {
    pub fn new(client: Client, config: SchedulerConfig) -> Self {
        let recorder = EventRecorder::new(client.clone(), &config.scheduler_name, &config.identity);
        Scheduler {
            actions: Actions::new(client.clone(), recorder, &config.scheduler_name),
            queue: Arc::new(SchedulingQueue::new(config.queue)),
            state: Arc::new(Mutex::new(ClusterState::default())),
            client,
            config,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_watches(&self, tasks: &mut JoinSet<()>) -> Arc<Synced> {
        let synced = Arc::new(Synced::new(6));
        let c = &self.client;
        let pods = PodHandler {
            state: self.state.clone(),
            queue: self.queue.clone(),
            scheduler_name: self.config.scheduler_name.clone(),
        };
        tasks.spawn(informers::follow(Api::all(c.clone()), "pods", synced.clone(), move |ch| pods.handle(ch)));
        let (st, q) = (self.state.clone(), self.queue.clone());
        tasks.spawn(informers::follow(Api::all(c.clone()), "nodes", synced.clone(), move |ch| {
            informers::handle_node(&st, &q, ch)
        }));
        let (st, q) = (self.state.clone(), self.queue.clone());
        tasks.spawn(informers::follow(Api::all(c.clone()), "namespaces", synced.clone(), move |ch| {
            informers::handle_namespace(&st, &q, ch)
        }));
        let (st, q) = (self.state.clone(), self.queue.clone());
        tasks.spawn(informers::follow(Api::all(c.clone()), "persistentvolumeclaims", synced.clone(), move |ch| {
            informers::handle_claim(&st, &q, ch)
        }));
        let st = self.state.clone();
        tasks.spawn(informers::follow(Api::all(c.clone()), "poddisruptionbudgets", synced.clone(), move |ch| {
            informers::handle_pdb(&st, ch)
        }));
        let st = self.state.clone();
        tasks.spawn(informers::follow(Api::all(c.clone()), "priorityclasses", synced.clone(), move |ch| {
            informers::handle_priority_class(&st, ch)
        }));
        synced
    }

    /// Schedules until the future is dropped (which stops the watches too).
    pub async fn run(self) {
        let mut tasks = JoinSet::new();
        let synced = self.start_watches(&mut tasks);
        synced.wait().await;
        info!(scheduler = %self.config.scheduler_name, "scheduler caches are in sync");
        loop {
            let (key, attempt) = self.queue.pop().await;
            self.schedule_one(&key, attempt).await;
        }
    }

    async fn schedule_one(&self, key: &str, attempt: u32) {
        let (info, decision, preemption) = {
            let mut st = self.lock();
            let Some(info) = st.pod(key).cloned() else {
                self.queue.remove(key);
                return;
            };
            if info.node_name.is_some() || info.terminating {
                self.queue.remove(key);
                return;
            }
            let decision = cycle::schedule(&st, &info);
            let preemption = match &decision {
                Decision::Unschedulable(d, cs) if self.config.preemption => {
                    Some(preemption::evaluate(&st, &info, cs.as_deref(), d))
                }
                _ => None,
            };
            if let Decision::Bind(node) = &decision {
                st.assume(key, node);
            }
            (info, decision, preemption)
        };
        match decision {
            Decision::Bind(node) => match self.actions.bind(&info.pod, &node).await {
                Ok(()) => {
                    debug!(pod = %key, %node, attempt, "bound");
                    self.queue.done(key);
                }
                Err(e) => {
                    warn!(pod = %key, %node, error = %e, "binding failed");
                    self.lock().forget(key);
                    self.queue.retry(key);
                }
            },
            Decision::Unschedulable(mut diagnosis, _) => {
                let mut wake = wake_on(&diagnosis);
                match preemption {
                    Some(Preemption::Impossible(msg)) => diagnosis.postfilter = Some(format!("preemption: {msg}")),
                    Some(Preemption::Plan(candidate)) => {
                        self.carry_out(&info.pod, &candidate).await;
                        wake |= wake::POD_REMOVED;
                    }
                    None => {}
                }
                let message = diagnosis.to_string();
                debug!(pod = %key, attempt, %message, "unschedulable");
                if let Err(e) = self.actions.unschedulable(&info.pod, &message).await {
                    warn!(pod = %key, error = %e, "recording the PodScheduled condition failed");
                }
                self.queue.unschedulable(key, wake);
            }
        }
    }

    /// Nominates the preemptor, takes the nomination from lower-priority pods nominated to
    /// the same node, and evicts the victims.
    async fn carry_out(&self, preemptor: &k8s_openapi::api::core::v1::Pod, c: &Candidate) {
        let key = crate::pod_info::pod_key(preemptor);
        info!(pod = %key, node = %c.node, victims = c.victims.len(), "preempting");
        if let Err(e) = self.actions.nominate(preemptor, Some(&c.node)).await {
            warn!(pod = %key, error = %e, "nominating the preemptor failed");
            return;
        }
        let priority = self.lock().pod(&key).map(|p| p.priority).unwrap_or(0);
        let displaced: Vec<_> = self
            .lock()
            .nominated_to(&c.node)
            .filter(|p| p.priority < priority && p.key() != key)
            .map(|p| p.pod.clone())
            .collect();
        for pod in displaced {
            if let Err(e) = self.actions.nominate(&pod, None).await {
                warn!(pod = %crate::pod_info::pod_key(&pod), error = %e, "clearing a nomination failed");
            }
        }
        for victim in &c.victims {
            if let Err(e) = self.actions.preempt(&victim.pod, preemptor, &c.node).await {
                warn!(victim = %victim.key(), error = %e, "preempting a pod failed");
            }
        }
    }
}

/// Runs a scheduler whenever this instance holds the `kube-scheduler` Lease in
/// kube-system, until `shutdown` completes (then the Lease is released).
pub async fn run_leader_elected(
    client: Client,
    config: SchedulerConfig,
    lease: Option<LeaseConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let lease = lease.unwrap_or_else(|| LeaseConfig::new(LEASE_NAME, &config.identity));
    let election = LeaderElection::new(client.clone(), lease);
    election
        .run_until(
            move |mut leading| {
                let scheduler = Scheduler::new(client.clone(), config.clone());
                async move {
                    tokio::select! {
                        _ = scheduler.run() => {}
                        _ = async { while *leading.borrow() { if leading.changed().await.is_err() { break } } } => {}
                    }
                }
            },
            shutdown,
        )
        .await;
}
