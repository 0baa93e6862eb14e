//! The description of a container that the kubelet hands to the runtime: a pod container
//! spec already resolved (env values computed, volumes turned into host paths).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything needed to create one container in a sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The container's name in its pod.
    pub name: String,
    /// The image reference (present in the image store).
    pub image: String,
    /// Replaces the image's entrypoint (Kubernetes `command`).
    pub command: Vec<String>,
    /// Replaces the image's cmd (Kubernetes `args`).
    pub args: Vec<String>,
    /// Environment variables, after the image's; later entries win.
    pub env: Vec<(String, String)>,
    /// Working directory (the image's when `None`).
    pub working_dir: Option<String>,
    /// Security settings.
    pub security: SecurityConfig,
    /// cgroup limits.
    pub resources: Resources,
    /// Bind mounts (volumes).
    pub mounts: Vec<Mount>,
    /// Mount the sandbox's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` (true for pods).
    pub mount_etc_files: bool,
    /// Where the termination message file appears in the container
    /// (`/dev/termination-log` by default; `None` for none).
    pub termination_message_path: Option<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Keep the container's stdin open for attach.
    pub stdin: bool,
    /// The log file this run writes (`/var/log/pods/<ns>_<pod>_<uid>/<name>/<restart>.log`).
    pub log_path: PathBuf,
    /// How many times this container was restarted before (a label, for re-adoption).
    pub restart_count: u32,
    /// Extra labels (kept on the containerd container; `io.kubernetes.*` are set by the runtime).
    pub labels: BTreeMap<String, String>,
    /// The signal that stops the container (the image's STOPSIGNAL, else SIGTERM, when `None`).
    pub stop_signal: Option<String>,
    /// Kernel parameters (namespaced ones only, e.g. `net.ipv4.ip_unprivileged_port_start`).
    pub sysctls: BTreeMap<String, String>,
}

/// The security context, flattened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// `runAsUser`; the image's user when `None`.
    pub run_as_user: Option<u32>,
    /// `runAsGroup`; the user's primary group when `None`.
    pub run_as_group: Option<u32>,
    /// Refuse to run as uid 0.
    pub run_as_non_root: bool,
    /// `supplementalGroups` (plus `fsGroup`).
    pub supplemental_groups: Vec<u32>,
    /// Capabilities to add to the default set (`NET_ADMIN` or `CAP_NET_ADMIN`; `ALL`).
    pub capabilities_add: Vec<String>,
    /// Capabilities to remove from the default set (`ALL` removes every one).
    pub capabilities_drop: Vec<String>,
    /// All capabilities, all devices, no masked paths, writable `/sys`.
    pub privileged: bool,
    /// Mount the root file system read-only.
    pub read_only_root_filesystem: bool,
    /// `allowPrivilegeEscalation: false`.
    pub no_new_privileges: bool,
}

/// cgroup limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU request in millicores (cpu weight / shares).
    pub cpu_request_millis: Option<u64>,
    /// CPU limit in millicores (CFS quota).
    pub cpu_limit_millis: Option<u64>,
    /// Memory limit in bytes; exceeding it gets the container OOM-killed.
    pub memory_limit_bytes: Option<u64>,
    /// Maximum number of processes.
    pub pids_limit: Option<i64>,
    /// OOM score adjustment (the kubelet derives it from the QoS class).
    pub oom_score_adj: Option<i32>,
}

/// A bind mount from the host into the container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub read_only: bool,
    pub propagation: Propagation,
}

/// Mount propagation (Kubernetes `mountPropagation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// `None`: private.
    #[default]
    Private,
    /// `HostToContainer`: mounts made on the host appear in the container (rslave).
    HostToContainer,
    /// `Bidirectional`: both ways (rshared; privileged containers only).
    Bidirectional,
}

/// What to run inside a running container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecConfig {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Allocate a terminal (stdout and stderr are then one stream).
    pub tty: bool,
    /// Give the process a stdin the caller writes to.
    pub stdin: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}
