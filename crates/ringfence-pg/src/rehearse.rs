//! Rehearsal: run a tenant's migration on a clone of its database, watch what it locks, and
//! predict how long production reads and writes would be blocked.
//!
//! Responsible for [`rehearse`]: clone the database ([`crate::clone`]), snapshot and trace its
//! locks ([`crate::trace`]), optionally run [`crate::probe`]s against its largest tables, run the
//! migration command as a child process against the clone, stop everything, drop the clone, and
//! fold it all into a [`RehearsalReport`] (JSON via serde, text for the CLI, a self-contained
//! HTML page with an SVG lock timeline: see `render`). Not responsible for deciding whether the
//! result is acceptable (the risk rules and gates do; [`RehearsalReport::exceeds`] answers the
//! one question they ask) or for building the migration command (`ringfence-odoo` renders it).
//!
//! **Which backends are the migration's.** The child gets `PGAPPNAME`/`ODOO_PGAPPNAME` set to a
//! name unique to the run, but Odoo 19 and later name their connections themselves
//! (`db_app_name`), so on the clone — a database nobody else knows about — every backend that is
//! not one of Ringfence's own sessions counts as the migration's.
//!
//! **Predicted blocking** for a table is the longest stretch during which the migration held a
//! mode that ordinary reads (ACCESS EXCLUSIVE) or writes (SHARE and stronger) would queue behind,
//! on the table or any of its indexes, merged across modes; when probes ran, their longest
//! measured operation on the table counts too (it also sees row locks, which the trace cannot),
//! once it reaches the probes' stall threshold (below it, it is a busy server, not a lock).
//! It is a lower bound for production: there, a migration *waiting* for ACCESS EXCLUSIVE behind a
//! long query already blocks everyone queued after it, and the clone has no such query.
//!
//! **Invariants:** the source database is only read (template copy or restore point, see
//! [`crate::clone`]); the migration's environment points at the clone and its arguments are
//! refused when they name the source; the clone is dropped on every path, failures included.

mod render;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::clone::{CloneKind, CloneMethod, CloneOptions, DatabaseClone, RestoreDrill};
use crate::guard::{OWN_APPLICATION_NAMES, PROBE_APPLICATION_NAME, migration_application_name};
use crate::probe::{ProbeOptions, ProbeReport, Probes};
use crate::restore::database_size;
use crate::target::CONNECT_TIMEOUT_SECS;
use crate::trace::{LockMode, RelationTrace, Span, Trace, TraceOptions, Tracer};
use crate::{PgBinaries, PgError, PgTarget};

/// Environment variables a caller may not set for the migration: they would point it elsewhere
/// than the clone.
const CONNECTION_VARIABLES: [&str; 8] =
    ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE", "PGSERVICEFILE", "PGPASSWORD"];

/// How many lines of output the report keeps at most, whatever the options say.
const MAX_LOG_LINES: usize = 1000;

/// How many error lines from the migration's output go into [`RehearsalReport::errors`].
const MAX_ERROR_LINES: usize = 20;

/// The migration as a program to run: no shell.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationCommand {
    /// Program and arguments. `{database}`, `{host}`, `{port}` and `{user}` in any argument are
    /// replaced by the clone's (e.g. `odoo -d {database} --db_host {host} -u sale --stop-after-init`).
    pub argv: Vec<String>,
    /// Extra environment (e.g. `PGOPTIONS` from [`crate::MigrationTimeouts`]); never the
    /// connection variables, which point at the clone.
    pub env: Vec<(String, String)>,
    /// Working directory; the controller's when absent.
    pub working_dir: Option<PathBuf>,
}

/// How to rehearse.
#[derive(Debug, Clone, PartialEq)]
pub struct RehearsalOptions {
    /// The tenant (clone name, marker, report).
    pub tenant: String,
    /// How to clone the source.
    pub clone: CloneMethod,
    /// What to run.
    pub migration: MigrationCommand,
    /// Identifies this run: the migration's application name and the clone's marker.
    pub run_id: String,
    /// Kill the migration after this long (it is then reported as timed out).
    pub timeout: Option<Duration>,
    /// How the lock tracer samples.
    pub trace: TraceOptions,
    /// Probes to run during the migration; `None` for none.
    pub probes: Option<ProbeOptions>,
    /// How long probes run before the migration starts, so their normal timings are measured.
    pub warmup: Duration,
    /// How many lines of the migration's output the report keeps.
    pub log_tail_lines: usize,
}

impl RehearsalOptions {
    /// Options with defaults: probes on, 20 ms tracing, no timeout.
    pub fn new(
        tenant: impl Into<String>,
        clone: CloneMethod,
        migration: MigrationCommand,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            tenant: tenant.into(),
            clone,
            migration,
            run_id: run_id.into(),
            timeout: None,
            trace: TraceOptions::default(),
            probes: Some(ProbeOptions::default()),
            warmup: Duration::from_millis(200),
            log_tail_lines: 40,
        }
    }
}

/// Everything a rehearsal found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RehearsalReport {
    /// The tenant.
    pub tenant: String,
    /// The database cloned.
    pub source_database: String,
    /// The clone and what became of it.
    pub clone: CloneSummary,
    /// The restore drill, when the clone came from a restore point.
    pub restore_drill: Option<RestoreDrill>,
    /// When the rehearsal started (the controller's clock).
    pub started: Timestamp,
    /// From the start of cloning to the clone dropped, in milliseconds.
    pub total_ms: f64,
    /// The migration process.
    pub migration: MigrationRun,
    /// What went wrong: the migration's failure and error lines, probe and cleanup problems.
    pub errors: Vec<String>,
    /// Per table: sizes, rows, rewrites, the lock timeline and the predicted blocking.
    pub tables: Vec<TableReport>,
    /// Relations (tables and indexes) whose storage was rewritten.
    pub rewrites: Vec<String>,
    /// How the trace sampled.
    pub trace: TraceSummary,
    /// What the probes measured, when they ran.
    pub probes: Option<ProbeReport>,
    /// The longest time production reads or writes of any table would be blocked.
    pub blocking: BlockingSummary,
}

/// The clone a rehearsal ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloneSummary {
    /// Its database name.
    pub name: String,
    /// How it was made.
    pub method: CloneKind,
    /// How long making it took, in milliseconds.
    pub created_ms: f64,
    /// Its size before the migration.
    pub size_before_bytes: Option<u64>,
    /// Its size after the migration.
    pub size_after_bytes: Option<u64>,
    /// Whether it was dropped (false: see `drop_error`).
    pub dropped: bool,
    /// Why it could not be dropped.
    pub drop_error: Option<String>,
}

/// The migration process as it ran against the clone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationRun {
    /// The arguments, placeholders filled in.
    pub argv: Vec<String>,
    /// The `PGAPPNAME` it was given.
    pub application_name: String,
    /// From start to exit, in milliseconds.
    pub duration_ms: f64,
    /// Its exit code (`None` when a signal ended it).
    pub exit_code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// It exited with code 0.
    pub success: bool,
    /// It was killed for exceeding the timeout.
    pub timed_out: bool,
    /// Backends the trace attributes to it.
    pub backends: Vec<i32>,
    /// The last lines of its output (stdout and stderr, in arrival order).
    pub log_tail: String,
}

/// The tracer's resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceSummary {
    /// Samples taken.
    pub samples: u64,
    /// Interval asked for, in milliseconds.
    pub interval_ms: f64,
    /// Longest gap between samples, in milliseconds.
    pub max_gap_ms: f64,
}

/// Whose backend held or waited for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Party {
    /// The migration.
    Migration,
    /// A rehearsal probe.
    Probe,
    /// Another Ringfence session (e.g. a size query).
    Ringfence,
}

/// One continuous hold of a lock, as seen by the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HoldBar {
    /// The relation locked: the table, or one of its indexes.
    pub relation: String,
    /// The mode held.
    pub mode: LockMode,
    /// Its backend.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: String,
    /// Whose it is.
    pub party: Party,
    /// First sample that saw it, in milliseconds after the migration started.
    pub start_ms: f64,
    /// Last sample that saw it, in milliseconds after the migration started.
    pub end_ms: f64,
}

/// One continuous wait for a lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitBar {
    /// The relation waited for.
    pub relation: String,
    /// The mode asked for.
    pub mode: LockMode,
    /// The waiting backend.
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: String,
    /// Whose it is.
    pub party: Party,
    /// First sample that saw it waiting, in milliseconds after the migration started.
    pub start_ms: f64,
    /// Last sample that saw it waiting, in milliseconds after the migration started.
    pub end_ms: f64,
    /// The backends it waited behind.
    pub blocked_by: Vec<i32>,
}

/// How long ordinary traffic on one table would be blocked, and from what evidence.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableBlocking {
    /// Predicted longest block of reads, in milliseconds.
    pub reads_ms: f64,
    /// Predicted longest block of writes, in milliseconds.
    pub writes_ms: f64,
    /// From the migration's ACCESS EXCLUSIVE holds alone.
    pub reads_from_locks_ms: f64,
    /// From the migration's SHARE-or-stronger holds alone.
    pub writes_from_locks_ms: f64,
    /// The read probe's longest operation, when a probe ran on the table.
    pub reads_from_probes_ms: Option<f64>,
    /// The write probe's longest operation, when a probe ran on the table.
    pub writes_from_probes_ms: Option<f64>,
}

impl TableBlocking {
    /// The longer of reads and writes, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.reads_ms.max(self.writes_ms)
    }
}

/// What the rehearsal saw of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableReport {
    /// `schema.table`.
    pub table: String,
    /// Size of its main fork before, in bytes (absent: created by the migration).
    pub size_before_bytes: Option<i64>,
    /// After (absent: dropped by the migration).
    pub size_after_bytes: Option<i64>,
    /// The planner's row estimate before.
    pub rows_before: Option<f64>,
    /// After.
    pub rows_after: Option<f64>,
    /// The table's storage was rewritten.
    pub rewritten: bool,
    /// Its indexes that were rebuilt or created.
    pub rewritten_indexes: Vec<String>,
    /// The strongest mode the migration held on it or its indexes (those that existed before it).
    pub strongest_mode: Option<LockMode>,
    /// The longest continuous ACCESS EXCLUSIVE hold of the migration, in milliseconds.
    pub access_exclusive_ms: Option<f64>,
    /// Every hold of the migration and of other parties, one bar per continuous stretch
    /// (probes' own short holds left out).
    pub holds: Vec<HoldBar>,
    /// Every wait seen.
    pub waits: Vec<WaitBar>,
    /// The predicted blocking of production traffic.
    pub blocking: TableBlocking,
}

/// The worst blocking over all tables.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockingSummary {
    /// The longest predicted block of reads or writes of any table, in milliseconds.
    pub max_ms: f64,
    /// The table it is on.
    pub table: Option<String>,
    /// The longest predicted block of reads.
    pub reads_max_ms: f64,
    /// The longest predicted block of writes.
    pub writes_max_ms: f64,
}

impl RehearsalReport {
    /// Whether production reads or writes of some table would be blocked longer than `limit`.
    pub fn exceeds(&self, limit: Duration) -> bool {
        self.blocking.max_ms > limit.as_secs_f64() * 1000.0
    }

    /// The tables whose predicted blocking exceeds `limit`, worst first.
    pub fn tables_exceeding(&self, limit: Duration) -> Vec<&TableReport> {
        let limit_ms = limit.as_secs_f64() * 1000.0;
        let mut over: Vec<&TableReport> = self.tables.iter().filter(|t| t.blocking.max_ms() > limit_ms).collect();
        over.sort_by(|a, b| b.blocking.max_ms().total_cmp(&a.blocking.max_ms()));
        over
    }

    /// The longest predicted blocking, as a duration.
    pub fn max_blocking(&self) -> Duration {
        Duration::from_secs_f64(self.blocking.max_ms.max(0.0) / 1000.0)
    }

    /// How long the migration ran.
    pub fn migration_duration(&self) -> Duration {
        Duration::from_secs_f64(self.migration.duration_ms.max(0.0) / 1000.0)
    }

    /// The migration exited successfully and nothing else went wrong.
    pub fn ok(&self) -> bool {
        self.migration.success && self.errors.is_empty()
    }

    /// The table `name` (`schema.table` or the bare name).
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name || t.table.split_once('.').is_some_and(|(_, n)| n == name))
    }

    /// The report as text for a terminal.
    pub fn to_text(&self) -> String {
        render::text(self)
    }

    /// The report as one self-contained HTML page (inline CSS and SVG, nothing fetched).
    pub fn to_html(&self) -> String {
        render::html(self)
    }
}

/// Rehearses `options.migration` on a clone of `source_database` on `target` and reports what
/// it locked, rewrote and blocked. The clone is dropped before this returns, on every path.
///
/// Errors are for a rehearsal that could not take place or could not observe (clone, tracer);
/// a migration that fails is a report with `migration.success == false`.
pub fn rehearse(
    bins: &PgBinaries,
    target: &PgTarget,
    source_database: &str,
    options: &RehearsalOptions,
) -> Result<RehearsalReport, PgError> {
    check_command(&options.migration, source_database)?;
    let started = Timestamp::now();
    let clock = Instant::now();
    let clone_options = CloneOptions {
        tenant: options.tenant.clone(),
        method: options.clone.clone(),
        created_by: format!("ringfence rehearse {}", options.run_id),
    };
    let clone = DatabaseClone::create(bins, target, source_database, &clone_options)?;
    let observed = observe(bins, target, &clone, options);
    let (drill, name, kind, created_in) =
        (clone.drill().cloned(), clone.name().to_owned(), clone.kind(), clone.created_in());
    let drop_error = clone.drop().err().map(|e| e.to_string());
    let observed = observed?;

    let mut errors = observed.errors;
    if let Some(err) = &drop_error {
        errors.push(err.clone());
    }
    let clone = CloneSummary {
        name,
        method: kind,
        created_ms: ms(created_in),
        size_before_bytes: observed.size_before,
        size_after_bytes: observed.size_after,
        dropped: drop_error.is_none(),
        drop_error,
    };
    Ok(assemble(Assembly {
        tenant: options.tenant.clone(),
        source_database: source_database.to_owned(),
        clone,
        restore_drill: drill,
        started,
        total_ms: ms(clock.elapsed()),
        run: observed.run,
        errors,
        trace: observed.trace,
        migration_offset_ms: observed.migration_offset_ms,
        probes: observed.probes,
    }))
}

/// What happened on the clone, before it is dropped.
struct Observed {
    run: MigrationRun,
    errors: Vec<String>,
    trace: Trace,
    migration_offset_ms: f64,
    probes: Option<ProbeReport>,
    size_before: Option<u64>,
    size_after: Option<u64>,
}

fn observe(
    bins: &PgBinaries,
    target: &PgTarget,
    clone: &DatabaseClone,
    options: &RehearsalOptions,
) -> Result<Observed, PgError> {
    let database = clone.name();
    let size_before = database_size(bins, target, database).ok();
    let tracer = Tracer::start(bins, target, database, options.trace)?;
    // The tracer's first sample is taken right after start returns: its time zero.
    let trace_zero = Instant::now();
    let probes = match options.probes {
        Some(probe_options) => Some(Probes::start(bins, target, database, probe_options)?),
        None => None,
    };
    if probes.is_some() {
        thread::sleep(options.warmup);
    }
    let application_name = migration_application_name(&options.run_id);
    let argv = fill_placeholders(&options.migration.argv, target, database);
    let migration_started = Instant::now();
    let outcome = run_migration(&argv, &options.migration, target, database, &application_name, options);
    // One more interval so the trace sees the locks released (it takes a last sample at stop too).
    thread::sleep(options.trace.interval);
    let probes = probes.map(|p| p.stop(migration_started));
    let trace = tracer.stop()?;
    let size_after = database_size(bins, target, database).ok();
    let outcome = outcome?;

    let mut errors = Vec::new();
    if outcome.timed_out {
        errors.push(format!(
            "the migration was killed after the timeout of {:.1} s",
            options.timeout.unwrap_or_default().as_secs_f64()
        ));
    } else if !outcome.status.success() {
        errors.push(format!("the migration failed: {}", describe_status(outcome.status)));
    }
    errors.extend(outcome.error_lines);
    if let Some(report) = &probes {
        errors.extend(report.errors.iter().cloned());
    }
    let run = MigrationRun {
        argv: redact_argv(&argv),
        application_name,
        duration_ms: ms(outcome.duration),
        exit_code: outcome.status.code(),
        signal: outcome.status.signal(),
        success: outcome.status.success() && !outcome.timed_out,
        timed_out: outcome.timed_out,
        backends: Vec::new(),
        log_tail: outcome.log_tail,
    };
    Ok(Observed {
        run,
        errors,
        trace,
        migration_offset_ms: ms(migration_started.saturating_duration_since(trace_zero)),
        probes,
        size_before,
        size_after,
    })
}

/// Refuses a command that could reach anything but the clone.
fn check_command(command: &MigrationCommand, source: &str) -> Result<(), PgError> {
    if command.argv.is_empty() {
        return Err(PgError::InvalidOption { detail: "the migration command is empty".into() });
    }
    if let Some((key, _)) = command.env.iter().find(|(key, _)| CONNECTION_VARIABLES.contains(&key.as_str())) {
        return Err(PgError::InvalidOption {
            detail: format!(
                "the migration's environment sets {key}; a rehearsal sets the connection to the clone itself"
            ),
        });
    }
    let names_source = |arg: &str| arg == source || arg.rsplit_once('=').is_some_and(|(_, value)| value == source);
    if let Some(arg) = command.argv.iter().skip(1).find(|arg| names_source(arg)) {
        return Err(PgError::InvalidOption {
            detail: format!(
                "the migration command names the source database in {arg:?}; write {{database}} instead, \
                 so it runs on the clone and never on the tenant's database"
            ),
        });
    }
    Ok(())
}

fn fill_placeholders(argv: &[String], target: &PgTarget, database: &str) -> Vec<String> {
    argv.iter()
        .map(|arg| {
            arg.replace("{database}", database)
                .replace("{host}", &target.host)
                .replace("{port}", &target.port.to_string())
                .replace("{user}", &target.user)
        })
        .collect()
}

/// How the migration process ended.
struct Outcome {
    status: ExitStatus,
    duration: Duration,
    timed_out: bool,
    log_tail: String,
    error_lines: Vec<String>,
}

/// The migration's output as it arrives: the last lines, and the first error lines.
#[derive(Default)]
struct OutputLog {
    tail: VecDeque<String>,
    errors: Vec<String>,
}

fn run_migration(
    argv: &[String],
    migration: &MigrationCommand,
    target: &PgTarget,
    database: &str,
    application_name: &str,
    options: &RehearsalOptions,
) -> Result<Outcome, PgError> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    // Nothing of the controller's own libpq environment may steer the migration elsewhere.
    for (key, _) in std::env::vars_os() {
        if key.as_encoded_bytes().starts_with(b"PG") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(migration.env.iter().map(|(k, v)| (k, v)))
        .env("PGHOST", &target.host)
        .env("PGPORT", target.port.to_string())
        .env("PGUSER", &target.user)
        .env("PGDATABASE", database)
        .env("PGAPPNAME", application_name)
        .env("ODOO_PGAPPNAME", application_name)
        .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS.to_string());
    if let Some(password) = &target.password {
        cmd.env("PGPASSWORD", password.expose());
    }
    if let Some(dir) = &migration.working_dir {
        cmd.current_dir(dir);
    }
    // Its own process group, so a timeout kills the workers a migration may fork, too.
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let started = Instant::now();
    let mut child =
        cmd.spawn().map_err(|source| PgError::Spawn { command: format!("migration `{}`", argv.join(" ")), source })?;
    let keep = options.log_tail_lines.min(MAX_LOG_LINES);
    let log = Arc::new(Mutex::new(OutputLog::default()));
    let readers: Vec<JoinHandle<()>> = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let log = Arc::clone(&log);
        thread::spawn(move || collect_output(pipe, &log, keep))
    })
    .collect();
    let (status, timed_out) = wait_for(&mut child, options.timeout)?;
    let duration = started.elapsed();
    for reader in readers {
        let _ = reader.join();
    }
    let log = std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Outcome { status, duration, timed_out, log_tail: Vec::from(log.tail).join("\n"), error_lines: log.errors })
}

fn collect_output(pipe: Box<dyn Read + Send>, log: &Mutex<OutputLog>, keep: usize) {
    for line in BufReader::new(pipe).split(b'\n') {
        let Ok(line) = line else { return };
        let line = redact_urls(String::from_utf8_lossy(&line).trim_end());
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        if is_error_line(&line) && log.errors.len() < MAX_ERROR_LINES {
            log.errors.push(line.clone());
        }
        log.tail.push_back(line);
        while log.tail.len() > keep {
            log.tail.pop_front();
        }
    }
}

/// The arguments as a report may show them: a password given as an option value (`--db_password
/// X`, `--db_password=X`, `-w X`…) or inside a connection URL becomes `***`.
fn redact_argv(argv: &[String]) -> Vec<String> {
    let secret_option = |arg: &str| {
        let name = arg.trim_start_matches('-').to_ascii_lowercase();
        arg.starts_with('-') && (name.contains("password") || name.contains("passwd") || name == "w")
    };
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for arg in argv {
        if hide_next {
            out.push("***".to_owned());
            hide_next = false;
            continue;
        }
        match arg.split_once('=') {
            Some((key, _)) if secret_option(key) || key.to_ascii_lowercase().contains("password") => {
                out.push(format!("{key}=***"));
            }
            _ if secret_option(arg) && !arg.contains('=') => {
                out.push(arg.clone());
                // `-w` alone is psql's "never prompt", which takes no value.
                hide_next = arg != "-w";
            }
            _ => out.push(redact_urls(arg)),
        }
    }
    out
}

/// `scheme://user:password@host` becomes `scheme://user:***@host` wherever it appears.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', ' ', '"', '\'', '?', '#']).unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at_sign), Some(colon)) if colon < at_sign => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at_sign..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// psql's and the server's `ERROR:`/`FATAL:`, Odoo's ` ERROR `/` CRITICAL ` log levels, and
/// Python tracebacks.
fn is_error_line(line: &str) -> bool {
    line.contains("ERROR:")
        || line.contains("FATAL:")
        || line.contains(" ERROR ")
        || line.contains(" CRITICAL ")
        || line.starts_with("Traceback (most recent call last)")
}

fn wait_for(child: &mut Child, timeout: Option<Duration>) -> Result<(ExitStatus, bool), PgError> {
    let started = Instant::now();
    let wait_error = |source| PgError::Spawn { command: "waiting for the migration".into(), source };
    loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            return Ok((status, false));
        }
        if timeout.is_some_and(|limit| started.elapsed() >= limit) {
            let pid = i32::try_from(child.id()).unwrap_or(0);
            // The group is ours (process_group(0) above) and still exists: the child has not been reaped.
            if killpg(Pid::from_raw(pid), Signal::SIGKILL).is_err() {
                let _ = child.kill();
            }
            return Ok((child.wait().map_err(wait_error)?, true));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The inputs [`assemble`] folds into a report; pure data, so the folding is tested alone.
struct Assembly {
    tenant: String,
    source_database: String,
    clone: CloneSummary,
    restore_drill: Option<RestoreDrill>,
    started: Timestamp,
    total_ms: f64,
    run: MigrationRun,
    errors: Vec<String>,
    trace: Trace,
    /// When the migration started, in the trace's milliseconds.
    migration_offset_ms: f64,
    probes: Option<ProbeReport>,
}

fn party(application_name: &str, migration_app: &str) -> Party {
    if application_name == migration_app {
        Party::Migration
    } else if application_name == PROBE_APPLICATION_NAME {
        Party::Probe
    } else if OWN_APPLICATION_NAMES.contains(&application_name) {
        Party::Ringfence
    } else {
        // The clone is ours alone: an unknown backend is the migration under a name it chose.
        Party::Migration
    }
}

fn is_table(relation: &RelationTrace) -> bool {
    matches!(relation.kind.as_deref(), Some("r" | "p" | "m"))
}

fn is_index(relation: &RelationTrace) -> bool {
    matches!(relation.kind.as_deref(), Some("i" | "I"))
}

/// The table an index belongs to, as a `schema.table` of the trace.
fn owning_table(index: &RelationTrace, tables: &BTreeMap<String, &RelationTrace>) -> Option<String> {
    let table = index.table.as_deref()?;
    if tables.contains_key(table) {
        return Some(table.to_owned());
    }
    // `regclass` text leaves out the schema when it is on the search path; the index's own
    // schema is the table's.
    let qualified = format!("{}.{table}", index.schema.as_deref().unwrap_or("public"));
    tables.contains_key(&qualified).then_some(qualified)
}

fn assemble(input: Assembly) -> RehearsalReport {
    let Assembly {
        tenant,
        source_database,
        clone,
        restore_drill,
        started,
        total_ms,
        mut run,
        errors,
        trace,
        migration_offset_ms,
        probes,
    } = input;
    let app = run.application_name.clone();
    let shift = |span: &Span| (span.start_ms - migration_offset_ms, span.end_ms - migration_offset_ms);

    let tables_by_name: BTreeMap<String, &RelationTrace> =
        trace.relations.iter().filter(|r| is_table(r) && !r.transient).map(|r| (r.qualified_name(), r)).collect();
    // Each table with the relations whose locks count against it: itself and its indexes.
    let mut members: BTreeMap<String, Vec<&RelationTrace>> = BTreeMap::new();
    for (name, relation) in &tables_by_name {
        members.entry(name.clone()).or_default().push(relation);
    }
    for index in trace.relations.iter().filter(|r| is_index(r) && !r.transient) {
        if let Some(table) = owning_table(index, &tables_by_name) {
            members.entry(table).or_default().push(index);
        }
    }
    if let Some(report) = &probes {
        for probed in &report.tables {
            members.entry(probed.table.clone()).or_default();
        }
    }

    let mut backends = BTreeSet::new();
    let mut tables = Vec::new();
    let tolerance_ms = trace.interval_ms * 1.5;
    let stall_threshold_ms = probes.as_ref().map_or(0.0, |p| p.options.stall_threshold.as_secs_f64() * 1000.0);
    for (name, relations) in &members {
        let table = tables_by_name.get(name);
        let mut holds = Vec::new();
        let mut waits = Vec::new();
        let (mut read_spans, mut write_spans) = (Vec::new(), Vec::new());
        let mut strongest: Option<LockMode> = None;
        let mut access_exclusive_ms: Option<f64> = None;
        for relation in relations {
            // A relation the migration created is invisible to other sessions until it commits,
            // so its locks (CREATE INDEX CONCURRENTLY's ACCESS EXCLUSIVE on the new index) block
            // nobody; they are drawn, but predict nothing.
            let counts = relation.before.is_some();
            for hold in &relation.holds {
                let who = party(&hold.application_name, &app);
                if who == Party::Probe {
                    continue;
                }
                if who == Party::Migration {
                    backends.insert(hold.pid);
                }
                if who == Party::Migration && counts {
                    strongest = strongest.max(Some(hold.mode.clone()));
                    if hold.mode == LockMode::AccessExclusive {
                        let held = hold.max_continuous_ms;
                        access_exclusive_ms = Some(access_exclusive_ms.map_or(held, |ms: f64| ms.max(held)));
                    }
                }
                for span in &hold.spans {
                    let (start_ms, end_ms) = shift(span);
                    if who == Party::Migration && counts {
                        if hold.mode.blocks_reads() {
                            read_spans.push((start_ms, end_ms));
                        }
                        if hold.mode.blocks_writes() {
                            write_spans.push((start_ms, end_ms));
                        }
                    }
                    holds.push(HoldBar {
                        relation: relation.qualified_name(),
                        mode: hold.mode.clone(),
                        pid: hold.pid,
                        application_name: hold.application_name.clone(),
                        party: who,
                        start_ms,
                        end_ms,
                    });
                }
            }
            for wait in &relation.waits {
                for span in &wait.spans {
                    let (start_ms, end_ms) = shift(span);
                    waits.push(WaitBar {
                        relation: relation.qualified_name(),
                        mode: wait.mode.clone(),
                        pid: wait.pid,
                        application_name: wait.application_name.clone(),
                        party: party(&wait.application_name, &app),
                        start_ms,
                        end_ms,
                        blocked_by: wait.blocked_by.iter().copied().collect(),
                    });
                }
            }
        }
        holds.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms).then(b.mode.cmp(&a.mode)));
        waits.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        let probe = probes.as_ref().and_then(|p| p.tables.iter().find(|t| &t.table == name));
        let reads_from_locks_ms = longest_merged(read_spans, tolerance_ms);
        let writes_from_locks_ms = longest_merged(write_spans, tolerance_ms);
        let reads_from_probes_ms = probe.map(|p| p.reads.max_ms);
        let writes_from_probes_ms = probe.map(|p| p.writes.max_ms);
        // An operation below the stall threshold is a busy server, not a lock: it predicts nothing.
        let stalled = |ms: Option<f64>| ms.filter(|ms| *ms >= stall_threshold_ms).unwrap_or(0.0);
        let reads_ms = reads_from_locks_ms.max(stalled(reads_from_probes_ms));
        // Whatever blocks reads blocks writes too.
        let writes_ms = writes_from_locks_ms.max(stalled(writes_from_probes_ms)).max(reads_from_locks_ms);
        let rewritten_indexes = relations
            .iter()
            .filter(|r| is_index(r) && (r.rewritten || (r.before.is_none() && r.after.is_some())))
            .map(|r| r.qualified_name())
            .collect();
        tables.push(TableReport {
            table: name.clone(),
            size_before_bytes: table.and_then(|t| t.before).map(|s| s.size_bytes),
            size_after_bytes: table.and_then(|t| t.after).map(|s| s.size_bytes),
            rows_before: table.and_then(|t| t.before).map(|s| s.rows_estimate),
            rows_after: table.and_then(|t| t.after).map(|s| s.rows_estimate),
            rewritten: table.is_some_and(|t| t.rewritten),
            rewritten_indexes,
            strongest_mode: strongest,
            access_exclusive_ms,
            holds,
            waits,
            blocking: TableBlocking {
                reads_ms,
                writes_ms,
                reads_from_locks_ms,
                writes_from_locks_ms,
                reads_from_probes_ms,
                writes_from_probes_ms,
            },
        });
    }
    // Worst first: that is what a reader of the report looks for.
    tables.sort_by(|a, b| b.blocking.max_ms().total_cmp(&a.blocking.max_ms()).then(a.table.cmp(&b.table)));

    let mut blocking = BlockingSummary::default();
    for table in &tables {
        blocking.reads_max_ms = blocking.reads_max_ms.max(table.blocking.reads_ms);
        blocking.writes_max_ms = blocking.writes_max_ms.max(table.blocking.writes_ms);
        if table.blocking.max_ms() > blocking.max_ms {
            blocking.max_ms = table.blocking.max_ms();
            blocking.table = Some(table.table.clone());
        }
    }
    run.backends = backends.into_iter().collect();
    RehearsalReport {
        tenant,
        source_database,
        clone,
        restore_drill,
        started,
        total_ms,
        migration: run,
        errors,
        tables,
        rewrites: trace.rewrites().filter(|r| !r.transient).map(RelationTrace::qualified_name).collect(),
        trace: TraceSummary { samples: trace.samples, interval_ms: trace.interval_ms, max_gap_ms: trace.max_gap_ms },
        probes,
        blocking,
    }
}

/// The longest interval after merging intervals closer than `tolerance_ms` (two samples apart
/// at most, so a hold handed from one mode to the next is one block).
fn longest_merged(mut spans: Vec<(f64, f64)>, tolerance_ms: f64) -> f64 {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut longest: f64 = 0.0;
    let mut current: Option<(f64, f64)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e + tolerance_ms => Some((s, e.max(end))),
            Some((s, e)) => {
                longest = longest.max(e - s);
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        longest = longest.max(e - s);
    }
    longest
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests;
