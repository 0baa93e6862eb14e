//! [`Runtime`]: the facade the kubelet drives. It owns the containerd connection (and the
//! supervised containerd, if k3rs started it), the run directory (sandboxes, namespace
//! files, container FIFOs), and the per-container log pumps and exit monitors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::containerd::{Containerd, ContainerdDaemon, DaemonConfig};
use crate::error::{Result, RuntimeError};
use crate::image::registry::RegistriesConfig;
use crate::image::{self, ImageSummary, ImportProgress};
use crate::logs::LogRotation;
use crate::sandbox::{self, HostEntry, Sandbox, SandboxConfig};

/// Where containerd is.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// An existing containerd socket (`--container-runtime-endpoint`).
    Socket(PathBuf),
    /// Start and supervise containerd with this configuration.
    Managed(DaemonConfig),
}

/// How the runtime is set up.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub endpoint: Endpoint,
    /// containerd namespace (`k8s.io`).
    pub namespace: String,
    /// Runtime state that must not outlive a reboot: sandboxes, namespace files, FIFOs, runc
    /// state (e.g. `/run/k3rs/runtime`).
    pub run_dir: PathBuf,
    /// containerd snapshotter (`overlayfs`).
    pub snapshotter: String,
    /// containerd runtime (`io.containerd.runc.v2`).
    pub runtime_handler: String,
    /// cgroup under which pods get `/<parent>/<sandbox>/<container>` (cgroupfs paths).
    pub cgroup_parent: String,
    /// Container log rotation.
    pub log_rotation: LogRotation,
    /// Registry mirrors and credentials (`registries.yaml`).
    pub registries: RegistriesConfig,
}

impl RuntimeConfig {
    /// Defaults: namespace `k8s.io`, overlayfs, runc v2, cgroups under `/k3rs`.
    pub fn new(endpoint: Endpoint, run_dir: impl Into<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            endpoint,
            namespace: "k8s.io".to_string(),
            run_dir: run_dir.into(),
            snapshotter: "overlayfs".to_string(),
            runtime_handler: "io.containerd.runc.v2".to_string(),
            cgroup_parent: "/k3rs".to_string(),
            log_rotation: LogRotation::default(),
            registries: RegistriesConfig::default(),
        }
    }
}

/// The container runtime. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) containerd: Containerd,
    pub(crate) config: RuntimeConfig,
    pub(crate) daemon: tokio::sync::Mutex<Option<ContainerdDaemon>>,
    pub(crate) live: Mutex<HashMap<String, Arc<crate::container::monitor::Live>>>,
    pub(crate) oom: crate::container::monitor::OomWatch,
}

impl Runtime {
    /// Connects to (or starts) containerd, prepares the run directory, and re-adopts the
    /// containers a previous run of the agent left: their log pumps and exit monitors resume.
    pub async fn start(config: RuntimeConfig) -> Result<Runtime> {
        let (socket, daemon) = match &config.endpoint {
            Endpoint::Socket(socket) => (socket.clone(), None),
            Endpoint::Managed(daemon_config) => {
                let daemon = ContainerdDaemon::start(daemon_config.clone()).await?;
                (daemon.socket().to_path_buf(), Some(daemon))
            }
        };
        let containerd = Containerd::connect(&socket, &config.namespace).await?;
        for dir in [config.run_dir.clone(), config.run_dir.join("containers"), config.run_dir.join("runc")] {
            tokio::fs::create_dir_all(&dir).await.map_err(|e| RuntimeError::io("create directory", &dir, e))?;
        }
        let oom = crate::container::monitor::OomWatch::start(containerd.clone());
        let runtime = Runtime {
            inner: Arc::new(Inner {
                containerd,
                config,
                daemon: tokio::sync::Mutex::new(daemon),
                live: Mutex::new(HashMap::new()),
                oom,
            }),
        };
        runtime.recover().await?;
        Ok(runtime)
    }

    /// The containerd connection.
    pub fn containerd(&self) -> &Containerd {
        &self.inner.containerd
    }

    /// The configuration the runtime runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    pub(crate) fn run_dir(&self) -> &Path {
        &self.inner.config.run_dir
    }

    /// The pid of the supervised containerd, if k3rs started it.
    pub async fn containerd_pid(&self) -> Option<u32> {
        self.inner.daemon.lock().await.as_ref().map(|d| d.pid())
    }

    /// Stops watching containers (log pumps, exit monitors) and, if k3rs started containerd,
    /// stops it. Containers keep running; a new [`Runtime::start`] re-adopts them.
    pub async fn close(&self) {
        let live: Vec<_> =
            self.inner.live.lock().map(|mut live| live.drain().map(|(_, l)| l).collect()).unwrap_or_default();
        for entry in live {
            entry.detach();
        }
        self.inner.oom.stop();
        if let Some(daemon) = self.inner.daemon.lock().await.take() {
            daemon.stop().await;
        }
    }

    // ---- images ----

    /// Imports every image of an archive (docker-archive or OCI layout; `.tar`, `.tar.gz`,
    /// `.tar.zst`). `progress` is updated as the file is read.
    pub async fn import_images(&self, archive: &Path, progress: Option<ImportProgress>) -> Result<Vec<ImageSummary>> {
        let c = &self.inner;
        image::import_archive(&c.containerd, &c.config.snapshotter, archive, progress.unwrap_or_default()).await
    }

    /// Imports every archive in a directory (the airgap images directory,
    /// `<data-dir>/agent/images/`), in name order. A bad archive is reported and skipped.
    pub async fn import_images_dir(&self, dir: &Path) -> Result<Vec<(PathBuf, Result<Vec<ImageSummary>>)>> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(RuntimeError::io("read directory", dir, err)),
        };
        let mut archives = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(|e| RuntimeError::io("read directory", dir, e))? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd"].iter().any(|ext| name.ends_with(ext)) {
                archives.push(entry.path());
            }
        }
        archives.sort();
        let mut results = Vec::new();
        for archive in archives {
            let result = self.import_images(&archive, None).await;
            if let Err(err) = &result {
                tracing::warn!(archive = %archive.display(), %err, "importing airgap images failed");
            }
            results.push((archive, result));
        }
        Ok(results)
    }

    /// Pulls an image from its registry (or a mirror), with optional credentials (from
    /// `imagePullSecrets`); `registries.yaml` credentials apply otherwise.
    pub async fn pull_image(
        &self,
        reference: &str,
        credentials: &[image::registry::Credentials],
    ) -> Result<ImageSummary> {
        let c = &self.inner;
        image::registry::pull(&c.containerd, &c.config.snapshotter, &c.config.registries, reference, credentials).await
    }

    /// Every image.
    pub async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        image::list(&self.inner.containerd, &self.inner.config.snapshotter).await
    }

    /// The image if present (any spelling of the reference: `busybox` finds
    /// `docker.io/library/busybox:latest`). The kubelet's pull policy decides on this.
    pub async fn image_present(&self, reference: &str) -> Result<Option<ImageSummary>> {
        image::present(&self.inner.containerd, &self.inner.config.snapshotter, reference).await
    }

    /// Removes an image name; its blobs and snapshots go when nothing else uses them.
    pub async fn remove_image(&self, reference: &str) -> Result<()> {
        image::remove(&self.inner.containerd, reference).await
    }

    // ---- sandboxes ----

    /// Creates a pod sandbox: namespaces, shm, hosts/resolv.conf/hostname files.
    pub async fn create_sandbox(&self, config: SandboxConfig) -> Result<Sandbox> {
        let run_dir = self.run_dir().to_path_buf();
        blocking(move || sandbox::create(&run_dir, config)).await
    }

    /// A sandbox by id.
    pub async fn sandbox(&self, id: &str) -> Result<Sandbox> {
        let run_dir = self.run_dir().to_path_buf();
        let id = id.to_string();
        blocking(move || sandbox::load(&run_dir, &id)).await
    }

    /// Every sandbox.
    pub async fn list_sandboxes(&self) -> Result<Vec<Sandbox>> {
        let run_dir = self.run_dir().to_path_buf();
        blocking(move || sandbox::list(&run_dir)).await
    }

    /// Rewrites a sandbox's `/etc/hosts` extra entries (e.g. once the pod IP is known).
    pub async fn update_sandbox_hosts(&self, id: &str, hosts: Vec<HostEntry>) -> Result<Sandbox> {
        let run_dir = self.run_dir().to_path_buf();
        let id = id.to_string();
        blocking(move || {
            let mut sandbox = sandbox::load(&run_dir, &id)?;
            sandbox::update_hosts(&mut sandbox, hosts)?;
            Ok(sandbox)
        })
        .await
    }

    /// Removes a sandbox and everything in it: its containers are killed (SIGKILL) and
    /// removed with their snapshots, then its namespaces, mounts, cgroup and files go.
    pub async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let sandbox = self.sandbox(id).await?;
        let filter = crate::container::ContainerFilter { sandbox_id: Some(id.to_string()), ..Default::default() };
        for container in self.list_containers(&filter).await? {
            self.remove_container(&container.id).await?;
        }
        let cgroup = self.sandbox_cgroup(&sandbox.id);
        blocking(move || {
            sandbox::destroy(&sandbox);
            crate::cgroups::remove(&cgroup);
            Ok(())
        })
        .await
    }

    pub(crate) fn sandbox_cgroup(&self, sandbox_id: &str) -> String {
        format!("{}/{sandbox_id}", self.inner.config.cgroup_parent.trim_end_matches('/'))
    }

    /// Waits until containerd answers (after it was restarted, for instance).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<String> {
        self.inner.containerd.wait_ready(timeout).await
    }
}

/// Runs blocking work (files, mounts, namespaces) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| RuntimeError::Daemon(format!("blocking task failed: {e}")))?
}
