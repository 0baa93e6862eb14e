//! Running extra processes in a running container (`kubectl exec`, exec probes, hooks):
//! the process spec is the container's own with another command, its stdio are FIFOs the
//! caller reads and writes as async pipes, and with a terminal it can be resized.

use std::path::PathBuf;
use std::time::Duration;

use containerd_client::services::v1::{
    CloseIoRequest, DeleteProcessRequest, ExecProcessRequest, KillRequest, ResizePtyRequest, StartRequest, WaitRequest,
};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::config::ExecConfig;
use crate::error::{Result, RuntimeError, StatusExt, is_not_found};
use crate::io::fifo;
use crate::runtime::{Runtime, blocking};

/// The type URL containerd expects for a JSON process spec.
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// A started exec: its streams and its handle.
pub struct ExecSession {
    /// The process's stdin, when asked for; dropping it closes the process's stdin.
    pub stdin: Option<pipe::Sender>,
    /// stdout (with a terminal: all output).
    pub stdout: pipe::Receiver,
    /// stderr (none with a terminal).
    pub stderr: Option<pipe::Receiver>,
    pub handle: ExecHandle,
}

/// Controls a started exec.
#[derive(Clone)]
pub struct ExecHandle {
    runtime: Runtime,
    container_id: String,
    exec_id: String,
    dir: PathBuf,
}

/// The collected result of [`Runtime::exec_sync`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecHandle {
    /// The exec's id within its container.
    pub fn id(&self) -> &str {
        &self.exec_id
    }

    /// Waits for the process to exit, then releases it; returns its exit code.
    pub async fn wait(&self) -> Result<i32> {
        let containerd = self.runtime.containerd();
        let request = WaitRequest { container_id: self.container_id.clone(), exec_id: self.exec_id.clone() };
        let code = containerd.tasks().wait(containerd.request(request)).await.op("wait exec")?.into_inner().exit_status;
        self.release().await;
        Ok(code as i32)
    }

    /// Resizes the exec's terminal.
    pub async fn resize(&self, width: u16, height: u16) -> Result<()> {
        let containerd = self.runtime.containerd();
        let request = ResizePtyRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
            width: width.into(),
            height: height.into(),
        };
        containerd.tasks().resize_pty(containerd.request(request)).await.op("resize exec terminal")?;
        Ok(())
    }

    /// Closes the process's stdin (as dropping the stdin pipe does).
    pub async fn close_stdin(&self) -> Result<()> {
        let containerd = self.runtime.containerd();
        let request =
            CloseIoRequest { container_id: self.container_id.clone(), exec_id: self.exec_id.clone(), stdin: true };
        containerd.tasks().close_io(containerd.request(request)).await.op("close exec stdin")?;
        Ok(())
    }

    /// Sends a signal to the process.
    pub async fn kill(&self, signal: i32) -> Result<()> {
        let containerd = self.runtime.containerd();
        let request = KillRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
            signal: signal as u32,
            all: false,
        };
        match containerd.tasks().kill(containerd.request(request)).await {
            Ok(_) => Ok(()),
            Err(status) if is_not_found(&status) || status.message().contains("process already finished") => Ok(()),
            Err(status) => Err(RuntimeError::Containerd { op: "kill exec", status }),
        }
    }

    async fn release(&self) {
        let containerd = self.runtime.containerd();
        let request = DeleteProcessRequest { container_id: self.container_id.clone(), exec_id: self.exec_id.clone() };
        if let Err(status) = containerd.tasks().delete_process(containerd.request(request)).await
            && !is_not_found(&status)
        {
            tracing::debug!(exec = %self.exec_id, %status, "deleting exec process failed");
        }
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }
}

impl Runtime {
    /// Starts a process in a running container.
    pub async fn exec(&self, container_id: &str, exec: ExecConfig) -> Result<ExecSession> {
        if exec.command.is_empty() {
            return Err(RuntimeError::InvalidConfig("exec needs a command".into()));
        }
        let container = self.get_container(container_id).await?;
        let spec_json = container.spec.map(|s| s.value).unwrap_or_default();
        let spec: oci_spec::runtime::Spec = serde_json::from_slice(&spec_json).map_err(|e| {
            RuntimeError::InvalidState { id: container_id.to_string(), reason: format!("unreadable spec: {e}") }
        })?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(exec.command.clone()));
        process.set_terminal(Some(exec.tty));
        if !exec.env.is_empty() {
            let mut env = process.env().clone().unwrap_or_default();
            env.extend(exec.env.iter().map(|(k, v)| format!("{k}={v}")));
            process.set_env(Some(env));
        }
        let process_json = serde_json::to_vec(&process)
            .map_err(|e| RuntimeError::InvalidConfig(format!("encoding exec spec: {e}")))?;

        let exec_id = format!("exec-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let dir = self.run_dir().join("containers").join(container_id).join(&exec_id);
        let (tty, want_stdin) = (exec.tty, exec.stdin);
        let files = {
            let dir = dir.clone();
            blocking(move || {
                std::fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create directory", &dir, e))?;
                let open = |name: &str, read_write: bool| -> Result<std::fs::File> {
                    let path = dir.join(name);
                    fifo::mkfifo(&path).map_err(|e| RuntimeError::io("mkfifo", &path, e))?;
                    let file = if read_write { fifo::open_read_write(&path) } else { fifo::open_reader(&path) };
                    file.map_err(|e| RuntimeError::io("open", &path, e))
                };
                let stdin = if want_stdin { Some(open("stdin", true)?) } else { None };
                let stdout = open("stdout", false)?;
                let stderr = if tty { None } else { Some(open("stderr", false)?) };
                Ok((stdin, stdout, stderr))
            })
            .await?
        };
        let path =
            |name: &str, on: bool| if on { dir.join(name).to_string_lossy().into_owned() } else { String::new() };
        let handle = ExecHandle {
            runtime: self.clone(),
            container_id: container_id.to_string(),
            exec_id: exec_id.clone(),
            dir: dir.clone(),
        };
        let containerd = self.containerd();
        let request = ExecProcessRequest {
            container_id: container_id.to_string(),
            stdin: path("stdin", want_stdin),
            stdout: path("stdout", true),
            stderr: path("stderr", !tty),
            terminal: tty,
            spec: Some(prost_types::Any { type_url: PROCESS_TYPE_URL.to_string(), value: process_json }),
            exec_id: exec_id.clone(),
        };
        if let Err(status) = containerd.tasks().exec(containerd.request(request)).await {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(if is_not_found(&status) {
                RuntimeError::InvalidState { id: container_id.to_string(), reason: "is not running".into() }
            } else {
                RuntimeError::Containerd { op: "exec", status }
            });
        }
        let (stdin, stdout, stderr) = files;
        let io_error = |e: std::io::Error| RuntimeError::io("open exec pipe", &dir, e);
        let session = ExecSession {
            stdin: stdin.map(pipe::Sender::from_file).transpose().map_err(io_error)?,
            stdout: pipe::Receiver::from_file(stdout).map_err(io_error)?,
            stderr: stderr.map(pipe::Receiver::from_file).transpose().map_err(io_error)?,
            handle,
        };
        let start = StartRequest { container_id: container_id.to_string(), exec_id };
        if let Err(status) = containerd.tasks().start(containerd.request(start)).await {
            session.handle.release().await;
            return Err(RuntimeError::Containerd { op: "start exec", status });
        }
        Ok(session)
    }

    /// Runs a command to completion and collects its output (exec probes, hooks). After
    /// `timeout` the process is killed and [`RuntimeError::Timeout`] returned.
    pub async fn exec_sync(&self, container_id: &str, command: Vec<String>, timeout: Duration) -> Result<ExecOutput> {
        let session = self.exec(container_id, ExecConfig { command, ..Default::default() }).await?;
        let ExecSession { stdout, stderr, handle, .. } = session;
        let run = async {
            let read = |mut pipe: pipe::Receiver| async move {
                let mut data = Vec::new();
                let _ = pipe.read_to_end(&mut data).await;
                data
            };
            let stderr_read = async {
                match stderr {
                    Some(pipe) => read(pipe).await,
                    None => Vec::new(),
                }
            };
            let (stdout, stderr, code) = tokio::join!(read(stdout), stderr_read, handle.wait());
            Ok(ExecOutput { exit_code: code?, stdout, stderr })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(result) => result,
            Err(_) => {
                let _ = handle.kill(libc::SIGKILL).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), handle.wait()).await;
                Err(RuntimeError::Timeout(format!("exec in container {container_id}")))
            }
        }
    }
}
