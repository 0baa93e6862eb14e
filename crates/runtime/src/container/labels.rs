//! The labels k3rs puts on containerd containers. They carry everything a restarted agent
//! needs to re-adopt a container (its pod, name, restart count, sandbox, log file) and what
//! happened to it (start time, exit code, reason), since containerd forgets a task's exit
//! once the task is deleted.

/// Pod name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Pod namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod UID.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Container name within the pod.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Restart count of this run of the container.
pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
/// Marks containers managed by k3rs.
pub const MANAGED_BY: &str = "io.k3rs.managed-by";
/// The sandbox the container belongs to.
pub const SANDBOX_ID: &str = "io.k3rs.sandbox.id";
/// The container's log file.
pub const LOG_PATH: &str = "io.k3rs.log-path";
/// The image reference as the pod spec gave it.
pub const IMAGE_REF: &str = "io.k3rs.image";
/// The image ID (config digest) the container was created from.
pub const IMAGE_ID: &str = "io.k3rs.image-id";
/// Signal that stops the container.
pub const STOP_SIGNAL: &str = "io.k3rs.stop-signal";
/// The container keeps a stdin open / has a terminal.
pub const STDIN: &str = "io.k3rs.stdin";
pub const TTY: &str = "io.k3rs.tty";
/// Lifecycle timestamps and outcome (RFC 3339).
pub const CREATED_AT: &str = "io.k3rs.created-at";
pub const STARTED_AT: &str = "io.k3rs.started-at";
pub const FINISHED_AT: &str = "io.k3rs.finished-at";
pub const EXIT_CODE: &str = "io.k3rs.exit-code";
pub const REASON: &str = "io.k3rs.reason";

/// Value of [`MANAGED_BY`].
pub const MANAGER: &str = "k3rs";
