//! [`SqliteStore`]: the embedded default [`Store`], one SQLite file per controller. It opens the file with
//! settings that favour durability over speed and keeps the schema current (see `schema`); the rules
//! about steps are enforced here, in the same transaction as the write they guard.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde_json::Value;

use crate::model::{NewRun, RunId, RunSummary, Snapshot, StepKey, StepOutcome, StepRecord, StoredEvent};
use crate::store::{Change, Store};
use crate::{Result, StoreError, schema};

/// A [`Store`] in a SQLite database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, creating its directory, and migrates its schema
    /// forward. A database written by a newer ringfence is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore> {
        let path = path.as_ref().to_owned();
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source })?;
        }
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        SqliteStore::setup(conn, path)
    }

    /// Opens a fresh database that lives only as long as the value; for tests.
    pub fn open_in_memory() -> Result<SqliteStore> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
        SqliteStore::setup(conn, path)
    }

    /// The database file (`:memory:` for an in-memory one).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn setup(mut conn: Connection, path: PathBuf) -> Result<SqliteStore> {
        let sqlite = |source| StoreError::Sqlite { path: path.clone(), source };
        // `ringfence status` reads while a rollout writes: wait for the writer rather than fail at once.
        conn.busy_timeout(Duration::from_secs(10)).map_err(sqlite)?;
        // Look at the version before changing anything in a database a newer ringfence may own.
        schema::check_version(&conn, &path)?;
        // WAL lets readers run beside the writer; FULL syncs the log on every commit, so a recorded intent
        // or event survives power loss, which matters more here than write speed.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(sqlite)?;
        schema::migrate(&mut conn, &path)?;
        Ok(SqliteStore { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| db_error(&self.path, source)
    }
}

/// Tells values that cannot be read back (corruption) from other SQLite failures.
fn db_error(path: &Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_owned();
    match source {
        rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
            StoreError::Corrupt { path, source }
        }
        source => StoreError::Sqlite { path, source },
    }
}

/// A timestamp column: RFC 3339 text.
struct Ts(Timestamp);

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map(Ts).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A seq column: SQLite integers are signed, seqs never are.
struct Seq(u64);

impl FromSql for Seq {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let seq = value.as_i64()?;
        u64::try_from(seq).map(Seq).map_err(|_| FromSqlError::OutOfRange(seq))
    }
}

/// A JSON column: text.
struct Json(Value);

impl FromSql for Json {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        serde_json::from_str(value.as_str()?).map(Json).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

const RUN_COLUMNS: &str = "id, release_version, replaces, plan, status, created_at, updated_at";

fn run_row(row: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(RunSummary {
        id: RunId(row.get(0)?),
        release_version: row.get(1)?,
        replaces: row.get(2)?,
        plan: row.get::<_, Json>(3)?.0,
        status: row.get(4)?,
        created_at: row.get::<_, Ts>(5)?.0,
        updated_at: row.get::<_, Ts>(6)?.0,
    })
}

const STEP_COLUMNS: &str = "tenant, step, attempt, started_at, intent, finished_at, succeeded, outcome";

fn step_row(row: &Row<'_>) -> rusqlite::Result<StepRecord> {
    let succeeded: Option<bool> = row.get(6)?;
    let outcome: Option<Json> = row.get(7)?;
    Ok(StepRecord {
        key: StepKey { tenant: row.get(0)?, step: row.get(1)?, attempt: row.get(2)? },
        started_at: row.get::<_, Ts>(3)?.0,
        detail: row.get::<_, Json>(4)?.0,
        finished_at: row.get::<_, Option<Ts>>(5)?.map(|ts| ts.0),
        // The table's CHECK keeps succeeded and outcome both set or both NULL.
        outcome: succeeded.zip(outcome).map(|(succeeded, detail)| StepOutcome { succeeded, detail: detail.0 }),
    })
}

impl Store for SqliteStore {
    fn create_run(&mut self, run: &NewRun) -> Result<RunId> {
        let created_at = run.created_at.to_string();
        self.conn
            .execute(
                "INSERT INTO runs (release_version, replaces, plan, status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'created', ?4, ?4)",
                params![run.release_version, run.replaces, run.plan.to_string(), created_at],
            )
            .map_err(self.err())?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    fn runs(&self) -> Result<Vec<RunSummary>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt.query_map([], run_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn run(&self, id: RunId) -> Result<RunSummary> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
        self.conn.query_row(&sql, [id.0], run_row).optional().map_err(self.err())?.ok_or(StoreError::UnknownRun(id))
    }

    fn latest_run(&self) -> Result<Option<RunSummary>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT 1");
        self.conn.query_row(&sql, [], run_row).optional().map_err(self.err())
    }

    fn commit(&mut self, run: RunId, changes: &[Change<'_>]) -> Result<Vec<u64>> {
        let path = &self.path;
        let sqlite = |source| db_error(path, source);
        // Immediate: take the write lock up front, so a concurrent writer makes us wait (busy timeout)
        // instead of failing half-way when a read lock would have to be upgraded.
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        let exists =
            tx.query_row("SELECT 1 FROM runs WHERE id = ?1", [run.0], |_| Ok(())).optional().map_err(sqlite)?;
        if exists.is_none() {
            return Err(StoreError::UnknownRun(run));
        }
        let mut seqs = Vec::new();
        let mut latest = None;
        for change in changes {
            match *change {
                Change::Event { at, event } => {
                    seqs.push(insert_event(&tx, run, at, event).map_err(sqlite)?);
                    latest = Some(at);
                }
                Change::Intent { step, at, detail } => {
                    insert_intent(&tx, path, run, step, at, detail)?;
                    latest = Some(at);
                }
                Change::Outcome { step, at, outcome } => {
                    update_outcome(&tx, path, run, step, at, outcome)?;
                    latest = Some(at);
                }
                Change::Snapshot { at, status, state } => {
                    upsert_snapshot(&tx, run, at, status, state).map_err(sqlite)?;
                    latest = Some(at);
                }
            }
        }
        if let Some(at) = latest {
            tx.execute("UPDATE runs SET updated_at = ?2 WHERE id = ?1", params![run.0, at.to_string()])
                .map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)?;
        Ok(seqs)
    }

    fn events(&self, run: RunId) -> Result<Vec<StoredEvent>> {
        self.run(run)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, at, event FROM events WHERE run_id = ?1 ORDER BY seq")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([run.0], |row| {
                Ok(StoredEvent {
                    seq: row.get::<_, Seq>(0)?.0,
                    at: row.get::<_, Ts>(1)?.0,
                    event: row.get::<_, Json>(2)?.0,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn step(&self, run: RunId, step: &StepKey) -> Result<Option<StepRecord>> {
        self.run(run)?;
        let sql = format!(
            "SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 AND tenant = ?2 AND step = ?3 AND attempt = ?4"
        );
        self.conn
            .query_row(&sql, params![run.0, step.tenant, step.step, step.attempt], step_row)
            .optional()
            .map_err(self.err())
    }

    fn steps(&self, run: RunId) -> Result<Vec<StepRecord>> {
        self.run(run)?;
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt.query_map([run.0], step_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn unfinished_steps(&self, run: RunId) -> Result<Vec<StepRecord>> {
        self.run(run)?;
        let sql = format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 AND finished_at IS NULL ORDER BY id");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt.query_map([run.0], step_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    fn snapshot(&self, run: RunId) -> Result<Option<Snapshot>> {
        self.run(run)?;
        self.conn
            .query_row("SELECT at, status, state, last_event_seq FROM snapshots WHERE run_id = ?1", [run.0], |row| {
                Ok(Snapshot {
                    at: row.get::<_, Ts>(0)?.0,
                    status: row.get(1)?,
                    state: row.get::<_, Json>(2)?.0,
                    last_event_seq: row.get::<_, Seq>(3)?.0,
                })
            })
            .optional()
            .map_err(self.err())
    }
}

fn insert_event(tx: &Transaction<'_>, run: RunId, at: Timestamp, event: &Value) -> rusqlite::Result<u64> {
    let seq = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id = ?1", [run.0], |row| {
        row.get::<_, Seq>(0)
    })?;
    tx.execute(
        "INSERT INTO events (run_id, seq, at, event) VALUES (?1, ?2, ?3, ?4)",
        params![run.0, seq.0 as i64, at.to_string(), event.to_string()],
    )?;
    Ok(seq.0)
}

fn insert_intent(
    tx: &Transaction<'_>,
    path: &Path,
    run: RunId,
    step: &StepKey,
    at: Timestamp,
    detail: &Value,
) -> Result<()> {
    let sqlite = |source| db_error(path, source);
    // Checked here rather than left to the UNIQUE constraint so the error says which rule was broken.
    let attempts: Vec<(u32, bool)> = {
        let mut stmt = tx
            .prepare_cached(
                "SELECT attempt, finished_at IS NOT NULL FROM steps WHERE run_id = ?1 AND tenant = ?2 AND step = ?3",
            )
            .map_err(sqlite)?;
        let rows = stmt
            .query_map(params![run.0, step.tenant, step.step], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(sqlite)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sqlite)?
    };
    if attempts.iter().any(|&(attempt, _)| attempt == step.attempt) {
        return Err(StoreError::StepAlreadyStarted { run, key: step.clone() });
    }
    if let Some(&(unfinished, _)) = attempts.iter().find(|&&(_, finished)| !finished) {
        return Err(StoreError::PreviousAttemptUnfinished { run, key: step.clone(), unfinished });
    }
    tx.execute(
        "INSERT INTO steps (run_id, tenant, step, attempt, started_at, intent) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![run.0, step.tenant, step.step, step.attempt, at.to_string(), detail.to_string()],
    )
    .map_err(sqlite)?;
    Ok(())
}

fn update_outcome(
    tx: &Transaction<'_>,
    path: &Path,
    run: RunId,
    step: &StepKey,
    at: Timestamp,
    outcome: &StepOutcome,
) -> Result<()> {
    let sqlite = |source| db_error(path, source);
    let finished: Option<bool> = tx
        .query_row(
            "SELECT finished_at IS NOT NULL FROM steps WHERE run_id = ?1 AND tenant = ?2 AND step = ?3 AND attempt = ?4",
            params![run.0, step.tenant, step.step, step.attempt],
            |row| row.get(0),
        )
        .optional()
        .map_err(sqlite)?;
    match finished {
        None => return Err(StoreError::NoSuchStep { run, key: step.clone() }),
        Some(true) => return Err(StoreError::OutcomeAlreadyRecorded { run, key: step.clone() }),
        Some(false) => {}
    }
    tx.execute(
        "UPDATE steps SET finished_at = ?5, succeeded = ?6, outcome = ?7
         WHERE run_id = ?1 AND tenant = ?2 AND step = ?3 AND attempt = ?4",
        params![
            run.0,
            step.tenant,
            step.step,
            step.attempt,
            at.to_string(),
            outcome.succeeded,
            outcome.detail.to_string()
        ],
    )
    .map_err(sqlite)?;
    Ok(())
}

fn upsert_snapshot(
    tx: &Transaction<'_>,
    run: RunId,
    at: Timestamp,
    status: &str,
    state: &Value,
) -> rusqlite::Result<()> {
    // The snapshot reflects every event stored before it, including those earlier in the same commit.
    tx.execute(
        "INSERT INTO snapshots (run_id, at, status, state, last_event_seq)
         VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?1))
         ON CONFLICT (run_id) DO UPDATE SET
             at = excluded.at, status = excluded.status, state = excluded.state,
             last_event_seq = excluded.last_event_seq",
        params![run.0, at.to_string(), status, state.to_string()],
    )?;
    tx.execute("UPDATE runs SET status = ?2 WHERE id = ?1", params![run.0, status])?;
    Ok(())
}
