//! The writer thread: the only connection that writes.
//!
//! Writes queue up on a channel; the thread takes whatever is queued (up to `max_batch`) and
//! applies it in one transaction (group commit), so one fsync covers the whole batch. Each write
//! is its own compare-and-swap inside the batch and sees the writes before it. Only after the
//! commit are the events published to the watch hub and the callers answered, so an
//! acknowledged write is on disk.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, mpsc};

use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::queries;
use super::schema::{read_meta, write_meta};
use crate::backend::CommitSink;
use crate::error::{Error, Result};
use crate::types::{Event, EventKind, KeyValue, WriteOp};

/// Work for the writer thread.
pub(crate) enum Request {
    Write {
        op: WriteOp,
        reply: oneshot::Sender<Result<Event>>,
    },
    /// Compact one chunk: up to `up_to`, in its own transaction so writes interleave.
    Compact {
        up_to: i64,
        reply: oneshot::Sender<Result<i64>>,
    },
}

/// Revisions as last committed, readable without a database round trip.
#[derive(Debug, Default)]
pub(crate) struct Revisions {
    pub(crate) current: AtomicI64,
    pub(crate) compacted: AtomicI64,
}

pub(crate) struct Writer {
    conn: Connection,
    requests: mpsc::Receiver<Request>,
    revisions: Arc<Revisions>,
    sink: CommitSink,
    max_batch: usize,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        requests: mpsc::Receiver<Request>,
        revisions: Arc<Revisions>,
        sink: CommitSink,
        max_batch: usize,
    ) -> Writer {
        Writer { conn, requests, revisions, sink, max_batch: max_batch.max(1) }
    }

    /// Serves requests until every sender is gone.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.requests.recv() {
            let mut writes = Vec::new();
            let mut compactions = Vec::new();
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Write { op, reply } => writes.push((op, reply)),
                    Request::Compact { up_to, reply } => compactions.push((up_to, reply)),
                }
                if writes.len() < self.max_batch {
                    next = self.requests.try_recv().ok();
                }
            }
            if !writes.is_empty() {
                self.commit_writes(writes);
            }
            for (up_to, reply) in compactions {
                // The caller may have gone away; the compaction stands regardless.
                let _ = reply.send(self.compact(up_to));
            }
        }
        tracing::debug!("store writer stopped");
    }

    fn commit_writes(&mut self, writes: Vec<(WriteOp, oneshot::Sender<Result<Event>>)>) {
        let ops: Vec<&WriteOp> = writes.iter().map(|(op, _)| op).collect();
        match apply_batch(&mut self.conn, &ops) {
            Ok((outcomes, revision)) => {
                let replies = writes.into_iter().map(|(_, reply)| reply).collect();
                self.finish(replies, outcomes, revision);
            }
            Err(error) if writes.len() > 1 => {
                // Do not let one write's failure fail its neighbours: retry each on its own.
                tracing::warn!(%error, batch = writes.len(), "group commit failed; retrying writes one by one");
                for (op, reply) in writes {
                    match apply_batch(&mut self.conn, &[&op]) {
                        Ok((outcomes, revision)) => self.finish(vec![reply], outcomes, revision),
                        Err(error) => {
                            let _ = reply.send(Err(Error::Sqlite(error)));
                        }
                    }
                }
            }
            Err(error) => {
                if let Some((_, reply)) = writes.into_iter().next() {
                    let _ = reply.send(Err(Error::Sqlite(error)));
                }
            }
        }
    }

    /// After a commit: publish the events, then answer the callers.
    fn finish(&self, replies: Vec<oneshot::Sender<Result<Event>>>, outcomes: Vec<Result<Event>>, revision: i64) {
        self.revisions.current.store(revision, Ordering::Release);
        let events: Vec<Event> = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok().cloned()).collect();
        if !events.is_empty() {
            self.sink.committed(events);
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A caller that stopped waiting still had its write committed, as with any database.
            let _ = reply.send(outcome);
        }
    }

    fn compact(&mut self, up_to: i64) -> Result<i64> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let compacted = read_meta(&tx, "compacted_revision")?;
        let current = read_meta(&tx, "current_revision")?;
        if up_to > current {
            return Err(Error::FutureRevision { requested: up_to, current });
        }
        if up_to <= compacted {
            return Ok(compacted);
        }
        // A version is obsolete at `up_to` once a newer version of its key exists at or below
        // `up_to`; each log row names its predecessor, so the rows written in (compacted, up_to]
        // name exactly the versions they made obsolete. Deletes in that span go too: a read at
        // `up_to` or later does not see the key, and no watch may start before `up_to`.
        tx.prepare_cached(
            "DELETE FROM log WHERE revision IN (
                 SELECT prev_revision FROM log
                 WHERE revision > ?1 AND revision <= ?2 AND prev_revision IS NOT NULL)",
        )?
        .execute(params![compacted, up_to])?;
        tx.prepare_cached("DELETE FROM log WHERE revision > ?1 AND revision <= ?2 AND deleted = 1")?
            .execute(params![compacted, up_to])?;
        write_meta(&tx, "compacted_revision", up_to)?;
        tx.commit()?;
        self.revisions.compacted.store(up_to, Ordering::Release);
        Ok(up_to)
    }
}

/// Applies `ops` in one transaction; returns each op's outcome and the revision after the batch.
/// An `Err` means the transaction failed and nothing was written.
fn apply_batch(conn: &mut Connection, ops: &[&WriteOp]) -> rusqlite::Result<(Vec<Result<Event>>, i64)> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read from the database rather than memory: the revision must continue from what is
    // committed, whatever happened to earlier transactions.
    let start: i64 =
        tx.prepare_cached("SELECT value FROM meta WHERE name = 'current_revision'")?.query_row([], |row| row.get(0))?;
    let mut revision = start;
    let mut outcomes = Vec::with_capacity(ops.len());
    for op in ops {
        let outcome = apply_op(&tx, revision + 1, op)?;
        if outcome.is_ok() {
            revision += 1;
        }
        outcomes.push(outcome);
    }
    if revision != start {
        write_meta(&tx, "current_revision", revision)?;
    }
    tx.commit()?;
    Ok((outcomes, revision))
}

/// One compare-and-swap at `revision`. The outer error is a database failure (the batch is
/// abandoned); the inner one a rejection that writes nothing.
fn apply_op(tx: &Transaction<'_>, revision: i64, op: &WriteOp) -> rusqlite::Result<Result<Event>> {
    let key = op.key();
    let current = match queries::get(tx, key) {
        Ok(current) => current,
        Err(Error::Sqlite(error)) => return Err(error),
        Err(other) => return Ok(Err(other)),
    };
    let event = match op {
        WriteOp::Create { value, .. } => {
            if current.is_some() {
                return Ok(Err(Error::AlreadyExists { key: key.to_string() }));
            }
            insert_log(tx, revision, key, revision, None, Some(value))?;
            tx.prepare_cached("INSERT INTO kv (key, create_revision, mod_revision) VALUES (?1, ?2, ?2)")?
                .execute(params![key.as_bytes(), revision])?;
            Event {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.to_string(),
                    value: value.clone(),
                    create_revision: revision,
                    mod_revision: revision,
                },
                prev: None,
            }
        }
        WriteOp::Update { value, expected_mod_revision, .. } => {
            let prev = match check(key, current, Some(*expected_mod_revision)) {
                Ok(prev) => prev,
                Err(rejection) => return Ok(Err(rejection)),
            };
            insert_log(tx, revision, key, prev.create_revision, Some(prev.mod_revision), Some(value))?;
            tx.prepare_cached("UPDATE kv SET mod_revision = ?2 WHERE key = ?1")?
                .execute(params![key.as_bytes(), revision])?;
            Event {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.to_string(),
                    value: value.clone(),
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                },
                prev: Some(prev),
            }
        }
        WriteOp::Delete { expected_mod_revision, .. } => {
            let prev = match check(key, current, *expected_mod_revision) {
                Ok(prev) => prev,
                Err(rejection) => return Ok(Err(rejection)),
            };
            insert_log(tx, revision, key, prev.create_revision, Some(prev.mod_revision), None)?;
            tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?.execute([key.as_bytes()])?;
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: key.to_string(),
                    value: prev.value.clone(),
                    create_revision: prev.create_revision,
                    mod_revision: revision,
                },
                prev: Some(prev),
            }
        }
    };
    Ok(Ok(event))
}

/// The compare of compare-and-swap: the key must exist and, if asked, be at `expected`.
fn check(key: &str, current: Option<KeyValue>, expected: Option<i64>) -> Result<KeyValue> {
    let Some(current) = current else {
        return Err(Error::NotFound { key: key.to_string() });
    };
    match expected {
        Some(expected) if expected != current.mod_revision => {
            Err(Error::Conflict { key: key.to_string(), expected, current: Some(current) })
        }
        _ => Ok(current),
    }
}

/// Appends a version to the log; `value` is `None` for a delete (its last value is the
/// predecessor's, which compaction keeps as long as the delete can be watched).
fn insert_log(
    tx: &Transaction<'_>,
    revision: i64,
    key: &str,
    create_revision: i64,
    prev_revision: Option<i64>,
    value: Option<&bytes::Bytes>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (revision, key, create_revision, prev_revision, deleted, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        revision,
        key.as_bytes(),
        create_revision,
        prev_revision,
        value.is_none(),
        value.map(|v| v.as_ref())
    ])?;
    Ok(())
}
