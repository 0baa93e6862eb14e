//! Container log files in the CRI format, read with the options of `kubectl logs`.
//!
//! Each line of a file is `<RFC 3339 time> <stdout|stderr> <P|F> <content>`: `F` ends a
//! logical line, `P` is a part of a longer one (the content then continues in the next
//! entry without a newline). This is what the kubelet keeps under `/var/log/pods/…`; the
//! backend picks the file (current or previous instance) and [`read_log`] turns it into
//! the bytes the client gets: tail, since, timestamps, byte limit and follow applied.

use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::backend::{LogOptions, LogStream};

/// How often a followed file is checked for new data.
const FOLLOW_POLL: Duration = Duration::from_millis(200);
const READ_CHUNK: usize = 64 * 1024;

/// Which output a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
}

/// One parsed line of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry<'a> {
    pub time: Timestamp,
    pub source: LogSource,
    /// `P`: the logical line continues in the next entry.
    pub partial: bool,
    pub content: &'a [u8],
}

/// Parses one line (without its newline); `None` for lines not in the CRI format.
pub fn parse_entry(line: &[u8]) -> Option<LogEntry<'_>> {
    let mut fields = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(fields.next()?).ok()?.parse::<Timestamp>().ok()?;
    let source = match fields.next()? {
        b"stdout" => LogSource::Stdout,
        b"stderr" => LogSource::Stderr,
        _ => return None,
    };
    let partial = match fields.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some(LogEntry { time, source, partial, content: fields.next().unwrap_or(b"") })
}

/// Formats a line as the runtime writes it (for writers of log files and tests).
pub fn format_entry(time: Timestamp, source: LogSource, partial: bool, content: &[u8]) -> Vec<u8> {
    let source = match source {
        LogSource::Stdout => "stdout",
        LogSource::Stderr => "stderr",
    };
    let mut line = format!("{} {source} {} ", time, if partial { "P" } else { "F" }).into_bytes();
    line.extend_from_slice(content);
    line.push(b'\n');
    line
}

/// Turns entries into client bytes, applying `since`, `timestamps` and `limitBytes`.
struct Formatter {
    since: Option<Timestamp>,
    timestamps: bool,
    remaining: Option<u64>,
}

impl Formatter {
    /// Appends the output of one file line; returns false once the byte limit is reached.
    fn push(&mut self, line: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(entry) = parse_entry(line) else { return true };
        if self.since.is_some_and(|since| entry.time < since) {
            return true;
        }
        let mut piece = Vec::with_capacity(entry.content.len() + 40);
        if self.timestamps {
            piece.extend_from_slice(entry.time.to_string().as_bytes());
            piece.push(b' ');
        }
        piece.extend_from_slice(entry.content);
        if !entry.partial {
            piece.push(b'\n');
        }
        match &mut self.remaining {
            None => {
                out.extend_from_slice(&piece);
                true
            }
            Some(remaining) => {
                let n = piece.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                out.extend_from_slice(&piece[..n]);
                *remaining -= n as u64;
                *remaining > 0
            }
        }
    }
}

/// Offset at which the last `lines` complete lines of `file` start.
fn tail_offset(file: &mut std::fs::File, lines: u64) -> io::Result<u64> {
    let size = file.metadata()?.len();
    if lines == 0 {
        return Ok(size);
    }
    let mut end = size;
    let mut found = 0u64;
    let mut buf = vec![0u8; READ_CHUNK];
    // The newline that ends the file does not start a line.
    let mut skip_last_newline = true;
    while end > 0 {
        let start = end.saturating_sub(READ_CHUNK as u64);
        let len = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..len])?;
        for i in (0..len).rev() {
            if buf[i] != b'\n' {
                skip_last_newline = false;
                continue;
            }
            if skip_last_newline {
                skip_last_newline = false;
                continue;
            }
            found += 1;
            if found == lines {
                return Ok(start + i as u64 + 1);
            }
        }
        end = start;
    }
    Ok(0)
}

fn open_at(path: &Path, tail: Option<u64>) -> io::Result<(std::fs::File, u64)> {
    let mut file = std::fs::File::open(path)?;
    let offset = match tail {
        Some(n) => tail_offset(&mut file, n)?,
        None => 0,
    };
    file.seek(SeekFrom::Start(offset))?;
    Ok((file, offset))
}

/// Reads a log file as the client should see it. With `follow`, new lines are streamed
/// until `stop` resolves (the container ended), after which the rest of the file is sent.
/// Fails up front if the file cannot be opened.
pub async fn read_log(
    path: PathBuf,
    options: LogOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<LogStream> {
    let open_path = path.clone();
    let tail = options.tail_lines;
    let (file, _) = tokio::task::spawn_blocking(move || open_at(&open_path, tail))
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(16);
    tokio::spawn(async move {
        let mut reader = FileReader {
            path,
            file: Some(file),
            pending: Vec::new(),
            formatter: Formatter {
                since: options.since,
                timestamps: options.timestamps,
                remaining: options.limit_bytes,
            },
        };
        let mut stop = std::pin::pin!(stop);
        let mut stopped = !options.follow;
        loop {
            let (chunk, more) = match reader.read_available().await {
                Ok(result) => result,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            if !chunk.is_empty() && tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                return;
            }
            if !more {
                return;
            }
            if stopped {
                return;
            }
            tokio::select! {
                () = &mut stop => stopped = true,
                () = tokio::time::sleep(FOLLOW_POLL) => {}
                () = tx.closed() => return,
            }
        }
    });
    Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })))
}

struct FileReader {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// An incomplete last line, waiting for its newline.
    pending: Vec<u8>,
    formatter: Formatter,
}

impl FileReader {
    /// Reads everything available now. Returns the client bytes and whether to go on (false
    /// once the byte limit is reached).
    async fn read_available(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let Some(file) = self.file.take() else { return Ok((Vec::new(), false)) };
        let path = self.path.clone();
        let pending = std::mem::take(&mut self.pending);
        let mut formatter =
            std::mem::replace(&mut self.formatter, Formatter { since: None, timestamps: false, remaining: None });
        let (file, pending, formatter, out, more) = tokio::task::spawn_blocking(move || {
            let mut file = file;
            let mut pending = pending;
            let mut out = Vec::new();
            let more = read_lines(&mut file, &path, &mut pending, &mut formatter, &mut out);
            (file, pending, formatter, out, more)
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        self.file = Some(file);
        self.pending = pending;
        self.formatter = formatter;
        Ok((out, more?))
    }
}

/// Reads to the end of the file (following a rotation), formatting complete lines.
fn read_lines(
    file: &mut std::fs::File,
    path: &Path,
    pending: &mut Vec<u8>,
    formatter: &mut Formatter,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            // Rotated (a new file under the path) or truncated: continue with the new content.
            let current = file.metadata()?;
            let position = file.stream_position()?;
            match std::fs::metadata(path) {
                Ok(meta) if meta.ino() != current.ino() || meta.len() < position => {
                    *file = std::fs::File::open(path)?;
                    pending.clear();
                    continue;
                }
                _ => return Ok(true),
            }
        }
        pending.extend_from_slice(&buf[..n]);
        let mut start = 0;
        while let Some(nl) = pending[start..].iter().position(|b| *b == b'\n') {
            let line = &pending[start..start + nl];
            start += nl + 1;
            if !formatter.push(line, out) {
                return Ok(false);
            }
        }
        pending.drain(..start);
        if out.len() >= READ_CHUNK {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::io::Write;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn write_lines(path: &Path, lines: &[(&str, LogSource, bool, &str)]) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        for (time, source, partial, content) in lines {
            f.write_all(&format_entry(ts(time), *source, *partial, content.as_bytes())).unwrap();
        }
    }

    async fn collect(stream: LogStream) -> String {
        let chunks: Vec<_> = stream.collect().await;
        String::from_utf8(chunks.into_iter().map(|c| c.unwrap()).collect::<Vec<_>>().concat()).unwrap()
    }

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("0.log");
        write_lines(
            &path,
            &[
                ("2025-01-01T00:00:01Z", LogSource::Stdout, false, "one"),
                ("2025-01-01T00:00:02Z", LogSource::Stderr, false, "two"),
                ("2025-01-01T00:00:03.5Z", LogSource::Stdout, true, "thr"),
                ("2025-01-01T00:00:03.6Z", LogSource::Stdout, false, "ee"),
                ("2025-01-01T00:00:04Z", LogSource::Stdout, false, "four"),
            ],
        );
        path
    }

    #[test]
    fn entries_parse() {
        let e = parse_entry(b"2025-01-01T00:00:01.123456789Z stderr P a b c").unwrap();
        assert_eq!(e.source, LogSource::Stderr);
        assert!(e.partial);
        assert_eq!(e.content, b"a b c");
        assert_eq!(parse_entry(b"2025-01-01T00:00:01Z stdout F").unwrap().content, b"");
        assert!(parse_entry(b"garbage line").is_none());
        assert!(parse_entry(b"2025-01-01T00:00:01Z other F x").is_none());
    }

    #[tokio::test]
    async fn options_shape_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let read = |options: LogOptions| read_log(path.clone(), options, std::future::pending());
        assert_eq!(collect(read(LogOptions::default()).await.unwrap()).await, "one\ntwo\nthree\nfour\n");
        let tail = LogOptions { tail_lines: Some(2), ..Default::default() };
        assert_eq!(collect(read(tail).await.unwrap()).await, "ee\nfour\n");
        let tail0 = LogOptions { tail_lines: Some(0), ..Default::default() };
        assert_eq!(collect(read(tail0).await.unwrap()).await, "");
        let tail_all = LogOptions { tail_lines: Some(100), ..Default::default() };
        assert_eq!(collect(read(tail_all).await.unwrap()).await, "one\ntwo\nthree\nfour\n");
        let since = LogOptions { since: Some(ts("2025-01-01T00:00:02Z")), ..Default::default() };
        assert_eq!(collect(read(since).await.unwrap()).await, "two\nthree\nfour\n");
        let stamps = LogOptions { timestamps: true, tail_lines: Some(1), ..Default::default() };
        assert_eq!(collect(read(stamps).await.unwrap()).await, "2025-01-01T00:00:04Z four\n");
        let limit = LogOptions { limit_bytes: Some(6), ..Default::default() };
        assert_eq!(collect(read(limit).await.unwrap()).await, "one\ntw");
        assert!(read_log(dir.path().join("missing.log"), LogOptions::default(), std::future::pending()).await.is_err());
    }

    #[tokio::test]
    async fn follow_streams_new_lines_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let options = LogOptions { follow: true, tail_lines: Some(1), ..Default::default() };
        let mut stream = read_log(path.clone(), options, async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), Bytes::from_static(b"four\n"));
        write_lines(&path, &[("2025-01-01T00:00:05Z", LogSource::Stdout, false, "five")]);
        assert_eq!(stream.next().await.unwrap().unwrap(), Bytes::from_static(b"five\n"));
        // Rotation: the file is replaced; the reader moves to the new one.
        std::fs::rename(&path, dir.path().join("0.log.1")).unwrap();
        write_lines(&path, &[("2025-01-01T00:00:06Z", LogSource::Stdout, false, "six")]);
        assert_eq!(stream.next().await.unwrap().unwrap(), Bytes::from_static(b"six\n"));
        write_lines(&path, &[("2025-01-01T00:00:07Z", LogSource::Stdout, false, "seven")]);
        stop_tx.send(()).unwrap();
        let rest = collect(stream).await;
        assert_eq!(rest, "seven\n");
    }
}
