//! k3rs-store: the revisioned key-value store under the k3rs API server (the kine idea, done
//! natively).
//!
//! Keys look like `/registry/<resource>/<namespace>/<name>` and values are JSON bytes. Every
//! successful write takes the next revision of one global counter (starting at 1); it becomes
//! `metadata.resourceVersion`. Each key carries the revision that created it and the one that
//! last modified it. Writes are compare-and-swaps ([`Store::create`], [`Store::update`],
//! [`Store::delete`]); reads are [`Store::get`], [`Store::list`] (at the latest or a historic
//! revision, paginated) and [`Store::count`]; [`Store::watch`] streams changes.
//!
//! # Table layout (SQLite backend)
//!
//! - `log(revision INTEGER PRIMARY KEY, key BLOB, create_revision, prev_revision, deleted, value
//!   BLOB)`, indexed on `(key, revision)`: one row per write. `prev_revision` points at the
//!   version the write replaced, so a history read can report an event's previous value. A
//!   delete is a row with `deleted = 1` and no value; its last value is its predecessor's.
//! - `kv(key BLOB PRIMARY KEY, create_revision, mod_revision) WITHOUT ROWID`: the live keys,
//!   pointing at their `log` row. Gets and latest lists read it; a list at an older revision
//!   walks the `(key, revision)` index for the newest version of each key at that revision.
//! - `meta(name PRIMARY KEY, value)`: `schema_version` (migrations run at open),
//!   `current_revision` (never decreases, so revisions are not reused even if compaction removes
//!   the newest rows) and `compacted_revision`.
//!
//! Keys are stored as BLOBs so that comparisons are bytewise and a prefix is a plain index range.
//! Compaction at revision C deletes the versions that a newer version at or below C replaced,
//! and the deletes at or below C, chunk by chunk; reads at C and later stay exact, and so does
//! every watch from C on. Older reads and watches fail with [`Error::Compacted`].
//!
//! Writes go to one writer thread that commits everything queued in one transaction (group
//! commit) with `synchronous=FULL` by default; a write is acknowledged only after its commit.
//! Reads run on a small pool of connections in tokio's blocking pool, each in a read
//! transaction so that a list and the revision it reports come from one snapshot.
//!
//! # Watches
//!
//! A [`Backend`] reports each commit, in revision order, to a [`CommitSink`] before answering
//! the writer; the sink is the store's watch hub, so every backend gets the same fan-out. The
//! hub keeps a ring of recent events and a bounded buffer per watcher; publishing only ever
//! `try_send`s, and a watcher whose buffer is full is dropped and its stream ends with
//! [`Error::WatcherTooSlow`], so a slow client never holds up writers or other watchers.
//!
//! A watch from revision R attaches directly when the ring still holds everything after R:
//! under the hub's lock it copies the matching backlog from the ring and registers for live
//! events, so nothing falls in between. Otherwise it reads the backend's history in pages from
//! R, and after each page tries to attach again from where the history reached. A commit
//! becomes readable a moment before it reaches the hub, so live events at or below the position
//! already read from history are skipped by revision: no gaps, no duplicates.

mod backend;
mod error;
mod keys;
mod options;
mod sqlite;
mod store;
mod types;
mod watch;

pub use backend::{Backend, CommitSink};
pub use error::{Error, Result};
pub use options::{CompactionPolicy, SqliteOptions, StoreOptions};
pub use sqlite::SqliteBackend;
pub use store::Store;
pub use types::{Event, EventKind, HistoryPage, KeyValue, ListOptions, ListResult, WriteOp};
pub use watch::stream::WatchStream;
