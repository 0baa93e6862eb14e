//! A SPDY/3.1 connection: streams multiplexed over one byte stream, as Kubernetes clients
//! (moby/spdystream) use it for exec and port-forward.
//!
//! Two tasks own the connection: the reader parses frames, keeps the header decompression
//! context, delivers new streams and their data, and answers PINGs; the writer owns the
//! compression context and serializes every outgoing frame, so writes never interleave.
//! Stream handlers talk to the writer through [`StreamSender`]s.
//!
//! Flow control: the Go peer neither sends WINDOW_UPDATE frames nor honours them, so
//! windows are not enforced in either direction; TCP back-pressure (a bounded queue per
//! stream, then the socket) is what slows a fast sender down.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::debug;

use super::frame::{FLAG_FIN, Frame, MAX_PAYLOAD, rst};
use super::headers::{HeaderCompressor, HeaderDecompressor, Headers};

/// Data frames this side sends carry at most this many bytes.
const MAX_DATA_FRAME: usize = 32 * 1024;
/// Frames received per stream that may wait for the stream's reader.
const STREAM_QUEUE: usize = 64;
/// How long a connection being closed waits for the peer to hang up.
const LINGER: Duration = Duration::from_secs(2);

/// Which end of the connection this is (it decides stream ID and PING ID parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts streams opened by the client (odd IDs); the kubelet side.
    Server,
    /// Opens streams; used by tests and tools.
    Client,
}

impl Role {
    fn owns_id(self, id: u32) -> bool {
        match self {
            Role::Client => !id.is_multiple_of(2),
            Role::Server => id.is_multiple_of(2),
        }
    }
}

/// Frame-level commands for the writer task.
enum Command {
    SynStream {
        stream_id: u32,
        headers: Headers,
        fin: bool,
    },
    SynReply {
        stream_id: u32,
        headers: Headers,
    },
    Frame(Frame),
    /// Flush, then close the write side.
    Shutdown,
}

/// Per-stream state shared by the reader task and the stream's senders.
struct Entry {
    data: Option<mpsc::Sender<Bytes>>,
    reset: Arc<AtomicBool>,
    local_fin: bool,
    remote_fin: bool,
    reply: Option<oneshot::Sender<()>>,
}

type Streams = Arc<Mutex<HashMap<u32, Entry>>>;

fn lock(streams: &Streams) -> std::sync::MutexGuard<'_, HashMap<u32, Entry>> {
    streams.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sending half of one stream.
#[derive(Clone)]
pub struct StreamSender {
    id: u32,
    commands: mpsc::Sender<Command>,
    reset: Arc<AtomicBool>,
    streams: Streams,
}

impl StreamSender {
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether the peer reset the stream (or the connection ended).
    pub fn is_reset(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }

    fn closed() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "SPDY stream closed")
    }

    async fn command(&self, command: Command) -> io::Result<()> {
        if self.is_reset() {
            return Err(Self::closed());
        }
        self.commands.send(command).await.map_err(|_| Self::closed())
    }

    /// Sends bytes on the stream (split into frames as needed).
    pub async fn send(&self, data: Bytes) -> io::Result<()> {
        let mut data = data;
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_FRAME));
            self.command(Command::Frame(Frame::Data { stream_id: self.id, flags: 0, data: chunk })).await?;
        }
        Ok(())
    }

    /// Half-closes the stream: the peer reads EOF.
    pub async fn finish(&self) -> io::Result<()> {
        self.command(Command::Frame(Frame::Data { stream_id: self.id, flags: FLAG_FIN, data: Bytes::new() })).await?;
        let mut streams = lock(&self.streams);
        if let Some(entry) = streams.get_mut(&self.id) {
            entry.local_fin = true;
            if entry.remote_fin {
                streams.remove(&self.id);
            }
        }
        Ok(())
    }

    /// Aborts the stream in both directions.
    pub async fn reset(&self, status: u32) {
        if self.reset.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(&self.streams).remove(&self.id);
        let _ = self.commands.send(Command::Frame(Frame::RstStream { stream_id: self.id, status })).await;
    }
}

/// One stream: its headers, the data the peer sends, and a sender.
pub struct SpdyStream {
    pub id: u32,
    pub headers: Headers,
    data: mpsc::Receiver<Bytes>,
    sender: StreamSender,
}

impl SpdyStream {
    /// The next chunk from the peer; `None` once the peer finished or reset the stream.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.data.recv().await
    }

    pub fn sender(&self) -> StreamSender {
        self.sender.clone()
    }

    /// Separates the receiving side from the sender.
    pub fn split(self) -> (mpsc::Receiver<Bytes>, StreamSender) {
        (self.data, self.sender)
    }
}

/// A running connection. Dropping it does not stop the tasks; call [`Self::close`].
pub struct SpdyConnection {
    commands: mpsc::Sender<Command>,
    streams: Streams,
    next_id: AtomicU32,
    reader_done: watch::Receiver<bool>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl SpdyConnection {
    /// Starts the connection over `io`; streams the peer opens arrive on the returned
    /// receiver (each already answered with SYN_REPLY on the server side).
    pub fn start<IO>(io: IO, role: Role) -> Result<(SpdyConnection, mpsc::Receiver<SpdyStream>), io::Error>
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let compressor = HeaderCompressor::new().map_err(io::Error::other)?;
        let (read_half, write_half) = tokio::io::split(io);
        let (commands, command_rx) = mpsc::channel(256);
        let (incoming_tx, incoming_rx) = mpsc::channel(32);
        let (done_tx, reader_done) = watch::channel(false);
        let streams: Streams = Arc::new(Mutex::new(HashMap::new()));
        let writer = tokio::spawn(write_loop(write_half, compressor, command_rx));
        let reader = Reader { role, commands: commands.clone(), streams: streams.clone(), incoming: Some(incoming_tx) };
        let reader = tokio::spawn(async move {
            reader.run(read_half).await;
            let _ = done_tx.send(true);
        });
        let next_id = AtomicU32::new(if role == Role::Client { 1 } else { 2 });
        Ok((SpdyConnection { commands, streams, next_id, reader_done, reader, writer }, incoming_rx))
    }

    /// Opens a stream and waits for the peer's SYN_REPLY.
    pub async fn open_stream(&self, headers: Headers) -> io::Result<SpdyStream> {
        let stream_id = self.next_id.fetch_add(2, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        let (data_tx, data_rx) = mpsc::channel(STREAM_QUEUE);
        let reset = Arc::new(AtomicBool::new(false));
        lock(&self.streams).insert(
            stream_id,
            Entry {
                data: Some(data_tx),
                reset: reset.clone(),
                local_fin: false,
                remote_fin: false,
                reply: Some(reply_tx),
            },
        );
        self.commands
            .send(Command::SynStream { stream_id, headers: headers.clone(), fin: false })
            .await
            .map_err(|_| StreamSender::closed())?;
        reply_rx.await.map_err(|_| io::Error::new(io::ErrorKind::ConnectionReset, "stream refused by the peer"))?;
        let sender =
            StreamSender { id: stream_id, commands: self.commands.clone(), reset, streams: self.streams.clone() };
        Ok(SpdyStream { id: stream_id, headers, data: data_rx, sender })
    }

    /// Resolves once the peer closed the connection (or it failed).
    pub async fn closed(&self) {
        let mut done = self.reader_done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Says GOAWAY, flushes everything queued, closes the write side and waits briefly for
    /// the peer to hang up, so that the last frames are not lost to a reset connection.
    pub async fn close(self) {
        let _ = self.commands.send(Command::Frame(Frame::GoAway { last_good_stream_id: 0, status: 0 })).await;
        let _ = self.commands.send(Command::Shutdown).await;
        drop(self.commands);
        let _ = tokio::time::timeout(LINGER, self.writer).await;
        let mut done = self.reader_done.clone();
        let _ = tokio::time::timeout(LINGER, done.wait_for(|d| *d)).await;
        self.reader.abort();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut out: W,
    mut compressor: HeaderCompressor,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = commands.recv().await {
        let mut shutdown = false;
        let mut next = Some(first);
        // Batch what is already queued into one write.
        while let Some(command) = next.take() {
            match command {
                Command::Shutdown => shutdown = true,
                Command::Frame(frame) => frame.write(&mut buf),
                Command::SynStream { stream_id, headers, fin } => match compressor.compress(&headers) {
                    Ok(block) => Frame::SynStream {
                        stream_id,
                        associated_to: 0,
                        priority: 0,
                        flags: if fin { FLAG_FIN } else { 0 },
                        header_block: block.into(),
                    }
                    .write(&mut buf),
                    Err(e) => debug!(error = %e, "compressing SPDY headers"),
                },
                Command::SynReply { stream_id, headers } => match compressor.compress(&headers) {
                    Ok(block) => Frame::SynReply { stream_id, flags: 0, header_block: block.into() }.write(&mut buf),
                    Err(e) => debug!(error = %e, "compressing SPDY headers"),
                },
            }
            if shutdown || buf.len() > 256 * 1024 {
                break;
            }
            next = commands.try_recv().ok();
        }
        if !buf.is_empty() {
            if let Err(e) = out.write_all(&buf).await {
                debug!(error = %e, "writing SPDY frames");
                return;
            }
            buf.clear();
            if out.flush().await.is_err() {
                return;
            }
        }
        if shutdown {
            let _ = out.shutdown().await;
            return;
        }
    }
    let _ = out.shutdown().await;
}

struct Reader {
    role: Role,
    commands: mpsc::Sender<Command>,
    streams: Streams,
    /// New streams go here; `None` after GOAWAY.
    incoming: Option<mpsc::Sender<SpdyStream>>,
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(mut self, mut input: R) {
        let mut decompressor = HeaderDecompressor::default();
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut last_peer_stream = 0u32;
        'read: loop {
            loop {
                let frame = match Frame::parse(&mut buf, MAX_PAYLOAD) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        debug!(error = %e, "bad SPDY frame; closing the connection");
                        self.go_away(1).await;
                        break 'read;
                    }
                };
                if let Err(e) = self.handle(frame, &mut decompressor, &mut last_peer_stream).await {
                    debug!(error = %e, "SPDY protocol error; closing the connection");
                    self.go_away(1).await;
                    break 'read;
                }
            }
            match input.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        // The connection is gone: every stream reads EOF and refuses further writes.
        for (_, entry) in lock(&self.streams).drain() {
            entry.reset.store(true, Ordering::Release);
        }
    }

    async fn go_away(&self, status: u32) {
        let _ = self.commands.send(Command::Frame(Frame::GoAway { last_good_stream_id: 0, status })).await;
    }

    async fn handle(
        &mut self,
        frame: Frame,
        decompressor: &mut HeaderDecompressor,
        last_peer_stream: &mut u32,
    ) -> Result<(), String> {
        match frame {
            Frame::SynStream { stream_id, flags, header_block, .. } => {
                // Decompress first: the shared zlib context must see every block.
                let headers = decompressor.decompress(&header_block).map_err(|e| e.to_string())?;
                if self.role.owns_id(stream_id) || stream_id <= *last_peer_stream {
                    self.reset(stream_id, rst::PROTOCOL_ERROR).await;
                    return Ok(());
                }
                *last_peer_stream = stream_id;
                self.accept(stream_id, headers, flags & FLAG_FIN != 0).await;
            }
            Frame::SynReply { stream_id, header_block, flags } => {
                decompressor.decompress(&header_block).map_err(|e| e.to_string())?;
                let mut streams = lock(&self.streams);
                if let Some(entry) = streams.get_mut(&stream_id) {
                    if let Some(reply) = entry.reply.take() {
                        let _ = reply.send(());
                    }
                    if flags & FLAG_FIN != 0 {
                        remote_finished(&mut streams, stream_id);
                    }
                }
            }
            Frame::Headers { header_block, stream_id, flags } => {
                decompressor.decompress(&header_block).map_err(|e| e.to_string())?;
                if flags & FLAG_FIN != 0 {
                    remote_finished(&mut lock(&self.streams), stream_id);
                }
            }
            Frame::Data { stream_id, flags, data } => {
                let sender = lock(&self.streams).get(&stream_id).and_then(|e| e.data.clone());
                if let Some(sender) = sender
                    && !data.is_empty()
                {
                    // A reader that went away just means the data is not wanted.
                    let _ = sender.send(data).await;
                }
                if flags & FLAG_FIN != 0 {
                    remote_finished(&mut lock(&self.streams), stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                if let Some(entry) = lock(&self.streams).remove(&stream_id) {
                    entry.reset.store(true, Ordering::Release);
                }
            }
            Frame::Ping { id } => {
                // Echo the peer's pings; replies to our own need no action.
                if !self.role.owns_id(id) {
                    let _ = self.commands.send(Command::Frame(Frame::Ping { id })).await;
                }
            }
            Frame::GoAway { .. } => {
                // No new streams; the existing ones run to completion.
                self.incoming = None;
            }
            Frame::Settings { .. } | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
        }
        Ok(())
    }

    async fn accept(&mut self, stream_id: u32, headers: Headers, fin: bool) {
        let Some(incoming) = self.incoming.clone() else {
            self.reset(stream_id, rst::REFUSED_STREAM).await;
            return;
        };
        let (data_tx, data_rx) = mpsc::channel(STREAM_QUEUE);
        let reset = Arc::new(AtomicBool::new(false));
        lock(&self.streams).insert(
            stream_id,
            Entry {
                data: (!fin).then_some(data_tx),
                reset: reset.clone(),
                local_fin: false,
                remote_fin: fin,
                reply: None,
            },
        );
        // Kubernetes clients wait for the reply before using a stream.
        let _ = self.commands.send(Command::SynReply { stream_id, headers: Headers::new() }).await;
        let sender =
            StreamSender { id: stream_id, commands: self.commands.clone(), reset, streams: self.streams.clone() };
        let stream = SpdyStream { id: stream_id, headers, data: data_rx, sender };
        if incoming.send(stream).await.is_err() {
            self.reset(stream_id, rst::REFUSED_STREAM).await;
        }
    }

    async fn reset(&self, stream_id: u32, status: u32) {
        if let Some(entry) = lock(&self.streams).remove(&stream_id) {
            entry.reset.store(true, Ordering::Release);
        }
        let _ = self.commands.send(Command::Frame(Frame::RstStream { stream_id, status })).await;
    }
}

fn remote_finished(streams: &mut HashMap<u32, Entry>, stream_id: u32) {
    if let Some(entry) = streams.get_mut(&stream_id) {
        entry.data = None;
        entry.remote_fin = true;
        if entry.local_fin {
            streams.remove(&stream_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (SpdyConnection, mpsc::Receiver<SpdyStream>, SpdyConnection) {
        let (a, b) = tokio::io::duplex(1024 * 1024);
        let (server, incoming) = SpdyConnection::start(a, Role::Server).unwrap();
        let (client, _none) = SpdyConnection::start(b, Role::Client).unwrap();
        (server, incoming, client)
    }

    #[tokio::test]
    async fn streams_carry_headers_and_data_both_ways() {
        let (server, mut incoming, client) = pair().await;
        let echo = tokio::spawn(async move {
            while let Some(mut stream) = incoming.recv().await {
                tokio::spawn(async move {
                    let tx = stream.sender();
                    let tag = stream.headers.get("streamtype").unwrap_or("?").to_string();
                    while let Some(chunk) = stream.recv().await {
                        tx.send(Bytes::from(format!("{tag}:{}", String::from_utf8_lossy(&chunk)))).await.unwrap();
                    }
                    tx.finish().await.unwrap();
                });
            }
        });
        let mut a = client.open_stream(Headers::new().with("streamType", "data").with("requestID", "0")).await.unwrap();
        let mut b = client.open_stream(Headers::new().with("streamType", "error")).await.unwrap();
        assert_eq!((a.id, b.id), (1, 3));
        a.sender().send(Bytes::from_static(b"one")).await.unwrap();
        b.sender().send(Bytes::from_static(b"two")).await.unwrap();
        assert_eq!(a.recv().await.unwrap(), Bytes::from_static(b"data:one"));
        assert_eq!(b.recv().await.unwrap(), Bytes::from_static(b"error:two"));
        a.sender().finish().await.unwrap();
        assert_eq!(a.recv().await, None, "the server finished after our FIN");
        // Large payloads are split into frames and arrive complete.
        let big = Bytes::from(vec![7u8; 200_000]);
        b.sender().send(big).await.unwrap();
        b.sender().finish().await.unwrap();
        let mut total = 0;
        while let Some(chunk) = b.recv().await {
            total += chunk.iter().filter(|&&byte| byte == 7).count();
        }
        assert_eq!(total, 200_000);
        client.close().await;
        server.closed().await;
        echo.await.unwrap();
        server.close().await;
    }

    #[tokio::test]
    async fn pings_are_answered_and_resets_end_streams() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (_server, mut incoming) = SpdyConnection::start(a, Role::Server).unwrap();
        let (mut raw_read, mut raw_write) = tokio::io::split(b);
        let mut out = BytesMut::new();
        Frame::Ping { id: 1 }.write(&mut out);
        let mut tx = HeaderCompressor::new().unwrap();
        let block = tx.compress(&Headers::new().with("streamtype", "data")).unwrap();
        Frame::SynStream { stream_id: 1, associated_to: 0, priority: 0, flags: 0, header_block: block.into() }
            .write(&mut out);
        raw_write.write_all(&out).await.unwrap();

        let mut rx = HeaderDecompressor::default();
        let mut buf = BytesMut::new();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            raw_read.read_buf(&mut buf).await.unwrap();
            while let Some(frame) = Frame::parse(&mut buf, MAX_PAYLOAD).unwrap() {
                if let Frame::SynReply { header_block, .. } = &frame {
                    assert_eq!(rx.decompress(header_block).unwrap(), Headers::new());
                }
                seen.push(frame);
            }
        }
        assert_eq!(seen[0], Frame::Ping { id: 1 });
        assert!(matches!(seen[1], Frame::SynReply { stream_id: 1, .. }));

        let mut stream = incoming.recv().await.unwrap();
        let sender = stream.sender();
        out.clear();
        Frame::RstStream { stream_id: 1, status: rst::CANCEL }.write(&mut out);
        raw_write.write_all(&out).await.unwrap();
        assert_eq!(stream.recv().await, None);
        assert!(sender.is_reset());
        assert!(sender.send(Bytes::from_static(b"late")).await.is_err());
    }

    #[tokio::test]
    async fn streams_with_our_parity_are_refused() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let (_server, _incoming) = SpdyConnection::start(a, Role::Server).unwrap();
        let (mut raw_read, mut raw_write) = tokio::io::split(b);
        let mut tx = HeaderCompressor::new().unwrap();
        let mut out = BytesMut::new();
        let block = tx.compress(&Headers::new()).unwrap();
        Frame::SynStream { stream_id: 2, associated_to: 0, priority: 0, flags: 0, header_block: block.into() }
            .write(&mut out);
        raw_write.write_all(&out).await.unwrap();
        let mut buf = BytesMut::new();
        loop {
            raw_read.read_buf(&mut buf).await.unwrap();
            if let Some(frame) = Frame::parse(&mut buf, MAX_PAYLOAD).unwrap() {
                assert_eq!(frame, Frame::RstStream { stream_id: 2, status: rst::PROTOCOL_ERROR });
                break;
            }
        }
    }
}
