//! The local process driver: carries out the engine's steps on tenants that are app processes on
//! loopback ports with their databases on local PostgreSQL clusters.
//!
//! Each step runs on a thread of its own and reports through a channel that [`Driver::wait`] reads, so
//! a slow migration on one tenant does not hold up another. What each step does:
//! - restore point: maintenance mode on, then a verified `pg_dump` (see `ringfence_pg::restore`); its
//!   record is written beside the dump so a rollback after a controller crash can find it;
//! - migrate: the release's migration command, run through a small shell wrapper that records its own
//!   pid and, at the end, its exit status in files — so after a crash the driver can tell a migration
//!   that finished, one still running and one that died, and never starts one twice. It runs under
//!   the policy's guardrails (`ringfence_pg::guard`): one migration per database (advisory lock), no
//!   start while old or idle-in-transaction sessions are open, `lock_timeout`/`statement_timeout`
//!   through `PGOPTIONS`, retries with backoff after a lock timeout or a refused start, and a watchdog
//!   that cancels it when it keeps others waiting too long (the step fails; the tenant is rolled back);
//! - switch: stop the tenant's process, start the new version's, wait until `/health` reports it, then
//!   maintenance mode off;
//! - health check: `/health` answers 200 with the new version;
//! - rollback: restore the database from the restore point when asked, start the previous version,
//!   maintenance mode off.
//!
//! Observation scrapes `/metrics` of the treated tenant and of control tenants (serving the previous
//! version, not in flight) every interval and asks the policy's comparative judge and the simple
//! judge (the SLIs' limits); a failure is reported at once, and the comparative judge's numbers go
//! to the engine when they turn (see `compare`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use ringfence_core::engine::{Action, Event, StepId, StepKind, Verdict};
use ringfence_core::judge::{Judgement, Scrape, Window, judge};
use ringfence_core::model::{JudgeSpec, MetricsSpec, MigrationSafety, Sli, TenantId};
use ringfence_judge::Arm;
use ringfence_pg::PgError;
use ringfence_pg::binaries::PgBinaries;
use ringfence_pg::guard::{
    AttemptOutcome, MigrationLock, MigrationTimeouts, PreflightLimits, RetryBudget, RetryDecision, Watchdog,
    WatchdogPolicy, migration_application_name, preflight,
};
use ringfence_pg::restore::{RestorePoint, restore, take_restore_point, verify_restore_point};
use ringfence_pg::target::PgTarget;
use ringfence_runtime::{Driver, DriverError, Reconciled};
use serde_json::json;

use crate::LocalError;
use crate::compare::{Comparison, TenantScrapes};
use crate::metrics::get;
use crate::supervisor::Supervisor;

/// Command templates for the tenant app. Placeholders: `{tenant}`, `{database}`, `{cluster}`, `{host}`,
/// `{port}` (the database's), `{user}`, `{database_url}`, `{app_port}`, `{version}`, and for
/// maintenance `{state}` (`on` or `off`).
#[derive(Clone, Debug)]
pub struct AppCommands {
    /// Serves a tenant at a version.
    pub serve: Vec<String>,
    /// Turns a tenant's maintenance mode on or off.
    pub maintenance: Vec<String>,
    /// Where both run (the directory of the configuration file they are written in), so a relative
    /// program or argument means the same whatever the controller's current directory; the
    /// controller's current directory when `None`.
    pub dir: Option<PathBuf>,
}

/// One tenant as the local driver sees it.
#[derive(Clone, Debug)]
pub struct LocalTenant {
    /// Id.
    pub id: TenantId,
    /// Its database cluster.
    pub cluster: String,
    /// How to reach that cluster.
    pub target: PgTarget,
    /// Its database.
    pub database: String,
    /// The loopback port its app listens on.
    pub port: u16,
}

/// The release being rolled out, as far as the driver needs it.
#[derive(Clone, Debug)]
pub struct LocalRelease {
    /// New version.
    pub version: String,
    /// Version it replaces.
    pub previous: String,
    /// Migration command template (same placeholders as [`AppCommands`]; `{version}` is the new one,
    /// `{previous}` the old one).
    pub migration: Vec<String>,
    /// Where the migration runs (the directory of the Release's file), as [`AppCommands::dir`].
    pub dir: Option<PathBuf>,
}

/// Everything the local driver needs.
#[derive(Clone, Debug)]
pub struct LocalFleet {
    /// Restore points, logs, pid files and step records go here (made absolute against the current
    /// directory when the driver is created, so the commands, which run elsewhere, find their files).
    pub work_dir: PathBuf,
    /// How to run the app.
    pub app: AppCommands,
    /// The tenants.
    pub tenants: Vec<LocalTenant>,
    /// SLIs the judge applies during observation.
    pub slis: Vec<Sli>,
    /// How treated tenants are compared with the controls (on top of the SLIs' limits).
    pub judge: JudgeSpec,
    /// Time between two scrapes of an observed tenant.
    pub scrape_interval: Duration,
    /// How long a started app may take to answer `/health`.
    pub health_timeout: Duration,
    /// PostgreSQL client programs.
    pub pg: PgBinaries,
    /// The guardrails each migration runs under (the policy's `migration`).
    pub migration: MigrationSafety,
    /// Where SLIs are read: each tenant's `/metrics`, or Prometheus (the policy's `metrics`).
    pub metrics: MetricsSpec,
}

impl Shared {
    /// The release being carried out now.
    fn release(&self) -> Arc<LocalRelease> {
        Arc::clone(&self.release.lock().expect("release"))
    }
}

impl LocalFleet {
    fn tenant(&self, id: &TenantId) -> Result<&LocalTenant, LocalError> {
        self.tenants.iter().find(|t| &t.id == id).ok_or_else(|| LocalError::UnknownTenant(id.to_string()))
    }
}

struct Shared {
    fleet: LocalFleet,
    /// How tenants' SLIs are read.
    reader: crate::metrics::Reader,
    release: Mutex<Arc<LocalRelease>>,
    supervisor: Mutex<Supervisor>,
    /// Tenants with a step running: never a control.
    busy: Mutex<BTreeSet<TenantId>>,
    observing: Mutex<BTreeMap<TenantId, Arc<AtomicBool>>>,
    judgements: Mutex<BTreeMap<TenantId, Judgement>>,
    /// The comparative judge's latest judgement per observed tenant.
    comparisons: Mutex<BTreeMap<TenantId, ringfence_judge::Judgement>>,
    /// Each tenant's counters just before its restore point: its baseline on the previous version.
    baselines: Mutex<BTreeMap<TenantId, Scrape>>,
}

/// The driver. Dropping it stops every app process it started or adopted.
pub struct LocalDriver {
    shared: Arc<Shared>,
    tx: Sender<Event>,
    rx: Receiver<Event>,
}

impl LocalDriver {
    /// A driver for `release` over `fleet`. App processes a previous controller left running are adopted.
    pub fn new(mut fleet: LocalFleet, release: LocalRelease) -> Result<Self, LocalError> {
        fleet.work_dir = std::path::absolute(&fleet.work_dir).map_err(|e| LocalError::io(&fleet.work_dir, e))?;
        for dir in ["apps", "restore-points", "steps"] {
            let path = fleet.work_dir.join(dir);
            fs::create_dir_all(&path).map_err(|e| LocalError::io(&path, e))?;
        }
        let supervisor = Supervisor::new(&fleet.work_dir.join("apps"))?;
        let reader = crate::metrics::Reader::new(&fleet.metrics, &fleet.slis)?;
        let (tx, rx) = channel();
        let shared = Shared {
            reader,
            fleet,
            release: Mutex::new(Arc::new(release)),
            supervisor: Mutex::new(supervisor),
            busy: Mutex::new(BTreeSet::new()),
            observing: Mutex::new(BTreeMap::new()),
            judgements: Mutex::new(BTreeMap::new()),
            comparisons: Mutex::new(BTreeMap::new()),
            baselines: Mutex::new(BTreeMap::new()),
        };
        Ok(LocalDriver { shared: Arc::new(shared), tx, rx })
    }

    /// Starts every tenant that is not running: at the version it was last started at (a tenant a
    /// previous controller already switched stays switched), or at `version` for one never started.
    /// Waits until each is healthy.
    pub fn start_fleet(&self, version: &str) -> Result<(), LocalError> {
        for tenant in &self.shared.fleet.tenants {
            let recorded = {
                let supervisor = self.shared.supervisor.lock().expect("supervisor");
                if supervisor.get(tenant.id.as_str()).is_some() {
                    continue;
                }
                supervisor.recorded_version(tenant.id.as_str())
            };
            start_app(&self.shared, tenant, recorded.as_deref().unwrap_or(version))?;
        }
        Ok(())
    }

    /// Where the app processes' pid files are, for [`crate::supervisor::kill_recorded`].
    pub fn apps_dir(&self) -> PathBuf {
        self.shared.fleet.work_dir.join("apps")
    }

    /// Carries out `release` from now on, with the same running tenants (the next release of a demo or
    /// a fleet). Steps of the previous release must have finished.
    pub fn set_release(&self, release: LocalRelease) {
        *self.shared.release.lock().expect("release") = Arc::new(release);
        // Verdicts belong to the release they judged.
        self.shared.judgements.lock().expect("judgements").clear();
        self.shared.comparisons.lock().expect("comparisons").clear();
        self.shared.baselines.lock().expect("baselines").clear();
    }

    /// The version each tenant's process serves now.
    pub fn versions(&self) -> BTreeMap<TenantId, Option<String>> {
        let supervisor = self.shared.supervisor.lock().expect("supervisor");
        self.shared
            .fleet
            .tenants
            .iter()
            .map(|t| (t.id.clone(), supervisor.get(t.id.as_str()).map(|a| a.version.clone())))
            .collect()
    }

    /// The judge's latest findings per observed tenant (the numbers behind each verdict).
    pub fn judgements(&self) -> BTreeMap<TenantId, Judgement> {
        self.shared.judgements.lock().expect("judgements").clone()
    }

    /// The comparative judge's latest judgement per observed tenant: its verdict, and per SLI the
    /// estimated effect, its interval and the test statistic against its bar.
    pub fn comparisons(&self) -> BTreeMap<TenantId, ringfence_judge::Judgement> {
        self.shared.comparisons.lock().expect("comparisons").clone()
    }

    /// Stops every app process.
    pub fn stop_all(&self) {
        for flag in self.shared.observing.lock().expect("observing").values() {
            flag.store(true, Ordering::SeqCst);
        }
        self.shared.supervisor.lock().expect("supervisor").stop_all();
    }

    fn spawn_step(
        &self,
        step: StepId,
        work: impl FnOnce(&Shared) -> Result<serde_json::Value, String> + Send + 'static,
    ) {
        let shared = Arc::clone(&self.shared);
        let tx = self.tx.clone();
        shared.busy.lock().expect("busy").insert(step.tenant.clone());
        std::thread::spawn(move || {
            let result = work(&shared);
            shared.busy.lock().expect("busy").remove(&step.tenant);
            let event = match result {
                Ok(detail) => Event::StepSucceeded { step, detail },
                Err(reason) => Event::StepFailed { step, reason },
            };
            let _ = tx.send(event);
        });
    }
}

impl Drop for LocalDriver {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Fills `{placeholders}` in a command template.
fn fill(template: &[String], vars: &BTreeMap<&str, String>) -> Vec<String> {
    template
        .iter()
        .map(|arg| {
            let mut out = arg.clone();
            for (k, v) in vars {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out
        })
        .collect()
}

fn vars(shared: &Shared, tenant: &LocalTenant, version: &str) -> BTreeMap<&'static str, String> {
    let t = &tenant.target;
    BTreeMap::from([
        ("tenant", tenant.id.to_string()),
        ("database", tenant.database.clone()),
        ("cluster", tenant.cluster.clone()),
        ("host", t.host.clone()),
        ("port", t.port.to_string()),
        ("user", t.user.clone()),
        ("database_url", format!("postgres://{}@{}:{}/{}", t.user, t.host, t.port, tenant.database)),
        ("app_port", tenant.port.to_string()),
        ("version", version.to_owned()),
        ("previous", shared.release().previous.clone()),
    ])
}

/// `program` as run in `dir`: a relative path (`bin/app`, `./migrate.sh`) is taken from `dir`; a bare
/// name is looked up in `PATH` as usual, and an absolute path stays as it is.
pub fn program_in(program: &str, dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(dir) if program.contains('/') => dir.join(program),
        _ => PathBuf::from(program),
    }
}

/// A process for `command` (program and arguments), run in `dir` when given.
pub(crate) fn command_in(command: &[String], dir: Option<&Path>) -> Option<Command> {
    let (program, args) = command.split_first()?;
    let mut cmd = Command::new(program_in(program, dir));
    cmd.args(args);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    Some(cmd)
}

/// Runs a command to completion in `dir`, with the cluster's password (if any) in the environment
/// only.
fn run(command: &[String], dir: Option<&Path>, target: &PgTarget, log: &Path) -> Result<(), String> {
    let mut cmd = command_in(command, dir).ok_or("empty command")?;
    let program = &command[0];
    let out =
        fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    // A group of its own, like the apps and migrations: the hangup a closing terminal sends the
    // controller's group must not fail a tenant's step.
    cmd.stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    if let Some(password) = &target.password {
        cmd.env("PGPASSWORD", password.expose());
    }
    let status = cmd.status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {status} (log: {})", command.join(" "), log.display()))
    }
}

fn maintenance(shared: &Shared, tenant: &LocalTenant, on: bool) -> Result<(), String> {
    let mut v = vars(shared, tenant, &shared.release().version);
    v.insert("state", if on { "on" } else { "off" }.into());
    let log = shared.fleet.work_dir.join("steps").join(format!("{}.log", tenant.id));
    run(&fill(&shared.fleet.app.maintenance, &v), shared.fleet.app.dir.as_deref(), &tenant.target, &log)
}

/// Starts the tenant's app at `version` and waits until `/health` reports that version.
fn start_app(shared: &Shared, tenant: &LocalTenant, version: &str) -> Result<(), LocalError> {
    let command = fill(&shared.fleet.app.serve, &vars(shared, tenant, version));
    let dir = shared.fleet.app.dir.as_deref();
    shared.supervisor.lock().expect("supervisor").start(tenant.id.as_str(), version, tenant.port, &command, dir)?;
    let url = format!("http://127.0.0.1:{}/health", tenant.port);
    let deadline = std::time::Instant::now() + shared.fleet.health_timeout;
    loop {
        // A process that died (e.g. its port was taken) must not pass for healthy because something
        // else answers on that port.
        if let Some(status) = shared.supervisor.lock().expect("supervisor").exited(tenant.id.as_str()) {
            return Err(LocalError::AppDied { tenant: tenant.id.to_string(), version: version.to_owned(), status });
        }
        if let Ok((200, body)) = get(&url, Duration::from_secs(2))
            && serves(&body, &tenant.id, version)
        {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(LocalError::Unhealthy {
                tenant: tenant.id.to_string(),
                url,
                waited: shared.fleet.health_timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a `/health` body says it is `tenant`'s app at `version`. A JSON body naming a tenant must
/// name this one (another tenant's app on a reused port is not this tenant); the version must be the
/// value of `code_version` or `version`, or, for apps that answer otherwise, appear quoted in the body.
fn serves(body: &str, tenant: &TenantId, version: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(health)) => {
            let tenant_ok = health.get("tenant").is_none_or(|t| t.as_str() == Some(tenant.as_str()));
            let version_ok =
                ["code_version", "version"].iter().any(|k| health.get(*k).and_then(|v| v.as_str()) == Some(version));
            tenant_ok && version_ok
        }
        _ => body.contains(&format!("\"{version}\"")),
    }
}

fn restore_point_record(shared: &Shared, tenant: &TenantId) -> PathBuf {
    shared.fleet.work_dir.join("restore-points").join(format!("{tenant}-{}.json", shared.release().version))
}

fn step_base(shared: &Shared, step: &StepId) -> PathBuf {
    shared.fleet.work_dir.join("steps").join(format!(
        "{}-{}-{}-{}",
        step.tenant,
        step.kind,
        shared.release().version,
        step.attempt
    ))
}

fn take(shared: &Shared, tenant: &LocalTenant) -> Result<serde_json::Value, String> {
    // What the tenant counted on the previous version: its baseline for the comparative judge. A
    // tenant that does not answer has none, and is then judged on the SLIs' limits alone.
    if let Ok(counters) = shared.reader.read(tenant.id.as_str(), tenant.port, Duration::from_secs(5)) {
        shared.baselines.lock().expect("baselines").insert(tenant.id.clone(), counters);
    }
    maintenance(shared, tenant, true)?;
    let dir = shared.fleet.work_dir.join("restore-points");
    // A label of its own per attempt: a restore point file is never overwritten.
    let label = format!("{}-{}", shared.release().version, Timestamp::now().as_millisecond());
    let point = take_restore_point(&shared.fleet.pg, &tenant.target, &tenant.database, &dir, &label)
        .map_err(|e| e.to_string())?;
    let record = restore_point_record(shared, &tenant.id);
    let text = serde_json::to_vec_pretty(&point).expect("restore points serialise");
    let tmp = record.with_extension("tmp");
    fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, &record)).map_err(|e| format!("{}: {e}", record.display()))?;
    Ok(serde_json::to_value(&point).expect("restore points serialise"))
}

/// The policy's guardrails in the terms of `ringfence_pg::guard`.
struct Guardrails {
    preflight: PreflightLimits,
    timeouts: MigrationTimeouts,
    retry: RetryBudget,
    watchdog: WatchdogPolicy,
}

impl From<&MigrationSafety> for Guardrails {
    fn from(m: &MigrationSafety) -> Self {
        let d = |d: ringfence_core::Duration| Duration::from_millis(d.as_millis());
        // Look at least four times within the allowed wait, so a cancel comes soon after it.
        let interval = (d(m.max_blocking) / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        Guardrails {
            preflight: PreflightLimits {
                max_transaction_age: d(m.max_transaction_age),
                max_idle_in_transaction: d(m.max_idle_in_transaction),
            },
            timeouts: MigrationTimeouts { lock_timeout: d(m.lock_timeout), statement_timeout: d(m.statement_timeout) },
            retry: RetryBudget {
                max_attempts: m.retry.max_attempts,
                initial_backoff: d(m.retry.backoff),
                max_backoff: d(m.retry.max_backoff),
                total: d(m.retry.budget),
            },
            watchdog: WatchdogPolicy {
                max_wait: d(m.max_blocking),
                interval,
                terminate_after: WatchdogPolicy::default().terminate_after,
            },
        }
    }
}

/// Runs the migration under the policy's guardrails: holds the database's migration lock for the
/// whole step, and per attempt checks for old transactions, runs the command with the timeouts in
/// `PGOPTIONS` and its own application name while the watchdog watches, then decides from the
/// attempt's log whether a lock timeout (or a refused start) earns another attempt.
///
/// Every attempt goes through `sh`, which records its pid first and its exit status last, so a driver
/// started after a crash can tell what became of it. Before a retry, the failed attempt's status file
/// is moved aside: a status file always belongs to the latest attempt.
fn migrate(shared: &Shared, tenant: &LocalTenant, base: &Path) -> Result<serde_json::Value, String> {
    let release = shared.release();
    let command = fill(&release.migration, &vars(shared, tenant, &release.version));
    let guard = Guardrails::from(&shared.fleet.migration);
    let (pg, target, database) = (&shared.fleet.pg, &tenant.target, tenant.database.as_str());
    let step_name = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let application_name = migration_application_name(&step_name);
    let log = base.with_extension("log");
    let lock = MigrationLock::acquire(pg, target, database).map_err(|e| e.to_string())?;
    let first = std::time::Instant::now();
    let mut attempts = Vec::new();
    for attempt in 1.. {
        let (outcome, record) = match preflight(pg, target, database, guard.preflight) {
            Err(refused @ PgError::PreflightRefused { .. }) => {
                // Old sessions may end on their own: a refused start is retried like a lock timeout.
                (AttemptOutcome::LockTimeout, json!({ "attempt": attempt, "refused": refused.to_string() }))
            }
            Err(e) => return Err(e.to_string()),
            Ok(checked) => {
                let watchdog = Watchdog::start(pg, target, database, &application_name, guard.watchdog)
                    .map_err(|e| format!("cannot start the migration watchdog: {e}"))?;
                let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
                let started = std::time::Instant::now();
                let env = guard.timeouts.environment(&application_name);
                let status = run_wrapper(base, (&command, release.dir.as_deref()), target, &env);
                let seconds = started.elapsed().as_secs_f64();
                let watched = watchdog.stop();
                let status = status?;
                let output = read_from(&log, log_start);
                let mut record = json!({
                    "attempt": attempt, "seconds": seconds, "exit": status.to_string(),
                    "oldestTransactionSecs": checked.oldest_transaction_secs,
                });
                match &watched {
                    Ok(report) => {
                        record["watchdog"] = serde_json::to_value(report).unwrap_or_default();
                        if let Some(cancel) = report.interventions.first().filter(|_| !status.success()) {
                            let w = &cancel.waiter;
                            return Err(format!(
                                "the watchdog {} the migration's backend {}: it kept pid {} ({:?}) waiting {:.1}s for {} on {}, longer than the policy's maxBlocking of {:?}; log: {}",
                                match cancel.action {
                                    ringfence_pg::guard::WatchdogAction::Cancel => "cancelled",
                                    ringfence_pg::guard::WatchdogAction::Terminate => "terminated",
                                },
                                cancel.migration_pid,
                                w.pid,
                                w.application_name,
                                w.waited_secs,
                                w.mode.as_deref().unwrap_or("a lock"),
                                w.relation.as_deref().unwrap_or("a relation"),
                                guard.watchdog.max_wait,
                                log.display()
                            ));
                        }
                    }
                    // The migration ran; only the watch over it broke. Say so, but judge by its exit.
                    Err(e) => record["watchdogError"] = json!(e.to_string()),
                }
                (AttemptOutcome::from_exit(status.success(), &output), record)
            }
        };
        attempts.push(record);
        match guard.retry.decide(attempt, first.elapsed(), outcome) {
            RetryDecision::Done => {
                lock.release().map_err(|e| format!("the migration succeeded but its lock was not released: {e}"))?;
                return Ok(json!({
                    "command": command,
                    "seconds": first.elapsed().as_secs_f64(),
                    "log": log.display().to_string(),
                    "applicationName": application_name,
                    "attempts": attempts,
                }));
            }
            RetryDecision::RetryAfter(wait) => {
                let status = PathBuf::from(format!("{}.status", base.display()));
                let _ = fs::rename(&status, format!("{}.status.attempt-{attempt}", base.display()));
                let _ = fs::remove_file(format!("{}.pid", base.display()));
                std::thread::sleep(wait);
            }
            RetryDecision::GiveUp { reason } => {
                let last = attempts.last().cloned().unwrap_or_default();
                let why = last.get("refused").and_then(|r| r.as_str()).map(str::to_owned);
                return Err(match why {
                    Some(refused) => format!("the migration was never started: {refused} ({reason})"),
                    None => format!(
                        "migration `{}` failed after {attempt} attempt(s): {reason}; log: {}",
                        command.join(" "),
                        log.display()
                    ),
                });
            }
        }
    }
    unreachable!("the attempt loop returns")
}

/// Runs one attempt through the recording wrapper, in `dir` when given, with `env` added. `base` is
/// absolute (the work directory is), so the wrapper's files land there wherever it runs.
fn run_wrapper(
    base: &Path,
    (command, dir): (&[String], Option<&Path>),
    target: &PgTarget,
    env: &[(String, String)],
) -> Result<std::process::ExitStatus, String> {
    let script = r#"echo $$ > "$0.pid"; "$@" >> "$0.log" 2>&1; code=$?; echo $code > "$0.status.tmp"; mv "$0.status.tmp" "$0.status"; exit $code"#;
    let (program, args) = command.split_first().ok_or("empty migration command")?;
    let mut cmd = Command::new("sh");
    // A process group of its own: a Ctrl-C at the controller's terminal must not kill a migration
    // half-way; it finishes, and the next controller reads its exit status.
    cmd.arg("-c").arg(script).arg(base).arg(program_in(program, dir)).args(args).stdin(Stdio::null()).process_group(0);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(password) = &target.password {
        cmd.env("PGPASSWORD", password.expose());
    }
    cmd.status().map_err(|e| format!("cannot run the migration: {e}"))
}

/// What was appended to `path` from byte `offset` on (lossy: a log is for people).
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned()
}

fn health(shared: &Shared, tenant: &LocalTenant) -> Result<serde_json::Value, String> {
    let url = format!("http://127.0.0.1:{}/health", tenant.port);
    let (status, body) = get(&url, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let version = &shared.release().version;
    if status == 200 && serves(&body, &tenant.id, version) {
        Ok(json!({ "url": url, "status": status }))
    } else {
        Err(format!("{url} answered {status}, not version {version}: {body}"))
    }
}

fn roll_back(shared: &Shared, tenant: &LocalTenant, restore_database: bool) -> Result<serde_json::Value, String> {
    let mut detail = json!({ "version": shared.release().previous });
    if restore_database {
        let record = restore_point_record(shared, &tenant.id);
        let text = fs::read(&record).map_err(|e| format!("no restore point record {}: {e}", record.display()))?;
        let point: RestorePoint = serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", record.display()))?;
        maintenance(shared, tenant, true)?;
        // The app holds connections to the database; stop it before the database is replaced.
        shared.supervisor.lock().expect("supervisor").stop(tenant.id.as_str()).map_err(|e| e.to_string())?;
        let report = restore(&shared.fleet.pg, &tenant.target, &point).map_err(|e| e.to_string())?;
        detail["restored_from"] = json!(point.path);
        detail["restore"] = serde_json::to_value(&report).unwrap_or_default();
    }
    let running = shared.supervisor.lock().expect("supervisor").get(tenant.id.as_str()).map(|a| a.version.clone());
    if running.as_deref() != Some(shared.release().previous.as_str()) {
        start_app(shared, tenant, &shared.release().previous).map_err(|e| e.to_string())?;
    }
    maintenance(shared, tenant, false)?;
    Ok(detail)
}

fn observe(shared: Arc<Shared>, tenant: TenantId, until: Timestamp, stop: Arc<AtomicBool>, tx: Sender<Event>) {
    let Ok(treated) = shared.fleet.tenant(&tenant).cloned() else { return };
    let timeout = Duration::from_secs(5);
    let read = |t: &LocalTenant| shared.reader.read(t.id.as_str(), t.port, timeout).ok();
    let controls: Vec<LocalTenant> = {
        let supervisor = shared.supervisor.lock().expect("supervisor");
        let busy = shared.busy.lock().expect("busy");
        let observing = shared.observing.lock().expect("observing");
        shared
            .fleet
            .tenants
            .iter()
            .filter(|t| t.id != tenant && !busy.contains(&t.id) && !observing.contains_key(&t.id))
            .filter(|t| supervisor.get(t.id.as_str()).is_some_and(|a| a.version == shared.release().previous))
            .cloned()
            .collect()
    };
    let scrape_all =
        || -> (Option<Scrape>, Vec<Option<Scrape>>) { (read(&treated), controls.iter().map(read).collect()) };
    let (first_treated, first_controls) = scrape_all();
    let mut start_treated = first_treated.unwrap_or_default();
    let began = Timestamp::now();
    let baseline = shared.baselines.lock().expect("baselines").get(&tenant).cloned();
    let horizon = until.duration_since(began).unsigned_abs();
    let mut comparison = match (&baseline, Comparison::new(&shared.fleet.judge, &shared.fleet.slis, horizon)) {
        (Some(_), Ok(c)) => c,
        // No baseline (the restore point was taken by a controller that crashed since): limits only.
        (None, _) => None,
        (_, Err(e)) => {
            let reason = format!("the policy's judge cannot be built: {e}");
            let _ = tx.send(Event::Observation { tenant, verdict: Verdict::Fail { reason } });
            return;
        }
    };
    let interval = jiff::SignedDuration::try_from(shared.fleet.scrape_interval).unwrap_or(jiff::SignedDuration::MAX);
    while !stop.load(Ordering::SeqCst) && Timestamp::now() < until {
        std::thread::sleep(shared.fleet.scrape_interval);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (now_treated, now_controls) = scrape_all();
        let Some(now_treated) = now_treated else { continue };
        if start_treated.series.is_empty() {
            start_treated = now_treated.clone();
            continue;
        }
        let windows: Vec<Window<'_>> = first_controls
            .iter()
            .zip(&now_controls)
            .filter_map(|(a, b)| Some(Window { start: a.as_ref()?, end: b.as_ref()? }))
            .collect();
        let mut look = None;
        if let (Some(c), Some(base)) = (comparison.as_mut(), baseline.as_ref()) {
            let mut scrapes = vec![TenantScrapes {
                id: &tenant,
                arm: Arm::Treated,
                baseline: base,
                post: Window { start: &start_treated, end: &now_treated },
            }];
            for ((control, first), now) in controls.iter().zip(&first_controls).zip(&now_controls) {
                if let (Some(first), Some(now)) = (first, now) {
                    scrapes.push(TenantScrapes {
                        id: &control.id,
                        arm: Arm::Control,
                        baseline: first,
                        post: Window { start: first, end: now },
                    });
                }
            }
            let elapsed = Timestamp::now().duration_since(began).unsigned_abs();
            let compared = c.look(elapsed, &scrapes);
            shared.comparisons.lock().expect("comparisons").insert(tenant.clone(), compared.clone());
            let (changed, numbers) = c.numbers(&compared, elapsed);
            if let ringfence_judge::Verdict::Fail { why, .. } = compared.verdict {
                // The failure's own record carries these numbers: no separate look record.
                let _ = tx.send(Event::Look { tenant: tenant.clone(), changed: false, numbers });
                // `why` names the SLI first.
                let _ = tx.send(Event::Observation { tenant, verdict: Verdict::Fail { reason: why } });
                return;
            }
            look = Some((changed, numbers));
        }
        let judgement = judge(&shared.fleet.slis, Window { start: &start_treated, end: &now_treated }, &windows);
        let failed = matches!(judgement.verdict, Verdict::Fail { .. });
        // The last look before the window closes: the engine ends the observation at `until` with
        // the numbers it was sent last.
        let closing = until.duration_since(Timestamp::now()) <= interval;
        if let Some((changed, numbers)) = look.filter(|(changed, _)| *changed || closing || failed) {
            let _ = tx.send(Event::Look { tenant: tenant.clone(), changed: changed && !failed, numbers });
        }
        let verdict = judgement.verdict.clone();
        shared.judgements.lock().expect("judgements").insert(tenant.clone(), judgement);
        if failed {
            let _ = tx.send(Event::Observation { tenant, verdict });
            return;
        }
    }
}

impl Driver for LocalDriver {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn start_step(&mut self, action: &Action) -> Result<(), DriverError> {
        let step = action.step().ok_or_else(|| DriverError(format!("{action:?} is not a step")))?.clone();
        let tenant = self.shared.fleet.tenant(&step.tenant).map_err(|e| DriverError(e.to_string()))?.clone();
        match action {
            Action::TakeRestorePoint { .. } => self.spawn_step(step, move |s| take(s, &tenant)),
            Action::RunMigration { .. } => {
                let base = step_base(&self.shared, &step);
                self.spawn_step(step, move |s| migrate(s, &tenant, &base))
            }
            Action::SwitchVersion { version, .. } => {
                let version = version.clone();
                self.spawn_step(step, move |s| {
                    start_app(s, &tenant, &version).map_err(|e| e.to_string())?;
                    maintenance(s, &tenant, false)?;
                    Ok(json!({ "version": version, "port": tenant.port }))
                })
            }
            Action::CheckHealth { .. } => self.spawn_step(step, move |s| health(s, &tenant)),
            Action::RollBack { restore_database, .. } => {
                let restore_database = *restore_database;
                self.spawn_step(step, move |s| roll_back(s, &tenant, restore_database))
            }
            other => return Err(DriverError(format!("{other:?} is not a step"))),
        }
        Ok(())
    }

    fn start_observation(&mut self, tenant: &TenantId, until: Timestamp) -> Result<(), DriverError> {
        let stop = Arc::new(AtomicBool::new(false));
        if let Some(old) = self.shared.observing.lock().expect("observing").insert(tenant.clone(), Arc::clone(&stop)) {
            old.store(true, Ordering::SeqCst);
        }
        let (shared, tx, tenant) = (Arc::clone(&self.shared), self.tx.clone(), tenant.clone());
        std::thread::spawn(move || observe(shared, tenant, until, stop, tx));
        Ok(())
    }

    fn stop_observation(&mut self, tenant: &TenantId) -> Result<(), DriverError> {
        if let Some(flag) = self.shared.observing.lock().expect("observing").remove(tenant) {
            flag.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    fn wait(&mut self, wake: Option<Timestamp>) -> Result<Vec<Event>, DriverError> {
        // Without a wake time something is in flight and will report; look again every minute anyway.
        let timeout = match wake {
            Some(at) => Duration::try_from(at - Timestamp::now()).unwrap_or(Duration::ZERO),
            None => Duration::from_secs(60),
        };
        let mut events = match self.rx.recv_timeout(timeout) {
            Ok(event) => vec![event],
            Err(RecvTimeoutError::Timeout) => return Ok(vec![]),
            Err(RecvTimeoutError::Disconnected) => return Err(DriverError("the driver's event channel closed".into())),
        };
        events.extend(self.rx.try_iter());
        Ok(events)
    }

    fn reconcile(&mut self, action: &Action) -> Result<Reconciled, DriverError> {
        let step = action.step().ok_or_else(|| DriverError(format!("{action:?} is not a step")))?.clone();
        match step.kind {
            StepKind::RestorePoint => {
                let record = restore_point_record(&self.shared, &step.tenant);
                let point: Option<RestorePoint> = fs::read(&record).ok().and_then(|t| serde_json::from_slice(&t).ok());
                match point {
                    Some(point) if verify_restore_point(&self.shared.fleet.pg, &point).is_ok() => {
                        Ok(Reconciled::Finished(Event::StepSucceeded {
                            step,
                            detail: serde_json::to_value(&point).expect("serialisable"),
                        }))
                    }
                    // Taking a restore point changes nothing but maintenance mode: safe to take again.
                    _ => Ok(Reconciled::NotStarted),
                }
            }
            StepKind::Migrate => {
                let base = step_base(&self.shared, &step);
                let status_file = PathBuf::from(format!("{}.status", base.display()));
                let pid_file = PathBuf::from(format!("{}.pid", base.display()));
                if let Ok(code) = fs::read_to_string(&status_file) {
                    return Ok(Reconciled::Finished(migration_result(step, code.trim(), &base)));
                }
                // No pid file does not prove it never started: a controller killed just after spawning
                // the wrapper leaves a process that has not written its pid yet. Find it by its command
                // line before declaring the step not started, or the migration would run twice.
                let pid = match fs::read_to_string(&pid_file) {
                    Ok(pid) => pid.trim().to_owned(),
                    Err(_) => match wrapper_process(&base, &pid_file, Duration::from_secs(2)) {
                        Some(pid) => pid,
                        None => return Ok(Reconciled::NotStarted),
                    },
                };
                let alive = !pid.is_empty() && fs::metadata(format!("/proc/{pid}")).is_ok();
                if !alive {
                    return Ok(Reconciled::Finished(Event::StepFailed {
                        step,
                        reason: "the migration was interrupted: its process is gone and left no exit status, so the database may be half-migrated".into(),
                    }));
                }
                // Still running (it outlived the controller): report when its status appears.
                let (tx, busy) = (self.tx.clone(), Arc::clone(&self.shared));
                busy.busy.lock().expect("busy").insert(step.tenant.clone());
                std::thread::spawn(move || {
                    loop {
                        if let Ok(code) = fs::read_to_string(&status_file) {
                            busy.busy.lock().expect("busy").remove(&step.tenant);
                            let _ = tx.send(migration_result(step, code.trim(), &base));
                            return;
                        }
                        if fs::metadata(format!("/proc/{pid}")).is_err() && fs::metadata(&status_file).is_err() {
                            busy.busy.lock().expect("busy").remove(&step.tenant);
                            let _ = tx.send(Event::StepFailed {
                                step,
                                reason: "the migration process vanished without an exit status".into(),
                            });
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
                Ok(Reconciled::Running)
            }
            // Switching, checking health and rolling back converge on the same state when repeated.
            StepKind::Switch | StepKind::HealthCheck | StepKind::Rollback => Ok(Reconciled::NotStarted),
        }
    }
}

/// The pid of the migration wrapper for `base`, if one runs or appears within `grace`: its pid file,
/// or a process whose arguments include `base` (the wrapper's `$0`). The grace covers a wrapper forked
/// just before its controller died, still between fork and exec.
fn wrapper_process(base: &Path, pid_file: &Path, grace: Duration) -> Option<String> {
    let wanted = base.as_os_str().as_encoded_bytes();
    let deadline = std::time::Instant::now() + grace;
    loop {
        if let Ok(pid) = fs::read_to_string(pid_file)
            && !pid.trim().is_empty()
        {
            return Some(pid.trim().to_owned());
        }
        let found = fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok).find_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            cmdline.split(|b| *b == 0).any(|arg| arg == wanted).then_some(name)
        });
        if found.is_some() {
            return found;
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn migration_result(step: StepId, code: &str, base: &Path) -> Event {
    if code == "0" {
        Event::StepSucceeded { step, detail: json!({ "log": format!("{}.log", base.display()), "reconciled": true }) }
    } else {
        Event::StepFailed { step, reason: format!("migration exited with {code}; log: {}.log", base.display()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_must_name_this_tenant_and_version() {
        let me = TenantId::from("surf-shack");
        assert!(serves(r#"{"tenant":"surf-shack","code_version":"v2"}"#, &me, "v2"));
        assert!(!serves(r#"{"tenant":"demo-bakery","code_version":"v2"}"#, &me, "v2"), "another tenant's app");
        assert!(!serves(r#"{"tenant":"surf-shack","code_version":"v1"}"#, &me, "v2"));
        assert!(serves(r#"{"version":"v2"}"#, &me, "v2"), "apps that do not name the tenant");
        assert!(serves(r#"ok "v2""#, &me, "v2"));
    }

    /// Commands run in the directory they were written for: a relative program and relative
    /// arguments are taken from there, not from the controller's current directory.
    #[test]
    fn commands_run_in_their_directory() {
        assert_eq!(program_in("sh", Some(Path::new("/cfg"))), Path::new("sh"), "a bare name is looked up in PATH");
        assert_eq!(program_in("bin/app", Some(Path::new("/cfg"))), Path::new("/cfg/bin/app"));
        assert_eq!(program_in("./m.sh", Some(Path::new("/cfg"))), Path::new("/cfg/./m.sh"));
        assert_eq!(program_in("/opt/app", Some(Path::new("/cfg"))), Path::new("/opt/app"));
        assert_eq!(program_in("bin/app", None), Path::new("bin/app"));

        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        fs::create_dir_all(config.join("bin")).unwrap();
        fs::write(config.join("bin/app"), "#!/bin/sh\necho \"$1\" > out.txt\n").unwrap();
        let mut perms = fs::metadata(config.join("bin/app")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(config.join("bin/app"), perms).unwrap();
        let command = vec!["bin/app".to_owned(), "hello".to_owned()];
        let log = dir.path().join("log");
        let target = PgTarget::new("localhost", 5432, "x");
        run(&command, Some(&config), &target, &log).unwrap();
        assert_eq!(fs::read_to_string(config.join("out.txt")).unwrap(), "hello\n");

        let base = dir.path().join("steps/m-1");
        fs::create_dir_all(base.parent().unwrap()).unwrap();
        let status = run_wrapper(&base, (&command, Some(&config)), &target, &[]).unwrap();
        assert!(status.success());
        assert_eq!(fs::read_to_string(base.with_extension("status")).unwrap().trim(), "0");
    }

    /// A wrapper that has not written its pid file yet is found by its arguments, so reconcile does
    /// not take its migration for one never started; with no wrapper, nothing is found.
    #[test]
    fn a_migration_wrapper_without_a_pid_file_is_found_by_its_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("shop-b-migrate-v2-1");
        let pid_file = base.with_extension("pid");
        assert_eq!(wrapper_process(&base, &pid_file, Duration::from_millis(200)), None);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("sleep 5")
            .arg(&base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let found = wrapper_process(&base, &pid_file, Duration::from_secs(2));
        // The shell and its sleep, as the group they are.
        let group = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        assert_eq!(found, Some(child.id().to_string()));
        // Its pid file, once written, is what counts.
        fs::write(&pid_file, "4242\n").unwrap();
        assert_eq!(wrapper_process(&base, &pid_file, Duration::ZERO), Some("4242".into()));
    }
}
