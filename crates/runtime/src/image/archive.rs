//! Reading image archives (`docker save` archives and OCI image layouts, plain or
//! compressed with gzip or zstd) on a blocking thread. The thread walks the tar once and
//! streams every regular file to the async side, with the file's sha256 digest at its end,
//! so that nothing is unpacked to disk and large layers are never held in memory.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

/// What the reading thread reports, in archive order.
#[derive(Debug)]
pub(crate) enum ArchiveMessage {
    /// A regular file starts; its data follows.
    File { path: String, size: u64 },
    /// The next piece of the current file.
    Data(Bytes),
    /// The current file ended: its digest and first bytes (to recognise compressed layers).
    End { digest: String, magic: [u8; 4] },
    /// The archive is unreadable.
    Error(String),
}

/// Progress of an archive being read: compressed bytes consumed out of the file's size.
#[derive(Clone, Debug, Default)]
pub struct ImportProgress {
    read: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
}

impl ImportProgress {
    /// A fresh progress counter to pass to an import and poll while it runs.
    pub fn new() -> ImportProgress {
        ImportProgress::default()
    }

    /// Bytes of the archive file read so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// The archive file's size.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

const CHUNK: usize = 256 << 10;

/// Starts the reading thread; messages arrive on the returned channel.
pub(crate) fn read_archive(path: PathBuf, progress: ImportProgress) -> mpsc::Receiver<ArchiveMessage> {
    let (tx, rx) = mpsc::channel(8);
    std::thread::Builder::new()
        .name("image-archive".into())
        .spawn(move || {
            if let Err(err) = walk(&path, &progress, &tx) {
                let _ = tx.blocking_send(ArchiveMessage::Error(err));
            }
        })
        .map_err(|e| tracing::error!("cannot start archive reader: {e}"))
        .ok();
    rx
}

/// Counts the compressed bytes consumed, for progress reports.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an archive and undoes its compression, recognised by magic bytes (not by name).
pub(crate) fn open_decompressed(path: &Path, progress: &ImportProgress) -> Result<Box<dyn Read>, String> {
    let file = File::open(path).map_err(|e| format!("open: {e}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    progress.total.store(size, Ordering::Relaxed);
    let mut reader = BufReader::with_capacity(CHUNK, Counting { inner: file, read: progress.read.clone() });
    let magic = {
        use std::io::BufRead;
        let buf = reader.fill_buf().map_err(|e| format!("read: {e}"))?;
        let mut magic = [0u8; 4];
        let n = buf.len().min(4);
        magic[..n].copy_from_slice(&buf[..n]);
        magic
    };
    Ok(match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(ruzstd::decoding::StreamingDecoder::new(reader).map_err(|e| format!("zstd: {e}"))?)
        }
        _ => Box::new(reader),
    })
}

fn walk(path: &Path, progress: &ImportProgress, tx: &mpsc::Sender<ArchiveMessage>) -> Result<(), String> {
    let reader = open_decompressed(path, progress)?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading tar entry: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(|e| format!("tar entry name: {e}"))?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").to_string();
        let size = entry.size();
        if tx.blocking_send(ArchiveMessage::File { path: name, size }).is_err() {
            return Ok(());
        }
        let mut hasher = Sha256::new();
        let mut magic = [0u8; 4];
        let mut seen = 0usize;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = entry.read(&mut buf).map_err(|e| format!("reading archive: {e}"))?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            hasher.update(&buf);
            if seen < 4 {
                let take = (4 - seen).min(n);
                magic[seen..seen + take].copy_from_slice(&buf[..take]);
                seen += take;
            }
            if tx.blocking_send(ArchiveMessage::Data(Bytes::from(buf))).is_err() {
                return Ok(());
            }
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if tx.blocking_send(ArchiveMessage::End { digest, magic }).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
