//! The HTTPS listener of the streaming endpoint (the kubelet's port 10250).
//!
//! Every connection is TLS with a client certificate verified against the cluster's client
//! CA; each request is checked against the [`AccessPolicy`], parsed, and served: logs as a
//! chunked text body, exec/attach/port-forward by switching protocols and running the
//! session on its own task.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;
use tracing::{debug, info, warn};

use super::access::{AccessPolicy, ClientIdentity, Denial};
use super::backend::StreamingBackend;
use super::portforward;
use super::remotecommand::{self, Operation, SpdyVersion};
use super::request::{self, StreamFlags, StreamRequest};
use super::status;
use super::upgrade::{self, SPDY_TUNNEL_PROTOCOL, UpgradeRequest};
use super::websocket::channel::{self, ChannelProtocol};
use super::websocket::tunnel::WebSocketTunnel;

/// The kubelet's default streaming port.
pub const DEFAULT_PORT: u16 = 10250;

type Body = UnsyncBoxBody<Bytes, io::Error>;

/// How the endpoint is served.
#[derive(Clone)]
pub struct StreamingServerConfig {
    pub listen: SocketAddr,
    /// From [`tls_config`]: the kubelet's serving certificate, client certificates verified
    /// against the cluster's client CA.
    pub tls: Arc<rustls::ServerConfig>,
    pub access: AccessPolicy,
}

/// A TLS configuration for the endpoint: `cert_pem`/`key_pem` is the kubelet's serving
/// certificate (issued by the cluster's server CA for the node's addresses), client
/// certificates must chain to `client_ca_pem`. Only HTTP/1.1 is offered: every streaming
/// protocol is an HTTP/1.1 upgrade.
pub fn tls_config(
    cert_pem: &str,
    key_pem: &str,
    client_ca_pem: &str,
) -> Result<rustls::ServerConfig, k3rs_pki::PkiError> {
    let mut config = k3rs_pki::server_tls_config(cert_pem, key_pem, client_ca_pem)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A running endpoint; dropping it stops the listener and every session.
pub struct StreamingServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
}

struct Context<B> {
    backend: Arc<B>,
    access: AccessPolicy,
    shutdown: watch::Receiver<bool>,
}

impl StreamingServer {
    /// Binds `config.listen` and serves `backend`.
    pub async fn start<B: StreamingBackend>(
        config: StreamingServerConfig,
        backend: Arc<B>,
    ) -> io::Result<StreamingServer> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let ctx = Arc::new(Context { backend, access: config.access, shutdown: shutdown_rx });
        let acceptor = TlsAcceptor::from(config.tls);
        let task = tokio::spawn(accept_loop(listener, acceptor, ctx));
        info!(%local_addr, "kubelet streaming endpoint listening");
        Ok(StreamingServer { local_addr, task, shutdown })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Drop for StreamingServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}

async fn accept_loop<B: StreamingBackend>(listener: TcpListener, acceptor: TlsAcceptor, ctx: Arc<Context<B>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (tcp, remote) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ctx = ctx.clone();
        connections.spawn(async move {
            if let Err(e) = serve_connection(acceptor, tcp, ctx).await {
                debug!(%remote, error = %e, "streaming connection ended with an error");
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_connection<B: StreamingBackend>(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    ctx: Arc<Context<B>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let tls = acceptor.accept(tcp).await?;
    let identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|cert| k3rs_pki::peer_identity(cert.as_ref()))
        .map(|(user, groups)| ClientIdentity { user, groups });
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        let identity = identity.clone();
        async move { Ok::<_, Infallible>(handle(req, ctx, identity).await) }
    });
    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).with_upgrades().await?;
    Ok(())
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()).map_err(|never| match never {}).boxed_unsync())
        .unwrap_or_default()
}

/// A failed request: a JSON `Status`, which the API server relays to the client.
fn error(code: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::to_vec(&status::failure(code, message)).unwrap_or_default();
    full(code, "application/json", body)
}

fn empty_body() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
}

async fn handle<B: StreamingBackend>(
    req: Request<Incoming>,
    ctx: Arc<Context<B>>,
    identity: Option<ClientIdentity>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    match ctx.access.check(identity.as_ref(), req.method(), &path) {
        Ok(()) => {}
        Err(Denial::Unauthenticated) => return error(StatusCode::UNAUTHORIZED, "Unauthorized"),
        Err(Denial::Forbidden(message)) => return error(StatusCode::FORBIDDEN, &message),
    }
    let parsed = match request::parse(req.method(), &path, req.uri().query(), jiff::Timestamp::now()) {
        Ok(parsed) => parsed,
        Err(e) => return error(e.code, &e.message),
    };
    debug!(method = %req.method(), %path, "streaming request");
    match parsed {
        StreamRequest::Healthz => full(StatusCode::OK, "text/plain; charset=utf-8", "ok"),
        StreamRequest::Logs { container, options } => match ctx.backend.logs(&container, &options).await {
            Ok(stream) => {
                let body = StreamBody::new(stream.map(|chunk| chunk.map(Frame::data)));
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "text/plain")
                    .body(BodyExt::boxed_unsync(body))
                    .unwrap_or_default()
            }
            Err(e) => error(e.status_code(), &e.to_string()),
        },
        StreamRequest::Exec { container, command, flags } => {
            remote_command(req, ctx, container, Operation::Exec(command), flags)
        }
        StreamRequest::Attach { container, flags } => remote_command(req, ctx, container, Operation::Attach, flags),
        StreamRequest::PortForward { pod } => port_forward(req, ctx, pod),
    }
}

/// Runs `session` on the upgraded connection once the 101 answer has been sent.
fn after_upgrade<B, F, Fut>(mut req: Request<Incoming>, ctx: &Context<B>, session: F)
where
    F: FnOnce(TokioIo<hyper::upgrade::Upgraded>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut req);
    let mut shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                debug!(error = %e, "connection upgrade failed");
                return;
            }
        };
        tokio::select! {
            () = session(TokioIo::new(upgraded)) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    });
}

fn remote_command<B: StreamingBackend>(
    req: Request<Incoming>,
    ctx: Arc<Context<B>>,
    container: super::backend::ContainerRef,
    operation: Operation,
    flags: StreamFlags,
) -> Response<Body> {
    let backend = ctx.backend.clone();
    match upgrade::classify(req.headers()) {
        UpgradeRequest::WebSocket { key, protocols } => {
            if req.method() != Method::GET || key.is_empty() {
                return error(StatusCode::BAD_REQUEST, "a WebSocket upgrade is a GET with a Sec-WebSocket-Key");
            }
            let Some(protocol) = channel::negotiate(&protocols) else {
                let supported: Vec<&str> = ChannelProtocol::ALL.iter().map(|p| p.name()).collect();
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "unable to negotiate a protocol: client offered {protocols:?}, server supports {supported:?}"
                    ),
                );
            };
            let echo = (!protocols.is_empty()).then(|| protocol.name());
            after_upgrade(req, &ctx, move |io| async move {
                let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, None).await;
                remotecommand::serve_websocket(backend, container, operation, flags, protocol, ws).await;
            });
            upgrade::websocket_accept(&key, echo).map(|()| empty_body())
        }
        UpgradeRequest::Spdy { protocols } => {
            let supported: Vec<&'static str> = SpdyVersion::ALL.iter().map(|v| v.name()).collect();
            let Some(version) = upgrade::negotiate_spdy(&protocols, &supported).and_then(SpdyVersion::from_name) else {
                return spdy_refusal(&protocols, &supported);
            };
            after_upgrade(req, &ctx, move |io| async move {
                remotecommand::serve_spdy(backend, container, operation, flags, version, io).await;
            });
            upgrade::spdy_accept(version.name()).map(|()| empty_body())
        }
        UpgradeRequest::None => error(StatusCode::BAD_REQUEST, "Upgrade request required"),
    }
}

fn spdy_refusal(offered: &[String], supported: &[&str]) -> Response<Body> {
    if offered.is_empty() {
        return error(StatusCode::BAD_REQUEST, "unable to upgrade: X-Stream-Protocol-Version is required");
    }
    let mut resp = error(
        StatusCode::FORBIDDEN,
        &format!(
            "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
        ),
    );
    if let Ok(v) = http::HeaderValue::from_str(&supported.join(", ")) {
        resp.headers_mut().insert("x-accepted-stream-protocol-versions", v);
    }
    resp
}

fn port_forward<B: StreamingBackend>(
    req: Request<Incoming>,
    ctx: Arc<Context<B>>,
    pod: super::backend::PodRef,
) -> Response<Body> {
    let backend = ctx.backend.clone();
    match upgrade::classify(req.headers()) {
        UpgradeRequest::WebSocket { key, protocols } => {
            if req.method() != Method::GET || key.is_empty() {
                return error(StatusCode::BAD_REQUEST, "a WebSocket upgrade is a GET with a Sec-WebSocket-Key");
            }
            if !protocols.iter().any(|p| p == SPDY_TUNNEL_PROTOCOL) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "port-forward over WebSocket needs the {SPDY_TUNNEL_PROTOCOL} subprotocol, got {protocols:?}"
                    ),
                );
            }
            after_upgrade(req, &ctx, move |io| async move {
                let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, None).await;
                portforward::serve(backend, pod, WebSocketTunnel::new(ws)).await;
            });
            upgrade::websocket_accept(&key, Some(SPDY_TUNNEL_PROTOCOL)).map(|()| empty_body())
        }
        UpgradeRequest::Spdy { protocols } => {
            let supported = [portforward::PROTOCOL];
            if upgrade::negotiate_spdy(&protocols, &supported).is_none() {
                return spdy_refusal(&protocols, &supported);
            }
            after_upgrade(req, &ctx, move |io| async move {
                portforward::serve(backend, pod, io).await;
            });
            upgrade::spdy_accept(portforward::PROTOCOL).map(|()| empty_body())
        }
        UpgradeRequest::None => error(StatusCode::BAD_REQUEST, "Upgrade request required"),
    }
}
