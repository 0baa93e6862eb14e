//! The SQL that reads the tables, shared by the writer (compare-and-swap checks) and the readers.
//!
//! Every function takes a connection inside a transaction, so that what it reads together with
//! the `meta` revisions is one snapshot.

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::keys::KeyRange;
use crate::types::{Event, EventKind, HistoryPage, KeyValue};

const GET_LIVE: &str = "SELECT k.create_revision, k.mod_revision, l.value
     FROM kv k JOIN log l ON l.revision = k.mod_revision
     WHERE k.key = ?1";

const LIST_LATEST: &str = "SELECT k.key, k.create_revision, k.mod_revision, l.value
     FROM kv k JOIN log l ON l.revision = k.mod_revision
     WHERE k.key >= ?1 AND k.key < ?2
     ORDER BY k.key LIMIT ?3";

// The newest version of each key at or below a revision, walking the (key, revision) index in
// key order, so reading stops as soon as the page is full.
const VERSIONS_AT: &str = "SELECT max(revision) FROM log
     WHERE key >= ?1 AND key < ?2 AND revision <= ?3
     GROUP BY key ORDER BY key";

// `+l.key` keeps SQLite from using the key index here: the scan must run in revision order
// from `after_revision` (history is bounded by compaction), not sort a whole key range.
const HISTORY: &str =
    "SELECT l.revision, l.key, l.create_revision, l.deleted, l.value, l.prev_revision, p.create_revision, p.value
     FROM log l LEFT JOIN log p ON p.revision = l.prev_revision
     WHERE l.revision > ?1 AND +l.key >= ?2 AND +l.key < ?3
     ORDER BY l.revision LIMIT ?4";

fn key_from_blob(bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|error| Error::Corrupt(format!("stored key is not UTF-8: {error}")))
}

/// `LIMIT` for SQLite: -1 is no limit.
fn sql_limit(limit: Option<usize>) -> i64 {
    limit.and_then(|limit| i64::try_from(limit).ok()).unwrap_or(-1)
}

/// The live value of `key`.
pub(crate) fn get(conn: &Connection, key: &str) -> Result<Option<KeyValue>> {
    let row = conn
        .prepare_cached(GET_LIVE)?
        .query_row([key.as_bytes()], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?, row.get::<_, Vec<u8>>(2)?))
        })
        .optional()?;
    Ok(row.map(|(create_revision, mod_revision, value)| KeyValue {
        key: key.to_string(),
        value: Bytes::from(value),
        create_revision,
        mod_revision,
    }))
}

/// Live keys in `range`, in key order; at most `limit` (none if `None`).
pub(crate) fn list_latest(conn: &Connection, range: &KeyRange, limit: Option<usize>) -> Result<Vec<KeyValue>> {
    let mut statement = conn.prepare_cached(LIST_LATEST)?;
    let mut rows = statement.query(params![range.start, range.end, sql_limit(limit)])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        items.push(KeyValue {
            key: key_from_blob(row.get(0)?)?,
            create_revision: row.get(1)?,
            mod_revision: row.get(2)?,
            value: Bytes::from(row.get::<_, Vec<u8>>(3)?),
        });
    }
    Ok(items)
}

/// Keys in `range` as they were at `revision`, in key order; at most `limit` (none if `None`).
pub(crate) fn list_at(
    conn: &Connection,
    range: &KeyRange,
    revision: i64,
    limit: Option<usize>,
) -> Result<Vec<KeyValue>> {
    let mut versions = conn.prepare_cached(VERSIONS_AT)?;
    let mut version =
        conn.prepare_cached("SELECT key, create_revision, deleted, value FROM log WHERE revision = ?1")?;
    let mut rows = versions.query(params![range.start, range.end, revision])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        if limit.is_some_and(|limit| items.len() >= limit) {
            break;
        }
        let mod_revision: i64 = row.get(0)?;
        let (key, create_revision, deleted, value) = version.query_row([mod_revision], |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, bool>(2)?,
                row.get::<_, Option<Vec<u8>>>(3)?,
            ))
        })?;
        if deleted {
            continue;
        }
        let value = value.ok_or_else(|| Error::Corrupt(format!("log row {mod_revision} has no value")))?;
        items.push(KeyValue { key: key_from_blob(key)?, value: Bytes::from(value), create_revision, mod_revision });
    }
    Ok(items)
}

/// Number of live keys in `range`.
pub(crate) fn count(conn: &Connection, range: &KeyRange) -> Result<u64> {
    let count: i64 = conn
        .prepare_cached("SELECT count(*) FROM kv WHERE key >= ?1 AND key < ?2")?
        .query_row(params![range.start, range.end], |row| row.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Up to `limit` events in `range` after `after_revision`, in revision order.
/// `current_revision` is the snapshot's revision, reported when the page is not full.
pub(crate) fn history(
    conn: &Connection,
    range: &KeyRange,
    after_revision: i64,
    limit: usize,
    current_revision: i64,
) -> Result<HistoryPage> {
    let limit = limit.max(1);
    let mut statement = conn.prepare_cached(HISTORY)?;
    let mut rows = statement.query(params![after_revision, range.start, range.end, sql_limit(Some(limit))])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        let revision: i64 = row.get(0)?;
        let key = key_from_blob(row.get(1)?)?;
        let create_revision: i64 = row.get(2)?;
        let deleted: bool = row.get(3)?;
        let value: Option<Vec<u8>> = row.get(4)?;
        let prev_revision: Option<i64> = row.get(5)?;
        let prev_create_revision: Option<i64> = row.get(6)?;
        let prev_value: Option<Vec<u8>> = row.get(7)?;
        let prev = match (prev_revision, prev_create_revision, prev_value) {
            (None, _, _) => None,
            (Some(mod_revision), Some(create_revision), Some(value)) => {
                Some(KeyValue { key: key.clone(), value: Bytes::from(value), create_revision, mod_revision })
            }
            (Some(mod_revision), _, _) => {
                return Err(Error::Corrupt(format!(
                    "revision {revision} of {key:?} refers to revision {mod_revision}, which is missing"
                )));
            }
        };
        let event = if deleted {
            let last = prev
                .clone()
                .ok_or_else(|| Error::Corrupt(format!("delete at revision {revision} has no previous value")))?;
            Event {
                kind: EventKind::Delete,
                kv: KeyValue { key, value: last.value, create_revision, mod_revision: revision },
                prev,
            }
        } else {
            let value = value.ok_or_else(|| Error::Corrupt(format!("log row {revision} has no value")))?;
            Event {
                kind: EventKind::Put,
                kv: KeyValue { key, value: Bytes::from(value), create_revision, mod_revision: revision },
                prev,
            }
        };
        events.push(event);
    }
    let scanned_through = match events.last() {
        Some(last) if events.len() >= limit => last.revision(),
        _ => current_revision.max(after_revision),
    };
    Ok(HistoryPage { events, scanned_through })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plans that keep reads cheap: index ranges in the right order, no sorting.
    #[test]
    fn reads_walk_indexes_without_sorting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = crate::sqlite::schema::open_writer(&dir.path().join("db"), false).expect("open");
        let plan = |sql: &str| -> String {
            let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
            let rows = statement.query_map([], |row| row.get::<_, String>(3)).expect("plan rows");
            rows.map(|row| row.expect("plan row")).collect::<Vec<_>>().join("; ")
        };
        let get = plan(&GET_LIVE.replace("?1", "x'01'"));
        assert!(get.contains("SEARCH k USING PRIMARY KEY (key=?)"), "{get}");
        let latest = plan(&LIST_LATEST.replace("?1", "x'01'").replace("?2", "x'02'").replace("?3", "10"));
        assert!(latest.contains("SEARCH k USING PRIMARY KEY (key>? AND key<?)"), "{latest}");
        let versions = plan(&VERSIONS_AT.replace("?1", "x'01'").replace("?2", "x'02'").replace("?3", "5"));
        assert!(versions.contains("USING COVERING INDEX log_key_revision"), "{versions}");
        let history =
            plan(&HISTORY.replace("?1", "5").replace("?2", "x'01'").replace("?3", "x'02'").replace("?4", "10"));
        assert!(history.contains("SEARCH l USING INTEGER PRIMARY KEY (rowid>?)"), "{history}");
        for plan in [get, latest, versions, history] {
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
