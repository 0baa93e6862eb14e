//! Pod sandboxes. A sandbox is what the containers of one pod share, without a pause
//! container: pinned network, IPC and UTS namespaces (and a PID namespace with a tiny
//! holder process when the pod shares processes), a `/dev/shm` tmpfs, and the pod's
//! `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` files. Its record is a JSON file
//! under the runtime's run directory, so a restarted agent finds it again.
//!
//! Layout: `<run>/sandboxes/<id>/{sandbox.json,hosts,resolv.conf,hostname,shm/}` and the
//! namespace files `<run>/ns/<id>.{net,ipc,uts,pid}` (a shared mount, like `/run/netns`).

mod files;
mod namespaces;
mod pid_holder;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use files::{DnsConfig, HostEntry};

use crate::error::{Result, RuntimeError};
use crate::mounts;

/// What the kubelet asks for when it creates a pod's sandbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxConfig {
    /// Pod name.
    pub name: String,
    /// Pod namespace.
    pub namespace: String,
    /// Pod UID.
    pub uid: String,
    /// How many sandboxes this pod had before (0 for the first).
    pub attempt: u32,
    /// The pod's hostname (UTS namespace and `/etc/hostname`).
    pub hostname: String,
    /// Use the host's network namespace (`hostNetwork`).
    pub host_network: bool,
    /// Use the host's IPC namespace (`hostIPC`).
    pub host_ipc: bool,
    /// Use the host's PID namespace (`hostPID`).
    pub host_pid: bool,
    /// All containers share one PID namespace (`shareProcessNamespace`).
    pub share_pid: bool,
    /// DNS settings for `/etc/resolv.conf`; the host's file is copied when `None`.
    pub dns: Option<DnsConfig>,
    /// Extra `/etc/hosts` entries (the pod's own IP and name, `hostAliases`).
    pub hosts: Vec<HostEntry>,
    /// Size of the pod's `/dev/shm` in bytes (64 MiB when 0).
    pub shm_size: u64,
    /// Labels, kept with the sandbox for the kubelet.
    pub labels: BTreeMap<String, String>,
    /// Annotations, kept with the sandbox for the kubelet.
    pub annotations: BTreeMap<String, String>,
}

/// A created sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    pub id: String,
    pub config: SandboxConfig,
    pub created_at: jiff::Timestamp,
    /// The sandbox's directory (hosts, resolv.conf, hostname, shm).
    pub dir: PathBuf,
    /// Network namespace file (None with host networking). The networking layer wires
    /// the pod's interface into it.
    pub netns: Option<PathBuf>,
    pub ipc_ns: Option<PathBuf>,
    pub uts_ns: Option<PathBuf>,
    pub pid_ns: Option<PathBuf>,
    /// The PID namespace holder's pid when the pod shares processes.
    pub pid_holder: Option<u32>,
}

impl Sandbox {
    pub fn hosts_path(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub fn resolv_conf_path(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub fn hostname_path(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    pub fn shm_path(&self) -> PathBuf {
        self.dir.join("shm")
    }
}

fn sandboxes_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("sandboxes")
}

fn ns_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("ns")
}

fn record_path(dir: &Path) -> PathBuf {
    dir.join("sandbox.json")
}

/// A new random identifier (64 hex digits, like containerd's).
pub(crate) fn new_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Creates a sandbox (blocking: namespaces, mounts and files).
pub(crate) fn create(run_dir: &Path, config: SandboxConfig) -> Result<Sandbox> {
    if config.share_pid && config.host_pid {
        return Err(RuntimeError::InvalidConfig("shareProcessNamespace and hostPID cannot both be set".into()));
    }
    let id = new_id();
    let dir = sandboxes_dir(run_dir).join(&id);
    let ns_dir = ns_dir(run_dir);
    std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create directory", &dir, e))?;
    mounts::make_shared_mount(&ns_dir).map_err(|e| RuntimeError::io("make shared mount", &ns_dir, e))?;
    let mut sandbox = Sandbox {
        id: id.clone(),
        config,
        created_at: jiff::Timestamp::now(),
        dir: dir.clone(),
        netns: None,
        ipc_ns: None,
        uts_ns: None,
        pid_ns: None,
        pid_holder: None,
    };
    let result = populate(&mut sandbox, &ns_dir);
    if let Err(err) = result {
        destroy(&sandbox);
        return Err(err);
    }
    Ok(sandbox)
}

fn populate(sandbox: &mut Sandbox, ns_dir: &Path) -> Result<()> {
    let config = &sandbox.config;
    let kinds = namespaces::Kinds { net: !config.host_network, ipc: !config.host_ipc, uts: !config.host_network };
    let pinned = namespaces::create(ns_dir, &sandbox.id, &config.hostname, kinds)
        .map_err(|e| RuntimeError::io("create pod namespaces", ns_dir, e))?;
    sandbox.netns = pinned.net;
    sandbox.ipc_ns = pinned.ipc;
    sandbox.uts_ns = pinned.uts;
    if config.share_pid {
        let path = ns_dir.join(format!("{}.pid", sandbox.id));
        let pid = pid_holder::start(&path).map_err(|e| RuntimeError::io("start PID namespace holder", &path, e))?;
        sandbox.pid_ns = Some(path);
        sandbox.pid_holder = Some(pid);
    }
    let shm = sandbox.shm_path();
    std::fs::create_dir_all(&shm).map_err(|e| RuntimeError::io("create directory", &shm, e))?;
    if !config.host_ipc {
        let size = if config.shm_size == 0 { 64 << 20 } else { config.shm_size };
        let options = format!("mode=1777,size={size}");
        mounts::mount(
            Some(Path::new("shm")),
            &shm,
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some(&options),
        )
        .map_err(|e| RuntimeError::io("mount shm", &shm, e))?;
    }
    files::write_all(sandbox)?;
    let record = record_path(&sandbox.dir);
    let json = serde_json::to_vec_pretty(&sandbox).map_err(|e| RuntimeError::io("encode", &record, e.into()))?;
    write_atomic(&record, &json)
}

/// Writes a file via a temporary file and a rename, so readers never see half of it.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data).map_err(|e| RuntimeError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RuntimeError::io("rename", path, e))
}

/// Reads a sandbox record.
pub(crate) fn load(run_dir: &Path, id: &str) -> Result<Sandbox> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(RuntimeError::SandboxNotFound(id.to_string()));
    }
    let path = record_path(&sandboxes_dir(run_dir).join(id));
    let data = match std::fs::read(&path) {
        Ok(data) => data,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(RuntimeError::SandboxNotFound(id.to_string()));
        }
        Err(err) => return Err(RuntimeError::io("read", &path, err)),
    };
    serde_json::from_slice(&data).map_err(|e| RuntimeError::io("decode", &path, e.into()))
}

/// Every sandbox on record.
pub(crate) fn list(run_dir: &Path) -> Result<Vec<Sandbox>> {
    let dir = sandboxes_dir(run_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(RuntimeError::io("read directory", &dir, err)),
    };
    let mut sandboxes = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        match load(run_dir, &id) {
            Ok(sandbox) => sandboxes.push(sandbox),
            Err(err) => tracing::warn!(%id, %err, "skipping unreadable sandbox record"),
        }
    }
    sandboxes.sort_by_key(|a| a.created_at);
    Ok(sandboxes)
}

/// Tears a sandbox down: the PID holder, the namespaces, the shm mount and the directory.
/// Its containers must be gone already.
pub(crate) fn destroy(sandbox: &Sandbox) {
    if let Some(pid) = sandbox.pid_holder {
        pid_holder::stop(pid, sandbox.pid_ns.as_ref());
    }
    namespaces::remove(&namespaces::Pinned {
        net: sandbox.netns.clone(),
        ipc: sandbox.ipc_ns.clone(),
        uts: sandbox.uts_ns.clone(),
    });
    if let Err(err) = mounts::unmount_all_under(&sandbox.dir) {
        tracing::warn!(dir = %sandbox.dir.display(), %err, "unmounting sandbox mounts failed");
    }
    if let Err(err) = std::fs::remove_dir_all(&sandbox.dir)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %sandbox.dir.display(), %err, "removing sandbox directory failed");
    }
}

/// Rewrites the sandbox's `/etc/hosts` with new extra entries (e.g. once the pod has an IP).
pub(crate) fn update_hosts(sandbox: &mut Sandbox, hosts: Vec<HostEntry>) -> Result<()> {
    sandbox.config.hosts = hosts;
    files::write_hosts(sandbox)?;
    let record = record_path(&sandbox.dir);
    let json = serde_json::to_vec_pretty(&sandbox).map_err(|e| RuntimeError::io("encode", &record, e.into()))?;
    write_atomic(&record, &json)
}
