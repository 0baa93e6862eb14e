//! Exec and attach sessions ("remote command"), over WebSocket channels or SPDY streams.
//!
//! Both transports do the same: connect the client's streams to the backend's process
//! through pipes, run the process, deliver all of its output, then report how it ended on
//! the error channel (a JSON `Status` from protocol v4 on) and close. A client that goes
//! away cancels the process (the backend's future is dropped).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::debug;

use super::backend::{BackendError, ContainerRef, ProcessIo, StreamingBackend};
use super::pipes::{ResizeDecoder, SessionEnds, close_stdin, feed_stdin, process_pipes, pump_output};
use super::request::StreamFlags;
use super::spdy::{Role, SpdyConnection, SpdyStream, StreamSender, rst};
use super::status;
use super::websocket::channel::{self, ChannelProtocol};

/// How long output may keep flowing after the process ended (a backend that leaked a sink
/// must not hold the session open forever).
const OUTPUT_DRAIN: Duration = Duration::from_secs(10);
/// How long a SPDY client has to open all the streams it announced (upstream: 30 s).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What runs in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Exec(Vec<String>),
    Attach,
}

/// The SPDY remote-command protocol versions, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpdyVersion {
    V4,
    V3,
    V2,
    V1,
}

impl SpdyVersion {
    pub const ALL: [SpdyVersion; 4] = [SpdyVersion::V4, SpdyVersion::V3, SpdyVersion::V2, SpdyVersion::V1];

    pub fn name(self) -> &'static str {
        match self {
            SpdyVersion::V4 => "v4.channel.k8s.io",
            SpdyVersion::V3 => "v3.channel.k8s.io",
            SpdyVersion::V2 => "v2.channel.k8s.io",
            SpdyVersion::V1 => "channel.k8s.io",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    fn has_resize(self) -> bool {
        matches!(self, SpdyVersion::V4 | SpdyVersion::V3)
    }
}

async fn run<B: StreamingBackend>(
    backend: &B,
    container: &ContainerRef,
    operation: &Operation,
    io: ProcessIo,
) -> Result<i32, BackendError> {
    match operation {
        Operation::Exec(command) => backend.exec(container, command.clone(), io).await,
        Operation::Attach => backend.attach(container, io).await.map(|()| 0),
    }
}

/// Runs the process until it ends, or returns `None` when `gone` fires first.
async fn run_unless_gone<B: StreamingBackend>(
    backend: &B,
    container: &ContainerRef,
    operation: &Operation,
    io: ProcessIo,
    gone: impl std::future::Future<Output = ()>,
) -> Option<Result<i32, BackendError>> {
    tokio::select! {
        result = run(backend, container, operation, io) => Some(result),
        () = gone => None,
    }
}

async fn drain(pumps: Vec<tokio::task::JoinHandle<()>>) {
    let all = futures::future::join_all(pumps);
    if tokio::time::timeout(OUTPUT_DRAIN, all).await.is_err() {
        debug!("process output still open after the process ended; closing the session");
    }
}

/// Serves an exec/attach session over a WebSocket with the negotiated channel protocol.
pub async fn serve_websocket<B, S>(
    backend: Arc<B>,
    container: ContainerRef,
    operation: Operation,
    flags: StreamFlags,
    protocol: ChannelProtocol,
    ws: WebSocketStream<S>,
) where
    B: StreamingBackend,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut ws_out, mut ws_in) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(32);
    let writer = tokio::spawn(async move {
        while let Some(message) = out_rx.recv().await {
            if ws_out.send(message).await.is_err() {
                // Keep draining so that senders never block on a dead client.
                while out_rx.recv().await.is_some() {}
                return;
            }
        }
        // Clients treat anything but a normal closure (1000) as an error of the session.
        let normal = CloseFrame { code: CloseCode::Normal, reason: "".into() };
        let _ = ws_out.send(Message::Close(Some(normal))).await;
        let _ = ws_out.close().await;
    });

    let (io, ends) = process_pipes(flags);
    let SessionEnds { mut stdin, stdout, stderr, resize } = ends;

    // Upstream tells the client the session is up with an empty message on the lowest
    // output channel.
    let first = if flags.stdout {
        channel::STDOUT
    } else if flags.stderr {
        channel::STDERR
    } else {
        channel::ERROR
    };
    let _ = out_tx.send(protocol.encode(first, &[])).await;

    let (gone_tx, gone_rx) = oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut resize_decoder = ResizeDecoder::default();
        while let Some(message) = ws_in.next().await {
            let message = match message {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(m) => m,
            };
            let (ch, data) = match protocol.decode(&message) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => continue,
                Err(e) => {
                    debug!(error = %e, "ignoring a malformed channel message");
                    continue;
                }
            };
            match ch {
                channel::STDIN => feed_stdin(&mut stdin, &data).await,
                channel::RESIZE => {
                    if let Some(tx) = &resize {
                        for size in resize_decoder.push(&data) {
                            let _ = tx.try_send(size);
                        }
                    }
                }
                channel::CLOSE if data.first() == Some(&channel::STDIN) => close_stdin(&mut stdin).await,
                _ => {}
            }
        }
        close_stdin(&mut stdin).await;
        let _ = gone_tx.send(());
    });

    let mut pumps = Vec::new();
    for (pipe, ch) in [(stdout, channel::STDOUT), (stderr, channel::STDERR)] {
        if let Some(pipe) = pipe {
            let tx = out_tx.clone();
            pumps.push(tokio::spawn(pump_output(pipe, move |data: Bytes| {
                let tx = tx.clone();
                async move { tx.send(protocol.encode(ch, &data)).await.is_ok() }
            })));
        }
    }

    let gone = async {
        let _ = gone_rx.await;
    };
    let Some(result) = run_unless_gone(&*backend, &container, &operation, io, gone).await else {
        debug!(%container, "client left; session cancelled");
        reader.abort();
        writer.abort();
        return;
    };
    drain(pumps).await;
    let final_status = status::for_exit(&result);
    if let Some(payload) = status_payload(&final_status, protocol.status_is_json()) {
        let _ = out_tx.send(protocol.encode(channel::ERROR, &payload)).await;
    }
    drop(out_tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    reader.abort();
}

/// The bytes for the error channel: JSON, or (old protocols) error text on failure only.
fn status_payload(status: &Value, json: bool) -> Option<Vec<u8>> {
    if json {
        Some(serde_json::to_vec(status).unwrap_or_default())
    } else {
        status::legacy_error_text(status).map(String::into_bytes)
    }
}

/// The streams a SPDY client opens for a session.
#[derive(Default)]
struct SpdyStreams {
    error: Option<SpdyStream>,
    stdin: Option<SpdyStream>,
    stdout: Option<SpdyStream>,
    stderr: Option<SpdyStream>,
    resize: Option<SpdyStream>,
}

impl SpdyStreams {
    fn count(&self) -> usize {
        [&self.error, &self.stdin, &self.stdout, &self.stderr, &self.resize].iter().filter(|s| s.is_some()).count()
    }
}

/// Waits for the streams announced by `flags`.
async fn collect_streams(
    incoming: &mut mpsc::Receiver<SpdyStream>,
    flags: StreamFlags,
    version: SpdyVersion,
) -> Result<SpdyStreams, (SpdyStreams, String)> {
    let expected = 1
        + usize::from(flags.stdin)
        + usize::from(flags.stdout)
        + usize::from(flags.stderr)
        + usize::from(flags.tty && version.has_resize());
    let mut streams = SpdyStreams::default();
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while streams.count() < expected {
        let stream = match tokio::time::timeout_at(deadline, incoming.recv()).await {
            Ok(Some(stream)) => stream,
            Ok(None) => return Err((streams, "connection closed before all streams were created".into())),
            Err(_) => return Err((streams, "timed out waiting for client to create streams".into())),
        };
        let slot = match stream.headers.get("streamtype").unwrap_or("") {
            "error" => &mut streams.error,
            "stdin" => &mut streams.stdin,
            "stdout" => &mut streams.stdout,
            "stderr" => &mut streams.stderr,
            "resize" => &mut streams.resize,
            other => {
                debug!(stream_type = other, "unexpected stream type; resetting it");
                stream.sender().reset(rst::PROTOCOL_ERROR).await;
                continue;
            }
        };
        if slot.is_some() {
            stream.sender().reset(rst::STREAM_IN_USE).await;
            continue;
        }
        *slot = Some(stream);
    }
    Ok(streams)
}

/// Serves an exec/attach session over an upgraded SPDY connection.
pub async fn serve_spdy<B, IO>(
    backend: Arc<B>,
    container: ContainerRef,
    operation: Operation,
    flags: StreamFlags,
    version: SpdyVersion,
    io: IO,
) where
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
    let streams = match collect_streams(&mut incoming, flags, version).await {
        Ok(s) => s,
        Err((partial, message)) => {
            debug!(%container, %message, "SPDY session did not start");
            if let Some(error) = partial.error {
                let sender = error.sender();
                let text = status::failure(http::StatusCode::BAD_REQUEST, &message);
                if let Some(payload) = status_payload(&text, version == SpdyVersion::V4) {
                    let _ = sender.send(payload.into()).await;
                }
                let _ = sender.finish().await;
            }
            conn.close().await;
            return;
        }
    };
    // The client has opened everything it will; later streams are refused.
    drop(incoming);

    let (io, ends) = process_pipes(flags);
    let SessionEnds { mut stdin, stdout, stderr, resize } = ends;
    let mut tasks = Vec::new();
    if let Some(stream) = streams.stdin {
        let (mut data, _sender) = stream.split();
        tasks.push(tokio::spawn(async move {
            while let Some(chunk) = data.recv().await {
                feed_stdin(&mut stdin, &chunk).await;
            }
            close_stdin(&mut stdin).await;
        }));
    }
    if let (Some(stream), Some(tx)) = (streams.resize, resize) {
        let (mut data, _sender) = stream.split();
        tasks.push(tokio::spawn(async move {
            let mut decoder = ResizeDecoder::default();
            while let Some(chunk) = data.recv().await {
                for size in decoder.push(&chunk) {
                    let _ = tx.try_send(size);
                }
            }
        }));
    }
    let mut pumps = Vec::new();
    for (pipe, stream) in [(stdout, streams.stdout), (stderr, streams.stderr)] {
        if let (Some(pipe), Some(stream)) = (pipe, stream) {
            let sender = stream.sender();
            pumps.push(tokio::spawn(pump_to_stream(pipe, sender)));
        }
    }

    let result = run_unless_gone(&*backend, &container, &operation, io, conn.closed()).await;
    for task in tasks {
        task.abort();
    }
    let Some(result) = result else {
        debug!(%container, "client left; session cancelled");
        conn.close().await;
        return;
    };
    drain(pumps).await;
    if let Some(error) = streams.error {
        let sender = error.sender();
        if let Some(payload) = status_payload(&status::for_exit(&result), version == SpdyVersion::V4) {
            let _ = sender.send(payload.into()).await;
        }
        let _ = sender.finish().await;
    }
    conn.close().await;
}

async fn pump_to_stream(pipe: tokio::io::DuplexStream, sender: StreamSender) {
    let out = sender.clone();
    pump_output(pipe, move |data| {
        let out = out.clone();
        async move { out.send(data).await.is_ok() }
    })
    .await;
    let _ = sender.finish().await;
}
