//! What the streaming server needs from the node: the [`StreamingBackend`] trait.
//!
//! The server speaks the wire protocols (HTTP, WebSocket channels, SPDY); the backend does
//! the work on the node: read a container's log, run a process in a container, attach to
//! its main process, open a TCP connection into a pod's network. The kubelet implements it
//! over its container runtime; tests implement it in-process.

use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// A pod as the streaming paths name it: `<namespace>/<name>[/<uid>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    /// Present when the caller pinned the pod's UID in the path (a pod recreated under the
    /// same name must not be reached by a stale request).
    pub uid: Option<String>,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub pod: PodRef,
    pub container: String,
}

impl std::fmt::Display for ContainerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "container {:?} in pod \"{}/{}\"", self.container, self.pod.namespace, self.pod.name)
    }
}

/// What `containerLogs` asks for (upstream's `PodLogOptions` after parsing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new lines until the container stops or the client leaves.
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this instant (`sinceSeconds` is turned into this).
    pub since: Option<jiff::Timestamp>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// The log of the previous instance of the container (after a restart).
    pub previous: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<u64>,
}

/// A stream of log bytes, already filtered by the [`LogOptions`].
pub type LogStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The data a client sends to a process: EOF when the client closes its stdin.
pub type InputStream = Pin<Box<dyn AsyncRead + Send>>;

/// Where a process's output goes; dropping or shutting it down ends that output stream.
pub type OutputSink = Pin<Box<dyn AsyncWrite + Send>>;

/// A terminal size sent by the client (on start and on every window change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The client's side of an exec or attach session, as the backend sees it.
///
/// Each stream is present only if the client asked for it. With `tty`, stdout carries the
/// terminal's output and there is no stderr; `resize` delivers terminal size changes.
pub struct ProcessIo {
    pub stdin: Option<InputStream>,
    pub stdout: Option<OutputSink>,
    pub stderr: Option<OutputSink>,
    pub tty: bool,
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
}

/// A bidirectional byte stream into a pod (one forwarded connection).
pub trait PortStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortStream for T {}

/// Why the backend could not do what was asked; the variant picks the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The pod or container does not exist here (404).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served in the pod's current state, e.g. a container that has
    /// not started (400).
    #[error("{0}")]
    BadRequest(String),
    /// The node does not support this (501).
    #[error("{0}")]
    Unsupported(String),
    /// Anything else that went wrong on the node (500).
    #[error("{0}")]
    Internal(String),
}

impl BackendError {
    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> http::StatusCode {
        match self {
            BackendError::NotFound(_) => http::StatusCode::NOT_FOUND,
            BackendError::BadRequest(_) => http::StatusCode::BAD_REQUEST,
            BackendError::Unsupported(_) => http::StatusCode::NOT_IMPLEMENTED,
            BackendError::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The node-side operations behind the kubelet's streaming endpoint.
///
/// Every method may run for a long time (a followed log, an interactive shell); the server
/// drives each on its own task and drops the future when the client goes away.
pub trait StreamingBackend: Send + Sync + 'static {
    /// The log of a container, filtered by `options`. With `follow`, the stream stays open
    /// until the container stops.
    fn logs(
        &self,
        container: &ContainerRef,
        options: &LogOptions,
    ) -> impl Future<Output = Result<LogStream, BackendError>> + Send;

    /// Runs `command` in the container with the given streams and returns its exit code
    /// once it has exited and its output has been written to the sinks. Dropping the
    /// sinks (or returning) ends the client's output streams.
    fn exec(
        &self,
        container: &ContainerRef,
        command: Vec<String>,
        io: ProcessIo,
    ) -> impl Future<Output = Result<i32, BackendError>> + Send;

    /// Connects the streams to the container's main process until it exits or the client
    /// leaves (stdin EOF does not end an attach session by itself unless the process exits).
    fn attach(&self, container: &ContainerRef, io: ProcessIo) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Opens a TCP connection to `port` inside the pod's network namespace.
    fn port_forward(
        &self,
        pod: &PodRef,
        port: u16,
    ) -> impl Future<Output = Result<Box<dyn PortStream>, BackendError>> + Send;
}
