//! Rehearsal probes: a light stand-in for production traffic on a clone, timing how long ordinary
//! reads and writes of its busiest tables are held up while a migration runs.
//!
//! Responsible for picking the tables (the largest by total size, top N), running per table one
//! reading and one writing session ([`Probes::start`]), each a loop of one timed operation and a
//! pause, and summarising what they measured ([`Probes::stop`] → [`ProbeReport`]: per table and
//! operation the count, median, p99 and max, and every operation slower than a threshold, listed
//! as a stall). Not responsible for deciding what a stall means for production (the rehearsal
//! report predicts blocking from these and the lock trace) or for running on anything but a clone.
//!
//! **What an operation is.** A read is `SELECT 1 FROM <table> LIMIT 1`: it needs ACCESS SHARE,
//! so it waits behind ACCESS EXCLUSIVE only. A write is `UPDATE <table> SET c = c WHERE ctid =
//! (SELECT ctid FROM <table> LIMIT 1)` in a transaction that is rolled back: it needs ROW
//! EXCLUSIVE (so it waits behind SHARE and stronger, e.g. a plain CREATE INDEX) and a row lock (so
//! it also waits behind a migration rewriting rows in a long transaction), and changes nothing.
//! A table without a column that can be set to itself gets `LOCK TABLE … IN ROW EXCLUSIVE MODE`
//! instead. Only the statement is timed (not BEGIN/ROLLBACK), with [`Instant`].
//!
//! **Light on purpose.** Each session pauses (20 ms by default) between operations, so a probe is
//! a few statements per second against one row: it neither loads the server nor holds a lock long
//! enough to change what the migration does, beyond what real traffic would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::guard::{PROBE_APPLICATION_NAME, PsqlSession, sleep_until};
use crate::quote::{quote_ident, quote_literal};
use crate::target::psql;
use crate::{PgBinaries, PgError, PgTarget};

/// How the probes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeOptions {
    /// How many of the largest tables get probes (a reader and a writer each).
    pub tables: usize,
    /// Pause between two operations of one session.
    pub pause: Duration,
    /// An operation at least this slow is listed as a stall.
    pub stall_threshold: Duration,
    /// How long [`Probes::stop`] waits for an operation in flight before cancelling it.
    pub stop_grace: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            tables: 3,
            pause: Duration::from_millis(20),
            stall_threshold: Duration::from_millis(100),
            stop_grace: Duration::from_secs(2),
        }
    }
}

/// Which operation a probe ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProbeKind {
    /// A read (ACCESS SHARE).
    Read,
    /// A write (ROW EXCLUSIVE and a row lock), rolled back.
    Write,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Read => "read",
            ProbeKind::Write => "write",
        })
    }
}

/// Timings of one kind of operation on one table.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStats {
    /// Operations finished (or cut short by the stop).
    pub count: u64,
    /// How many of them failed.
    pub errors: u64,
    /// Median duration, in milliseconds.
    pub median_ms: f64,
    /// 99th percentile (nearest rank), in milliseconds.
    pub p99_ms: f64,
    /// Longest, in milliseconds.
    pub max_ms: f64,
}

/// One operation that took at least the stall threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeStall {
    /// Read or write.
    pub kind: ProbeKind,
    /// When it started, in milliseconds after the origin [`Probes::stop`] was given (negative: before).
    pub start_ms: f64,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// The server's error, when it failed (a stall cancelled at the stop says so).
    pub error: Option<String>,
}

/// What the probes of one table measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeTableReport {
    /// `schema.table`.
    pub table: String,
    /// Its total size (with indexes and TOAST) when the probes started.
    pub size_bytes: i64,
    /// The reader's timings.
    pub reads: ProbeStats,
    /// The writer's timings.
    pub writes: ProbeStats,
    /// Operations at least the stall threshold long, in order.
    pub stalls: Vec<ProbeStall>,
}

impl ProbeTableReport {
    /// The longest operation of either kind, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.reads.max_ms.max(self.writes.max_ms)
    }
}

/// What all probes measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// The options they ran with.
    pub options: ProbeOptions,
    /// One entry per probed table, largest first.
    pub tables: Vec<ProbeTableReport>,
    /// Problems that stopped a probe session early.
    pub errors: Vec<String>,
}

impl ProbeReport {
    /// The probes of `table` (`schema.table` or the bare name).
    pub fn table(&self, table: &str) -> Option<&ProbeTableReport> {
        self.tables.iter().find(|t| t.table == table || t.table.split_once('.').is_some_and(|(_, n)| n == table))
    }
}

/// A table chosen for probing.
#[derive(Debug, Clone, Deserialize)]
struct ProbeTable {
    schema: String,
    name: String,
    size_bytes: i64,
    /// A column `UPDATE … SET c = c` may set (not generated, not an identity ALWAYS).
    column: Option<String>,
}

impl ProbeTable {
    fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    fn sql_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// One operation as a probe session saw it.
#[derive(Debug, Clone)]
struct Op {
    started: Instant,
    duration: Duration,
    error: Option<String>,
}

/// What one probe session hands back.
#[derive(Debug, Default)]
struct Log {
    ops: Vec<Op>,
    /// Why the session ended early.
    failure: Option<String>,
}

struct Session {
    table: usize,
    kind: ProbeKind,
    log: Arc<Mutex<Log>>,
    thread: JoinHandle<()>,
}

/// Probe sessions running against a database until [`Probes::stop`]; dropping stops them too.
pub struct Probes {
    bins: PgBinaries,
    target: PgTarget,
    database: String,
    options: ProbeOptions,
    tables: Vec<ProbeTable>,
    stop: Arc<AtomicBool>,
    pids: Vec<i32>,
    sessions: Vec<Session>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").field("database", &self.database).field("sessions", &self.sessions.len()).finish()
    }
}

impl Probes {
    /// Picks the `options.tables` largest tables of `database` and starts a reader and a writer
    /// on each; returns once every session is connected.
    pub fn start(bins: &PgBinaries, target: &PgTarget, database: &str, options: ProbeOptions) -> Result<Self, PgError> {
        if options.pause.is_zero() {
            return Err(PgError::InvalidOption {
                detail: "the probes' pause must be above zero, or they would load the server like a benchmark".into(),
            });
        }
        let tables = busiest_tables(bins, target, database, options.tables)?;
        let mut probes = Probes {
            bins: bins.clone(),
            target: target.clone(),
            database: database.to_owned(),
            options,
            tables,
            stop: Arc::new(AtomicBool::new(false)),
            pids: Vec::new(),
            sessions: Vec::new(),
        };
        for (index, table) in probes.tables.iter().enumerate() {
            for kind in [ProbeKind::Read, ProbeKind::Write] {
                // Connected here, not in the thread, so a probe that cannot connect fails the start.
                let mut session = PsqlSession::open(bins, target, database, PROBE_APPLICATION_NAME)?;
                let pid = session.query("SELECT pg_backend_pid()")?.trim().parse().unwrap_or(0);
                probes.pids.push(pid);
                let log = Arc::new(Mutex::new(Log::default()));
                let (sink, stop, sql) = (Arc::clone(&log), Arc::clone(&probes.stop), operation_sql(kind, table));
                let pause = options.pause;
                let thread = thread::Builder::new()
                    .name(format!("ringfence-probe-{kind}"))
                    .spawn(move || probe_loop(session, kind, &sql, pause, &stop, &sink))
                    .map_err(|source| PgError::Spawn { command: "probe thread".into(), source })?;
                probes.sessions.push(Session { table: index, kind, log, thread });
            }
        }
        Ok(probes)
    }

    /// The tables being probed, `schema.table`, largest first.
    pub fn tables(&self) -> Vec<String> {
        self.tables.iter().map(ProbeTable::qualified).collect()
    }

    /// Stops every probe (cancelling operations still waiting after the grace period) and
    /// summarises; stall start times are given in milliseconds after `origin`.
    pub fn stop(mut self, origin: Instant) -> ProbeReport {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + self.options.stop_grace;
        while Instant::now() < deadline && self.sessions.iter().any(|s| !s.thread.is_finished()) {
            thread::sleep(Duration::from_millis(5));
        }
        let mut errors = Vec::new();
        if self.sessions.iter().any(|s| !s.thread.is_finished()) {
            // Still waiting for a lock: the migration (or what it left) holds it. Cancel, so the
            // stop never hangs; the cancelled operation counts with the time it waited.
            if let Err(err) = self.cancel_backends() {
                errors.push(format!("could not cancel waiting probes: {err}"));
            }
        }
        let sessions = std::mem::take(&mut self.sessions);
        let mut logs: Vec<(usize, ProbeKind, Log)> = Vec::new();
        for session in sessions {
            let _ = session.thread.join();
            let log = std::mem::take(&mut *session.log.lock().unwrap_or_else(PoisonError::into_inner));
            if let Some(failure) = &log.failure {
                errors.push(format!("{} probe of {}: {failure}", session.kind, self.tables[session.table].qualified()));
            }
            logs.push((session.table, session.kind, log));
        }
        let threshold = self.options.stall_threshold;
        let tables = self
            .tables
            .iter()
            .enumerate()
            .map(|(index, table)| {
                let mut report = ProbeTableReport {
                    table: table.qualified(),
                    size_bytes: table.size_bytes,
                    reads: ProbeStats::default(),
                    writes: ProbeStats::default(),
                    stalls: Vec::new(),
                };
                for (_, kind, log) in logs.iter().filter(|(t, _, _)| *t == index) {
                    let stats = stats(&log.ops);
                    match kind {
                        ProbeKind::Read => report.reads = stats,
                        ProbeKind::Write => report.writes = stats,
                    }
                    report.stalls.extend(log.ops.iter().filter(|op| op.duration >= threshold).map(|op| ProbeStall {
                        kind: *kind,
                        start_ms: signed_ms(op.started, origin),
                        duration_ms: op.duration.as_secs_f64() * 1000.0,
                        error: op.error.clone(),
                    }));
                }
                report.stalls.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
                report
            })
            .collect();
        ProbeReport { options: self.options, tables, errors }
    }

    fn cancel_backends(&self) -> Result<(), PgError> {
        let pids: Vec<String> = self.pids.iter().filter(|p| **p > 0).map(i32::to_string).collect();
        if pids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity \
             WHERE pid IN ({}) AND application_name = {}",
            pids.join(", "),
            quote_literal(PROBE_APPLICATION_NAME)
        );
        psql(&self.bins, &self.target, &self.database, &sql).map(drop)
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        if self.sessions.is_empty() {
            return;
        }
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.cancel_backends();
        for session in self.sessions.drain(..) {
            let _ = session.thread.join();
        }
    }
}

/// The `limit` largest ordinary tables of `database` (total size), each with a column a write
/// probe can set to itself.
fn busiest_tables(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
    limit: usize,
) -> Result<Vec<ProbeTable>, PgError> {
    let sql = format!(
        "SELECT coalesce(jsonb_agg(t), '[]') FROM (\
           SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS size_bytes, \
             (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 \
                AND NOT a.attisdropped AND a.attgenerated = '' AND a.attidentity <> 'a' \
              ORDER BY a.attnum LIMIT 1) AS column \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind = 'r' AND c.relpersistence = 'p' \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
           ORDER BY pg_total_relation_size(c.oid) DESC, n.nspname, c.relname LIMIT {limit}) t"
    );
    crate::guard::parse_json(&psql(bins, target, database, &sql)?, "choosing tables to probe")
}

fn operation_sql(kind: ProbeKind, table: &ProbeTable) -> String {
    let name = table.sql_name();
    match (kind, &table.column) {
        (ProbeKind::Read, _) => format!("SELECT 1 FROM {name} LIMIT 1"),
        (ProbeKind::Write, Some(column)) => {
            let column = quote_ident(column);
            format!("UPDATE {name} SET {column} = {column} WHERE ctid = (SELECT ctid FROM {name} LIMIT 1)")
        }
        (ProbeKind::Write, None) => format!("LOCK TABLE {name} IN ROW EXCLUSIVE MODE"),
    }
}

fn probe_loop(
    mut session: PsqlSession,
    kind: ProbeKind,
    sql: &str,
    pause: Duration,
    stop: &AtomicBool,
    log: &Mutex<Log>,
) {
    let record = |op: Op| log.lock().unwrap_or_else(PoisonError::into_inner).ops.push(op);
    let fail = |err: PgError| log.lock().unwrap_or_else(PoisonError::into_inner).failure = Some(err.to_string());
    while !stop.load(Ordering::SeqCst) {
        if kind == ProbeKind::Write
            && let Err(err) = session.query("BEGIN")
        {
            return fail(err);
        }
        let started = Instant::now();
        let result = session.query(sql);
        let duration = started.elapsed();
        let error = match result {
            Ok(_) => None,
            Err(PgError::QueryFailed { sqlstate, message, .. }) => Some(format!("SQLSTATE {sqlstate}: {message}")),
            Err(err) => {
                record(Op { started, duration, error: Some(err.to_string()) });
                return fail(err);
            }
        };
        record(Op { started, duration, error });
        if kind == ProbeKind::Write
            && let Err(err) = session.query("ROLLBACK")
        {
            return fail(err);
        }
        sleep_until(Instant::now() + pause, stop);
    }
    session.close();
}

fn stats(ops: &[Op]) -> ProbeStats {
    let mut ms: Vec<f64> = ops.iter().map(|op| op.duration.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    ProbeStats {
        count: ms.len() as u64,
        errors: ops.iter().filter(|op| op.error.is_some()).count() as u64,
        median_ms: nearest_rank(&ms, 0.5),
        p99_ms: nearest_rank(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

/// The nearest-rank percentile `q` of sorted values; 0 for none.
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn signed_ms(at: Instant, origin: Instant) -> f64 {
    match at.checked_duration_since(origin) {
        Some(after) => after.as_secs_f64() * 1000.0,
        None => -(origin.duration_since(at).as_secs_f64() * 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let values: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(nearest_rank(&values, 0.5), 100.0);
        assert_eq!(nearest_rank(&values, 0.99), 198.0);
        assert_eq!(nearest_rank(&[5.0], 0.99), 5.0);
        assert_eq!(nearest_rank(&[], 0.99), 0.0);
    }

    #[test]
    fn operations_quote_names_and_fall_back_to_a_table_lock() {
        let table = ProbeTable {
            schema: "public".into(),
            name: "stock \"move\"".into(),
            size_bytes: 0,
            column: Some("qty".into()),
        };
        assert_eq!(operation_sql(ProbeKind::Read, &table), "SELECT 1 FROM \"public\".\"stock \"\"move\"\"\" LIMIT 1");
        assert_eq!(
            operation_sql(ProbeKind::Write, &table),
            "UPDATE \"public\".\"stock \"\"move\"\"\" SET \"qty\" = \"qty\" WHERE ctid = \
             (SELECT ctid FROM \"public\".\"stock \"\"move\"\"\" LIMIT 1)"
        );
        let bare = ProbeTable { column: None, ..table };
        assert!(operation_sql(ProbeKind::Write, &bare).starts_with("LOCK TABLE"));
    }

    #[test]
    fn stats_count_errors_and_take_the_tail() {
        let now = Instant::now();
        let op = |ms: u64, error: bool| Op {
            started: now,
            duration: Duration::from_millis(ms),
            error: error.then(|| "boom".to_owned()),
        };
        let ops: Vec<Op> = (0..99).map(|_| op(2, false)).chain([op(900, true)]).collect();
        let s = stats(&ops);
        assert_eq!((s.count, s.errors, s.median_ms, s.p99_ms, s.max_ms), (100, 1, 2.0, 2.0, 900.0));
        assert!(signed_ms(now, now + Duration::from_millis(5)) < -4.9);
    }
}
