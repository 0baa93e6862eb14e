//! The SQLite backend: one writer thread with group commit, a pool of readers, WAL journal.
//!
//! Tables (see the crate docs for the whole picture):
//! - `log(revision PK, key, create_revision, prev_revision, deleted, value)`: one row per write;
//!   a delete's row has no value (its last value is the `prev_revision` row).
//! - `kv(key PK, create_revision, mod_revision)`: the live keys, pointing at their `log` row.
//! - `meta(name PK, value)`: `schema_version`, `current_revision`, `compacted_revision`.

mod queries;
mod reader;
mod schema;
mod writer;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use self::reader::ReadPool;
use self::schema::read_meta;
use self::writer::{Request, Revisions, Writer};
use crate::backend::{Backend, CommitSink};
use crate::error::{Error, Result};
use crate::keys::KeyRange;
use crate::options::SqliteOptions;
use crate::types::{Event, HistoryPage, KeyValue, ListOptions, ListResult, WriteOp};

/// Revisions compacted per transaction, so that writes are not held up for long.
const COMPACTION_CHUNK: i64 = 1000;

/// The embedded SQLite engine.
pub struct SqliteBackend {
    requests: mpsc::Sender<Request>,
    reads: Arc<ReadPool>,
    revisions: Arc<Revisions>,
}

impl SqliteBackend {
    /// Opens or creates the database at `path` and starts its writer thread. Blocks on file I/O:
    /// call it from a blocking context (as [`crate::Store::open_sqlite`] does).
    pub fn open(path: &Path, options: &SqliteOptions, sink: CommitSink) -> Result<SqliteBackend> {
        let conn = schema::open_writer(path, options.fsync)?;
        let revisions = Arc::new(Revisions::default());
        revisions.current.store(read_meta(&conn, "current_revision")?, Ordering::Release);
        revisions.compacted.store(read_meta(&conn, "compacted_revision")?, Ordering::Release);
        let (requests, receiver) = mpsc::channel();
        let writer = Writer::new(conn, receiver, revisions.clone(), sink, options.max_batch);
        std::thread::Builder::new()
            .name("k3rs-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|error| Error::Backend(format!("cannot start the store writer thread: {error}")))?;
        let reads = Arc::new(ReadPool::new(path.to_path_buf(), options.read_connections));
        Ok(SqliteBackend { requests, reads, revisions })
    }

    async fn request<T>(&self, make: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Result<T> {
        let (reply, response) = oneshot::channel();
        self.requests.send(make(reply)).map_err(|_| Error::Closed)?;
        response.await.map_err(|_| Error::Closed)?
    }
}

impl Backend for SqliteBackend {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Event>> {
        Box::pin(self.request(|reply| Request::Write { op, reply }))
    }

    fn get(&self, key: String) -> BoxFuture<'_, Result<Option<KeyValue>>> {
        Box::pin(self.reads.run(move |conn| queries::get(conn, &key)))
    }

    fn list(&self, prefix: String, options: ListOptions) -> BoxFuture<'_, Result<ListResult>> {
        Box::pin(self.reads.run(move |conn| {
            let tx = conn.transaction()?;
            let current = read_meta(&tx, "current_revision")?;
            let revision = match options.revision {
                None => current,
                Some(requested) if requested > current => return Err(Error::FutureRevision { requested, current }),
                Some(requested) => {
                    let compacted = read_meta(&tx, "compacted_revision")?;
                    if requested < compacted {
                        return Err(Error::Compacted { compacted, requested });
                    }
                    requested
                }
            };
            let range = KeyRange::new(&prefix, options.start_after.as_deref());
            let limit = options.limit.filter(|&limit| limit > 0);
            // One extra item tells whether more follow.
            let fetch = limit.map(|limit| limit.saturating_add(1));
            let mut items = if revision == current {
                queries::list_latest(&tx, &range, fetch)?
            } else {
                queries::list_at(&tx, &range, revision, fetch)?
            };
            let more = limit.is_some_and(|limit| items.len() > limit);
            if let Some(limit) = limit {
                items.truncate(limit);
            }
            Ok(ListResult { items, revision, more })
        }))
    }

    fn count(&self, prefix: String) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.reads.run(move |conn| queries::count(conn, &KeyRange::new(&prefix, None))))
    }

    fn history(&self, prefix: String, after_revision: i64, limit: usize) -> BoxFuture<'_, Result<HistoryPage>> {
        Box::pin(self.reads.run(move |conn| {
            let tx = conn.transaction()?;
            let current = read_meta(&tx, "current_revision")?;
            let compacted = read_meta(&tx, "compacted_revision")?;
            if after_revision < compacted {
                return Err(Error::Compacted { compacted, requested: after_revision });
            }
            queries::history(&tx, &KeyRange::new(&prefix, None), after_revision, limit, current)
        }))
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let current = self.current_revision();
            if revision > current {
                return Err(Error::FutureRevision { requested: revision, current });
            }
            let mut compacted = self.compacted_revision();
            while compacted < revision {
                let up_to = revision.min(compacted.saturating_add(COMPACTION_CHUNK));
                compacted = self.request(|reply| Request::Compact { up_to, reply }).await?;
            }
            Ok(compacted)
        })
    }

    fn current_revision(&self) -> i64 {
        self.revisions.current.load(Ordering::Acquire)
    }

    fn compacted_revision(&self) -> i64 {
        self.revisions.compacted.load(Ordering::Acquire)
    }
}
