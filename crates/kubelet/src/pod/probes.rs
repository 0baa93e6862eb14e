//! The probes of one run of a container, as a task: the startup probe first (liveness and
//! readiness wait for it), then liveness and readiness side by side, each waiting its
//! `initialDelaySeconds` from the container's start and checking every `periodSeconds`.
//! Every failed check records an `Unhealthy` event ("Liveness probe failed: …"); verdict
//! changes go to the pod worker, which marks the container ready/not ready or kills it
//! (liveness or startup failure past the threshold). The task ends when the run ends:
//! dropping the [`ProbeHandle`] stops it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use k3rs_runtime::{Runtime, RuntimeError};
use k8s_openapi::api::core::v1::{Container, ObjectReference, Probe};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::context::Context;
use super::worker::WorkerMessage;
use crate::events::EventType;
use crate::netns::PodDialer;
use crate::probe::{
    self, ExecError, ExecProber, Outcome, ProbeKind, ProbeTracker, State, Timing, Transition, resolve_action,
};

/// Runs exec probes in a container through the runtime.
struct RuntimeExec {
    runtime: Runtime,
    container_id: String,
}

impl ExecProber for RuntimeExec {
    fn exec(&self, command: Vec<String>, timeout: Duration) -> BoxFuture<'_, Result<(i32, String), ExecError>> {
        Box::pin(async move {
            match self.runtime.exec_sync(&self.container_id, command, timeout).await {
                Ok(out) => {
                    let mut text = out.stdout;
                    text.extend_from_slice(&out.stderr);
                    Ok((out.exit_code, String::from_utf8_lossy(&text).into_owned()))
                }
                Err(RuntimeError::Timeout(_)) => Err(ExecError::TimedOut),
                Err(err) => Err(ExecError::Failed(err.to_string())),
            }
        })
    }
}

/// Stops the probe task when dropped.
pub(crate) struct ProbeHandle(JoinHandle<()>);

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the probe task of one container run needs.
pub(crate) struct ProbeSetup {
    pub context: Arc<Context>,
    pub reference: ObjectReference,
    pub container: Container,
    pub container_id: String,
    /// When the container started (initial delays count from here).
    pub started_at: Instant,
    /// The default host of network probes (the pod IP, or loopback while pods have none).
    pub pod_host: String,
    pub dialer: PodDialer,
    /// Verdicts carried over from before an agent restart.
    pub already_started: bool,
    pub already_ready: bool,
    pub worker: UnboundedSender<WorkerMessage>,
}

/// Starts the probes of a run; `None` when the container has no probes.
pub(crate) fn spawn(setup: ProbeSetup) -> Option<ProbeHandle> {
    let c = &setup.container;
    if c.startup_probe.is_none() && c.liveness_probe.is_none() && c.readiness_probe.is_none() {
        return None;
    }
    Some(ProbeHandle(tokio::spawn(run(Arc::new(setup)))))
}

async fn run(setup: Arc<ProbeSetup>) {
    if let Some(startup) = setup.container.startup_probe.clone()
        && !setup.already_started
    {
        let timing = Timing::from_probe(&startup);
        let mut checker = Checker::new(&setup, startup, ProbeTracker::new(ProbeKind::Startup, timing));
        let outcome = checker.next_transition().await;
        let message = match outcome {
            Transition::BecameSuccess => {
                WorkerMessage::Started { name: setup.container.name.clone(), id: setup.container_id.clone() }
            }
            Transition::BecameFailure => WorkerMessage::ProbeFailed {
                name: setup.container.name.clone(),
                id: setup.container_id.clone(),
                kind: ProbeKind::Startup,
                grace: timing.termination_grace_period,
            },
        };
        let failed = outcome == Transition::BecameFailure;
        let _ = setup.worker.send(message);
        if failed {
            return;
        }
    }
    let liveness = async {
        if let Some(probe) = setup.container.liveness_probe.clone() {
            let timing = Timing::from_probe(&probe);
            let mut checker = Checker::new(&setup, probe, ProbeTracker::new(ProbeKind::Liveness, timing));
            // Liveness only reports failures; a failed container is killed, which ends this task.
            if checker.next_transition().await == Transition::BecameFailure {
                let _ = setup.worker.send(WorkerMessage::ProbeFailed {
                    name: setup.container.name.clone(),
                    id: setup.container_id.clone(),
                    kind: ProbeKind::Liveness,
                    grace: timing.termination_grace_period,
                });
            }
        }
    };
    let readiness = async {
        if let Some(probe) = setup.container.readiness_probe.clone() {
            let initial = if setup.already_ready { State::Success } else { State::Failure };
            let tracker = ProbeTracker::resume(ProbeKind::Readiness, Timing::from_probe(&probe), initial);
            let mut checker = Checker::new(&setup, probe, tracker);
            loop {
                let transition = checker.next_transition().await;
                let ready = transition == Transition::BecameSuccess;
                let _ = setup.worker.send(WorkerMessage::Readiness {
                    name: setup.container.name.clone(),
                    id: setup.container_id.clone(),
                    ready,
                });
            }
        }
    };
    tokio::join!(liveness, readiness);
}

/// One probe of a run: its tracker and its schedule.
struct Checker<'a> {
    setup: &'a ProbeSetup,
    probe: Probe,
    tracker: ProbeTracker,
    ticks: Option<tokio::time::Interval>,
}

impl<'a> Checker<'a> {
    fn new(setup: &'a ProbeSetup, probe: Probe, tracker: ProbeTracker) -> Checker<'a> {
        Checker { setup, probe, tracker, ticks: None }
    }

    /// Checks until the verdict changes; returns the change.
    async fn next_transition(&mut self) -> Transition {
        let setup = self.setup;
        let timing = self.tracker.timing;
        if self.ticks.is_none() {
            let first = setup.started_at + timing.initial_delay;
            let mut ticks = tokio::time::interval_at(first.max(Instant::now()), timing.period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            self.ticks = Some(ticks);
        }
        let exec = RuntimeExec { runtime: setup.context.runtime.clone(), container_id: setup.container_id.clone() };
        loop {
            if let Some(ticks) = self.ticks.as_mut() {
                ticks.tick().await;
            }
            let outcome = match resolve_action(&self.probe, &setup.pod_host, &setup.container) {
                Ok(action) => probe::check(&action, timing.timeout, &exec, &setup.dialer).await,
                Err(err) => Outcome::Failure(err),
            };
            let kind = self.tracker.kind.as_str();
            let recorder = &setup.context.recorder;
            match &outcome {
                Outcome::Failure(message) => recorder.record(
                    &setup.reference,
                    EventType::Warning,
                    "Unhealthy",
                    format!("{kind} probe failed: {message}"),
                ),
                Outcome::Warning(message) => recorder.record(
                    &setup.reference,
                    EventType::Warning,
                    "ProbeWarning",
                    format!("{kind} probe warning: {message}"),
                ),
                Outcome::Success => {}
            }
            if let Some(transition) = self.tracker.record(&outcome) {
                return transition;
            }
        }
    }
}
