//! Errors of the store.

use crate::types::KeyValue;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },

    #[error("key {key:?} not found")]
    NotFound { key: String },

    /// A compare-and-swap found another revision than the caller expected.
    #[error("key {key:?} was modified: expected revision {expected}, found {}", describe(current))]
    Conflict { key: String, expected: i64, current: Option<KeyValue> },

    /// The requested revision's history has been compacted away (the API server answers 410 Gone).
    #[error("revision {requested} has been compacted; the oldest available revision is {compacted}")]
    Compacted { compacted: i64, requested: i64 },

    /// The requested revision has not been written yet.
    #[error("revision {requested} is in the future; the current revision is {current}")]
    FutureRevision { requested: i64, current: i64 },

    /// A watcher did not read its events fast enough and its buffer overflowed; it must re-list.
    #[error("watcher fell behind by more than {capacity} events and was stopped; re-list and watch again")]
    WatcherTooSlow { capacity: usize },

    #[error("invalid key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    /// The store has been shut down (its writer is gone).
    #[error("the store is shut down")]
    Closed,

    #[error("the database holds schema version {found}, newer than this binary's {supported}; upgrade k3rs")]
    UnsupportedSchema { found: i64, supported: i64 },

    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),

    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// A failure of a backend other than SQLite (replication, external engine).
    #[error("storage backend: {0}")]
    Backend(String),
}

fn describe(current: &Option<KeyValue>) -> String {
    match current {
        Some(kv) => format!("revision {}", kv.mod_revision),
        None => "no such key".to_string(),
    }
}
