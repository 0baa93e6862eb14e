//! Runs and supervises a private containerd: writes its configuration, starts it, waits for
//! its socket, and starts it again whenever it dies (with a growing delay when it keeps
//! dying). Containers survive a containerd restart: their shims keep running and the
//! restarted daemon reconnects to them.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Containerd, DaemonConfig};
use crate::error::{Result, RuntimeError};

/// How long containerd may take to open its socket after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long containerd may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A containerd process started and watched by k3rs.
pub struct ContainerdDaemon {
    config: DaemonConfig,
    shutdown: watch::Sender<bool>,
    supervisor: Option<JoinHandle<()>>,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
}

impl ContainerdDaemon {
    /// Writes the configuration, starts containerd and returns once its socket answers.
    /// A containerd left running by an earlier agent with the same configuration is stopped first.
    pub async fn start(config: DaemonConfig) -> Result<ContainerdDaemon> {
        config.validate()?;
        for dir in [&config.dir, &config.root, &config.state] {
            tokio::fs::create_dir_all(dir).await.map_err(|e| RuntimeError::io("create directory", dir, e))?;
        }
        if let Some(parent) = config.socket.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| RuntimeError::io("create directory", parent, e))?;
        }
        let config_path = config.config_path();
        tokio::fs::write(&config_path, config.render())
            .await
            .map_err(|e| RuntimeError::io("write", &config_path, e))?;
        stop_stale_daemon(&config).await;

        let child = spawn(&config).await?;
        let pid = Arc::new(AtomicU32::new(child.id().unwrap_or(0)));
        let mut child = wait_until_serving(&config, child).await?;
        tracing::info!(pid = child.id(), socket = %config.socket.display(), "containerd is running");

        let (shutdown, mut shutdown_rx) = watch::channel(false);
        let restarts = Arc::new(AtomicU32::new(0));
        let supervisor = {
            let config = config.clone();
            let pid = pid.clone();
            let restarts = restarts.clone();
            tokio::spawn(async move {
                let mut backoff = Duration::from_secs(1);
                loop {
                    let started = tokio::time::Instant::now();
                    tokio::select! {
                        status = child.wait() => {
                            tracing::warn!(?status, log = %config.log_path().display(), "containerd exited; restarting it");
                        }
                        _ = shutdown_rx.changed() => {
                            terminate(&mut child).await;
                            remove_pid_file(&config).await;
                            return;
                        }
                    }
                    if started.elapsed() > Duration::from_secs(60) {
                        backoff = Duration::from_secs(1);
                    }
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown_rx.changed() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        match spawn(&config).await {
                            Ok(new_child) => {
                                pid.store(new_child.id().unwrap_or(0), Ordering::SeqCst);
                                restarts.fetch_add(1, Ordering::SeqCst);
                                child = new_child;
                                break;
                            }
                            Err(err) => tracing::error!(%err, "restarting containerd failed"),
                        }
                    }
                }
            })
        };
        Ok(ContainerdDaemon { config, shutdown, supervisor: Some(supervisor), pid, restarts })
    }

    /// The socket the daemon serves.
    pub fn socket(&self) -> &Path {
        &self.config.socket
    }

    /// The daemon's configuration.
    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }

    /// The process id of the current containerd process.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// How many times containerd was started again after it died.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 10 s). Running containers are left to
    /// their shims, as a containerd restart would.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

impl Drop for ContainerdDaemon {
    fn drop(&mut self) {
        // Without an orderly stop, aborting the supervisor drops the child, which is
        // spawned with kill_on_drop: containerd never outlives its supervisor.
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
        }
    }
}

async fn spawn(config: &DaemonConfig) -> Result<Child> {
    let log_path = config.log_path();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| RuntimeError::io("open", &log_path, e))?;
    let log_err = log.try_clone().map_err(|e| RuntimeError::io("open", &log_path, e))?;
    // A stale socket makes containerd fail with "address already in use".
    let _ = tokio::fs::remove_file(&config.socket).await;
    let child = Command::new(&config.binary)
        .arg("--config")
        .arg(config.config_path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C meant for the agent must not kill containerd
        // before the agent has stopped it in order.
        .process_group(0)
        .spawn()
        .map_err(|e| RuntimeError::Daemon(format!("starting {}: {e}", config.binary.display())))?;
    if let Some(pid) = child.id() {
        let pid_path = config.pid_path();
        tokio::fs::write(&pid_path, format!("{pid}\n")).await.map_err(|e| RuntimeError::io("write", &pid_path, e))?;
    }
    Ok(child)
}

async fn wait_until_serving(config: &DaemonConfig, mut child: Child) -> Result<Child> {
    let client = Containerd::connect_lazy(&config.socket, "k3rs")?;
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = tail_of(&config.log_path()).await;
            return Err(RuntimeError::Daemon(format!(
                "containerd exited at start ({status}); its log ends with:\n{log}"
            )));
        }
        if tokio::fs::metadata(&config.socket).await.is_ok() && client.version().await.is_ok() {
            return Ok(child);
        }
        if tokio::time::Instant::now() >= deadline {
            terminate(&mut child).await;
            let log = tail_of(&config.log_path()).await;
            return Err(RuntimeError::Daemon(format!(
                "containerd did not open {} within {START_TIMEOUT:?}; its log ends with:\n{log}",
                config.socket.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        signal(pid, libc::SIGTERM);
        if tokio::time::timeout(STOP_TIMEOUT, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(pid, "containerd did not stop after SIGTERM; killing it");
    }
    let _ = child.kill().await;
}

/// Stops a containerd that an earlier run of the agent started with this configuration
/// (the agent was killed before it could stop it), so that ours can take the socket.
async fn stop_stale_daemon(config: &DaemonConfig) {
    let Ok(text) = tokio::fs::read_to_string(config.pid_path()).await else { return };
    let Ok(pid) = text.trim().parse::<u32>() else { return };
    let cmdline = tokio::fs::read(format!("/proc/{pid}/cmdline")).await.unwrap_or_default();
    let config_path = config.config_path();
    let ours = cmdline.split(|b| *b == 0).any(|arg| Path::new(&*String::from_utf8_lossy(arg)) == config_path);
    if !ours {
        return;
    }
    tracing::info!(pid, "stopping the containerd left by an earlier run");
    signal(pid, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    while Path::new(&format!("/proc/{pid}")).exists() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if Path::new(&format!("/proc/{pid}")).exists() {
        signal(pid, libc::SIGKILL);
    }
}

async fn remove_pid_file(config: &DaemonConfig) {
    let _ = tokio::fs::remove_file(config.pid_path()).await;
}

fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

async fn tail_of(path: &PathBuf) -> String {
    let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
