//! The kubelet's streaming endpoint: container logs, exec, attach and port-forward over
//! HTTPS, in the protocols kubectl speaks (through the API server's proxy).
//!
//! [`server::StreamingServer`] terminates TLS, admits only the API server's client identity,
//! parses the request ([`request`]) and runs the session in the negotiated protocol:
//! WebSocket channels ([`websocket`]) or SPDY ([`spdy`]) for exec and attach
//! ([`remotecommand`]), SPDY (raw or tunnelled in a WebSocket) for port-forward
//! ([`portforward`]), and a chunked text body for logs. What happens on the node is the
//! [`backend::StreamingBackend`]'s business.

pub mod backend;
pub mod request;
pub mod spdy;
pub mod status;
