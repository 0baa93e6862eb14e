//! The probe engine: what a probe checks (exec, httpGet, tcpSocket, grpc), how one
//! check runs with its timeout, and how results accumulate into a container's
//! started/ready/live state with upstream's timing and threshold semantics.

pub mod action;
mod grpc;
pub mod http;
mod tcp;
pub mod tracker;

use std::time::Duration;

use futures::future::BoxFuture;

pub use action::{Action, resolve_action};
pub use tracker::{ProbeTracker, State, Timing, Transition};

/// Which probe; also the prefix of upstream's event messages ("Liveness probe failed: ...").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A success with something worth an event (upstream: a redirect to another host).
    Warning(String),
    /// A failure and upstream's description of it.
    Failure(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        !matches!(self, Outcome::Failure(_))
    }
}

/// Runs a command in a container for exec probes: the exit code and combined output,
/// or an error message when the command could not run.
pub trait ExecProber: Send + Sync {
    fn exec(&self, command: Vec<String>, timeout: Duration) -> BoxFuture<'_, Result<(i32, String), ExecError>>;
}

/// Opens the TCP connections of httpGet, tcpSocket and grpc checks. The kubelet's dialer
/// ([`crate::netns::PodDialer`]) connects inside the pod's network namespace.
pub trait Dialer: Send + Sync {
    fn dial<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<tokio::net::TcpStream>>;
}

/// Connects from the kubelet's own network namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostDialer;

impl Dialer for HostDialer {
    fn dial<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, std::io::Result<tokio::net::TcpStream>> {
        Box::pin(tokio::net::TcpStream::connect((host, port)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecError {
    TimedOut,
    Failed(String),
}

/// Runs one check of `action` within `timeout`; network checks connect through `dialer`.
pub async fn check(action: &Action, timeout: Duration, exec: &dyn ExecProber, dialer: &dyn Dialer) -> Outcome {
    match action {
        Action::Exec { command } => match exec.exec(command.clone(), timeout).await {
            Ok((0, _)) => Outcome::Success,
            Ok((_, output)) => Outcome::Failure(output.trim_end().to_string()),
            Err(ExecError::TimedOut) => Outcome::Failure(format!("command {:?} timed out", command_text(command))),
            Err(ExecError::Failed(e)) => Outcome::Failure(e),
        },
        Action::HttpGet { scheme, host, port, path, headers } => {
            http::probe(scheme, host, *port, path, headers, timeout, dialer).await
        }
        Action::TcpSocket { host, port } => tcp::probe(host, *port, timeout, dialer).await,
        Action::Grpc { host, port, service } => grpc::probe(host, *port, service.as_deref(), timeout, dialer).await,
    }
}

fn command_text(command: &[String]) -> String {
    command.join(" ")
}

/// `host:port`, with brackets for IPv6 literals.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}
