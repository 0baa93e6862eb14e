//! In-memory pipes between a protocol session and the backend's process: the session holds
//! one end of each, the backend gets the other as [`ProcessIo`].

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::backend::{ProcessIo, TerminalSize};
use super::request::StreamFlags;

/// Bytes buffered per pipe before the writer waits.
const PIPE_BUFFER: usize = 64 * 1024;
/// Read size when pumping output to the client.
pub const CHUNK: usize = 32 * 1024;

/// The session's ends of the pipes.
pub struct SessionEnds {
    /// Write the client's input here; shut it down for EOF.
    pub stdin: Option<DuplexStream>,
    /// Read the process's output here; EOF once the backend dropped its sink.
    pub stdout: Option<DuplexStream>,
    pub stderr: Option<DuplexStream>,
    pub resize: Option<mpsc::Sender<TerminalSize>>,
}

/// Creates the pipes a session with `flags` needs.
pub fn process_pipes(flags: StreamFlags) -> (ProcessIo, SessionEnds) {
    let mut io = ProcessIo { stdin: None, stdout: None, stderr: None, tty: flags.tty, resize: None };
    let mut ends = SessionEnds { stdin: None, stdout: None, stderr: None, resize: None };
    if flags.stdin {
        let (process, session) = tokio::io::duplex(PIPE_BUFFER);
        io.stdin = Some(Box::pin(process));
        ends.stdin = Some(session);
    }
    if flags.stdout {
        let (process, session) = tokio::io::duplex(PIPE_BUFFER);
        io.stdout = Some(Box::pin(process));
        ends.stdout = Some(session);
    }
    if flags.stderr {
        let (process, session) = tokio::io::duplex(PIPE_BUFFER);
        io.stderr = Some(Box::pin(process));
        ends.stderr = Some(session);
    }
    if flags.tty {
        let (tx, rx) = mpsc::channel(8);
        io.resize = Some(rx);
        ends.resize = Some(tx);
    }
    (io, ends)
}

/// Reads `pipe` until EOF, handing each chunk to `deliver`. Once `deliver` fails (the client
/// is gone) the rest is read and dropped, so the process never blocks on a full pipe.
pub async fn pump_output<F, Fut>(mut pipe: DuplexStream, mut deliver: F)
where
    F: FnMut(bytes::Bytes) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut buf = vec![0u8; CHUNK];
    let mut client_alive = true;
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if client_alive {
                    client_alive = deliver(bytes::Bytes::copy_from_slice(&buf[..n])).await;
                }
            }
        }
    }
}

/// Writes client input into the stdin pipe; a process that stopped reading just loses it.
pub async fn feed_stdin(pipe: &mut Option<DuplexStream>, data: &[u8]) {
    if let Some(p) = pipe.as_mut()
        && p.write_all(data).await.is_err()
    {
        *pipe = None;
    }
}

/// Signals EOF on stdin.
pub async fn close_stdin(pipe: &mut Option<DuplexStream>) {
    if let Some(mut p) = pipe.take() {
        let _ = p.shutdown().await;
    }
}

/// Splits a byte stream of JSON terminal sizes (`{"Width":80,"Height":24}` objects, back to
/// back or newline separated) into sizes; partial objects wait for more bytes.
#[derive(Default)]
pub struct ResizeDecoder {
    buf: Vec<u8>,
}

impl ResizeDecoder {
    pub fn push(&mut self, data: &[u8]) -> Vec<TerminalSize> {
        self.buf.extend_from_slice(data);
        let mut sizes = Vec::new();
        let mut consumed = 0;
        let mut iter = serde_json::Deserializer::from_slice(&self.buf).into_iter::<TerminalSize>();
        loop {
            match iter.next() {
                Some(Ok(size)) => {
                    sizes.push(size);
                    consumed = iter.byte_offset();
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    // Not a size: drop what was buffered and start over with the next bytes.
                    consumed = self.buf.len();
                    break;
                }
                None => {
                    consumed = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..consumed);
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_messages_split_anywhere() {
        let mut d = ResizeDecoder::default();
        assert_eq!(d.push(br#"{"Width":80,"Hei"#), vec![]);
        assert_eq!(
            d.push(b"ght\":24}\n{\"Width\":100,\"Height\":30}\n"),
            vec![TerminalSize { width: 80, height: 24 }, TerminalSize { width: 100, height: 30 }]
        );
        assert_eq!(d.push(b"garbage"), vec![]);
        assert_eq!(d.push(br#"{"Width":1,"Height":2}"#), vec![TerminalSize { width: 1, height: 2 }]);
    }

    #[tokio::test]
    async fn pipes_follow_the_flags() {
        let flags = StreamFlags { stdin: true, stdout: true, stderr: false, tty: true };
        let (mut io, mut ends) = process_pipes(flags);
        assert!(io.stderr.is_none() && ends.stderr.is_none() && io.tty);
        feed_stdin(&mut ends.stdin, b"input").await;
        close_stdin(&mut ends.stdin).await;
        let mut got = String::new();
        io.stdin.as_mut().unwrap().read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "input");

        io.stdout.as_mut().unwrap().write_all(b"out").await.unwrap();
        drop(io);
        let mut chunks = Vec::new();
        pump_output(ends.stdout.take().unwrap(), |b| {
            chunks.push(b);
            async { true }
        })
        .await;
        assert_eq!(chunks.concat(), b"out");
    }
}
