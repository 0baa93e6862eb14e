//! Stopping containers and pods, as upstream's `killContainer` and pod termination do:
//! the `Killing` event, the preStop hook within the grace period (`FailedPreStopHook` when
//! it fails), then the stop signal and SIGKILL once what is left of the grace period
//! (at least 2 seconds) has passed. A deleted pod's containers stop together (sidecars
//! last, in reverse order), then its sandbox, containers, snapshots, volumes and logs are
//! removed and the pod object is deleted for good (grace period 0), which is the
//! kubelet's job upstream too.

use std::time::Duration;

use k3rs_runtime::container::ContainerFilter;
use k3rs_runtime::logs::pod_log_dir;
use k3rs_runtime::{ContainerExit, Runtime};
use k8s_openapi::api::core::v1::{Container, ObjectReference, Pod};
use kube::Api;
use kube::api::{DeleteParams, Preconditions};
use tokio::time::Instant;

use super::context::Context;
use super::hooks::{self, HookTarget};
use super::record::Kind;
use super::start::terminated_from;
use super::volumes;
use super::worker::{ProbeKill, Worker};
use crate::events::{EventType, container_reference};
use crate::netns::PodDialer;
use crate::probe::ProbeKind;

/// upstream's minimum time between the stop signal and SIGKILL.
const MINIMUM_GRACE_SECONDS: i64 = 2;
/// The grace period when the pod sets none (upstream's default).
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// One run to stop and how.
struct StopRequest<'a> {
    context: &'a Context,
    pod: &'a Pod,
    container: &'a Container,
    id: &'a str,
    reference: ObjectReference,
    grace_seconds: i64,
    message: String,
    pod_host: &'a str,
    dialer: &'a PodDialer,
}

/// Stops one run: Killing event, preStop, stop signal, SIGKILL after the rest of the grace
/// period. Returns the exit (None when the runtime could not stop it).
async fn stop_run(request: StopRequest<'_>) -> Option<ContainerExit> {
    let context = request.context;
    context.recorder.record(&request.reference, EventType::Normal, "Killing", &request.message);
    let mut grace = request.grace_seconds.max(0);
    if let Some(handler) = request.container.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref())
        && grace > 0
    {
        let started = Instant::now();
        let target = HookTarget {
            runtime: &context.runtime,
            container_id: request.id,
            pod: request.pod,
            container: request.container,
            pod_host: request.pod_host,
            dialer: request.dialer,
        };
        let budget = Duration::from_secs(grace as u64);
        match tokio::time::timeout(budget, hooks::run(&target, handler, budget)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(container = %request.container.name, %err, "preStop hook failed");
                context.recorder.record(
                    &request.reference,
                    EventType::Warning,
                    "FailedPreStopHook",
                    "PreStopHook failed",
                );
            }
            Err(_) => {
                tracing::info!(container = %request.container.name, "preStop hook did not finish within the grace period")
            }
        }
        grace -= started.elapsed().as_secs() as i64;
    }
    let grace = grace.max(MINIMUM_GRACE_SECONDS);
    match context.runtime.stop_container(request.id, Duration::from_secs(grace as u64)).await {
        Ok(exit) => Some(exit),
        Err(err) => {
            tracing::warn!(container = %request.container.name, id = %request.id, %err, "stopping the container failed");
            None
        }
    }
}

/// Removes everything the runtime holds for a pod UID: its sandboxes (with their
/// containers and snapshots) and any container left outside them.
pub(super) async fn remove_from_runtime(runtime: &Runtime, uid: &str) {
    match runtime.list_sandboxes().await {
        Ok(sandboxes) => {
            for sandbox in sandboxes.into_iter().filter(|s| s.config.uid == uid) {
                if let Err(err) = runtime.remove_sandbox(&sandbox.id).await {
                    tracing::warn!(%uid, sandbox = %sandbox.id, %err, "removing the sandbox failed");
                }
            }
        }
        Err(err) => tracing::warn!(%uid, %err, "listing sandboxes failed"),
    }
    let filter = ContainerFilter { pod_uid: Some(uid.to_string()), ..Default::default() };
    for container in runtime.list_containers(&filter).await.unwrap_or_default() {
        if let Err(err) = runtime.remove_container(&container.id).await {
            tracing::warn!(%uid, container = %container.id, %err, "removing the container failed");
        }
    }
}

impl Worker {
    /// The pod's grace period: the deletion's, else the spec's, else 30 s.
    fn grace_seconds(&self) -> i64 {
        self.pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(DEFAULT_GRACE_SECONDS)
    }

    /// Stops the running run of a container and records its exit. `message` is the
    /// Killing event's (default "Stopping container X"); `grace` replaces the pod's.
    pub(super) async fn kill_container(&mut self, name: &str, message: Option<String>, grace: Option<i64>) {
        let Some(id) = self.records.get(name).and_then(|r| r.running_id()).map(String::from) else { return };
        let Some(container) = self.container_spec(name) else { return };
        self.probes.remove(name);
        let init = self.container_kind(name).is_init_list();
        let (pod_host, dialer) = (self.pod_host(), self.dialer());
        let started_at = self.records.get(name).and_then(|r| r.run.as_ref()).map(|r| r.started_at);
        let exit = stop_run(StopRequest {
            context: &self.context,
            pod: &self.pod,
            container: &container,
            id: &id,
            reference: container_reference(&self.pod, name, init),
            grace_seconds: grace.unwrap_or_else(|| self.grace_seconds()),
            message: message.unwrap_or_else(|| format!("Stopping container {name}")),
            pod_host: &pod_host,
            dialer: &dialer,
        })
        .await;
        if let Some(exit) = exit {
            let fallback = container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
            let terminated = terminated_from(&self.context, &id, exit, started_at, fallback).await;
            if let Some(record) = self.records.get_mut(name) {
                record.record_exit(&id, terminated);
            }
            self.exit_watchers.remove(&id);
        }
    }

    /// Kills a run whose liveness or startup probe failed; it restarts at once (unless
    /// restartPolicy is Never).
    pub(super) async fn kill_for_probe(&mut self, name: &str, kill: ProbeKill) {
        if self.records.get(name).and_then(|r| r.running_id()) != Some(kill.id.as_str()) {
            return;
        }
        let what = match kill.kind {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Startup => "startup",
            ProbeKind::Readiness => return,
        };
        let restarts = self.pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) != Some("Never")
            || self.container_kind(name) == Kind::Sidecar;
        let message = if restarts {
            format!("Container {name} failed {what} probe, will be restarted")
        } else {
            format!("Container {name} failed {what} probe")
        };
        // A probe-level terminationGracePeriodSeconds replaces the pod's, unless the pod is being deleted.
        let grace = match self.pod.metadata.deletion_grace_period_seconds {
            Some(deletion) => Some(deletion),
            None => kill.grace,
        };
        self.kill_container(name, Some(message), grace).await;
        if let Some(record) = self.records.get_mut(name) {
            record.restart_now = true;
        }
    }

    /// Stops whatever still runs (a finished pod's sidecars).
    pub(super) async fn stop_running(&mut self) {
        let running: Vec<String> =
            self.records.values().filter(|r| r.running_id().is_some()).map(|r| r.name.clone()).collect();
        for name in running {
            self.kill_container(&name, None, None).await;
        }
    }

    /// Terminates the pod: every container stopped within the grace period (containers
    /// together, then sidecars in reverse order), then the sandbox, containers, volumes
    /// and logs removed, then the pod object deleted.
    pub(super) async fn terminate(&mut self) {
        tracing::info!(pod = %self.pod_name(), uid = %self.uid, gone = self.gone, "terminating pod");
        self.probes.clear();
        let deadline = Instant::now() + Duration::from_secs(self.grace_seconds().max(0) as u64);
        let order: Vec<(String, Kind)> = match self.pod.spec.as_ref() {
            Some(spec) => super::record::spec_containers(spec).into_iter().map(|(c, k)| (c.name.clone(), k)).collect(),
            None => Vec::new(),
        };
        let running = |worker: &Worker, kinds: &[Kind]| -> Vec<String> {
            order
                .iter()
                .filter(|(name, kind)| {
                    kinds.contains(kind) && worker.records.get(name).is_some_and(|r| r.running_id().is_some())
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        // Containers (and init containers) together.
        let first = running(self, &[Kind::Regular, Kind::Init]);
        let requests: Vec<(String, String, Container)> = first
            .iter()
            .filter_map(|name| {
                let id = self.records.get(name)?.running_id()?.to_string();
                Some((name.clone(), id, self.container_spec(name)?))
            })
            .collect();
        let (pod_host, dialer) = (self.pod_host(), self.dialer());
        let grace = self.grace_seconds();
        let stops = requests.iter().map(|(name, id, container)| {
            let init = self.container_kind(name).is_init_list();
            stop_run(StopRequest {
                context: &self.context,
                pod: &self.pod,
                container,
                id,
                reference: container_reference(&self.pod, name, init),
                grace_seconds: grace,
                message: format!("Stopping container {name}"),
                pod_host: &pod_host,
                dialer: &dialer,
            })
        });
        let exits = futures::future::join_all(stops).await;
        for ((name, id, container), exit) in requests.iter().zip(exits) {
            if let Some(exit) = exit {
                let fallback = container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
                let started_at = self.records.get(name).and_then(|r| r.run.as_ref()).map(|r| r.started_at);
                let terminated = terminated_from(&self.context, id, exit, started_at, fallback).await;
                if let Some(record) = self.records.get_mut(name) {
                    record.record_exit(id, terminated);
                }
            }
        }
        // Sidecars last, in reverse order, with what is left of the grace period.
        let mut sidecars = running(self, &[Kind::Sidecar]);
        sidecars.reverse();
        for name in sidecars {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs() as i64;
            self.kill_container(&name, None, Some(left)).await;
        }
        self.exit_watchers.clear();

        // Clean up.
        remove_from_runtime(&self.context.runtime, &self.uid).await;
        self.sandbox = None;
        if let Err(err) = volumes::tear_down(self.pod_dir()).await {
            tracing::warn!(pod = %self.pod_name(), %err, "removing the pod's volumes failed");
        }
        let namespace = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let logs = pod_log_dir(&self.context.config.pod_log_dir, &namespace, &name, &self.uid);
        if let Err(err) = tokio::fs::remove_dir_all(&logs).await
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(pod = %self.pod_name(), %err, "removing the pod's logs failed");
        }

        // The final delete: the kubelet confirms the pod is gone from the node.
        if !self.gone {
            let api: Api<Pod> = Api::namespaced(self.context.client.clone(), &namespace);
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            for attempt in 1..=5 {
                match api.delete(&name, &params).await {
                    Ok(_) => break,
                    // Gone already, or a new pod under the same name.
                    Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => break,
                    Err(err) => {
                        tracing::warn!(pod = %self.pod_name(), %err, attempt, "deleting the pod failed");
                        tokio::time::sleep(Duration::from_secs(attempt)).await;
                    }
                }
            }
        }
        tracing::info!(pod = %self.pod_name(), "pod terminated and cleaned up");
    }
}
