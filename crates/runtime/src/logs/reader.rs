//! Reading a container log file for `kubectl logs`: the last N lines, lines since a time,
//! with or without timestamps, limited in bytes, and following the file as it grows (and
//! as it is rotated) until told to stop.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::sync::{mpsc, watch};

use super::format::{Stream, format_timestamp, parse_line};

/// What to read (the options of the kubelet's container log endpoint).
#[derive(Clone, Debug, Default)]
pub struct LogReadOptions {
    /// Keep reading as the file grows.
    pub follow: bool,
    /// Only the last N lines of the file.
    pub tail: Option<usize>,
    /// Only lines written at or after this time.
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
    /// Only this stream (both when `None`).
    pub stream: Option<Stream>,
}

/// How often a followed file is checked for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// Reads `path` on a blocking thread and sends the output in chunks. When following, the
/// reader stops once `stop` turns true (after sending what the file holds by then) or when
/// the receiver is dropped.
pub fn read_log(
    path: PathBuf,
    options: LogReadOptions,
    stop: Option<watch::Receiver<bool>>,
) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(16);
    let spawned = std::thread::Builder::new().name("log-reader".into()).spawn({
        let tx = tx.clone();
        move || {
            if let Err(err) = read_into(&path, &options, stop, &tx) {
                let _ = tx.blocking_send(Err(err));
            }
        }
    });
    if let Err(err) = spawned {
        let _ = tx.try_send(Err(err));
    }
    rx
}

/// Where the last `lines` lines of a file start.
fn tail_offset(file: &mut File, lines: usize) -> io::Result<u64> {
    let mut data = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut data)?;
    if lines == 0 {
        return Ok(data.len() as u64);
    }
    // Skip a trailing newline: it ends the last line rather than starting another.
    let end = if data.last() == Some(&b'\n') { data.len() - 1 } else { data.len() };
    let mut seen = 0;
    for i in (0..end).rev() {
        if data[i] == b'\n' {
            seen += 1;
            if seen == lines {
                return Ok(i as u64 + 1);
            }
        }
    }
    Ok(0)
}

struct Output<'a> {
    options: &'a LogReadOptions,
    tx: &'a mpsc::Sender<io::Result<Bytes>>,
    sent: u64,
}

impl Output<'_> {
    /// Formats and sends one raw line; false when the reader should stop.
    fn line(&mut self, raw: &[u8]) -> bool {
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let Ok(line) = parse_line(raw) else {
            tracing::debug!(line = %String::from_utf8_lossy(raw), "skipping malformed log line");
            return true;
        };
        if self.options.stream.is_some_and(|s| s != line.stream) {
            return true;
        }
        if self.options.since.is_some_and(|since| line.timestamp < since) {
            return true;
        }
        let mut out = Vec::with_capacity(line.content.len() + 40);
        if self.options.timestamps {
            out.extend_from_slice(format_timestamp(line.timestamp).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&line.content);
        if !line.partial {
            out.push(b'\n');
        }
        if let Some(limit) = self.options.limit_bytes {
            let room = limit.saturating_sub(self.sent) as usize;
            out.truncate(room);
        }
        self.sent += out.len() as u64;
        if !out.is_empty() && self.tx.blocking_send(Ok(Bytes::from(out))).is_err() {
            return false;
        }
        self.options.limit_bytes.is_none_or(|limit| self.sent < limit)
    }
}

fn read_into(
    path: &Path,
    options: &LogReadOptions,
    stop: Option<watch::Receiver<bool>>,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let mut file = File::open(path)?;
    let mut inode = file.metadata()?.ino();
    let start = match options.tail {
        Some(lines) => tail_offset(&mut file, lines)?,
        None => 0,
    };
    file.seek(SeekFrom::Start(start))?;
    let mut reader = BufReader::new(file);
    let mut output = Output { options, tx, sent: 0 };
    let mut line = Vec::new();
    let mut last_pass = false;
    loop {
        let n = reader.read_until(b'\n', &mut line)?;
        if n > 0 && line.ends_with(b"\n") {
            if !output.line(&line) {
                return Ok(());
            }
            line.clear();
            continue;
        }
        // At the end of the file (a line without newline is still being written).
        if !options.follow || last_pass || tx.is_closed() {
            return Ok(());
        }
        if stop.as_ref().is_some_and(|stop| *stop.borrow()) {
            // One more pass picks up what was written before the stop.
            last_pass = true;
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.ino() != inode => {
                // Rotated: the old file is read to its end; continue with the new one.
                if !line.is_empty() && !output.line(&line) {
                    return Ok(());
                }
                line.clear();
                let file = File::open(path)?;
                inode = file.metadata()?.ino();
                reader = BufReader::new(file);
                continue;
            }
            _ => {}
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogRotation, LogWriter};

    fn collect(mut rx: mpsc::Receiver<io::Result<Bytes>>) -> String {
        let mut out = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            out.extend_from_slice(&chunk.unwrap());
        }
        String::from_utf8(out).unwrap()
    }

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("0.log");
        std::fs::write(
            &path,
            "2024-01-01T00:00:01.000000000Z stdout F one\n\
             2024-01-01T00:00:02.000000000Z stderr F two\n\
             2024-01-01T00:00:03.000000000Z stdout P thr\n\
             2024-01-01T00:00:03.500000000Z stdout F ee\n",
        )
        .unwrap();
        path
    }

    #[test]
    fn reads_whole_file_joining_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = collect(read_log(sample(dir.path()), LogReadOptions::default(), None));
        assert_eq!(out, "one\ntwo\nthree\n");
    }

    #[test]
    fn tail_since_stream_timestamps_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let tail = LogReadOptions { tail: Some(2), ..Default::default() };
        assert_eq!(collect(read_log(path.clone(), tail, None)), "three\n");
        let since = LogReadOptions { since: Some("2024-01-01T00:00:02Z".parse().unwrap()), ..Default::default() };
        assert_eq!(collect(read_log(path.clone(), since, None)), "two\nthree\n");
        let stderr = LogReadOptions { stream: Some(Stream::Stderr), timestamps: true, ..Default::default() };
        assert_eq!(collect(read_log(path.clone(), stderr, None)), "2024-01-01T00:00:02.000000000Z two\n");
        let limited = LogReadOptions { limit_bytes: Some(5), ..Default::default() };
        assert_eq!(collect(read_log(path.clone(), limited, None)), "one\nt");
        let none = LogReadOptions { tail: Some(0), ..Default::default() };
        assert_eq!(collect(read_log(path, none, None)), "");
    }

    #[test]
    fn follow_sees_new_lines_and_rotation_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut writer = LogWriter::open(&path, LogRotation { max_size: 200, max_files: 3 }).unwrap();
        writer.write(Stream::Stdout, false, b"first").unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut rx = read_log(path, LogReadOptions { follow: true, ..Default::default() }, Some(stop_rx));
        assert_eq!(&rx.blocking_recv().unwrap().unwrap()[..], b"first\n");
        for i in 0..5 {
            writer.write(Stream::Stdout, false, format!("line {i}").as_bytes()).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 5 {
            got.push(String::from_utf8(rx.blocking_recv().unwrap().unwrap().to_vec()).unwrap());
        }
        assert_eq!(got, (0..5).map(|i| format!("line {i}\n")).collect::<Vec<_>>());
        stop_tx.send(true).unwrap();
        assert!(rx.blocking_recv().is_none());
    }
}
