//! The kubelet's streaming endpoint: container logs, exec, attach and port-forward over
//! HTTPS, in the protocols kubectl speaks (through the API server's proxy).
//!
//! [`server::StreamingServer`] terminates TLS, admits only the API server's client identity
//! ([`access`]), parses the request ([`request`]) and runs the session in the negotiated
//! protocol ([`upgrade`]): WebSocket channels ([`websocket`]) or SPDY ([`spdy`]) for exec
//! and attach ([`remotecommand`]), SPDY (raw or tunnelled in a WebSocket) for port-forward
//! ([`portforward`]), and a chunked text body for logs. What happens on the node is the
//! [`backend::StreamingBackend`]'s business; [`log_file`] reads CRI-format container logs
//! with the options of `kubectl logs`. [`runtime_backend::RuntimeBackend`] is the backend
//! the agent serves: the pod manager's pods ([`lookup`]) on the container runtime.

pub mod access;
pub mod backend;
pub mod log_file;
pub mod lookup;
mod pipes;
pub mod portforward;
pub mod remotecommand;
pub mod request;
pub mod runtime_backend;
pub mod server;
pub mod spdy;
pub mod status;
pub mod upgrade;
pub mod websocket;

pub use access::{APISERVER_USER, AccessPolicy, ClientIdentity};
pub use backend::{
    BackendError, ContainerRef, InputStream, LogOptions, LogStream, OutputSink, PodRef, PortStream, ProcessIo,
    StreamingBackend, TerminalSize,
};
pub use runtime_backend::RuntimeBackend;
pub use server::{DEFAULT_PORT, StreamingServer, StreamingServerConfig, tls_config};
