//! The node's side of the streaming endpoint over the real container runtime: the
//! [`StreamingBackend`] the agent serves on the kubelet port.
//!
//! Pods and containers are found in the pod manager's [`PodDirectory`] ([`lookup`] has the
//! rules and messages). Logs are the runtime's per-run CRI log files, read by
//! [`log_file::read_log`] and, when followed, until the run's output is all written. Exec
//! runs a process in the container through the runtime; a session whose client goes away
//! kills its process. Attach joins the output the runtime's log pump broadcasts and the
//! container's stdin. Port-forward connects to `127.0.0.1:<port>` inside the pod's network
//! namespace (the node's for `hostNetwork` pods).

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use k3rs_runtime::logs::Stream;
use k3rs_runtime::{ContainerFilter, ContainerState, ExecConfig, ExecSession, Runtime, RuntimeError};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::backend::{
    BackendError, ContainerRef, InputStream, LogOptions, LogStream, OutputSink, PodRef, PortStream, ProcessIo,
    StreamingBackend, TerminalSize,
};
use super::log_file;
use super::lookup;
use crate::netns;
use crate::pod::{PodDirectory, PodEntry, PodNetwork};

/// Streams of the pods a [`crate::pod::PodManager`] runs on a [`Runtime`].
pub struct RuntimeBackend {
    runtime: Runtime,
    pods: PodDirectory,
}

impl RuntimeBackend {
    /// `pods` is the pod manager's directory ([`crate::pod::PodManagerHandle::directory`]).
    pub fn new(runtime: Runtime, pods: PodDirectory) -> RuntimeBackend {
        RuntimeBackend { runtime, pods }
    }

    /// The pod and the runtime id of the container's running process.
    async fn running_container(&self, c: &ContainerRef) -> Result<(Arc<PodEntry>, String), BackendError> {
        let entry = lookup::find_pod(&self.pods, &c.pod)?;
        lookup::check_container(&entry.pod, &c.container)?;
        let filter = ContainerFilter {
            pod_uid: Some(entry.uid().to_string()),
            name: Some(c.container.clone()),
            ..Default::default()
        };
        let runs = self.runtime.list_containers(&filter).await.map_err(internal)?;
        // Listed oldest first: the newest running run is the current one.
        match runs.into_iter().rev().find(|r| r.state == ContainerState::Running) {
            Some(run) => Ok((entry, run.id)),
            None => Err(lookup::not_running(&entry.pod, &c.container)),
        }
    }
}

fn internal(e: RuntimeError) -> BackendError {
    BackendError::Internal(e.to_string())
}

/// A task aborted when the session ends, however it ends.
struct Background(JoinHandle<()>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Copies the client's input into a process's stdin until either ends; when the client
/// closed its stdin, the pipe is closed and `then` runs.
fn feed_stdin<W>(mut from: InputStream, mut to: W, then: impl Future<Output = ()> + Send + 'static) -> Background
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    Background(tokio::spawn(async move {
        let copied = tokio::io::copy(&mut from, &mut to).await;
        let _ = to.shutdown().await;
        drop(to);
        if copied.is_ok() {
            then.await;
        }
    }))
}

/// Applies the client's terminal sizes with `apply` as they come.
fn follow_resizes<F, Fut>(resize: Option<mpsc::Receiver<TerminalSize>>, apply: F) -> Option<Background>
where
    F: Fn(TerminalSize) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), RuntimeError>> + Send,
{
    let mut resize = resize?;
    Some(Background(tokio::spawn(async move {
        while let Some(size) = resize.recv().await {
            if let Err(e) = apply(size).await {
                tracing::debug!(error = %e, "resizing a terminal failed");
            }
        }
    })))
}

/// Copies a process's output to the client's sink (or drops it when the client did not
/// ask for it), then ends the client's stream.
async fn pump_output(mut from: impl AsyncRead + Unpin, to: Option<OutputSink>) {
    match to {
        Some(mut sink) => {
            let _ = tokio::io::copy(&mut from, &mut sink).await;
            let _ = sink.shutdown().await;
        }
        None => {
            let _ = tokio::io::copy(&mut from, &mut tokio::io::sink()).await;
        }
    }
}

/// Kills an exec'd process whose session was abandoned (the client left before it exited),
/// so that nothing keeps running unseen.
struct KillOnDrop(Option<k3rs_runtime::container::ExecHandle>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let Some(handle) = self.0.take() else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(async move {
            let _ = handle.kill(libc::SIGKILL).await;
            let _ = handle.wait().await;
        });
    }
}

impl StreamingBackend for RuntimeBackend {
    async fn logs(&self, c: &ContainerRef, options: &LogOptions) -> Result<LogStream, BackendError> {
        let entry = lookup::find_pod(&self.pods, &c.pod)?;
        let id = lookup::log_container_id(&entry.pod, &c.container, options.previous)?;
        let gone_message = format!("the log of {c} (container {id}) is gone");
        let gone = || BackendError::NotFound(gone_message.clone());
        let status = match self.runtime.container_status(&id).await {
            Ok(status) => status,
            Err(e) if e.is_not_found() => return Err(gone()),
            Err(e) => return Err(internal(e)),
        };
        if status.log_path.as_os_str().is_empty() {
            return Err(gone());
        }
        let runtime = self.runtime.clone();
        let stop = async move { runtime.wait_output_logged(&id).await };
        log_file::read_log(status.log_path, options.clone(), stop).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => gone(),
            _ => BackendError::Internal(format!("reading the log of {c}: {e}")),
        })
    }

    async fn exec(&self, c: &ContainerRef, command: Vec<String>, io: ProcessIo) -> Result<i32, BackendError> {
        if command.is_empty() {
            return Err(BackendError::BadRequest("you must specify at least one command for the container".into()));
        }
        let (_, id) = self.running_container(c).await?;
        let ProcessIo { stdin, stdout, stderr, tty, resize } = io;
        let config = ExecConfig { command, tty, stdin: stdin.is_some(), env: Vec::new() };
        let ExecSession { stdin: process_stdin, stdout: process_stdout, stderr: process_stderr, handle } =
            self.runtime.exec(&id, config).await.map_err(|e| match e {
                RuntimeError::InvalidState { .. } => BackendError::BadRequest(format!("{c} is not running")),
                e => internal(e),
            })?;
        let mut abandoned = KillOnDrop(Some(handle.clone()));
        let _stdin = match (stdin, process_stdin) {
            (Some(from), Some(to)) => {
                let handle = handle.clone();
                Some(feed_stdin(from, to, async move {
                    let _ = handle.close_stdin().await;
                }))
            }
            _ => None,
        };
        let resizer = handle.clone();
        let _resize = follow_resizes(resize, move |size| {
            let handle = resizer.clone();
            async move { handle.resize(size.width, size.height).await }
        });
        let errors = async {
            match process_stderr {
                Some(from) => pump_output(from, stderr).await,
                None => drop(stderr),
            }
        };
        // The exit code counts once every byte of output reached the client, as upstream.
        let (code, (), ()) = tokio::join!(handle.wait(), pump_output(process_stdout, stdout), errors);
        abandoned.0 = None;
        code.map_err(internal)
    }

    async fn attach(&self, c: &ContainerRef, io: ProcessIo) -> Result<(), BackendError> {
        let (_, id) = self.running_container(c).await?;
        let mut session = self.runtime.attach(&id).await.map_err(|e| match e {
            RuntimeError::InvalidState { .. } => BackendError::BadRequest(format!("{c} is not running")),
            e => internal(e),
        })?;
        let ProcessIo { stdin, mut stdout, mut stderr, resize, .. } = io;
        let _stdin = match (stdin, session.stdin.take()) {
            (Some(from), Some(to)) => Some(feed_stdin(from, to, async {})),
            _ => None,
        };
        let _resize = if session.tty {
            let (runtime, id) = (self.runtime.clone(), id.clone());
            follow_resizes(resize, move |size| {
                let (runtime, id) = (runtime.clone(), id.clone());
                async move { runtime.resize_container_tty(&id, size.width, size.height).await }
            })
        } else {
            None
        };
        while let Some(chunk) = session.next().await {
            let sink = match chunk.stream {
                Stream::Stderr if stderr.is_some() => stderr.as_mut(),
                Stream::Stderr if session.tty => stdout.as_mut(),
                Stream::Stderr => None,
                Stream::Stdout => stdout.as_mut(),
            };
            if let Some(sink) = sink
                && sink.write_all(&chunk.data).await.is_err()
            {
                // The client left.
                return Ok(());
            }
        }
        for sink in [stdout.as_mut(), stderr.as_mut()].into_iter().flatten() {
            let _ = sink.shutdown().await;
        }
        Ok(())
    }

    async fn port_forward(&self, pod: &PodRef, port: u16) -> Result<Box<dyn PortStream>, BackendError> {
        let entry = lookup::find_pod(&self.pods, pod)?;
        let netns = match &entry.network {
            PodNetwork::Pending => {
                return Err(BackendError::BadRequest(format!("pod {:?} is not running yet", pod.name)));
            }
            PodNetwork::Host => None,
            PodNetwork::Namespace(path) => Some(path.as_path()),
        };
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = netns::connect(netns, target).await.map_err(|e| {
            BackendError::Internal(format!(
                "error forwarding port {port} to pod {}, uid {}: {e}",
                pod.name,
                entry.uid()
            ))
        })?;
        let _ = stream.set_nodelay(true);
        Ok(Box::new(stream))
    }
}
