//! [`Store`]: the handle the API server uses. It checks arguments, forwards reads and writes to
//! the [`Backend`], owns the watch hub that the backend feeds, and runs periodic compaction.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use tokio::time::MissedTickBehavior;

use crate::backend::{Backend, CommitSink};
use crate::error::{Error, Result};
use crate::keys::check_key;
use crate::options::{CompactionPolicy, StoreOptions};
use crate::sqlite::SqliteBackend;
use crate::types::{EventKind, KeyValue, ListOptions, ListResult, WriteOp};
use crate::watch::hub::WatchHub;
use crate::watch::stream::WatchStream;

/// The revisioned key-value store. Cheap to clone; all clones share one backend and watch hub.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    backend: Arc<dyn Backend>,
    hub: Arc<WatchHub>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("current_revision", &self.current_revision())
            .field("compacted_revision", &self.compacted_revision())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the SQLite database at `path`, migrating its schema if needed.
    pub async fn open_sqlite(path: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let sqlite = options.sqlite.clone();
        Store::with_backend(options, move |sink| async move {
            tokio::task::spawn_blocking(move || SqliteBackend::open(&path, &sqlite, sink))
                .await
                .map_err(|join| Error::Backend(format!("opening the database failed: {join}")))?
        })
        .await
    }

    /// Builds a store over any backend. `make` receives the sink the backend must report its
    /// commits to (see [`CommitSink`]). Must be called within a tokio runtime.
    pub async fn with_backend<B, F, Fut>(options: StoreOptions, make: F) -> Result<Store>
    where
        B: Backend,
        F: FnOnce(CommitSink) -> Fut,
        Fut: Future<Output = Result<B>>,
    {
        let hub = Arc::new(WatchHub::new(options.watch_ring_capacity, options.watch_buffer));
        let backend: Arc<dyn Backend> = Arc::new(make(CommitSink::new(hub.clone())).await?);
        hub.start_at(backend.current_revision());
        let inner = Arc::new(StoreInner { backend, hub });
        if let Some(policy) = options.compaction {
            spawn_compactor(Arc::downgrade(&inner), policy);
        }
        Ok(Store { inner })
    }

    /// The latest value of `key`.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        check_key(key)?;
        self.inner.backend.get(key.to_string()).await
    }

    /// Keys under `prefix`, in key order, from one consistent snapshot.
    pub async fn list(&self, prefix: &str, options: ListOptions) -> Result<ListResult> {
        self.inner.backend.list(prefix.to_string(), options).await
    }

    /// Number of keys under `prefix` at the latest revision.
    pub async fn count(&self, prefix: &str) -> Result<u64> {
        self.inner.backend.count(prefix.to_string()).await
    }

    /// Creates `key`; fails with `AlreadyExists` if it is present. Returns the new revision.
    pub async fn create(&self, key: &str, value: impl Into<Bytes>) -> Result<i64> {
        check_key(key)?;
        let op = WriteOp::Create { key: key.to_string(), value: value.into() };
        Ok(self.inner.backend.write(op).await?.revision())
    }

    /// Replaces the value of `key` if its `mod_revision` is still `expected_mod_revision`
    /// (else `Conflict` with the current value); `NotFound` if absent. Returns the new revision.
    pub async fn update(&self, key: &str, value: impl Into<Bytes>, expected_mod_revision: i64) -> Result<i64> {
        check_key(key)?;
        let op = WriteOp::Update { key: key.to_string(), value: value.into(), expected_mod_revision };
        Ok(self.inner.backend.write(op).await?.revision())
    }

    /// Deletes `key`, if `expected_mod_revision` is `None` or matches. Returns the revision of the
    /// delete and the value that was deleted (with its own `mod_revision`).
    pub async fn delete(&self, key: &str, expected_mod_revision: Option<i64>) -> Result<(i64, KeyValue)> {
        check_key(key)?;
        let op = WriteOp::Delete { key: key.to_string(), expected_mod_revision };
        let event = self.inner.backend.write(op).await?;
        match (event.kind, event.prev) {
            (EventKind::Delete, Some(prev)) => Ok((event.kv.mod_revision, prev)),
            _ => Err(Error::Corrupt(format!("delete of {key:?} did not report the deleted value"))),
        }
    }

    /// Every event under `prefix` with a revision above `after_revision`, in revision order, then
    /// live events. Fails with `Compacted` if `after_revision` is below the compacted revision.
    pub async fn watch(&self, prefix: &str, after_revision: i64) -> Result<WatchStream> {
        let compacted = self.inner.backend.compacted_revision();
        if after_revision < compacted {
            return Err(Error::Compacted { compacted, requested: after_revision });
        }
        Ok(WatchStream::start(self.inner.backend.clone(), self.inner.hub.clone(), prefix.to_string(), after_revision))
    }

    /// The revision of the latest committed write (0 for an empty store).
    pub fn current_revision(&self) -> i64 {
        self.inner.backend.current_revision()
    }

    /// Reads and watches must start at or above this revision.
    pub fn compacted_revision(&self) -> i64 {
        self.inner.backend.compacted_revision()
    }

    /// Drops history at and below `revision` (keeping what a read at `revision` needs).
    /// Returns the compacted revision afterwards.
    pub async fn compact(&self, revision: i64) -> Result<i64> {
        self.inner.backend.compact(revision).await
    }
}

/// Compacts every `policy.interval`, keeping the last `policy.keep_revisions` revisions.
/// Ends once the store is dropped.
fn spawn_compactor(store: Weak<StoreInner>, policy: CompactionPolicy) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(policy.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        loop {
            ticker.tick().await;
            let Some(inner) = store.upgrade() else { return };
            let target = inner.backend.current_revision() - policy.keep_revisions.max(0);
            if target > inner.backend.compacted_revision() {
                match inner.backend.compact(target).await {
                    Ok(compacted) => tracing::debug!(compacted, "compacted store history"),
                    Err(error) => tracing::warn!(%error, target, "automatic compaction failed"),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod crash_tests;
