//! Port-forward over SPDY (`portforward.k8s.io`), raw or tunnelled in a WebSocket.
//!
//! For every local connection the client opens two streams with the same `requestid`
//! header: `streamtype: error` and `streamtype: data`, both with a `port` header. Once both
//! are there, the data stream is piped to a connection the backend opens to that port in
//! the pod; a failure is reported as text on the error stream, which is closed when the
//! forwarded connection ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use super::backend::{PodRef, StreamingBackend};
use super::pipes::CHUNK;
use super::spdy::{Role, SpdyConnection, SpdyStream, StreamSender, rst};

/// The only port-forward protocol.
pub const PROTOCOL: &str = "portforward.k8s.io";
/// How long the first stream of a pair waits for the second (upstream: 30 s).
const PAIR_TIMEOUT: Duration = Duration::from_secs(30);

/// The two streams of one forwarded connection.
struct Pair {
    port: u16,
    error: Option<SpdyStream>,
    data: Option<SpdyStream>,
    since: Instant,
}

/// Serves port-forward requests on an upgraded connection until the client closes it.
pub async fn serve<B, IO>(backend: Arc<B>, pod: PodRef, io: IO)
where
    B: StreamingBackend,
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (conn, mut incoming) = match SpdyConnection::start(io, Role::Server) {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, "starting a SPDY connection");
            return;
        }
    };
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut sweep = tokio::time::interval(Duration::from_secs(5));
    let mut forwards = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            stream = incoming.recv() => {
                let Some(stream) = stream else { break };
                if let Some(pair) = add_stream(&mut pairs, stream).await {
                    forwards.spawn(forward(backend.clone(), pod.clone(), pair));
                }
            }
            _ = sweep.tick() => expire(&mut pairs).await,
            Some(_) = forwards.join_next(), if !forwards.is_empty() => {}
        }
    }
    // GOAWAY or a closed connection: finish what is running, then hang up.
    tokio::select! {
        () = conn.closed() => {}
        () = async { while forwards.join_next().await.is_some() {} } => {}
    }
    forwards.abort_all();
    conn.close().await;
}

/// The request a stream belongs to. Clients before `requestid` existed opened the error
/// stream, then the data stream, so their IDs are two apart.
fn request_id(stream: &SpdyStream) -> Option<String> {
    if let Some(id) = stream.headers.get("requestid").filter(|id| !id.is_empty()) {
        return Some(id.to_string());
    }
    match stream.headers.get("streamtype") {
        Some("error") => Some(stream.id.to_string()),
        Some("data") => Some(stream.id.saturating_sub(2).to_string()),
        _ => None,
    }
}

async fn refuse(stream: SpdyStream, message: &str) {
    debug!(stream = stream.id, message, "refusing port-forward stream");
    let sender = stream.sender();
    if stream.headers.get("streamtype") == Some("error") {
        let _ = sender.send(message.to_string().into()).await;
        let _ = sender.finish().await;
    } else {
        sender.reset(rst::PROTOCOL_ERROR).await;
    }
}

/// Files a stream under its request; returns the pair once complete.
async fn add_stream(pairs: &mut HashMap<String, Pair>, stream: SpdyStream) -> Option<Pair> {
    let Some(id) = request_id(&stream) else {
        refuse(stream, "port-forward stream without a stream type").await;
        return None;
    };
    let port = match stream.headers.get("port").map(str::parse::<u16>) {
        Some(Ok(port)) if port > 0 => port,
        Some(_) => {
            let text = format!("invalid port header {:?}", stream.headers.get("port").unwrap_or(""));
            refuse(stream, &text).await;
            return None;
        }
        None => {
            refuse(stream, "port header is required").await;
            return None;
        }
    };
    let pair = pairs.entry(id.clone()).or_insert(Pair { port, error: None, data: None, since: Instant::now() });
    let slot = match stream.headers.get("streamtype") {
        Some("error") => &mut pair.error,
        Some("data") => &mut pair.data,
        other => {
            let text = format!("invalid stream type {:?}", other.unwrap_or(""));
            refuse(stream, &text).await;
            return None;
        }
    };
    if slot.is_some() {
        refuse(stream, &format!("a stream of this type already exists for request {id}")).await;
        return None;
    }
    *slot = Some(stream);
    if pair.error.is_some() && pair.data.is_some() { pairs.remove(&id) } else { None }
}

/// Drops pairs whose second stream never came.
async fn expire(pairs: &mut HashMap<String, Pair>) {
    let stale: Vec<String> =
        pairs.iter().filter(|(_, p)| p.since.elapsed() > PAIR_TIMEOUT).map(|(k, _)| k.clone()).collect();
    for id in stale {
        if let Some(pair) = pairs.remove(&id) {
            let message = format!("timed out waiting for the other stream of request {id}");
            for stream in [pair.error, pair.data].into_iter().flatten() {
                refuse(stream, &message).await;
            }
        }
    }
}

async fn forward<B: StreamingBackend>(backend: Arc<B>, pod: PodRef, pair: Pair) {
    let (Some(error), Some(data)) = (pair.error, pair.data) else { return };
    let error = error.sender();
    let port = pair.port;
    let target = match backend.port_forward(&pod, port).await {
        Ok(target) => target,
        Err(e) => {
            let message = format!(
                "error forwarding port {port} to pod {}/{}, uid {}: {e}",
                pod.namespace,
                pod.name,
                pod.uid.as_deref().unwrap_or("")
            );
            let _ = error.send(message.into()).await;
            let _ = error.finish().await;
            data.sender().reset(rst::CANCEL).await;
            return;
        }
    };
    let (from_client, to_client) = data.split();
    let (target_read, target_write) = tokio::io::split(target);
    tokio::join!(client_to_target(from_client, target_write), target_to_client(target_read, to_client));
    let _ = error.finish().await;
}

async fn client_to_target(mut from_client: mpsc::Receiver<bytes::Bytes>, mut target: impl AsyncWrite + Unpin) {
    while let Some(chunk) = from_client.recv().await {
        if target.write_all(&chunk).await.is_err() {
            return;
        }
    }
    // The client closed its side: pass the half-close on.
    let _ = target.shutdown().await;
}

async fn target_to_client(mut target: impl AsyncRead + Unpin, to_client: StreamSender) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match target.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_client.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = to_client.finish().await;
}
