//! Opening connections and migrating the schema.
//!
//! The `meta` table holds named integers: `schema_version`, `current_revision` (the last revision
//! handed out; kept here because compaction may delete the newest log row, and revisions must
//! never be reused) and `compacted_revision`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};

/// Migrations in order; the schema version is the number of migrations applied.
const MIGRATIONS: &[&str] = &[
    // 1: the revision log and the index of live keys.
    "CREATE TABLE log (
        revision INTEGER PRIMARY KEY,
        key BLOB NOT NULL,
        create_revision INTEGER NOT NULL,
        prev_revision INTEGER,
        deleted INTEGER NOT NULL,
        value BLOB
    );
    CREATE INDEX log_key_revision ON log (key, revision);
    CREATE TABLE kv (
        key BLOB PRIMARY KEY,
        create_revision INTEGER NOT NULL,
        mod_revision INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO meta (name, value) VALUES ('current_revision', 0), ('compacted_revision', 0);",
];

pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a connection waits for another one's lock before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the connection that writes; creates the file, enables WAL and migrates the schema.
pub(crate) fn open_writer(path: &Path, fsync: bool) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Corrupt(format!("cannot enable WAL journal mode on {}: got {mode}", path.display())));
    }
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a connection that only reads.
pub(crate) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Read-write open (WAL readers need the shared-memory file) but no writes through this one.
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")?;
    let found: i64 = tx
        .query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(Error::UnsupportedSchema { found, supported: SCHEMA_VERSION });
    }
    let applied = usize::try_from(found).map_err(|_| Error::Corrupt(format!("schema version {found}")))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        tracing::info!(version = index + 1, "migrating store schema");
        tx.execute_batch(migration)?;
    }
    tx.execute(
        "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [SCHEMA_VERSION],
    )?;
    tx.commit()?;
    Ok(())
}

/// Reads a named integer from `meta`.
pub(crate) fn read_meta(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?
        .ok_or_else(|| Error::Corrupt(format!("meta entry {name:?} is missing")))
}

pub(crate) fn write_meta(conn: &Connection, name: &str, value: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE meta SET value = ?2 WHERE name = ?1")?.execute(rusqlite::params![name, value])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_creates_the_schema_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let conn = open_writer(&path, false).expect("open");
        assert_eq!(read_meta(&conn, "schema_version").expect("version"), SCHEMA_VERSION);
        assert_eq!(read_meta(&conn, "current_revision").expect("current"), 0);
        drop(conn);
        // Reopening applies nothing again (a second INSERT of the meta rows would fail).
        let conn = open_writer(&path, false).expect("reopen");
        assert_eq!(read_meta(&conn, "compacted_revision").expect("compacted"), 0);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let conn = open_writer(&path, false).expect("open");
        write_meta(&conn, "schema_version", SCHEMA_VERSION + 1).expect("bump");
        drop(conn);
        match open_writer(&path, false) {
            Err(Error::UnsupportedSchema { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected UnsupportedSchema, got {other:?}"),
        }
    }
}
