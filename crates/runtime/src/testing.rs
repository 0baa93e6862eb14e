//! A private containerd for tests and benchmarks: its own root, state, socket, run
//! directory and cgroup parent in a temporary directory, so that tests never touch a system
//! containerd and leave nothing behind, even when they fail (see the `Drop` impl).

use std::path::{Path, PathBuf};

use crate::containerd::DaemonConfig;
use crate::image::builder::{ArchiveFormat, Compression, ImageBuilder};
use crate::{Endpoint, ImageSummary, Result, Runtime, RuntimeConfig, RuntimeError};

/// Whether containers can run here, for tests that need them: `false` (with a message)
/// when something is missing, so a developer's machine skips those tests. Under CI (`CI`
/// set) a missing tool panics instead: CI installs them, and a skipped test proves nothing.
pub fn can_run_containers() -> bool {
    let missing = missing_tools();
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} not available under CI (install containerd, runc and busybox-static, run as root)"
    );
    eprintln!("skipping: {what} not available (install containerd, runc and busybox-static)");
    false
}

/// The programs a private containerd needs; the names of those missing from `PATH`.
pub fn missing_tools() -> Vec<&'static str> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
            .unwrap_or(false)
    };
    let mut missing: Vec<&'static str> =
        ["containerd", "containerd-shim-runc-v2", "runc"].into_iter().filter(|tool| !on_path(tool)).collect();
    if crate::image::builder::find_busybox().is_err() {
        missing.push("busybox");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root privileges");
    }
    missing
}

/// A private containerd and a [`Runtime`] on it.
pub struct TestEnvironment {
    dir: PathBuf,
    config: RuntimeConfig,
    pub runtime: Runtime,
}

impl TestEnvironment {
    /// Starts containerd in a fresh temporary directory. Callers check [`missing_tools`] first.
    pub async fn start() -> Result<TestEnvironment> {
        let dir = tempfile::Builder::new()
            .prefix("k3rs-rt-")
            .tempdir_in("/tmp")
            .map_err(|e| RuntimeError::io("create temp dir", "/tmp", e))?
            .keep();
        let daemon = DaemonConfig::under(&dir);
        let mut config = RuntimeConfig::new(Endpoint::Managed(daemon), dir.join("run"));
        config.cgroup_parent =
            format!("/k3rs-test-{}", dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        match Runtime::start(config.clone()).await {
            Ok(runtime) => Ok(TestEnvironment { dir, config, runtime }),
            Err(err) => {
                cleanup(&dir, &config);
                Err(err)
            }
        }
    }

    /// The temporary directory everything lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The runtime configuration (to start a second runtime on the same containerd).
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Where tests put pod logs.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("pods")
    }

    /// Builds a busybox image named `name` and imports it.
    pub async fn import_busybox(&self, name: &str) -> Result<ImageSummary> {
        let archive = self.dir.join(format!("{}.tar", uuid::Uuid::new_v4().simple()));
        let (name_owned, path) = (name.to_string(), archive.clone());
        tokio::task::spawn_blocking(move || {
            ImageBuilder::busybox(&name_owned)?.write_archive(&path, ArchiveFormat::Oci, Compression::None)
        })
        .await
        .map_err(|e| RuntimeError::Daemon(e.to_string()))?
        .map_err(|e| RuntimeError::io("build image", &archive, e))?;
        let imported = self.runtime.import_images(&archive, None).await?;
        let _ = tokio::fs::remove_file(&archive).await;
        imported.into_iter().next().ok_or_else(|| RuntimeError::ImageNotFound(name.to_string()))
    }

    /// Closes the runtime (and containerd) and starts both again, as an agent restart does.
    pub async fn restart(&mut self) -> Result<()> {
        self.runtime.close().await;
        self.runtime = Runtime::start(self.config.clone()).await?;
        Ok(())
    }

    /// Removes every sandbox and container, stops containerd and deletes everything.
    pub async fn cleanup(self) {
        if let Ok(sandboxes) = self.runtime.list_sandboxes().await {
            for sandbox in sandboxes {
                let _ = self.runtime.remove_sandbox(&sandbox.id).await;
            }
        }
        if let Ok(containers) = self.runtime.list_containers(&Default::default()).await {
            for container in containers {
                let _ = self.runtime.remove_container(&container.id).await;
            }
        }
        self.runtime.close().await;
        // Drop does the rest.
    }
}

impl Drop for TestEnvironment {
    fn drop(&mut self) {
        cleanup(&self.dir, &self.config);
    }
}

/// Kills everything the environment started and removes its mounts, cgroups and files.
fn cleanup(dir: &Path, config: &RuntimeConfig) {
    let kill = |pid: i32| {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    };
    // Container processes, by cgroup.
    for _ in 0..3 {
        for pid in cgroup_pids(&config.cgroup_parent) {
            kill(pid);
        }
    }
    // PID namespace holders.
    if let Ok(sandboxes) = crate::sandbox::list(&config.run_dir) {
        for sandbox in sandboxes {
            crate::sandbox::destroy(&sandbox);
        }
    }
    // Shims and containerd, by their command lines.
    let socket = match &config.endpoint {
        Endpoint::Managed(daemon) => daemon.socket.to_string_lossy().into_owned(),
        Endpoint::Socket(path) => path.to_string_lossy().into_owned(),
    };
    let dir_text = dir.to_string_lossy().into_owned();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&socket) || (cmdline.contains("containerd") && cmdline.contains(&dir_text)) {
                kill(pid);
            }
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let _ = crate::mounts::unmount_all_under(dir);
    crate::cgroups::remove(&config.cgroup_parent);
    let _ = std::fs::remove_dir_all(dir);
}

/// Every process in a cgroup tree (all hierarchies).
fn cgroup_pids(cgroup: &str) -> Vec<i32> {
    let relative = cgroup.trim_start_matches('/');
    let roots: Vec<PathBuf> = if crate::cgroups::is_v2() {
        vec![Path::new("/sys/fs/cgroup").join(relative)]
    } else {
        std::fs::read_dir("/sys/fs/cgroup")
            .map(|entries| entries.flatten().map(|e| e.path().join(relative)).collect())
            .unwrap_or_default()
    };
    let mut pids = Vec::new();
    let mut stack = roots;
    while let Some(dir) = stack.pop() {
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
        }
    }
    pids
}
