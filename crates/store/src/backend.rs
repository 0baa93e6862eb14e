//! The storage engine behind [`crate::Store`].
//!
//! A backend applies compare-and-swap writes in one global revision order, reads the latest or a
//! historic state, reads its history for watchers that resume from the past, and compacts that
//! history. It reports every commit to the [`CommitSink`] it was built with, so the watch fan-out
//! (which lives above this trait) works the same for every engine: SQLite here, a replicated log
//! (each replica reports what it applies) or an external engine later.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::error::Result;
use crate::types::{Event, HistoryPage, KeyValue, ListOptions, ListResult, WriteOp};
use crate::watch::hub::WatchHub;

/// A storage engine. Methods take owned arguments so that futures are `'static`-friendly.
pub trait Backend: Send + Sync + 'static {
    /// Applies one write at the next revision and returns its event once it is durable.
    /// Rejected compare-and-swaps (`AlreadyExists`, `NotFound`, `Conflict`) use no revision.
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Event>>;

    /// The latest value of a key.
    fn get(&self, key: String) -> BoxFuture<'_, Result<Option<KeyValue>>>;

    /// Keys under `prefix` in key order, at the latest or at a historic revision, from one snapshot.
    /// Fails with `Compacted` below the compacted revision and `FutureRevision` above the current one.
    fn list(&self, prefix: String, options: ListOptions) -> BoxFuture<'_, Result<ListResult>>;

    /// Number of keys under `prefix` at the latest revision.
    fn count(&self, prefix: String) -> BoxFuture<'_, Result<u64>>;

    /// Up to `limit` events under `prefix` with a revision above `after_revision`, in revision order.
    /// Fails with `Compacted` if `after_revision` is below the compacted revision.
    fn history(&self, prefix: String, after_revision: i64, limit: usize) -> BoxFuture<'_, Result<HistoryPage>>;

    /// Drops the history at and below `revision`, keeping what a read at `revision` needs.
    /// Returns the compacted revision afterwards. A revision at or below the current compacted
    /// revision does nothing; one above the current revision fails with `FutureRevision`.
    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<i64>>;

    /// The revision of the latest committed write (0 for an empty store).
    fn current_revision(&self) -> i64;

    /// Revisions at or above this one can be read and watched from.
    fn compacted_revision(&self) -> i64;
}

/// Where a backend reports its commits: the store's watch hub.
///
/// A backend must call [`CommitSink::committed`] for every committed write, exactly once, in
/// revision order, after the write is durable and before acknowledging it to the writer.
#[derive(Clone)]
pub struct CommitSink {
    hub: Arc<WatchHub>,
}

impl CommitSink {
    pub(crate) fn new(hub: Arc<WatchHub>) -> CommitSink {
        CommitSink { hub }
    }

    /// Hands committed events (consecutive, in revision order) to the watchers. Never blocks on
    /// watchers: a watcher whose buffer is full is dropped instead.
    pub fn committed(&self, events: Vec<Event>) {
        self.hub.publish(events);
    }
}
