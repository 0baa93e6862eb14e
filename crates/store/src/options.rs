//! Tuning of the store and of its SQLite backend.

use std::time::Duration;

/// Options of [`crate::Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Automatic compaction; `None` keeps all history until [`crate::Store::compact`] is called.
    pub compaction: Option<CompactionPolicy>,
    /// Recent events kept in memory so that watchers resuming from a recent revision need no
    /// database read. Older resumes read the history table.
    pub watch_ring_capacity: usize,
    /// Events buffered per watcher; a watcher that falls further behind is stopped with
    /// [`crate::Error::WatcherTooSlow`].
    pub watch_buffer: usize,
    pub sqlite: SqliteOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            compaction: Some(CompactionPolicy::default()),
            watch_ring_capacity: 1024,
            watch_buffer: 1024,
            sqlite: SqliteOptions::default(),
        }
    }
}

/// Periodic compaction: every `interval`, compact up to `current - keep_revisions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    pub keep_revisions: i64,
    pub interval: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy { keep_revisions: 10_000, interval: Duration::from_secs(300) }
    }
}

/// Options of the SQLite backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Connections serving reads concurrently with the writer.
    pub read_connections: usize,
    /// `true`: every commit is fsynced (`synchronous=FULL`), so acknowledged writes survive power
    /// loss. `false`: `synchronous=NORMAL`, which in WAL mode still survives a killed process but
    /// may lose the last commits on power loss.
    pub fsync: bool,
    /// Most writes committed together in one transaction (group commit).
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { read_connections: 4, fsync: true, max_batch: 256 }
    }
}
