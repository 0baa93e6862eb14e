//! The pod worker: one task per pod UID that converges the pod's containers on its spec
//! and reports their status, as upstream's pod worker and `SyncPod` do.
//!
//! The worker reacts to messages (a new version of the pod, a container exit, a probe
//! verdict, a ConfigMap/Secret change) and to timers (back-off ends, token refresh,
//! the periodic resync). Each round it applies what happened to its container records,
//! then syncs: probe-requested kills, volumes, sandbox, then the [`plan`](super::plan)'s
//! starts and stops; then it writes the status if it changed. A pod being deleted (or gone
//! from the API) is terminated instead: containers stopped with the grace period, the
//! sandbox, volumes and logs removed, and the pod object deleted for good. A sync in
//! progress is abandoned when deletion arrives, as upstream cancels it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k3rs_runtime::Sandbox;
use k8s_openapi::api::core::v1::{Container, Pod};
use kube::Api;
use kube::api::{Patch, PatchParams};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::container_config::VolumePath;
use super::context::Context;
use super::directory::{PodEntry, PodNetwork};
use super::images::ImagePuller;
use super::object_watch::Subscription;
use super::plan::{self, Start};
use super::pod_status::{StatusInputs, pod_status};
use super::probes::ProbeHandle;
use super::record::{ContainerRecord, Kind, Terminated, spec_containers};
use super::sources::references;
use super::tokens::TokenCache;
use crate::backoff::Backoff;
use crate::events::{EventType, pod_reference};
use crate::netns::PodDialer;
use crate::probe::ProbeKind;
use crate::status::Phase;

/// What the manager and the worker's own tasks tell a worker.
pub(crate) enum WorkerMessage {
    /// A new version of the pod.
    Update(Box<Pod>),
    /// The pod is gone from the API.
    Gone,
    /// The agent stops: stop watching, leave the containers running.
    Detach,
    /// A run of a container ended.
    Exited { name: String, id: String, exit: Terminated },
    /// The startup probe of a run succeeded.
    Started { name: String, id: String },
    /// The readiness probe of a run changed its verdict.
    Readiness { name: String, id: String, ready: bool },
    /// A liveness or startup probe failed past its threshold: the run must be killed.
    ProbeFailed { name: String, id: String, kind: ProbeKind, grace: Option<i64> },
    /// Something the pod uses changed (a ConfigMap or Secret): refresh volumes.
    Resync,
}

/// The manager's handle on a worker.
pub(crate) struct WorkerHandle {
    tx: mpsc::UnboundedSender<WorkerMessage>,
    /// Set when the pod is deleted, gone or detached: abandons a sync in progress.
    cancel: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    pub fn send(&self, message: WorkerMessage) {
        let cancels = match &message {
            WorkerMessage::Gone | WorkerMessage::Detach => true,
            WorkerMessage::Update(pod) => pod.metadata.deletion_timestamp.is_some(),
            _ => false,
        };
        if cancels {
            self.cancel.send_replace(true);
        }
        let _ = self.tx.send(message);
    }

    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Aborts a task when dropped.
pub(super) struct AbortOnDrop(pub JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A kill a probe asked for, carried out at the start of the next sync.
pub(super) struct ProbeKill {
    pub id: String,
    pub kind: ProbeKind,
    pub grace: Option<i64>,
}

pub(super) struct Worker {
    pub context: Arc<Context>,
    pub pod: Pod,
    pub uid: String,
    pub tx: mpsc::UnboundedSender<WorkerMessage>,
    pub records: HashMap<String, ContainerRecord>,
    pub sandbox: Option<Sandbox>,
    pub volumes: Option<HashMap<String, VolumePath>>,
    pub volumes_refreshed: Option<Instant>,
    pub refresh_volumes: bool,
    pub probes: HashMap<String, ProbeHandle>,
    pub exit_watchers: HashMap<String, AbortOnDrop>,
    pub pending_kills: HashMap<String, ProbeKill>,
    pub restart_backoff: Backoff,
    pub images: ImagePuller,
    pub tokens: TokenCache,
    pub wake_at: Option<Instant>,
    pub start_time: Timestamp,
    pub terminal_phase: Option<Phase>,
    /// Why the kubelet ended the pod, if it did (activeDeadlineSeconds).
    pub terminal_reason: Option<(String, String)>,
    pub gone: bool,
    /// The watches of the ConfigMaps and Secrets the pod uses.
    pub subscription: Option<Subscription>,
}

/// Starts the worker of a pod.
pub(crate) fn spawn(context: Arc<Context>, pod: Pod, done: mpsc::UnboundedSender<String>) -> WorkerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (cancel, cancel_rx) = watch::channel(pod.metadata.deletion_timestamp.is_some());
    let config = &context.config;
    let worker = Worker {
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        tx: tx.clone(),
        records: HashMap::new(),
        sandbox: None,
        volumes: None,
        volumes_refreshed: None,
        refresh_volumes: false,
        probes: HashMap::new(),
        exit_watchers: HashMap::new(),
        pending_kills: HashMap::new(),
        restart_backoff: Backoff::new(config.restart_backoff.initial, config.restart_backoff.max),
        images: ImagePuller::new(config.image_pull_backoff.initial, config.image_pull_backoff.max),
        tokens: TokenCache::default(),
        wake_at: None,
        start_time: Timestamp::now(),
        terminal_phase: None,
        terminal_reason: None,
        gone: false,
        subscription: None,
        pod,
        context,
    };
    let task = tokio::spawn(worker.run(rx, cancel_rx, done));
    WorkerHandle { tx, cancel, task }
}

/// What a message asks of the loop.
#[derive(PartialEq, Eq)]
enum Flow {
    /// Something changed: sync.
    Sync,
    /// Nothing the worker acts on (the pod's own status changed): keep waiting.
    Quiet,
    /// Stop.
    Detach,
}

/// Whether two versions of a pod differ in more than their status (the kubelet's pod
/// source ignores status-only updates, many of which are its own writes).
fn differs_beyond_status(old: &Pod, new: &Pod) -> bool {
    let strip = |pod: &Pod| {
        let mut pod = pod.clone();
        pod.status = None;
        pod.metadata.resource_version = None;
        pod.metadata.managed_fields = None;
        pod
    };
    strip(old) != strip(new)
}

impl Worker {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<WorkerMessage>,
        mut cancel: watch::Receiver<bool>,
        done: mpsc::UnboundedSender<String>,
    ) {
        let pod_name = self.pod_name();
        tracing::info!(pod = %pod_name, uid = %self.uid, "pod worker started");
        self.adopt().await;
        self.publish();
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        self.subscription = Some(self.context.objects.subscribe(&namespace, &references(&self.pod), self.tx.clone()));
        let mut detached = false;
        loop {
            while let Ok(message) = rx.try_recv() {
                if self.apply(message) == Flow::Detach {
                    detached = true;
                }
            }
            if detached {
                break;
            }
            if self.terminating() {
                self.terminate().await;
                break;
            }
            tokio::select! {
                _ = self.sync() => {}
                _ = cancel.wait_for(|c| *c) => tracing::debug!(pod = %pod_name, "sync abandoned"),
            }
            if !*cancel.borrow() {
                self.write_status().await;
            }
            self.publish();
            let deadline = self.next_wakeup();
            loop {
                tokio::select! {
                    message = rx.recv() => match message.map(|m| self.apply(m)) {
                        None | Some(Flow::Detach) => {
                            detached = true;
                            break;
                        }
                        Some(Flow::Sync) => break,
                        Some(Flow::Quiet) => {}
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
        }
        if detached {
            tracing::info!(pod = %pod_name, "pod worker detached; containers keep running");
        }
        self.context.directory.remove(&self.uid);
        self.probes.clear();
        self.exit_watchers.clear();
        self.subscription = None;
        let _ = done.send(self.uid.clone());
    }

    pub(super) fn pod_name(&self) -> String {
        format!(
            "{}/{}",
            self.pod.metadata.namespace.as_deref().unwrap_or(""),
            self.pod.metadata.name.as_deref().unwrap_or("")
        )
    }

    fn terminating(&self) -> bool {
        self.gone || self.pod.metadata.deletion_timestamp.is_some()
    }

    /// When to sync next if nothing happens.
    fn next_wakeup(&self) -> Instant {
        let mut at = Instant::now() + self.context.config.sync_frequency;
        if let Some(wake) = self.wake_at {
            at = at.min(wake);
        }
        if let Some(refresh) = self.tokens.next_refresh() {
            let wait = refresh.duration_since(Timestamp::now());
            let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO);
            at = at.min(Instant::now() + wait);
        }
        at
    }

    /// Asks for a sync at `at` (the earliest of all requests wins).
    pub(super) fn wake(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    fn apply(&mut self, message: WorkerMessage) -> Flow {
        match message {
            WorkerMessage::Update(pod) => {
                if pod.metadata.uid.as_deref() != Some(self.uid.as_str()) {
                    return Flow::Quiet;
                }
                // Labels and annotations show in downward API volumes.
                if pod.metadata.labels != self.pod.metadata.labels
                    || pod.metadata.annotations != self.pod.metadata.annotations
                {
                    self.refresh_volumes = true;
                }
                let changed = differs_beyond_status(&self.pod, &pod);
                self.pod = *pod;
                if !changed {
                    return Flow::Quiet;
                }
            }
            WorkerMessage::Gone => self.gone = true,
            WorkerMessage::Detach => return Flow::Detach,
            WorkerMessage::Exited { name, id, exit } => {
                if let Some(record) = self.records.get_mut(&name) {
                    if record.running_id() == Some(id.as_str()) {
                        self.probes.remove(&name);
                    }
                    record.record_exit(&id, exit);
                }
                self.exit_watchers.remove(&id);
            }
            WorkerMessage::Started { name, id } => {
                let has_readiness = self.container_spec(&name).is_some_and(|c| c.readiness_probe.is_some());
                if let Some(record) = self.records.get_mut(&name).filter(|r| r.running_id() == Some(id.as_str())) {
                    record.started = true;
                    if !has_readiness {
                        record.ready = true;
                    }
                }
            }
            WorkerMessage::Readiness { name, id, ready } => {
                if let Some(record) = self.records.get_mut(&name).filter(|r| r.running_id() == Some(id.as_str())) {
                    record.ready = ready && record.started;
                }
            }
            WorkerMessage::ProbeFailed { name, id, kind, grace } => {
                if self.records.get(&name).is_some_and(|r| r.running_id() == Some(id.as_str())) {
                    self.pending_kills.insert(name, ProbeKill { id, kind, grace });
                }
            }
            WorkerMessage::Resync => self.refresh_volumes = true,
        }
        Flow::Sync
    }

    /// The spec of a container (init or regular) by name.
    pub(super) fn container_spec(&self, name: &str) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        spec_containers(spec).into_iter().find(|(c, _)| c.name == name).map(|(c, _)| c.clone())
    }

    pub(super) fn container_kind(&self, name: &str) -> Kind {
        self.records.get(name).map(|r| r.kind).unwrap_or(Kind::Regular)
    }

    /// The default host of probes and hooks: the pod IP, or loopback while pods have none
    /// (host-network pods: the node's address).
    pub(super) fn pod_host(&self) -> String {
        let status_ip = self.pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty());
        if let Some(ip) = status_ip {
            return ip;
        }
        if self.pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
            return self.context.config.node_ips.first().cloned().unwrap_or_else(|| "127.0.0.1".into());
        }
        "127.0.0.1".to_string()
    }

    pub(super) fn dialer(&self) -> PodDialer {
        PodDialer::new(self.sandbox.as_ref().and_then(|s| s.netns.clone()), self.pod_host())
    }

    pub(super) fn pod_dir(&self) -> PathBuf {
        self.context.config.pod_dir(&self.uid)
    }

    /// One round of convergence.
    async fn sync(&mut self) {
        self.wake_at = None;
        let kills: Vec<(String, ProbeKill)> = self.pending_kills.drain().collect();
        for (name, kill) in kills {
            self.kill_for_probe(&name, kill).await;
        }
        self.check_active_deadline();
        if self.terminal_phase.is_some() {
            self.stop_running().await;
            return;
        }
        self.restart_changed_containers().await;
        if !self.ensure_volumes().await || !self.ensure_sandbox().await {
            return;
        }
        let Some(spec) = self.pod.spec.clone() else { return };
        let mut backing_off: Vec<String> = Vec::new();
        for _round in 0..=spec_containers(&spec).len() {
            let plan = plan::plan(&spec, &self.records);
            for name in &plan.stop {
                self.kill_container(name, None, None).await;
            }
            let mut progressed = false;
            for (name, start) in plan.start {
                if backing_off.contains(&name) {
                    continue;
                }
                if let Start::AfterExit { finished_at } = start
                    && self.in_crash_backoff(&name, finished_at)
                {
                    backing_off.push(name);
                    continue;
                }
                if self.start_container(&name).await {
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        let status = self.compute_status();
        match status.phase.as_deref() {
            Some("Succeeded") => self.terminal_phase = Some(Phase::Succeeded),
            Some("Failed") => self.terminal_phase = Some(Phase::Failed),
            _ => {}
        }
        if self.terminal_phase.is_some() {
            self.stop_running().await;
        }
    }

    /// `activeDeadlineSeconds`: once the pod has been active that long since its start, it
    /// fails with `DeadlineExceeded` and its containers are stopped, as upstream does.
    fn check_active_deadline(&mut self) {
        if self.terminal_phase.is_some() {
            return;
        }
        let Some(seconds) = self.pod.spec.as_ref().and_then(|s| s.active_deadline_seconds) else { return };
        let started = self.pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(self.start_time, |t| t.0);
        let deadline = started + jiff::SignedDuration::from_secs(seconds.max(0));
        let left = deadline.duration_since(Timestamp::now());
        if left.is_positive() {
            self.wake(Instant::now() + Duration::try_from(left).unwrap_or_default());
            return;
        }
        let message = "Pod was active on the node longer than the specified deadline";
        self.context.recorder.record(&pod_reference(&self.pod), EventType::Normal, "DeadlineExceeded", message);
        self.terminal_phase = Some(Phase::Failed);
        self.terminal_reason = Some(("DeadlineExceeded".to_string(), message.to_string()));
    }

    /// A running container whose image was changed in the spec (the one mutable field
    /// of a container) is replaced, as upstream replaces a container whose spec hash changed.
    async fn restart_changed_containers(&mut self) {
        let changed: Vec<String> = self
            .records
            .values()
            .filter_map(|r| {
                let run = r.run.as_ref().filter(|run| run.exit.is_none())?;
                let image = self.container_spec(&r.name)?.image.unwrap_or_default();
                (run.image != image).then(|| r.name.clone())
            })
            .collect();
        for name in changed {
            let message = format!("Container {name} definition changed, will be restarted");
            self.kill_container(&name, Some(message), None).await;
            if let Some(record) = self.records.get_mut(&name) {
                record.spec_changed = true;
            }
        }
    }

    pub(super) fn compute_status(&self) -> k8s_openapi::api::core::v1::PodStatus {
        pod_status(&StatusInputs {
            pod: &self.pod,
            records: &self.records,
            sandbox_ready: self.sandbox.is_some(),
            host_ips: &self.context.config.node_ips,
            pod_ips: &[],
            start_time: Some(self.start_time),
            terminal_phase: self.terminal_phase,
            terminal_reason: self.terminal_reason.clone(),
            now: Timestamp::now(),
        })
    }

    /// Publishes the pod, its current status and its network to the pod directory.
    fn publish(&self) {
        let mut pod = self.pod.clone();
        pod.status = Some(self.compute_status());
        pod.metadata.managed_fields = None;
        let network = match &self.sandbox {
            None => PodNetwork::Pending,
            Some(sandbox) => match &sandbox.netns {
                Some(netns) => PodNetwork::Namespace(netns.clone()),
                None => PodNetwork::Host,
            },
        };
        self.context.directory.publish(PodEntry { pod, network });
    }

    /// Writes the status when it differs from what the API has.
    async fn write_status(&mut self) {
        for _attempt in 0..3 {
            let status = self.compute_status();
            let Ok(value) = serde_json::to_value(&status) else { return };
            let current = self.pod.status.as_ref().and_then(|s| serde_json::to_value(s).ok());
            if current.as_ref() == Some(&value) {
                return;
            }
            let patch = serde_json::json!({
                "metadata": {"uid": self.uid, "resourceVersion": self.pod.metadata.resource_version},
                "status": value,
            });
            let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
            let name = self.pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.context.client.clone(), &namespace);
            match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(pod) => {
                    self.pod = pod;
                    return;
                }
                Err(kube::Error::Api(status)) if status.code == 409 => match api.get_opt(&name).await {
                    Ok(Some(pod)) if pod.metadata.uid.as_deref() == Some(self.uid.as_str()) => self.pod = pod,
                    Ok(_) => {
                        self.gone = true;
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(pod = %self.pod_name(), %err, "re-reading the pod failed");
                        self.wake(Instant::now() + Duration::from_secs(1));
                        return;
                    }
                },
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    self.gone = true;
                    return;
                }
                Err(err) => {
                    tracing::warn!(pod = %self.pod_name(), %err, "writing the pod status failed");
                    self.wake(Instant::now() + Duration::from_secs(1));
                    return;
                }
            }
        }
    }
}
