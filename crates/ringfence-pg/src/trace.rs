//! The lock tracer: what a migration did to the tables of one database, seen from outside.
//!
//! Responsible for sampling `pg_locks` joined with `pg_stat_activity` and `pg_class` of one
//! database every few milliseconds while something runs against it ([`Tracer`]), and for turning
//! the samples into a [`Trace`]: per relation, which lock modes each backend held and for how long
//! at most without a break, which sessions waited and behind whom, and whether the relation was
//! rewritten (its `relfilenode` changed between the snapshots taken at start and stop), with sizes
//! and row estimates before and after. Not responsible for running the migration, for cloning the
//! database or for judging the result (the rehearsal report and gates do that).
//!
//! **Resolution.** A lock is seen only when a sample falls inside it: a hold shorter than the
//! interval may be missed, and a hold's duration is measured from the first to the last sample
//! that saw it (a lower bound, too short by at most two intervals). Samples are timed by the
//! server's clock. Locks on system catalogs and TOAST tables, and the tracer's own, are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::guard::{LOCK_NOT_AVAILABLE, PsqlSession, TRACER_APPLICATION_NAME, Worker, sleep_until};
use crate::{PgBinaries, PgError, PgTarget};

/// Longest interval between samples the tracer accepts: longer ones miss short exclusive locks.
pub const MAX_INTERVAL: Duration = Duration::from_millis(50);

/// User relations of the current database: tables, partitioned tables, materialized views,
/// indexes. `size` is the SQL for a relation's size in bytes.
fn relations_sql(size: &str) -> String {
    format!(
        "SELECT coalesce(jsonb_agg(t), '[]') FROM (\
           SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, \
             CASE WHEN c.relkind IN ('i', 'I') THEN \
               (SELECT i.indrelid::regclass::text FROM pg_index i WHERE i.indexrelid = c.oid) END AS table_name, \
             c.relfilenode::bigint AS relfilenode, c.reltuples::float8 AS rows_estimate, \
             coalesce({size}, 0) AS size_bytes \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind IN ('r', 'p', 'm', 'i', 'I') \
             AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%') t"
    )
}

/// Sizes and row estimates of every user relation. `pg_relation_size` needs a lock a migration's
/// ACCESS EXCLUSIVE blocks, so after waiting [`SNAPSHOT_LOCK_TIMEOUT`] the sizes come from
/// `relpages` (the size at the last VACUUM, ANALYZE or index build) instead of hanging the trace.
fn snapshot(session: &mut PsqlSession) -> Result<Vec<RelationRow>, PgError> {
    match session.query_json(&relations_sql("pg_relation_size(c.oid)")) {
        Err(PgError::QueryFailed { sqlstate, .. }) if sqlstate == LOCK_NOT_AVAILABLE => {
            session.query_json(&relations_sql("c.relpages::bigint * current_setting('block_size')::bigint"))
        }
        other => other,
    }
}

/// How long a snapshot waits for a relation lock before falling back to statistics.
const SNAPSHOT_LOCK_TIMEOUT: &str = "500ms";

/// The prepared statement running [`SAMPLE_SQL`] in the tracer's session.
const SAMPLE_STATEMENT: &str = "ringfence_sample";

/// One sample: relation locks of the current database, except the tracer's own.
const SAMPLE_SQL: &str = "SELECT jsonb_build_object(\
    'at_ms', extract(epoch FROM clock_timestamp())::float8 * 1000, \
    'locks', coalesce(jsonb_agg(t), '[]')) FROM (\
    SELECT l.pid, l.relation::bigint AS oid, l.mode, l.granted, \
      CASE WHEN NOT l.granted THEN pg_blocking_pids(l.pid) END AS blocked_by, \
      a.application_name, n.nspname AS schema, c.relname AS name \
    FROM pg_locks l \
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
    LEFT JOIN pg_class c ON c.oid = l.relation \
    LEFT JOIN pg_namespace n ON n.oid = c.relnamespace \
    WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid() \
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
      AND (n.nspname IS NULL OR (n.nspname NOT IN ('pg_catalog', 'information_schema') \
           AND n.nspname NOT LIKE 'pg\\_toast%'))) t";

/// A PostgreSQL table-level lock mode, weakest first (the order of the conflict table).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockMode {
    /// `ACCESS SHARE`: SELECT.
    AccessShare,
    /// `ROW SHARE`: SELECT FOR UPDATE/SHARE.
    RowShare,
    /// `ROW EXCLUSIVE`: INSERT, UPDATE, DELETE.
    RowExclusive,
    /// `SHARE UPDATE EXCLUSIVE`: VACUUM, ANALYZE, CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT.
    ShareUpdateExclusive,
    /// `SHARE`: CREATE INDEX (blocks writes).
    Share,
    /// `SHARE ROW EXCLUSIVE`: CREATE TRIGGER, some ALTER TABLE forms.
    ShareRowExclusive,
    /// `EXCLUSIVE`: REFRESH MATERIALIZED VIEW CONCURRENTLY.
    Exclusive,
    /// `ACCESS EXCLUSIVE`: most ALTER TABLE, DROP, TRUNCATE, VACUUM FULL (blocks reads too).
    AccessExclusive,
    /// Any other mode name `pg_locks` shows (e.g. `SIReadLock`).
    Other(String),
}

impl LockMode {
    /// The mode from `pg_locks.mode`, e.g. `AccessExclusiveLock`.
    pub fn from_pg(mode: &str) -> Self {
        match mode {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            other => LockMode::Other(other.to_owned()),
        }
    }

    /// Whether a plain `SELECT` waits behind this mode.
    pub fn blocks_reads(&self) -> bool {
        *self == LockMode::AccessExclusive
    }

    /// Whether `INSERT`/`UPDATE`/`DELETE` wait behind this mode.
    pub fn blocks_writes(&self) -> bool {
        matches!(self, LockMode::Share | LockMode::ShareRowExclusive | LockMode::Exclusive | LockMode::AccessExclusive)
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
            LockMode::Other(name) => name,
        })
    }
}

/// How the [`Tracer`] samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceOptions {
    /// Time between two samples; at most [`MAX_INTERVAL`].
    pub interval: Duration,
}

impl Default for TraceOptions {
    fn default() -> Self {
        Self { interval: Duration::from_millis(20) }
    }
}

/// A relation's storage at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RelationState {
    /// `pg_class.relfilenode`: changes when the relation is rewritten.
    pub relfilenode: u64,
    /// Size of its main fork, in bytes (from `relpages` when the relation was locked against reading).
    pub size_bytes: i64,
    /// `pg_class.reltuples`: the planner's row estimate (-1 when never analyzed, PostgreSQL 14+).
    pub rows_estimate: f64,
}

/// One backend's hold of one lock mode on one relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockHold {
    /// The mode held.
    pub mode: LockMode,
    /// The backend holding it.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: String,
    /// When it was first seen, in milliseconds after the trace started.
    pub first_seen_ms: f64,
    /// When it was last seen, in milliseconds after the trace started.
    pub last_seen_ms: f64,
    /// The longest stretch of consecutive samples that saw it, in milliseconds (a lower bound).
    pub max_continuous_ms: f64,
    /// How many samples saw it.
    pub samples: u64,
    /// Each stretch of consecutive samples that saw it, in order (at most [`MAX_SPANS`]).
    #[serde(default)]
    pub spans: Vec<Span>,
}

/// Most stretches kept per lock: a session locking and unlocking a table all the time (a web
/// shop's queries, a rehearsal probe) would otherwise grow the trace without bound.
pub const MAX_SPANS: usize = 256;

/// From the first to the last of consecutive samples that saw a lock, in milliseconds after the
/// trace started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The first sample that saw it.
    pub start_ms: f64,
    /// The last sample that saw it.
    pub end_ms: f64,
}

/// One backend's wait for one lock mode on one relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockWait {
    /// The mode it asked for.
    pub mode: LockMode,
    /// The waiting backend.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: String,
    /// When it was first seen waiting, in milliseconds after the trace started.
    pub first_seen_ms: f64,
    /// The longest stretch of consecutive samples that saw it waiting, in milliseconds.
    pub max_continuous_ms: f64,
    /// Every backend `pg_blocking_pids` named while it waited.
    pub blocked_by: BTreeSet<i32>,
    /// How many samples saw it waiting.
    pub samples: u64,
    /// Each stretch of consecutive samples that saw it waiting (at most [`MAX_SPANS`]).
    #[serde(default)]
    pub spans: Vec<Span>,
}

/// Everything the trace saw of one relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationTrace {
    /// `pg_class.oid`.
    pub oid: u32,
    /// Its schema, when known.
    pub schema: Option<String>,
    /// Its name; `oid <n>` for a relation created and dropped unseen.
    pub name: String,
    /// `pg_class.relkind`: `r` table, `p` partitioned table, `m` materialized view, `i`/`I` index.
    pub kind: Option<String>,
    /// For an index: its table.
    pub table: Option<String>,
    /// At the start of the trace (absent: created during it).
    pub before: Option<RelationState>,
    /// At the end of the trace (absent: dropped during it).
    pub after: Option<RelationState>,
    /// Its storage was replaced: `relfilenode` differs between start and end.
    pub rewritten: bool,
    /// Created and gone again without ever being visible by name: a rewrite's scratch heap, its
    /// TOAST table or index, or a temporary table.
    pub transient: bool,
    /// Locks held on it, strongest mode first.
    pub holds: Vec<LockHold>,
    /// Sessions that waited for a lock on it.
    pub waits: Vec<LockWait>,
}

impl RelationTrace {
    /// Every mode any backend held on it.
    pub fn modes_held(&self) -> BTreeSet<LockMode> {
        self.holds.iter().map(|h| h.mode.clone()).collect()
    }

    /// The strongest mode held on it.
    pub fn strongest_mode(&self) -> Option<LockMode> {
        self.holds.iter().map(|h| h.mode.clone()).max()
    }

    /// The longest continuous hold of `mode` by any backend, in milliseconds.
    pub fn max_hold_ms(&self, mode: &LockMode) -> Option<f64> {
        self.holds.iter().filter(|h| h.mode == *mode).map(|h| h.max_continuous_ms).reduce(f64::max)
    }

    /// `schema.name`, or the name alone when the schema is unknown.
    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What happened to the relations of one database while it was traced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The database traced.
    pub database: String,
    /// When tracing started (the controller's clock).
    pub started_at: Timestamp,
    /// From the first to the last sample, in milliseconds (server clock).
    pub duration_ms: f64,
    /// The interval asked for, in milliseconds.
    pub interval_ms: f64,
    /// Samples taken.
    pub samples: u64,
    /// The longest time between two samples, in milliseconds: the trace's real resolution.
    pub max_gap_ms: f64,
    /// Relations that were locked, waited for, rewritten, created or dropped, by name.
    pub relations: Vec<RelationTrace>,
}

impl Trace {
    /// The relation named `name` (unqualified, or `schema.name`).
    pub fn relation(&self, name: &str) -> Option<&RelationTrace> {
        self.relations.iter().find(|r| r.name == name || r.qualified_name() == name)
    }

    /// Relations whose storage was rewritten.
    pub fn rewrites(&self) -> impl Iterator<Item = &RelationTrace> {
        self.relations.iter().filter(|r| r.rewritten)
    }
}

/// Samples a database's locks in a thread until [`Tracer::stop`]; dropping it stops sampling and
/// discards the trace.
#[derive(Debug)]
pub struct Tracer {
    worker: Worker<Trace>,
}

impl Tracer {
    /// Snapshots the relations of `database` and starts sampling; start the migration afterwards.
    pub fn start(bins: &PgBinaries, target: &PgTarget, database: &str, options: TraceOptions) -> Result<Self, PgError> {
        if options.interval.is_zero() || options.interval > MAX_INTERVAL {
            return Err(PgError::InvalidOption {
                detail: format!(
                    "trace interval {:?} must be above zero and at most {MAX_INTERVAL:?}; longer ones miss short locks",
                    options.interval
                ),
            });
        }
        let mut session = PsqlSession::open(bins, target, database, TRACER_APPLICATION_NAME)?;
        session.query(&format!("SET lock_timeout = '{SNAPSHOT_LOCK_TIMEOUT}'"))?;
        let before = snapshot(&mut session)?;
        // Planned once: parsing and planning this join of catalog views every 20 ms cost as
        // much CPU as running it.
        session.query(&format!("PREPARE {SAMPLE_STATEMENT} AS {SAMPLE_SQL}"))?;
        let mut builder = TraceBuilder::new(database, options.interval, before);
        let worker = Worker::spawn("tracer", move |stop| {
            while !stop.load(Ordering::SeqCst) {
                let tick = Instant::now();
                let sample: Sample = session.query_json(&format!("EXECUTE {SAMPLE_STATEMENT}"))?;
                builder.add(sample);
                sleep_until(tick + options.interval, stop);
            }
            // One last look, so a lock released just before stop is closed at the right time.
            let sample: Sample = session.query_json(&format!("EXECUTE {SAMPLE_STATEMENT}"))?;
            builder.add(sample);
            let after = snapshot(&mut session)?;
            session.close();
            Ok(builder.finish(after))
        })?;
        Ok(Self { worker })
    }

    /// Stops sampling, snapshots the relations again and returns the trace.
    pub fn stop(self) -> Result<Trace, PgError> {
        self.worker.finish()
    }
}

/// A relation as [`relations_sql`] returns it.
#[derive(Debug, Clone, Deserialize)]
struct RelationRow {
    oid: u32,
    schema: String,
    name: String,
    kind: String,
    table_name: Option<String>,
    relfilenode: u64,
    rows_estimate: f64,
    size_bytes: i64,
}

impl RelationRow {
    fn state(&self) -> RelationState {
        RelationState { relfilenode: self.relfilenode, size_bytes: self.size_bytes, rows_estimate: self.rows_estimate }
    }
}

/// One sample as [`SAMPLE_SQL`] returns it.
#[derive(Debug, Clone, Deserialize)]
struct Sample {
    at_ms: f64,
    locks: Vec<LockRow>,
}

#[derive(Debug, Clone, Deserialize)]
struct LockRow {
    pid: i32,
    oid: u32,
    mode: String,
    granted: bool,
    blocked_by: Option<Vec<i32>>,
    application_name: Option<String>,
    schema: Option<String>,
    name: Option<String>,
}

/// (relation, backend, mode, granted): one line of a lock's life.
type LockKey = (u32, i32, String, bool);

/// A stretch of consecutive samples that saw one lock.
#[derive(Debug, Clone)]
struct Stretch {
    first_ms: f64,
    last_ms: f64,
}

/// Everything known about one lock across the trace.
#[derive(Debug, Clone)]
struct LockLife {
    application_name: String,
    first_seen_ms: f64,
    last_seen_ms: f64,
    max_continuous_ms: f64,
    samples: u64,
    blocked_by: BTreeSet<i32>,
    /// Stretches that ended, oldest first, at most [`MAX_SPANS`].
    closed: Vec<Stretch>,
    /// The stretch still going on at the latest sample.
    open: Option<Stretch>,
}

impl LockLife {
    /// Every stretch, the open one last; when over [`MAX_SPANS`], the first ones are kept.
    fn spans(&self) -> Vec<Span> {
        self.closed
            .iter()
            .chain(&self.open)
            .take(MAX_SPANS)
            .map(|s| Span { start_ms: s.first_ms, end_ms: s.last_ms })
            .collect()
    }
}

/// Folds samples into a [`Trace`]; pure, so it is tested without a server.
#[derive(Debug)]
struct TraceBuilder {
    database: String,
    started_at: Timestamp,
    interval: Duration,
    before: BTreeMap<u32, RelationRow>,
    /// Names of relations seen only in lock samples (e.g. created during the trace).
    seen_names: BTreeMap<u32, (Option<String>, String)>,
    locks: BTreeMap<LockKey, LockLife>,
    first_ms: Option<f64>,
    last_ms: Option<f64>,
    max_gap_ms: f64,
    samples: u64,
}

impl TraceBuilder {
    fn new(database: &str, interval: Duration, before: Vec<RelationRow>) -> Self {
        Self {
            database: database.to_owned(),
            started_at: Timestamp::now(),
            interval,
            before: before.into_iter().map(|r| (r.oid, r)).collect(),
            seen_names: BTreeMap::new(),
            locks: BTreeMap::new(),
            first_ms: None,
            last_ms: None,
            max_gap_ms: 0.0,
            samples: 0,
        }
    }

    fn add(&mut self, sample: Sample) {
        let at = sample.at_ms;
        let start = *self.first_ms.get_or_insert(at);
        if let Some(last) = self.last_ms {
            self.max_gap_ms = self.max_gap_ms.max(at - last);
        }
        self.last_ms = Some(at);
        self.samples += 1;
        let rel = at - start;
        let mut seen: BTreeSet<LockKey> = BTreeSet::new();
        for row in sample.locks {
            if let Some(name) = &row.name {
                self.seen_names.insert(row.oid, (row.schema.clone(), name.clone()));
            }
            let key = (row.oid, row.pid, row.mode.clone(), row.granted);
            if !seen.insert(key.clone()) {
                continue;
            }
            let life = self.locks.entry(key).or_insert_with(|| LockLife {
                application_name: row.application_name.clone().unwrap_or_default(),
                first_seen_ms: rel,
                last_seen_ms: rel,
                max_continuous_ms: 0.0,
                samples: 0,
                blocked_by: BTreeSet::new(),
                closed: Vec::new(),
                open: None,
            });
            life.samples += 1;
            life.last_seen_ms = rel;
            life.blocked_by.extend(row.blocked_by.into_iter().flatten());
            let stretch = life.open.get_or_insert(Stretch { first_ms: rel, last_ms: rel });
            stretch.last_ms = rel;
            life.max_continuous_ms = life.max_continuous_ms.max(stretch.last_ms - stretch.first_ms);
        }
        // A lock missing from this sample was released (or granted, for a wait): its stretch ends.
        for (key, life) in &mut self.locks {
            if !seen.contains(key)
                && let Some(stretch) = life.open.take()
                && life.closed.len() < MAX_SPANS
            {
                life.closed.push(stretch);
            }
        }
    }

    /// A relation's entry, without locks yet, from the snapshots and the names samples saw.
    fn relation(&self, oid: u32, after: &BTreeMap<u32, RelationRow>) -> RelationTrace {
        let known = after.get(&oid).or_else(|| self.before.get(&oid));
        let (schema, name) = match (known, self.seen_names.get(&oid)) {
            (Some(row), _) => (Some(row.schema.clone()), row.name.clone()),
            (None, Some((schema, name))) => (schema.clone(), name.clone()),
            (None, None) => (None, format!("oid {oid}")),
        };
        let before = self.before.get(&oid).map(RelationRow::state);
        let after_state = after.get(&oid).map(RelationRow::state);
        RelationTrace {
            oid,
            schema,
            name,
            kind: known.map(|r| r.kind.clone()),
            table: known.and_then(|r| r.table_name.clone()),
            rewritten: matches!((before, after_state), (Some(b), Some(a)) if b.relfilenode != a.relfilenode),
            transient: known.is_none() && !self.seen_names.contains_key(&oid),
            before,
            after: after_state,
            holds: Vec::new(),
            waits: Vec::new(),
        }
    }

    fn finish(self, after: Vec<RelationRow>) -> Trace {
        let after: BTreeMap<u32, RelationRow> = after.into_iter().map(|r| (r.oid, r)).collect();
        let mut relations: BTreeMap<u32, RelationTrace> = BTreeMap::new();
        for ((oid, pid, mode, granted), life) in &self.locks {
            let relation = relations.entry(*oid).or_insert_with(|| self.relation(*oid, &after));
            let mode = LockMode::from_pg(mode);
            if *granted {
                relation.holds.push(LockHold {
                    mode,
                    pid: *pid,
                    application_name: life.application_name.clone(),
                    first_seen_ms: life.first_seen_ms,
                    last_seen_ms: life.last_seen_ms,
                    max_continuous_ms: life.max_continuous_ms,
                    samples: life.samples,
                    spans: life.spans(),
                });
            } else {
                relation.waits.push(LockWait {
                    mode,
                    pid: *pid,
                    application_name: life.application_name.clone(),
                    first_seen_ms: life.first_seen_ms,
                    max_continuous_ms: life.max_continuous_ms,
                    blocked_by: life.blocked_by.clone(),
                    samples: life.samples,
                    spans: life.spans(),
                });
            }
        }
        // Relations nobody was seen locking still matter when their storage changed or they came or went.
        let changed: Vec<u32> = self
            .before
            .keys()
            .chain(after.keys())
            .copied()
            .filter(|oid| match (self.before.get(oid), after.get(oid)) {
                (Some(b), Some(a)) => b.relfilenode != a.relfilenode,
                _ => true,
            })
            .collect();
        for oid in changed {
            relations.entry(oid).or_insert_with(|| self.relation(oid, &after));
        }
        let mut relations: Vec<RelationTrace> = relations.into_values().collect();
        for relation in &mut relations {
            relation.holds.sort_by(|a, b| b.mode.cmp(&a.mode).then(a.pid.cmp(&b.pid)));
            relation.waits.sort_by(|a, b| b.max_continuous_ms.total_cmp(&a.max_continuous_ms));
        }
        relations.sort_by(|a, b| a.qualified_name().cmp(&b.qualified_name()).then(a.oid.cmp(&b.oid)));
        Trace {
            database: self.database,
            started_at: self.started_at,
            duration_ms: match (self.first_ms, self.last_ms) {
                (Some(first), Some(last)) => last - first,
                _ => 0.0,
            },
            interval_ms: self.interval.as_secs_f64() * 1000.0,
            samples: self.samples,
            max_gap_ms: self.max_gap_ms,
            relations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(oid: u32, name: &str, relfilenode: u64) -> RelationRow {
        RelationRow {
            oid,
            schema: "public".into(),
            name: name.into(),
            kind: "r".into(),
            table_name: None,
            relfilenode,
            rows_estimate: 1000.0,
            size_bytes: 8192,
        }
    }

    fn lock(pid: i32, oid: u32, mode: &str, granted: bool, blocked_by: &[i32]) -> LockRow {
        LockRow {
            pid,
            oid,
            mode: mode.into(),
            granted,
            blocked_by: (!granted).then(|| blocked_by.to_vec()),
            application_name: Some(format!("app{pid}")),
            schema: Some("public".into()),
            name: Some(if oid == 1 { "orders".into() } else { "customers".into() }),
        }
    }

    #[test]
    fn holds_waits_and_rewrites_are_folded_from_samples() {
        let mut builder = TraceBuilder::new(
            "shop",
            Duration::from_millis(10),
            vec![relation(1, "orders", 100), relation(2, "customers", 200)],
        );
        let ae = "AccessExclusiveLock";
        let samples = [
            (1000.0, vec![lock(7, 1, ae, true, &[])]),
            (1010.0, vec![lock(7, 1, ae, true, &[]), lock(8, 1, "AccessShareLock", false, &[7])]),
            (1020.0, vec![lock(7, 1, ae, true, &[]), lock(8, 1, "AccessShareLock", false, &[7])]),
            (1030.0, vec![lock(8, 1, "AccessShareLock", true, &[])]),
            // A second, shorter hold by the same backend: the longest stretch is kept.
            (1045.0, vec![lock(7, 1, ae, true, &[])]),
            (1050.0, vec![]),
        ];
        for (at_ms, locks) in samples {
            builder.add(Sample { at_ms, locks });
        }
        let trace = builder.finish(vec![relation(1, "orders", 101), relation(2, "customers", 200)]);

        assert_eq!(trace.samples, 6);
        assert_eq!(trace.duration_ms, 50.0);
        assert_eq!(trace.max_gap_ms, 15.0);
        assert!(trace.relation("customers").is_none(), "untouched and not rewritten: {trace:#?}");
        let orders = trace.relation("public.orders").expect("orders traced");
        assert!(orders.rewritten);
        assert_eq!(orders.strongest_mode(), Some(LockMode::AccessExclusive));
        assert_eq!(orders.max_hold_ms(&LockMode::AccessExclusive), Some(20.0));
        let hold = &orders.holds[0];
        assert_eq!((hold.pid, hold.samples, hold.first_seen_ms, hold.last_seen_ms), (7, 4, 0.0, 45.0));
        let spans: Vec<(f64, f64)> = hold.spans.iter().map(|s| (s.start_ms, s.end_ms)).collect();
        assert_eq!(spans, [(0.0, 20.0), (45.0, 45.0)]);
        assert_eq!(orders.waits.len(), 1);
        let wait = &orders.waits[0];
        assert_eq!((wait.pid, wait.max_continuous_ms), (8, 10.0));
        assert_eq!(wait.blocked_by, BTreeSet::from([7]));
        assert_eq!(trace.rewrites().count(), 1);
    }

    #[test]
    fn created_and_dropped_relations_appear() {
        let mut builder = TraceBuilder::new("shop", Duration::from_millis(10), vec![relation(1, "old", 100)]);
        builder.add(Sample { at_ms: 0.0, locks: vec![] });
        let trace = builder.finish(vec![relation(3, "new_idx", 300)]);
        let names: Vec<(&str, bool, bool)> =
            trace.relations.iter().map(|r| (r.name.as_str(), r.before.is_some(), r.after.is_some())).collect();
        assert_eq!(names, [("new_idx", false, true), ("old", true, false)]);
        assert!(!trace.relations.iter().any(|r| r.rewritten || r.transient));
    }

    #[test]
    fn lock_modes_order_by_strength() {
        assert!(LockMode::from_pg("AccessExclusiveLock") > LockMode::from_pg("ShareUpdateExclusiveLock"));
        assert!(LockMode::from_pg("ShareLock").blocks_writes());
        assert!(!LockMode::ShareUpdateExclusive.blocks_writes());
        assert!(LockMode::AccessExclusive.blocks_reads());
        assert_eq!(LockMode::from_pg("SIReadLock"), LockMode::Other("SIReadLock".into()));
        assert_eq!(LockMode::ShareUpdateExclusive.to_string(), "SHARE UPDATE EXCLUSIVE");
    }
}
