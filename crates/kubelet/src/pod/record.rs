//! What a pod worker knows about each container of its pod across runs: the current run
//! in the runtime (if any), how the previous run ended (`lastState`), the restart count,
//! why it waits, and what the probes say. Container statuses and the next steps are
//! computed from these records.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, PodSpec};

/// How a container of the pod behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An init container that must run to completion.
    Init,
    /// An init container with `restartPolicy: Always`: it keeps running next to the
    /// containers and is restarted whenever it exits.
    Sidecar,
    /// One of `spec.containers`.
    Regular,
}

impl Kind {
    pub fn is_init_list(self) -> bool {
        matches!(self, Kind::Init | Kind::Sidecar)
    }
}

/// How a run of a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Terminated {
    pub container_id: String,
    pub exit_code: i32,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`.
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
}

/// One run of a container in the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub id: String,
    /// The image the spec named when the run was created (a changed image restarts it).
    pub image: String,
    /// `docker.io/library/busybox@sha256:…` (or the config digest when no repo digest is known).
    pub image_id: String,
    pub started_at: Timestamp,
    /// The postStart hook finished (or there is none): until then the container is not
    /// Running for the API, as upstream reports it.
    pub post_start_done: bool,
    /// Set once the process has exited.
    pub exit: Option<Terminated>,
}

/// Why a container is not running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

impl Waiting {
    pub fn new(reason: &str, message: impl Into<String>) -> Waiting {
        let message = message.into();
        Waiting { reason: reason.to_string(), message: (!message.is_empty()).then_some(message) }
    }
}

/// The lifecycle position of a container, as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position<'a> {
    /// Never created (or every attempt so far failed before a run existed).
    NotStarted,
    /// Its process runs; `ready_to_continue` is false until postStart and the startup
    /// probe are done.
    Running { started: bool },
    /// Its last run ended.
    Exited(&'a Terminated),
}

/// Everything the worker tracks for one container.
#[derive(Clone, Debug)]
pub(crate) struct ContainerRecord {
    pub name: String,
    pub kind: Kind,
    pub run: Option<Run>,
    /// How the run before `run` ended (the status's `lastState`).
    pub last_termination: Option<Terminated>,
    /// The restart count of `run` (0 before the first run).
    pub restart_count: u32,
    /// Why the container waits (image pull, config error, back-off).
    pub waiting: Option<Waiting>,
    /// Startup probe succeeded (or there is none) for the current run.
    pub started: bool,
    /// Readiness probe succeeds (or there is none) for the current run.
    pub ready: bool,
    /// The kubelet itself killed the current run (a failed liveness or startup probe): it
    /// restarts at once, without back-off, as upstream restarts it in the same sync.
    pub restart_now: bool,
    /// The current run was stopped because the spec changed (its image): it is replaced
    /// whatever the restart policy says.
    pub spec_changed: bool,
}

impl ContainerRecord {
    pub fn new(name: &str, kind: Kind) -> ContainerRecord {
        ContainerRecord {
            name: name.to_string(),
            kind,
            run: None,
            last_termination: None,
            restart_count: 0,
            waiting: None,
            started: false,
            ready: false,
            restart_now: false,
            spec_changed: false,
        }
    }

    pub fn position(&self) -> Position<'_> {
        match &self.run {
            None => Position::NotStarted,
            Some(Run { exit: Some(exit), .. }) => Position::Exited(exit),
            Some(run) => Position::Running { started: run.post_start_done && self.started },
        }
    }

    /// Whether any run of this container ever existed.
    pub fn ever_ran(&self) -> bool {
        self.run.is_some() || self.last_termination.is_some()
    }

    /// The id of the running (not exited) run.
    pub fn running_id(&self) -> Option<&str> {
        self.run.as_ref().filter(|r| r.exit.is_none()).map(|r| r.id.as_str())
    }

    /// The restart count the next run gets.
    pub fn next_restart_count(&self) -> u32 {
        if self.ever_ran() { self.restart_count.saturating_add(1) } else { self.restart_count }
    }

    /// A new run replaces the current one, which becomes `lastState`. Returns the id of
    /// the run that dropped out of the record (the one before `lastState`), which the
    /// runtime no longer needs to keep.
    pub fn begin_run(&mut self, run: Run, restart_count: u32) -> Option<String> {
        let mut retired = None;
        if let Some(previous) = self.run.take().and_then(|r| r.exit) {
            retired = self.last_termination.replace(previous).map(|t| t.container_id);
        }
        self.run = Some(run);
        self.restart_count = restart_count;
        self.waiting = None;
        self.started = false;
        self.ready = false;
        self.restart_now = false;
        self.spec_changed = false;
        retired
    }

    /// Records the end of the run with this id (idempotent).
    pub fn record_exit(&mut self, id: &str, exit: Terminated) {
        if let Some(run) = self.run.as_mut().filter(|r| r.id == id && r.exit.is_none()) {
            run.exit = Some(exit);
            self.started = false;
            self.ready = false;
        }
    }
}

/// The pod's containers in the order upstream lists them: init containers, then containers.
pub(crate) fn spec_containers(spec: &PodSpec) -> Vec<(&Container, Kind)> {
    let init = spec.init_containers.iter().flatten().map(|c| {
        let kind = if c.restart_policy.as_deref() == Some("Always") { Kind::Sidecar } else { Kind::Init };
        (c, kind)
    });
    init.chain(spec.containers.iter().map(|c| (c, Kind::Regular))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(id: &str, code: i32) -> Terminated {
        Terminated {
            container_id: id.into(),
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: None,
            finished_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn run(id: &str) -> Run {
        Run {
            id: id.into(),
            image: String::new(),
            image_id: String::new(),
            started_at: Timestamp::UNIX_EPOCH,
            post_start_done: true,
            exit: None,
        }
    }

    #[test]
    fn runs_move_to_last_state_and_count_restarts() {
        let mut r = ContainerRecord::new("c", Kind::Regular);
        assert_eq!(r.position(), Position::NotStarted);
        assert_eq!(r.next_restart_count(), 0);
        r.begin_run(run("a"), 0);
        r.started = true;
        assert_eq!(r.position(), Position::Running { started: true });
        r.record_exit("other", exit("other", 1));
        assert!(r.running_id().is_some(), "an exit of another run is ignored");
        r.record_exit("a", exit("a", 2));
        assert!(matches!(r.position(), Position::Exited(t) if t.exit_code == 2));
        assert_eq!(r.next_restart_count(), 1);
        assert_eq!(r.begin_run(run("b"), 1), None);
        assert_eq!(r.last_termination.as_ref().map(|t| t.container_id.as_str()), Some("a"));
        assert_eq!(r.restart_count, 1);
        assert!(!r.started && !r.ready);
        r.record_exit("b", exit("b", 1));
        assert_eq!(r.begin_run(run("c"), 2).as_deref(), Some("a"), "only one dead run is kept");
    }

    #[test]
    fn sidecars_are_init_containers_that_always_restart() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "initContainers": [{"name": "i"}, {"name": "s", "restartPolicy": "Always"}],
            "containers": [{"name": "c"}]
        }))
        .unwrap();
        let kinds: Vec<(String, Kind)> = spec_containers(&spec).into_iter().map(|(c, k)| (c.name.clone(), k)).collect();
        assert_eq!(kinds, vec![("i".into(), Kind::Init), ("s".into(), Kind::Sidecar), ("c".into(), Kind::Regular)]);
    }
}
