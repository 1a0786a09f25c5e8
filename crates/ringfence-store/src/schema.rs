//! The SQLite schema and its forward migrations. The schema version lives in `PRAGMA user_version`;
//! migration N (1-based) takes a database from version N-1 to N. Add a migration to change the schema —
//! never edit one that has shipped. Opening and querying are the `sqlite` module's business.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::{Result, StoreError};

/// The newest schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Each entry takes the database one version forward.
const MIGRATIONS: &[&str] = &[
    // 1: runs, events, steps, snapshots. Timestamps are RFC 3339 text, JSON is text.
    r#"
    CREATE TABLE runs (
        -- AUTOINCREMENT so a run id is never reused: audit entries refer to runs by id.
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        release_version TEXT NOT NULL,
        replaces        TEXT NOT NULL,
        plan            TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
    );

    CREATE TABLE events (
        run_id INTEGER NOT NULL REFERENCES runs (id),
        seq    INTEGER NOT NULL CHECK (seq >= 1),
        at     TEXT NOT NULL,
        event  TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE steps (
        -- The rowid orders steps by when their intent was recorded.
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER NOT NULL REFERENCES runs (id),
        tenant      TEXT NOT NULL,
        step        TEXT NOT NULL,
        attempt     INTEGER NOT NULL CHECK (attempt >= 0),
        started_at  TEXT NOT NULL,
        intent      TEXT NOT NULL,
        finished_at TEXT,
        succeeded   INTEGER,
        outcome     TEXT,
        -- The database itself refuses a second intent for the same step attempt.
        UNIQUE (run_id, tenant, step, attempt),
        CHECK ((finished_at IS NULL) = (succeeded IS NULL) AND (succeeded IS NULL) = (outcome IS NULL))
    );

    CREATE TABLE snapshots (
        run_id         INTEGER PRIMARY KEY REFERENCES runs (id),
        at             TEXT NOT NULL,
        status         TEXT NOT NULL,
        state          TEXT NOT NULL,
        last_event_seq INTEGER NOT NULL
    );
    "#,
];

/// Reads the schema version, refusing one newer than this build knows.
pub(crate) fn check_version(conn: &Connection, path: &Path) -> Result<u32> {
    let found = user_version(conn).map_err(|source| StoreError::Sqlite { path: path.to_owned(), source })?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { path: path.to_owned(), found, supported: SCHEMA_VERSION });
    }
    Ok(found)
}

/// Brings the schema up to [`SCHEMA_VERSION`], one migration per transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let sqlite = |source| StoreError::Sqlite { path: path.to_owned(), source };
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as u32 + 1;
        // Immediate: take the write lock before looking, so two processes opening a new database at once
        // do not both run the same migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let current = check_version(&tx, path)?;
        if current >= target {
            continue;
        }
        tx.execute_batch(sql).map_err(sqlite)?;
        // user_version is part of the database header, so it commits or rolls back with the migration.
        tx.pragma_update(None, "user_version", target).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}
