//! The log pump: one thread per running container that reads its stdout and stderr FIFOs,
//! writes them to the container's log file line by line, and copies the raw output to
//! attached clients. It ends when both streams reach end of file (the container and every
//! process holding its output have exited) or when it is told to stop.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

use crate::logs::{LogWriter, Stream};

/// Longest line written as one entry; longer lines are split into partial (P) entries,
/// as containerd's CRI plugin does.
const MAX_LINE: usize = 16 << 10;
/// How often the pump looks at its stop flag while the container is quiet.
const POLL_MS: libc::c_int = 250;

/// A piece of container output, as attached clients receive it.
#[derive(Clone, Debug)]
pub struct OutputChunk {
    pub stream: Stream,
    pub data: Bytes,
}

/// The running pump of one container.
pub(crate) struct Pump {
    pub(crate) output: broadcast::Sender<OutputChunk>,
    pub(crate) done: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
}

impl Pump {
    /// Starts pumping the given FIFO read ends (opened non-blocking).
    pub(crate) fn start(id: &str, stdout: File, stderr: Option<File>, writer: LogWriter) -> io::Result<Pump> {
        let (output, _) = broadcast::channel(256);
        let (done_tx, done) = watch::channel(false);
        let stop = Arc::new(AtomicBool::new(false));
        let mut streams = vec![Source::new(stdout, Stream::Stdout)];
        if let Some(stderr) = stderr {
            streams.push(Source::new(stderr, Stream::Stderr));
        }
        let worker = Worker { streams, writer, output: output.clone(), stop: stop.clone(), write_failed: false };
        std::thread::Builder::new().name(format!("logs-{}", &id[..id.len().min(8)])).stack_size(256 << 10).spawn(
            move || {
                worker.run();
                let _ = done_tx.send(true);
            },
        )?;
        Ok(Pump { output, done, stop })
    }

    /// Asks the pump to end without waiting for end of file.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Source {
    file: File,
    stream: Stream,
    line: Vec<u8>,
}

impl Source {
    fn new(file: File, stream: Stream) -> Source {
        Source { file, stream, line: Vec::new() }
    }
}

struct Worker {
    streams: Vec<Source>,
    writer: LogWriter,
    output: broadcast::Sender<OutputChunk>,
    stop: Arc<AtomicBool>,
    write_failed: bool,
}

impl Worker {
    fn run(mut self) {
        let mut buf = vec![0u8; 32 << 10];
        while !self.streams.is_empty() && !self.stop.load(Ordering::SeqCst) {
            let mut fds: Vec<libc::pollfd> = self
                .streams
                .iter()
                .map(|s| libc::pollfd { fd: s.file.as_raw_fd(), events: libc::POLLIN, revents: 0 })
                .collect();
            // SAFETY: fds is a valid array of pollfd of the given length.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, POLL_MS) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::warn!(%err, "log pump poll failed");
                break;
            }
            let mut finished = Vec::new();
            for (i, fd) in fds.iter().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                match self.streams[i].file.read(&mut buf) {
                    Ok(0) => finished.push(i),
                    Ok(n) => self.take(i, &buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock || err.kind() == io::ErrorKind::Interrupted => {
                    }
                    Err(err) => {
                        tracing::warn!(%err, "reading container output failed");
                        finished.push(i);
                    }
                }
            }
            for i in finished.into_iter().rev() {
                let mut source = self.streams.remove(i);
                self.flush(&mut source);
            }
        }
        let mut rest = std::mem::take(&mut self.streams);
        for source in &mut rest {
            self.flush(source);
        }
    }

    fn take(&mut self, i: usize, data: &[u8]) {
        let stream = self.streams[i].stream;
        let _ = self.output.send(OutputChunk { stream, data: Bytes::copy_from_slice(data) });
        let mut line = std::mem::take(&mut self.streams[i].line);
        line.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = line[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos;
            // A terminal ends lines with CR LF; the log keeps the text only.
            let text = line[start..end].strip_suffix(b"\r").unwrap_or(&line[start..end]);
            self.write(stream, false, text);
            start = end + 1;
        }
        while line.len() - start >= MAX_LINE {
            self.write(stream, true, &line[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        line.drain(..start);
        self.streams[i].line = line;
    }

    /// Writes what is left of a stream's last line at its end.
    fn flush(&mut self, source: &mut Source) {
        if !source.line.is_empty() {
            let line = std::mem::take(&mut source.line);
            self.write(source.stream, false, &line);
        }
    }

    fn write(&mut self, stream: Stream, partial: bool, text: &[u8]) {
        if let Err(err) = self.writer.write(stream, partial, text)
            && !self.write_failed
        {
            self.write_failed = true;
            tracing::warn!(path = %self.writer.path().display(), %err, "writing the container log failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fifo;
    use crate::logs::{LogRotation, parse_line};
    use std::io::Write;

    #[test]
    fn pump_writes_lines_and_ends_at_eof() {
        let dir = tempfile::tempdir().unwrap();
        let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
        fifo::mkfifo(&out_path).unwrap();
        fifo::mkfifo(&err_path).unwrap();
        let stdout = fifo::open_reader(&out_path).unwrap();
        let stderr = fifo::open_reader(&err_path).unwrap();
        let mut out_writer = std::fs::OpenOptions::new().write(true).open(&out_path).unwrap();
        let mut err_writer = std::fs::OpenOptions::new().write(true).open(&err_path).unwrap();
        let log_path = dir.path().join("0.log");
        let writer = LogWriter::open(&log_path, LogRotation::default()).unwrap();
        let pump = Pump::start("abc", stdout, Some(stderr), writer).unwrap();
        let mut attached = pump.output.subscribe();
        out_writer.write_all(b"hello\r\nwor").unwrap();
        err_writer.write_all(b"oops\n").unwrap();
        out_writer.write_all(b"ld\nno newline").unwrap();
        let first = attached.blocking_recv().unwrap();
        assert!(!first.data.is_empty());
        drop(out_writer);
        drop(err_writer);
        let mut done = pump.done.clone();
        while !*done.borrow_and_update() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let text = std::fs::read(&log_path).unwrap();
        let mut lines: Vec<(Stream, String)> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_line(l).unwrap())
            .map(|l| (l.stream, String::from_utf8(l.content.to_vec()).unwrap()))
            .collect();
        lines.sort_by_key(|(s, _)| *s == Stream::Stderr);
        assert_eq!(
            lines,
            vec![
                (Stream::Stdout, "hello".to_string()),
                (Stream::Stdout, "world".to_string()),
                (Stream::Stdout, "no newline".to_string()),
                (Stream::Stderr, "oops".to_string()),
            ]
        );
    }
}
