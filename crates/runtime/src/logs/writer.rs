//! Appending to a container's log file, rotating it when it grows past its size limit:
//! the full file is renamed to `<name>.<UTC time>` and the oldest rotated files beyond the
//! limit are deleted, as the kubelet's log manager does.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::format::{LogLine, Stream};

/// Rotation limits (the kubelet's `containerLogMaxSize` and `containerLogMaxFiles`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRotation {
    /// A file larger than this is rotated (bytes).
    pub max_size: u64,
    /// How many files (the current one included) are kept.
    pub max_files: usize,
}

impl Default for LogRotation {
    fn default() -> Self {
        LogRotation { max_size: 10 << 20, max_files: 5 }
    }
}

/// The writer of one container log file. Blocking: used from the log pump's thread.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: LogRotation,
    buffer: Vec<u8>,
}

impl LogWriter {
    /// Opens (creating it and its directory) the log file for appending.
    pub fn open(path: &Path, rotation: LogRotation) -> io::Result<LogWriter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter { path: path.to_path_buf(), file, size, rotation, buffer: Vec::with_capacity(4096) })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry, rotating first if it would not fit.
    pub fn write(&mut self, stream: Stream, partial: bool, content: &[u8]) -> io::Result<()> {
        self.buffer.clear();
        LogLine { timestamp: Timestamp::now(), stream, partial, content: bytes::Bytes::copy_from_slice(content) }
            .encode(&mut self.buffer);
        if self.size > 0 && self.size + self.buffer.len() as u64 > self.rotation.max_size {
            self.rotate()?;
        }
        self.file.write_all(&self.buffer)?;
        self.size += self.buffer.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let stamp = Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        let mut rotated = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        let mut n = 1;
        while rotated.exists() {
            rotated = PathBuf::from(format!("{}.{stamp}-{n}", self.path.display()));
            n += 1;
        }
        std::fs::rename(&self.path, &rotated)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        self.remove_old_files()
    }

    /// Keeps at most `max_files - 1` rotated files (by name, which sorts by time).
    fn remove_old_files(&self) -> io::Result<()> {
        let Some(dir) = self.path.parent() else { return Ok(()) };
        let Some(name) = self.path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Ok(()) };
        let prefix = format!("{name}.");
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .map(|entry| entry.path())
            .collect();
        rotated.sort();
        let keep = self.rotation.max_files.saturating_sub(1);
        let excess = rotated.len().saturating_sub(keep);
        for old in rotated.into_iter().take(excess) {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::parse_line;

    #[test]
    fn writes_kubelet_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c/0.log");
        let mut writer = LogWriter::open(&path, LogRotation::default()).unwrap();
        writer.write(Stream::Stdout, false, b"hello").unwrap();
        writer.write(Stream::Stderr, true, b"part").unwrap();
        let text = std::fs::read(&path).unwrap();
        let lines: Vec<_> =
            text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| parse_line(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].stream, lines[0].partial, &lines[0].content[..]), (Stream::Stdout, false, &b"hello"[..]));
        assert_eq!((lines[1].stream, lines[1].partial), (Stream::Stderr, true));
    }

    #[test]
    fn rotates_and_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let mut writer = LogWriter::open(&path, LogRotation { max_size: 200, max_files: 3 }).unwrap();
        for i in 0..40 {
            writer.write(Stream::Stdout, false, format!("line number {i:03}").as_bytes()).unwrap();
        }
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"0.log".to_string()));
        assert!(std::fs::metadata(&path).unwrap().len() <= 200);
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.contains("line number 039"));
    }
}
