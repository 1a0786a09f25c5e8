//! Guardrails for a real tenant migration: what to check before it starts, how it must run, and
//! what watches it while it runs.
//!
//! Responsible for the PostgreSQL side of a guarded migration: [`preflight`] refuses while the
//! tenant database has old or idle-in-transaction sessions; [`MigrationTimeouts`] turns
//! `lock_timeout`/`statement_timeout` into the `PGOPTIONS` environment of the migration process;
//! [`RetryBudget`] (pure) decides whether a lock-timed-out attempt runs again and when;
//! [`MigrationLock`] allows one migration per database (a session-level advisory lock held for the
//! migration's duration); [`Watchdog`] cancels the migration's backend when it keeps other sessions
//! waiting longer than policy allows. Not responsible for running the migration command itself,
//! for deciding what a failed step means (the driver rolls the tenant back) or for recording
//! anything: reports are returned as values.
//!
//! **Which sessions are the migration's.** The migration process is started with
//! [`MigrationTimeouts::environment`], which sets `PGAPPNAME` (and `ODOO_PGAPPNAME`, which Odoo
//! uses for its own connections) to a name unique to this run. The watchdog counts a session as
//! the migration's when it is in the tenant database, carries that application name, and connected
//! after the watchdog started (server clock), so a stale session of an earlier run with the same
//! name is never cancelled.
//!
//! Long-lived sessions (the lock holder, the watchdog, the tracer in [`crate::trace`]) are one
//! `psql` process each, fed one statement at a time ([`PsqlSession`]); results come back as one
//! line of JSON built by the server.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::process::{preview, tail};
use crate::quote::quote_literal;
use crate::restore::MAINTENANCE_DATABASE;
use crate::target::psql;
use crate::{PgBinaries, PgError, PgTarget};

/// SQLSTATE `lock_not_available`: `lock_timeout` expired or `NOWAIT` failed.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// How much of a session's query text a report keeps.
const QUERY_EXCERPT_CHARS: usize = 200;

/// What the lock holder's session is called in `pg_stat_activity`.
const LOCK_APPLICATION_NAME: &str = "ringfence-migration-lock";

/// What the watchdog's session is called in `pg_stat_activity`.
const WATCHDOG_APPLICATION_NAME: &str = "ringfence-watchdog";

/// What the tracer's session is called in `pg_stat_activity`.
pub(crate) const TRACER_APPLICATION_NAME: &str = "ringfence-tracer";

/// What a rehearsal probe's sessions are called in `pg_stat_activity` (see [`crate::probe`]).
pub(crate) const PROBE_APPLICATION_NAME: &str = "ringfence-probe";

/// Names Ringfence's own sessions use (`ringfence` is every one-shot psql's); never a migration's.
pub(crate) const OWN_APPLICATION_NAMES: [&str; 5] =
    ["ringfence", LOCK_APPLICATION_NAME, WATCHDOG_APPLICATION_NAME, TRACER_APPLICATION_NAME, PROBE_APPLICATION_NAME];

/// PostgreSQL keeps at most this many bytes of an application name (NAMEDATALEN - 1).
const MAX_APPLICATION_NAME_BYTES: usize = 63;

// ---------------------------------------------------------------------------------------------
// Preflight

/// Thresholds above which [`preflight`] refuses to start a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightLimits {
    /// A transaction open longer than this blocks (or would be blocked by) the migration's locks.
    pub max_transaction_age: Duration,
    /// A session idle in transaction longer than this holds its locks for nobody's benefit.
    pub max_idle_in_transaction: Duration,
}

impl Default for PreflightLimits {
    fn default() -> Self {
        Self { max_transaction_age: Duration::from_secs(300), max_idle_in_transaction: Duration::from_secs(60) }
    }
}

/// Why [`preflight`] counts a session against starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OffenceKind {
    /// Its transaction is older than [`PreflightLimits::max_transaction_age`].
    LongTransaction,
    /// It has been idle in transaction longer than [`PreflightLimits::max_idle_in_transaction`].
    IdleInTransaction,
}

impl fmt::Display for OffenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OffenceKind::LongTransaction => "long transaction",
            OffenceKind::IdleInTransaction => "idle in transaction",
        })
    }
}

/// A session of the tenant database that stands in the way of a migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockingSession {
    /// Its backend's process id (for `pg_terminate_backend`).
    pub pid: i32,
    /// The role it is connected as.
    pub user: Option<String>,
    /// Its `application_name` (empty when the client set none).
    pub application_name: String,
    /// `active`, `idle in transaction`, `idle in transaction (aborted)`, ...
    pub state: Option<String>,
    /// Seconds since its transaction started.
    pub transaction_age_secs: f64,
    /// Seconds since its state last changed (for idle in transaction: how long it has been idle).
    pub state_age_secs: f64,
    /// The start of its current or last query, on one line and shortened.
    pub query_excerpt: String,
    /// Every limit it exceeds.
    pub offences: Vec<OffenceKind>,
}

impl fmt::Display for BlockingSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offences: Vec<String> = self.offences.iter().map(ToString::to_string).collect();
        write!(
            f,
            "pid {} ({}) user {} application {:?} state {}: transaction open {:.0}s, in this state {:.0}s; query: {}",
            self.pid,
            offences.join(", "),
            self.user.as_deref().unwrap_or("?"),
            self.application_name,
            self.state.as_deref().unwrap_or("?"),
            self.transaction_age_secs,
            self.state_age_secs,
            self.query_excerpt,
        )
    }
}

/// What [`preflight`] looked at when it let the migration start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// The tenant database.
    pub database: String,
    /// The limits it applied.
    pub limits: PreflightLimits,
    /// Client sessions of the database other than ours.
    pub sessions_checked: usize,
    /// The oldest open transaction among them, in seconds (0 when none is open).
    pub oldest_transaction_secs: f64,
}

#[derive(Deserialize)]
struct ActivityRow {
    pid: i32,
    user: Option<String>,
    application_name: Option<String>,
    state: Option<String>,
    xact_age: Option<f64>,
    state_age: Option<f64>,
    query: Option<String>,
}

/// Refuses ([`PgError::PreflightRefused`], naming every session) while `database` has a
/// transaction older than `limits.max_transaction_age` or a session idle in transaction longer than
/// `limits.max_idle_in_transaction`; our own session and non-client backends are not counted.
pub fn preflight(
    bins: &PgBinaries,
    target: &PgTarget,
    database: &str,
    limits: PreflightLimits,
) -> Result<PreflightReport, PgError> {
    let sql = format!(
        "SELECT coalesce(jsonb_agg(t), '[]') FROM (\
           SELECT pid, usename AS \"user\", application_name, state, \
             extract(epoch FROM clock_timestamp() - xact_start)::float8 AS xact_age, \
             extract(epoch FROM clock_timestamp() - state_change)::float8 AS state_age, \
             left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), {QUERY_EXCERPT_CHARS}) AS query \
           FROM pg_stat_activity \
           WHERE datname = {db} AND pid <> pg_backend_pid() AND backend_type = 'client backend' \
           ORDER BY xact_start NULLS LAST, pid) t",
        db = quote_literal(database),
    );
    let rows: Vec<ActivityRow> = parse_json(&psql(bins, target, database, &sql)?, "pg_stat_activity")?;
    let oldest_transaction_secs = rows.iter().filter_map(|r| r.xact_age).fold(0.0, f64::max);
    let offenders = offending_sessions(&rows, limits);
    if !offenders.is_empty() {
        return Err(PgError::PreflightRefused {
            database: database.to_owned(),
            server: target.to_string(),
            sessions: offenders,
        });
    }
    Ok(PreflightReport { database: database.to_owned(), limits, sessions_checked: rows.len(), oldest_transaction_secs })
}

fn offending_sessions(rows: &[ActivityRow], limits: PreflightLimits) -> Vec<BlockingSession> {
    let mut offenders = Vec::new();
    for row in rows {
        let xact_age = row.xact_age.unwrap_or(0.0);
        let state_age = row.state_age.unwrap_or(0.0);
        let mut offences = Vec::new();
        if row.xact_age.is_some() && xact_age > limits.max_transaction_age.as_secs_f64() {
            offences.push(OffenceKind::LongTransaction);
        }
        let idle_in_transaction = row.state.as_deref().is_some_and(|s| s.starts_with("idle in transaction"));
        if idle_in_transaction && state_age > limits.max_idle_in_transaction.as_secs_f64() {
            offences.push(OffenceKind::IdleInTransaction);
        }
        if !offences.is_empty() {
            offenders.push(BlockingSession {
                pid: row.pid,
                user: row.user.clone(),
                application_name: row.application_name.clone().unwrap_or_default(),
                state: row.state.clone(),
                transaction_age_secs: xact_age,
                state_age_secs: state_age,
                query_excerpt: row.query.clone().unwrap_or_default(),
                offences,
            });
        }
    }
    offenders
}

// ---------------------------------------------------------------------------------------------
// Timeouts and environment

/// The server-side time limits a migration runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationTimeouts {
    /// How long one statement may wait for a lock before failing with SQLSTATE 55P03.
    pub lock_timeout: Duration,
    /// How long one statement may run.
    pub statement_timeout: Duration,
}

impl Default for MigrationTimeouts {
    fn default() -> Self {
        Self { lock_timeout: Duration::from_secs(5), statement_timeout: Duration::from_secs(30 * 60) }
    }
}

impl MigrationTimeouts {
    /// The `PGOPTIONS` value setting both timeouts, e.g. `-c lock_timeout=5000ms -c statement_timeout=1800000ms`.
    ///
    /// Milliseconds because every server version parses them; 0 (PostgreSQL's "no limit") is
    /// never produced from a non-zero duration below one millisecond.
    pub fn pgoptions(&self) -> String {
        pgoptions(&[
            ("lock_timeout", format!("{}ms", millis_at_least_one(self.lock_timeout))),
            ("statement_timeout", format!("{}ms", millis_at_least_one(self.statement_timeout))),
        ])
    }

    /// Environment variables for the migration process: `PGOPTIONS`, and `PGAPPNAME` and
    /// `ODOO_PGAPPNAME` set to `application_name` so the [`Watchdog`] can find its sessions.
    pub fn environment(&self, application_name: &str) -> Vec<(String, String)> {
        vec![
            ("PGOPTIONS".to_owned(), self.pgoptions()),
            ("PGAPPNAME".to_owned(), application_name.to_owned()),
            ("ODOO_PGAPPNAME".to_owned(), application_name.to_owned()),
        ]
    }
}

/// A `PGOPTIONS` value with `-c name=value` for each setting; libpq splits it at unescaped
/// whitespace and reads `\` as an escape, so both are escaped in values.
pub fn pgoptions(settings: &[(&str, String)]) -> String {
    settings.iter().map(|(name, value)| format!("-c {name}={}", pgoptions_escape(value))).collect::<Vec<_>>().join(" ")
}

fn pgoptions_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn millis_at_least_one(duration: Duration) -> u128 {
    duration.as_millis().max(u128::from(!duration.is_zero()))
}

/// An application name unique to one migration run (`ringfence-migrate-<run id>`), restricted to
/// the printable ASCII PostgreSQL keeps and to its 63-byte limit.
pub fn migration_application_name(run_id: &str) -> String {
    let clean: String = run_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let mut name = format!("ringfence-migrate-{clean}");
    name.truncate(MAX_APPLICATION_NAME_BYTES);
    name
}

// ---------------------------------------------------------------------------------------------
// Retry on lock timeout

/// What one attempt of the migration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// It finished.
    Succeeded,
    /// It gave up waiting for a lock (SQLSTATE 55P03); see [`is_lock_timeout`].
    LockTimeout,
    /// It failed for any other reason; retrying would not help.
    Failed,
}

impl AttemptOutcome {
    /// The outcome of a finished process: success, else lock timeout when its log says so.
    pub fn from_exit(success: bool, log: &str) -> Self {
        match (success, is_lock_timeout(log)) {
            (true, _) => AttemptOutcome::Succeeded,
            (false, true) => AttemptOutcome::LockTimeout,
            (false, false) => AttemptOutcome::Failed,
        }
    }
}

/// Whether a migration's output shows it failed waiting for a lock: SQLSTATE 55P03 (as psql's
/// verbose errors and the server log print it), psycopg2's `LockNotAvailable`, or the server's
/// English messages for it. A statement timeout or a cancel (57014) is not a lock timeout.
pub fn is_lock_timeout(log: &str) -> bool {
    log.contains(LOCK_NOT_AVAILABLE)
        || log.contains("LockNotAvailable")
        || log.contains("canceling statement due to lock timeout")
        || log.contains("could not obtain lock on")
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryDecision {
    /// The attempt succeeded; nothing more to do.
    Done,
    /// Run the migration again after waiting this long.
    RetryAfter(Duration),
    /// Stop and fail the step.
    GiveUp {
        /// Why, for the step's error and the audit trail.
        reason: String,
    },
}

/// How often and how long a migration that hit `lock_timeout` is tried again: exponential backoff
/// from `initial_backoff`, doubling up to `max_backoff`, while both the attempt count and the total
/// time stay within budget. Pure: the caller passes the attempt number and the elapsed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryBudget {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// No attempt starts later than this after the first one started.
    pub total: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            total: Duration::from_secs(10 * 60),
        }
    }
}

impl RetryBudget {
    /// The decision after attempt number `attempt` (1 for the first) ended with `outcome`,
    /// `elapsed` after the first attempt started.
    pub fn decide(&self, attempt: u32, elapsed: Duration, outcome: AttemptOutcome) -> RetryDecision {
        match outcome {
            AttemptOutcome::Succeeded => return RetryDecision::Done,
            AttemptOutcome::Failed => {
                return RetryDecision::GiveUp {
                    reason: "the attempt failed for a reason other than a lock timeout".into(),
                };
            }
            AttemptOutcome::LockTimeout => {}
        }
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp {
                reason: format!("lock timeout on attempt {attempt} of at most {}", self.max_attempts),
            };
        }
        let wait = self.backoff(attempt);
        if elapsed + wait > self.total {
            return RetryDecision::GiveUp {
                reason: format!(
                    "lock timeout on attempt {attempt}; waiting {wait:?} more would exceed the retry budget of {:?} \
                     ({elapsed:?} used)",
                    self.total
                ),
            };
        }
        RetryDecision::RetryAfter(wait)
    }

    /// The wait after attempt `attempt`: `initial_backoff * 2^(attempt-1)`, at most `max_backoff`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.initial_backoff.saturating_mul(1 << doublings).min(self.max_backoff)
    }
}

// ---------------------------------------------------------------------------------------------
// One migration per database

/// Proof that this process runs the only migration of a database: a session-level advisory lock,
/// held by a session of its own in the cluster's maintenance database (so it also outlives a
/// restore that replaces the tenant database). Released by [`MigrationLock::release`] or on drop,
/// and by the server when our session dies.
#[derive(Debug)]
pub struct MigrationLock {
    session: Option<PsqlSession>,
    database: String,
    key: i64,
}

#[derive(Deserialize)]
struct LockHolder {
    pid: i32,
    application_name: Option<String>,
    client_addr: Option<String>,
    backend_start: Option<String>,
}

impl MigrationLock {
    /// Takes the lock for `database`, or refuses with [`PgError::MigrationInProgress`] naming the
    /// session that holds it; never waits.
    pub fn acquire(bins: &PgBinaries, target: &PgTarget, database: &str) -> Result<Self, PgError> {
        let key = migration_lock_key(database);
        let mut session = PsqlSession::open(bins, target, MAINTENANCE_DATABASE, LOCK_APPLICATION_NAME)?;
        let got = session.query(&format!("SELECT pg_try_advisory_lock({key})"))?;
        if got.trim() == "t" {
            return Ok(Self { session: Some(session), database: database.to_owned(), key });
        }
        // The bigint key is split over classid (high half) and objid (low half), objsubid 1.
        let sql = format!(
            "SELECT coalesce(jsonb_agg(t), '[]') FROM (\
               SELECT l.pid, a.application_name, a.client_addr::text AS client_addr, a.backend_start::text AS backend_start \
               FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
               WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND l.classid::bigint = {high} AND l.objid::bigint = {low}) t",
            high = (key as u64) >> 32,
            low = (key as u64) & 0xffff_ffff,
        );
        let holders: Vec<LockHolder> = session.query_json(&sql)?;
        session.close();
        let holder = match holders.first() {
            Some(h) => format!(
                "pid {} application {:?} from {} connected since {}",
                h.pid,
                h.application_name.as_deref().unwrap_or(""),
                h.client_addr.as_deref().unwrap_or("local socket"),
                h.backend_start.as_deref().unwrap_or("?"),
            ),
            None => "a session that released it a moment ago".to_owned(),
        };
        Err(PgError::MigrationInProgress { database: database.to_owned(), server: target.to_string(), holder })
    }

    /// The tenant database this lock is for.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The advisory lock key (`pg_advisory_lock(key)`), derived from the database name.
    pub fn key(&self) -> i64 {
        self.key
    }

    /// Whether our session still holds the lock (false when its connection was lost).
    pub fn is_held(&mut self) -> Result<bool, PgError> {
        let Some(session) = self.session.as_mut() else {
            return Ok(false);
        };
        let sql = format!(
            "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted \
             AND classid::bigint = {} AND objid::bigint = {}",
            (self.key as u64) >> 32,
            (self.key as u64) & 0xffff_ffff,
        );
        Ok(session.query(&sql)?.trim() == "1")
    }

    /// Releases the lock and closes its session.
    pub fn release(mut self) -> Result<(), PgError> {
        let mut session = self.session.take().expect("present until released");
        let result = session.query(&format!("SELECT pg_advisory_unlock({})", self.key));
        session.close();
        result.map(drop)
    }
}

impl Drop for MigrationLock {
    fn drop(&mut self) {
        // Closing the session ends the backend, and with it the session-level lock.
        if let Some(session) = self.session.take() {
            session.close();
        }
    }
}

/// The advisory lock key of `database`: the first 8 bytes of SHA-256 over a namespaced name, so
/// it does not collide with keys applications pick.
pub fn migration_lock_key(database: &str) -> i64 {
    let digest = Sha256::digest(format!("ringfence-migration\0{database}").as_bytes());
    i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

// ---------------------------------------------------------------------------------------------
// Watchdog

/// When the [`Watchdog`] steps in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchdogPolicy {
    /// Longest time another session may wait on the migration's locks.
    pub max_wait: Duration,
    /// Time between two looks at `pg_locks`.
    pub interval: Duration,
    /// When a cancelled backend still blocks this long after the cancel, terminate it.
    pub terminate_after: Duration,
}

impl Default for WatchdogPolicy {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            terminate_after: Duration::from_secs(10),
        }
    }
}

/// What the watchdog did to a migration backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchdogAction {
    /// `pg_cancel_backend`: the running statement fails (SQLSTATE 57014).
    Cancel,
    /// `pg_terminate_backend`: the session ends; used when a cancel cannot help (idle in
    /// transaction) or did not.
    Terminate,
}

/// One intervention of the watchdog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervention {
    /// When it happened (the controller's clock).
    pub at: Timestamp,
    /// What was done.
    pub action: WatchdogAction,
    /// Whether the server accepted the signal (false: the backend was gone already).
    pub signalled: bool,
    /// The migration's backend that kept others waiting.
    pub migration_pid: i32,
    /// Its state and query at the time.
    pub migration_state: Option<String>,
    /// The start of its query, on one line.
    pub migration_query: String,
    /// The session that waited longest on it.
    pub waiter: Waiter,
    /// How many sessions were waiting on it.
    pub waiters: usize,
}

/// A session waiting on a lock the migration holds (or is queued for ahead of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiter {
    /// Its backend's process id.
    pub pid: i32,
    /// The role it is connected as.
    pub user: Option<String>,
    /// Its `application_name`.
    pub application_name: String,
    /// How long it had waited, in seconds.
    pub waited_secs: f64,
    /// The relation it waits for, when it waits for a table or index lock.
    pub relation: Option<String>,
    /// The lock mode it asked for, e.g. `AccessShareLock`.
    pub mode: Option<String>,
    /// The start of its query, on one line.
    pub query_excerpt: String,
}

/// What the watchdog saw and did during one migration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct WatchdogReport {
    /// How many times it looked.
    pub samples: u64,
    /// Distinct backends it recognised as the migration's.
    pub migration_pids: Vec<i32>,
    /// The longest wait on the migration it saw, whether or not it acted.
    pub longest_wait: Option<Waiter>,
    /// What it did, in order.
    pub interventions: Vec<Intervention>,
}

impl WatchdogReport {
    /// Whether the watchdog cancelled or terminated the migration at least once.
    pub fn intervened(&self) -> bool {
        !self.interventions.is_empty()
    }
}

/// A thread watching one migration's sessions; stop it with [`Watchdog::stop`] when the migration
/// process has exited (dropping it stops it too, discarding the report).
#[derive(Debug)]
pub struct Watchdog {
    worker: Worker<WatchdogReport>,
}

#[derive(Deserialize)]
struct WaitRow {
    blocker: i32,
    blocker_state: Option<String>,
    blocker_query: Option<String>,
    pid: i32,
    user: Option<String>,
    application_name: Option<String>,
    waited: Option<f64>,
    relation: Option<String>,
    mode: Option<String>,
    query: Option<String>,
}

#[derive(Deserialize)]
struct WatchSample {
    migration_pids: Vec<i32>,
    waits: Vec<WaitRow>,
}

impl Watchdog {
    /// Starts watching `database` for sessions named `application_name` that connect from now on
    /// (server clock); call it before starting the migration process.
    pub fn start(
        bins: &PgBinaries,
        target: &PgTarget,
        database: &str,
        application_name: &str,
        policy: WatchdogPolicy,
    ) -> Result<Self, PgError> {
        // The server truncates longer names and replaces bytes outside printable ASCII with `?`,
        // so such a name would never match the sessions it names.
        let usable = !application_name.is_empty()
            && application_name.len() <= MAX_APPLICATION_NAME_BYTES
            && application_name.bytes().all(|b| (0x20..0x7f).contains(&b))
            && !OWN_APPLICATION_NAMES.contains(&application_name);
        if !usable {
            return Err(PgError::InvalidOption {
                detail: format!(
                    "the migration's application name {application_name:?} cannot identify its sessions: \
                     use 1 to {MAX_APPLICATION_NAME_BYTES} printable ASCII characters, not one of Ringfence's own \
                     (migration_application_name makes one)"
                ),
            });
        }
        let mut session = PsqlSession::open(bins, target, database, WATCHDOG_APPLICATION_NAME)?;
        let version: u32 = session.query("SHOW server_version_num")?.trim().parse().unwrap_or(0);
        let since = session.query("SELECT clock_timestamp()::text")?.trim().to_owned();
        // pg_locks.waitstart exists from PostgreSQL 14; before, the waiting query's start is the
        // best estimate of when its wait began.
        let wait_start = if version >= 140_000 { "coalesce(w.waitstart, a.query_start)" } else { "a.query_start" };
        let sql = format!(
            "WITH mig AS (\
               SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND application_name = {app} AND backend_start >= {since}::timestamptz), \
             waits AS (\
               SELECT b.blocker, m.state AS blocker_state, \
                 left(regexp_replace(coalesce(m.query, ''), '\\s+', ' ', 'g'), {QUERY_EXCERPT_CHARS}) AS blocker_query, \
                 a.pid, a.usename AS \"user\", a.application_name, \
                 extract(epoch FROM clock_timestamp() - {wait_start})::float8 AS waited, \
                 w.relation::regclass::text AS relation, w.mode, \
                 left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), {QUERY_EXCERPT_CHARS}) AS query \
               FROM pg_stat_activity a \
               CROSS JOIN LATERAL unnest(pg_blocking_pids(a.pid)) AS b(blocker) \
               JOIN pg_stat_activity m ON m.pid = b.blocker \
               LEFT JOIN LATERAL (SELECT * FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) w ON true \
               WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' \
                 AND b.blocker IN (SELECT pid FROM mig) AND a.pid NOT IN (SELECT pid FROM mig)) \
             SELECT jsonb_build_object(\
               'migration_pids', coalesce((SELECT jsonb_agg(pid ORDER BY pid) FROM mig), '[]'), \
               'waits', coalesce((SELECT jsonb_agg(waits ORDER BY waited DESC NULLS LAST) FROM waits), '[]'))",
            app = quote_literal(application_name),
            since = quote_literal(&since),
        );
        let worker = Worker::spawn("watchdog", move |stop| watch(session, &sql, policy, stop))?;
        Ok(Self { worker })
    }

    /// Stops watching and returns what was seen and done; an error when the watchdog's own session
    /// failed (then it stopped protecting the database at that point).
    pub fn stop(self) -> Result<WatchdogReport, PgError> {
        self.worker.finish()
    }
}

fn watch(
    mut session: PsqlSession,
    sql: &str,
    policy: WatchdogPolicy,
    stop: &AtomicBool,
) -> Result<WatchdogReport, PgError> {
    let mut report = WatchdogReport::default();
    // Backends already signalled, with when: a cancel that did not help escalates to terminate.
    let mut cancelled: Vec<(i32, Instant)> = Vec::new();
    let mut terminated: Vec<i32> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let tick = Instant::now();
        let sample: WatchSample = session.query_json(sql)?;
        report.samples += 1;
        for pid in &sample.migration_pids {
            if !report.migration_pids.contains(pid) {
                report.migration_pids.push(*pid);
            }
        }
        for row in &sample.waits {
            if report.longest_wait.as_ref().is_none_or(|w| row.waited.unwrap_or(0.0) > w.waited_secs) {
                report.longest_wait = Some(waiter(row));
            }
        }
        // Rows come longest wait first, so the first row per blocker is its worst waiter.
        let mut handled: Vec<i32> = Vec::new();
        for row in &sample.waits {
            if handled.contains(&row.blocker) || terminated.contains(&row.blocker) {
                continue;
            }
            handled.push(row.blocker);
            if row.waited.unwrap_or(0.0) <= policy.max_wait.as_secs_f64() {
                continue;
            }
            let idle = row.blocker_state.as_deref().is_some_and(|s| s.starts_with("idle in transaction"));
            let previous_cancel = cancelled.iter().find(|(pid, _)| *pid == row.blocker).map(|(_, at)| *at);
            let action = match previous_cancel {
                _ if idle => WatchdogAction::Terminate,
                None => WatchdogAction::Cancel,
                Some(at) if at.elapsed() >= policy.terminate_after => WatchdogAction::Terminate,
                Some(_) => continue,
            };
            let function = match action {
                WatchdogAction::Cancel => "pg_cancel_backend",
                WatchdogAction::Terminate => "pg_terminate_backend",
            };
            let signalled = session.query(&format!("SELECT {function}({})", row.blocker))?.trim() == "t";
            match action {
                WatchdogAction::Cancel => cancelled.push((row.blocker, Instant::now())),
                WatchdogAction::Terminate => terminated.push(row.blocker),
            }
            report.interventions.push(Intervention {
                at: Timestamp::now(),
                action,
                signalled,
                migration_pid: row.blocker,
                migration_state: row.blocker_state.clone(),
                migration_query: row.blocker_query.clone().unwrap_or_default(),
                waiter: waiter(row),
                waiters: sample.waits.iter().filter(|w| w.blocker == row.blocker).count(),
            });
        }
        sleep_until(tick + policy.interval, stop);
    }
    session.close();
    Ok(report)
}

fn waiter(row: &WaitRow) -> Waiter {
    Waiter {
        pid: row.pid,
        user: row.user.clone(),
        application_name: row.application_name.clone().unwrap_or_default(),
        waited_secs: row.waited.unwrap_or(0.0),
        relation: row.relation.clone(),
        mode: row.mode.clone(),
        query_excerpt: row.query.clone().unwrap_or_default(),
    }
}

/// A thread that runs until told to stop and then hands back its result; dropping it stops the
/// thread and discards the result. Shared by the [`Watchdog`] and [`crate::Tracer`].
#[derive(Debug)]
pub(crate) struct Worker<T> {
    name: &'static str,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<T, PgError>>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts `work` in a thread named `ringfence-<name>`; `work` returns once its flag is set.
    pub(crate) fn spawn(
        name: &'static str,
        work: impl FnOnce(&AtomicBool) -> Result<T, PgError> + Send + 'static,
    ) -> Result<Self, PgError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("ringfence-{name}"))
            .spawn(move || work(&flag))
            .map_err(|source| PgError::Spawn { command: format!("{name} thread"), source })?;
        Ok(Self { name, stop, thread: Some(thread) })
    }

    /// Tells the thread to stop and returns what it returned.
    pub(crate) fn finish(mut self) -> Result<T, PgError> {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().expect("present until finished");
        thread.join().unwrap_or_else(|_| {
            Err(PgError::SessionFailed {
                session: self.name.into(),
                detail: format!("the {} thread panicked", self.name),
            })
        })
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sleeps until `deadline` in short steps, returning early once `stop` is set.
pub(crate) fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    const STEP: Duration = Duration::from_millis(10);
    loop {
        let now = Instant::now();
        if now >= deadline || stop.load(Ordering::SeqCst) {
            return;
        }
        thread::sleep((deadline - now).min(STEP));
    }
}

// ---------------------------------------------------------------------------------------------
// A long-lived psql session

/// What ends each statement's output in a [`PsqlSession`]; no query result starts with it.
const END_MARKER: &str = "\u{1}ringfence-end";

/// One `psql` process kept open, fed one statement at a time: for locks that live as long as the
/// session, and for sampling often without starting a program each time.
#[derive(Debug)]
pub(crate) struct PsqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    label: String,
}

impl PsqlSession {
    /// Connects to `database` as `application_name`; fails when psql cannot connect.
    pub(crate) fn open(
        bins: &PgBinaries,
        target: &PgTarget,
        database: &str,
        application_name: &str,
    ) -> Result<Self, PgError> {
        let mut cmd = target.command(bins.psql(), database);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0"])
            .env("PGAPPNAME", application_name)
            .env("PGCLIENTENCODING", "UTF8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let label = format!("psql session {application_name} -d {database} on {target}");
        let mut child = cmd.spawn().map_err(|source| PgError::Spawn { command: label.clone(), source })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            // Drained in the background so a chatty server (notices) never blocks psql.
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut kept = sink.lock().unwrap_or_else(PoisonError::into_inner);
                    kept.extend_from_slice(&buf[..n]);
                    let excess = kept.len().saturating_sub(16 * 1024);
                    kept.drain(..excess);
                }
            });
        }
        let mut session = Self { child, stdin, stdout, stderr, label };
        session.query("SELECT 1")?;
        Ok(session)
    }

    /// Runs one statement (no psql meta-commands) and returns its rows, unaligned, `|` between
    /// columns; a failed statement is [`PgError::QueryFailed`] and leaves the session usable.
    pub(crate) fn query(&mut self, sql: &str) -> Result<String, PgError> {
        let script = format!("{sql}\n;\n\\echo {END_MARKER} :ERROR :SQLSTATE :LAST_ERROR_MESSAGE\n");
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(script.as_bytes()).and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("the session is closed")),
        };
        if let Err(err) = written {
            return Err(self.lost(&format!("could not send a statement: {err}")));
        }
        let mut out = String::new();
        loop {
            let mut line = String::new();
            match self.stdout.read_line(&mut line) {
                Ok(0) => return Err(self.lost("psql exited")),
                Ok(_) => {}
                Err(err) => return Err(self.lost(&format!("could not read its output: {err}"))),
            }
            if let Some(status) = line.strip_prefix(END_MARKER) {
                let mut parts = status.trim().splitn(3, ' ');
                let failed = parts.next() == Some("true");
                let sqlstate = parts.next().unwrap_or("").to_owned();
                let message = parts.next().unwrap_or("").to_owned();
                if failed {
                    return Err(PgError::QueryFailed {
                        command: format!("{} (SQL: {})", self.label, preview(sql)),
                        sqlstate,
                        message,
                    });
                }
                return Ok(out);
            }
            out.push_str(&line);
        }
    }

    /// Runs a statement printing one JSON value and parses it.
    pub(crate) fn query_json<T: DeserializeOwned>(&mut self, sql: &str) -> Result<T, PgError> {
        let out = self.query(sql)?;
        parse_json(&out, &self.label)
    }

    /// Ends psql (and with it the server session), waiting briefly, then killing it.
    pub(crate) fn close(mut self) {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn lost(&mut self, detail: &str) -> PgError {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        PgError::SessionFailed {
            session: self.label.clone(),
            detail: format!("{detail}; its last messages:\n{}", tail(&stderr, 10)),
        }
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        self.stdin.take();
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn parse_json<T: DeserializeOwned>(out: &str, command: &str) -> Result<T, PgError> {
    serde_json::from_str(out.trim()).map_err(|err| PgError::UnexpectedOutput {
        command: command.to_owned(),
        detail: format!("{err} in {}", preview(out)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgoptions_escapes_whitespace_and_backslashes() {
        let timeouts =
            MigrationTimeouts { lock_timeout: Duration::from_secs(5), statement_timeout: Duration::from_secs(1800) };
        assert_eq!(timeouts.pgoptions(), "-c lock_timeout=5000ms -c statement_timeout=1800000ms");
        assert_eq!(pgoptions(&[("search_path", r"a b\c".to_owned())]), r"-c search_path=a\ b\\c");
        let tiny = MigrationTimeouts { lock_timeout: Duration::from_micros(10), statement_timeout: Duration::ZERO };
        assert_eq!(tiny.pgoptions(), "-c lock_timeout=1ms -c statement_timeout=0ms");
        let env = timeouts.environment("ringfence-migrate-x");
        assert!(env.contains(&("PGAPPNAME".to_owned(), "ringfence-migrate-x".to_owned())), "{env:?}");
    }

    #[test]
    fn application_names_are_clean_and_short() {
        assert_eq!(migration_application_name("shop-eu 42/ä"), "ringfence-migrate-shop-eu_42__");
        assert_eq!(migration_application_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn lock_timeouts_are_recognised_and_other_failures_are_not() {
        assert!(is_lock_timeout("ERROR:  55P03: canceling statement due to lock timeout"));
        assert!(is_lock_timeout("psycopg2.errors.LockNotAvailable: canceling statement due to lock timeout"));
        assert!(is_lock_timeout("ERROR:  could not obtain lock on relation \"stock_move\""));
        assert!(!is_lock_timeout("ERROR:  57014: canceling statement due to statement timeout"));
        assert!(!is_lock_timeout("ERROR:  canceling statement due to user request"));
        assert_eq!(AttemptOutcome::from_exit(false, "x 55P03 y"), AttemptOutcome::LockTimeout);
        assert_eq!(AttemptOutcome::from_exit(true, "55P03 earlier, then it worked"), AttemptOutcome::Succeeded);
        assert_eq!(AttemptOutcome::from_exit(false, "syntax error"), AttemptOutcome::Failed);
    }

    #[test]
    fn retry_budget_backs_off_and_gives_up() {
        let budget = RetryBudget {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(5),
            total: Duration::from_secs(60),
        };
        let secs = Duration::from_secs;
        assert_eq!(budget.decide(1, secs(1), AttemptOutcome::Succeeded), RetryDecision::Done);
        assert!(matches!(budget.decide(1, secs(1), AttemptOutcome::Failed), RetryDecision::GiveUp { .. }));
        assert_eq!(budget.decide(1, secs(6), AttemptOutcome::LockTimeout), RetryDecision::RetryAfter(secs(2)));
        assert_eq!(budget.decide(2, secs(14), AttemptOutcome::LockTimeout), RetryDecision::RetryAfter(secs(4)));
        assert_eq!(budget.decide(3, secs(24), AttemptOutcome::LockTimeout), RetryDecision::RetryAfter(secs(5)));
        let last = budget.decide(4, secs(35), AttemptOutcome::LockTimeout);
        assert!(
            matches!(&last, RetryDecision::GiveUp { reason } if reason.contains("attempt 4 of at most 4")),
            "{last:?}"
        );
        let over = budget.decide(2, secs(57), AttemptOutcome::LockTimeout);
        assert!(matches!(&over, RetryDecision::GiveUp { reason } if reason.contains("retry budget")), "{over:?}");
        assert_eq!(budget.backoff(40), secs(5), "no overflow on many attempts");
    }

    #[test]
    fn a_refusal_lists_each_session_and_says_what_to_do() {
        let session = BlockingSession {
            pid: 4242,
            user: Some("odoo".into()),
            application_name: "odoo-17".into(),
            state: Some("idle in transaction".into()),
            transaction_age_secs: 700.2,
            state_age_secs: 650.0,
            query_excerpt: "SELECT id FROM stock_move WHERE state = 'done'".into(),
            offences: vec![OffenceKind::LongTransaction, OffenceKind::IdleInTransaction],
        };
        let err = PgError::PreflightRefused {
            database: "shop-eu".into(),
            server: "odoo@db1:5432".into(),
            sessions: vec![session],
        };
        let message = err.to_string();
        assert_eq!(
            message,
            "refusing to migrate database \"shop-eu\" on odoo@db1:5432: 1 session(s) hold transactions open too long:\n  \
             - pid 4242 (long transaction, idle in transaction) user odoo application \"odoo-17\" state idle in \
             transaction: transaction open 700s, in this state 650s; query: SELECT id FROM stock_move WHERE state = \
             'done'\n  fix: let them finish, or end them (`SELECT pg_terminate_backend(pid)`) if they are stuck, then \
             start again"
        );
    }

    #[test]
    fn lock_keys_differ_per_database_and_are_stable() {
        assert_eq!(migration_lock_key("shop-eu"), migration_lock_key("shop-eu"));
        assert_ne!(migration_lock_key("shop-eu"), migration_lock_key("shop-us"));
    }

    #[test]
    fn offenders_name_each_exceeded_limit() {
        let row = |pid, state: &str, xact: Option<f64>, since: f64| ActivityRow {
            pid,
            user: Some("odoo".into()),
            application_name: Some("odoo-42".into()),
            state: Some(state.into()),
            xact_age: xact,
            state_age: Some(since),
            query: Some("SELECT 1".into()),
        };
        let limits = PreflightLimits {
            max_transaction_age: Duration::from_secs(60),
            max_idle_in_transaction: Duration::from_secs(10),
        };
        let rows = [
            row(1, "active", Some(5.0), 5.0),
            row(2, "active", Some(120.0), 120.0),
            row(3, "idle in transaction", Some(30.0), 20.0),
            row(4, "idle in transaction (aborted)", Some(90.0), 80.0),
            row(5, "idle", None, 9999.0),
        ];
        let found: Vec<(i32, Vec<OffenceKind>)> =
            offending_sessions(&rows, limits).into_iter().map(|s| (s.pid, s.offences)).collect();
        use OffenceKind::*;
        assert_eq!(
            found,
            [(2, vec![LongTransaction]), (3, vec![IdleInTransaction]), (4, vec![LongTransaction, IdleInTransaction])]
        );
    }
}
