//! What the runtime reports about a container: its state, timestamps, exit and reason.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;

use super::labels;

/// A container's state, as the kubelet's container status needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process has exited.
    Exited,
    /// The runtime lost track of it (started, but neither running nor with a recorded exit).
    Unknown,
}

/// Why a container exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit code 0.
    Completed,
    /// Non-zero exit code.
    Error,
    /// Killed by the kernel for exceeding its memory limit.
    OomKilled,
}

impl ExitReason {
    /// The reason as Kubernetes spells it in `state.terminated.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
        }
    }

    /// Parses [`ExitReason::as_str`].
    pub fn parse(text: &str) -> Option<ExitReason> {
        match text {
            "Completed" => Some(ExitReason::Completed),
            "Error" => Some(ExitReason::Error),
            "OOMKilled" => Some(ExitReason::OomKilled),
            _ => None,
        }
    }

    /// The reason for an exit code, knowing whether the OOM killer struck.
    pub fn for_exit(exit_code: i32, oom_killed: bool) -> ExitReason {
        if oom_killed {
            ExitReason::OomKilled
        } else if exit_code == 0 {
            ExitReason::Completed
        } else {
            ExitReason::Error
        }
    }
}

/// How a container's process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    /// The exit code; 128 + the signal number when a signal killed it.
    pub exit_code: i32,
    pub finished_at: Timestamp,
    pub reason: ExitReason,
    /// The content of the termination message file (at most 4096 bytes), if any.
    pub message: Option<String>,
}

/// The pod a container belongs to (from its labels).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// Everything the runtime knows about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    /// The container's name in its pod.
    pub name: String,
    pub sandbox_id: String,
    pub pod: PodRef,
    pub restart_count: u32,
    /// The image reference the container was created from.
    pub image: String,
    /// The image ID (config digest).
    pub image_id: String,
    pub state: ContainerState,
    /// The main process's pid (host namespace) while it runs.
    pub pid: Option<u32>,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    /// Set once the container has exited.
    pub exit: Option<ContainerExit>,
    pub log_path: PathBuf,
    /// All labels of the container.
    pub labels: BTreeMap<String, String>,
}

pub(crate) fn timestamp_label(labels: &BTreeMap<String, String>, key: &str) -> Option<Timestamp> {
    labels.get(key).and_then(|v| v.parse().ok())
}

/// The exit recorded in a container's labels, if any.
pub(crate) fn recorded_exit(labels: &BTreeMap<String, String>, message: Option<String>) -> Option<ContainerExit> {
    let exit_code = labels.get(labels::EXIT_CODE)?.parse().ok()?;
    Some(ContainerExit {
        exit_code,
        finished_at: timestamp_label(labels, labels::FINISHED_AT).unwrap_or(Timestamp::UNIX_EPOCH),
        reason: labels
            .get(labels::REASON)
            .and_then(|r| ExitReason::parse(r))
            .unwrap_or(ExitReason::for_exit(exit_code, false)),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_exit_codes() {
        assert_eq!(ExitReason::for_exit(0, false), ExitReason::Completed);
        assert_eq!(ExitReason::for_exit(2, false), ExitReason::Error);
        assert_eq!(ExitReason::for_exit(137, true).as_str(), "OOMKilled");
        assert_eq!(ExitReason::parse("OOMKilled"), Some(ExitReason::OomKilled));
    }

    #[test]
    fn exits_are_read_back_from_labels() {
        let labels = BTreeMap::from([
            (labels::EXIT_CODE.to_string(), "3".to_string()),
            (labels::FINISHED_AT.to_string(), "2024-01-01T00:00:00Z".to_string()),
            (labels::REASON.to_string(), "Error".to_string()),
        ]);
        let exit = recorded_exit(&labels, Some("bye".into())).unwrap();
        assert_eq!(exit.exit_code, 3);
        assert_eq!(exit.reason, ExitReason::Error);
        assert_eq!(exit.message.as_deref(), Some("bye"));
        assert!(recorded_exit(&BTreeMap::new(), None).is_none());
    }
}
