//! `rollout`, `resume` and `status`: commands that drive a release or report on one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ringfence_core::engine::{Engine, EngineOptions, Event, Outcome, TenantPhase, TenantProgress};
use ringfence_core::governance::GovernanceSpec;
use ringfence_core::model::TenantId;
use ringfence_core::model::{Config, Release, SecretRef};
use ringfence_local::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};
use ringfence_pg::{PgBinaries, PgTarget, Secret};
use ringfence_runtime::simulate::{FailPoint, SimulatedDriver, SimulationOptions};
use ringfence_runtime::{Driver, ResumeReport, Runner};
use ringfence_store::{RunId, SqliteStore, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Exit;
use crate::cli::{DriverKind, RunArgs, StateArgs};
use crate::config_cmd::{load_or_report, make_plan};
use crate::failure::{UsageResult, usage};
use crate::out::{errln, out, outln};
use crate::table::Table;

/// The simulated world lives beside the state store, so `resume` finds it.
fn world_path(state: &Path) -> PathBuf {
    state.with_file_name("simulated-world.json")
}

/// `ringfence rollout DIR`.
pub fn rollout(
    dir: &Path,
    args: &RunArgs,
    actor: &str,
    from: Option<jiff::Timestamp>,
    failures: Vec<FailPoint>,
) -> anyhow::Result<Exit> {
    crate::signals::keep_running_on_hangup();
    let loaded = match load_or_report(dir, false) {
        Ok(loaded) => loaded,
        Err(exit) => return Ok(exit),
    };
    let Some(release) = loaded.config.release.clone() else {
        errln!("{}: no Release document: add one (kind: Release) to roll out", dir.display());
        return Ok(Exit::Usage);
    };
    let plan = make_plan(&loaded)?;
    for f in &failures {
        if !plan.tenants().any(|t| t.id == f.tenant) {
            errln!("--fail {}: no tenant {:?} in the plan", f.tenant, f.tenant.as_str());
            return Ok(Exit::Usage);
        }
    }
    let store = open_store(&args.state.state, true)?;
    let options = EngineOptions { schema_backward_compatible: release.schema_backward_compatible };
    // Each tenant starts only in its window, outside the freezes, within the pacing limits; those
    // whose rehearsal predicts too much blocking only inside a window.
    let mut spec = crate::gates_cmd::governance_spec(&loaded.config, &args.audit)?;
    apply_rehearsals(&mut spec, &loaded.config, &release, &args.rehearsals)?;
    let gates = match check_gates(dir, &loaded, &release, args, actor, from)? {
        Err(exit) => return Ok(exit),
        Ok(checked) => checked,
    };
    let governance = Some(spec);
    match args.driver {
        DriverKind::Simulate => {
            let mut sim =
                SimulationOptions::new(from.unwrap_or_else(jiff::Timestamp::now), world_path(&args.state.state));
            sim.failures = failures.into_iter().collect();
            sim.pace = std::time::Duration::from_millis(args.pace);
            let driver = SimulatedDriver::create(sim)?;
            start_and_drive(
                store,
                (driver, "simulated fleet, virtual clock", None),
                (plan, options, governance),
                actor,
                args,
                None,
            )
        }
        DriverKind::Local => {
            let paths = LocalPaths::resolve(dir, &loaded)?;
            errln!("work directory: {}", paths.work_dir.display());
            let driver = local_driver(&loaded.config, &release, &paths)?;
            // The gates passed at the start; each tenant's start asks them again (approvals and
            // evidence as they are then), unless they were overridden for this run.
            let gatekeeper = match gates {
                GateCheck::Passed(context) => Some(gatekeeper(*context, &plan)),
                GateCheck::Overridden | GateCheck::NotEnforced => None,
            };
            // The absolute paths go with the run: `resume` uses them, from any directory.
            let settings = json!({ "local": paths });
            start_and_drive(
                store,
                (driver, "local processes", Some(settings)),
                (plan, options, governance),
                actor,
                args,
                gatekeeper,
            )
        }
    }
}

/// What the release's rehearsals change in the rules of the run: a tenant predicted to block reads
/// or writes longer than `migration.maxPredictedBlocking` allows for the tier may start only inside
/// a maintenance window, and its expected step takes at least twice its measured migration.
fn apply_rehearsals(spec: &mut GovernanceSpec, config: &Config, release: &Release, root: &Path) -> anyhow::Result<()> {
    for (tenant, report) in crate::rehearse_cmd::reports_by_tenant(root, &release.version)? {
        if !config.fleet.tenants.iter().any(|t| t.id == tenant) {
            continue;
        }
        if let Some(why) = crate::rehearse_cmd::window_required_reason(&report, &config.policy.migration, spec.tier) {
            errln!("tenant {tenant}: only inside a maintenance window: {why}");
            spec.window_required.insert(tenant.clone(), why);
        }
        let measured = ringfence_core::Duration::from_millis((report.migration.duration_ms * 2.0).ceil() as u64);
        if measured > spec.expected_step {
            spec.step_by_tenant.insert(tenant, measured);
        }
    }
    Ok(())
}

/// Whether the audit trail records an override of `version`'s gates.
fn gates_overridden(audit: &Path, version: &str) -> anyhow::Result<bool> {
    if !audit.exists() {
        return Ok(false);
    }
    let entries =
        ringfence_audit::read_entries(audit).with_context(|| format!("reading the audit trail {}", audit.display()))?;
    Ok(entries.iter().any(|e| e.action == "release.gates.overridden" && e.subject.release == version))
}

/// Records a decision about `version`'s gates (`release.gates.blocked`, `…overridden`) by `actor`.
fn record_gates(
    args: &RunArgs,
    version: &str,
    actor: &str,
    action: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let mut log = ringfence_audit::AuditLog::open(&args.audit)?;
    log.append(ringfence_audit::NewEntry {
        ts: jiff::Timestamp::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: ringfence_audit::Subject { release: version.to_owned(), tenant: None },
        details,
    })?;
    Ok(())
}

/// How the gates stood when the rollout started.
enum GateCheck {
    /// Every release and ring gate passed; the context that judged them keeps judging each tenant.
    Passed(Box<crate::gates_cmd::GateContext>),
    /// Some did not; an operator overrode them for this run (recorded).
    Overridden,
    /// A simulation: reported, not enforced.
    NotEnforced,
}

/// The gates asked again before each tenant's first step, with the configuration the rollout
/// started with: a gate that no longer passes (an approval that no longer counts, evidence that
/// changed for the worse) fails that step, so the release halts before the tenant is touched. A
/// gate that cannot be evaluated fails closed.
fn gatekeeper(
    context: crate::gates_cmd::GateContext,
    plan: &ringfence_core::plan::Plan,
) -> ringfence_runtime::Gatekeeper {
    let rings: BTreeMap<TenantId, String> = plan
        .rings
        .iter()
        .flat_map(|r| r.batches.iter().flat_map(|b| &b.tenants).map(move |t| (t.id.clone(), r.name.clone())))
        .collect();
    Box::new(move |now, step| {
        let ring = rings.get(&step.tenant).map(String::as_str).unwrap_or("");
        match context.admit(now, &step.tenant, ring) {
            Ok(verdict) => verdict,
            Err(e) => Err(format!("the gates could not be evaluated: {e:#}")),
        }
    })
}

/// Evaluates the release's gates before a rollout starts. With `--driver local`, a release or ring
/// gate that does not pass stops the start (the table says why, the audit trail records it) unless
/// `--override-gates REASON` is given, which is recorded as an override; a simulation touches
/// nothing, so it does not evaluate them. Tenant gates (windows, freezes, capacity) are the
/// engine's to enforce at each tenant's start. `Err(exit)` when the rollout must not start.
fn check_gates(
    dir: &Path,
    loaded: &ringfence_config::Loaded,
    release: &Release,
    args: &RunArgs,
    actor: &str,
    from: Option<jiff::Timestamp>,
) -> anyhow::Result<Result<GateCheck, Exit>> {
    if args.driver == DriverKind::Simulate {
        // A simulation touches nothing and rehearses the control flow; the gates (compiling the
        // policy, verifying signatures) are `ringfence gates`' to show.
        errln!("gates: not evaluated in a simulation (see `ringfence gates {}`)", release.version);
        return Ok(Ok(GateCheck::NotEnforced));
    }
    let now = from.unwrap_or_else(jiff::Timestamp::now);
    let context = crate::gates_cmd::GateContext::new(dir, loaded, (&args.audit, &args.rehearsals), Some(actor))?;
    let outcome = context.evaluate(now)?;
    // Rings repeat the release's gates: each gate and rule once, with the first scope it blocks.
    let mut seen = std::collections::BTreeSet::new();
    let blocking: Vec<serde_json::Value> = outcome
        .reports
        .iter()
        .filter(|r| !matches!(r.scope, ringfence_gates::Scope::Tenant { .. }))
        .flat_map(|r| r.blocking().map(move |v| (r, v)))
        .filter(|(_, v)| seen.insert((v.gate.clone(), v.rule.clone())))
        .map(|(r, v)| {
            json!({ "scope": r.scope.to_string(), "gate": v.gate, "verdict": v.verdict, "rule": v.rule, "missing": v.missing })
        })
        .collect();
    if blocking.is_empty() {
        errln!("gates: every release and ring gate passes (revision {})", outcome.revision);
        return Ok(Ok(GateCheck::Passed(Box::new(context))));
    }
    match (args.driver, &args.override_gates) {
        (DriverKind::Simulate, _) => Ok(Ok(GateCheck::NotEnforced)),
        (DriverKind::Local, Some(reason)) if !reason.trim().is_empty() => {
            errln!("gates: {} gate(s) do not pass", blocking.len());
            let details =
                json!({ "reason": reason.trim(), "when": "at start", "revision": outcome.revision, "gates": blocking });
            record_gates(args, &release.version, actor, "release.gates.overridden", details)?;
            errln!("gates: OVERRIDDEN at start by {actor}: {} (recorded in the audit trail)", reason.trim());
            Ok(Ok(GateCheck::Overridden))
        }
        (DriverKind::Local, _) => {
            // Best effort: the refusal is recorded next, whoever still reads the table.
            let _ = crate::gates_cmd::print_outcome(release, &outcome, false);
            let details = json!({ "revision": outcome.revision, "gates": blocking });
            record_gates(args, &release.version, actor, "release.gates.blocked", details)?;
            errln!(
                "the rollout does not start: {} release or ring gate(s) do not pass. Provide what is missing, or start with --override-gates REASON (recorded)",
                blocking.len()
            );
            Ok(Err(Exit::Failed))
        }
    }
}

/// Records a new run of `plan` through `driver` (described as `target`, set up with `settings`,
/// recorded with the run) and drives it to its end.
fn start_and_drive<D: Driver>(
    store: SqliteStore,
    (driver, target, settings): (D, &str, Option<serde_json::Value>),
    (plan, options, governance): (ringfence_core::plan::Plan, EngineOptions, Option<GovernanceSpec>),
    actor: &str,
    args: &RunArgs,
    gatekeeper: Option<ringfence_runtime::Gatekeeper>,
) -> anyhow::Result<Exit> {
    errln!(
        "rolling out {} (replaces {}) to {} tenants in {} rings — {target}",
        plan.release,
        plan.replaces,
        plan.tenant_count(),
        plan.rings.len()
    );
    let run = (plan, options, governance);
    let mut runner = Runner::start_recorded(store, &args.audit, driver, run, actor, gatekeeper, settings)?;
    errln!("run {} recorded in {}", runner.run_id(), args.state.state.display());
    drive(&mut runner, args)
}

/// Where a local run keeps its state and finds its secrets and commands, as absolute paths: resolved
/// from the configuration when the run starts (each relative path against the directory of the
/// file it is written in) and recorded with the run, so that `resume` — from any directory, with
/// or without `--config` — uses the same and finds the run's restore points and step records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocalPaths {
    /// The configuration the run was started from: what `resume` reads without `--config`.
    config: PathBuf,
    /// The LocalTarget's work directory: pid files, logs, restore points, step records.
    work_dir: PathBuf,
    /// Where the serve and maintenance commands run (the LocalTarget's file's directory).
    app_dir: PathBuf,
    /// Where the migration runs (the Release's file's directory).
    release_dir: PathBuf,
    /// Each cluster's password reference (an environment variable, or a file by absolute path);
    /// clusters without a password are absent.
    #[serde(default)]
    passwords: BTreeMap<String, SecretRef>,
}

impl LocalPaths {
    /// The paths of the configuration at `dir`, resolved.
    fn resolve(dir: &Path, loaded: &ringfence_config::Loaded) -> anyhow::Result<LocalPaths> {
        use ringfence_config::DocumentKind;
        let Some(work_dir) = loaded.work_dir() else { usage!("{}", NO_LOCAL_TARGET) };
        let doc_dir = |kind| loaded.dirs.get(&kind).cloned().with_context(|| format!("no {kind:?} document"));
        Ok(LocalPaths {
            config: std::fs::canonicalize(dir).with_context(|| format!("the configuration {}", dir.display()))?,
            work_dir,
            app_dir: doc_dir(DocumentKind::LocalTarget)?,
            release_dir: doc_dir(DocumentKind::Release)?,
            passwords: loaded
                .config
                .fleet
                .clusters
                .iter()
                .filter_map(|c| Some((c.name.clone(), loaded.resolve_secret(c.connection.password_from.as_ref()?))))
                .collect(),
        })
    }

    /// The paths a run started by an earlier version of ringfence used, which recorded none: its
    /// relative paths were taken from the current directory (the run's restore points are where
    /// they were only if it is resumed from the directory it was started from).
    fn as_unrecorded(dir: &Path, loaded: &ringfence_config::Loaded) -> anyhow::Result<LocalPaths> {
        let here = std::env::current_dir().context("the current directory")?;
        let config = &loaded.config;
        let Some(target) = &config.local_target else { usage!("{}", NO_LOCAL_TARGET) };
        let secret = |s: &SecretRef| SecretRef { env: s.env.clone(), file: s.file.as_ref().map(|f| here.join(f)) };
        Ok(LocalPaths {
            config: here.join(dir),
            work_dir: here.join(&target.work_dir),
            app_dir: here.clone(),
            release_dir: here.clone(),
            passwords: config
                .fleet
                .clusters
                .iter()
                .filter_map(|c| Some((c.name.clone(), secret(c.connection.password_from.as_ref()?))))
                .collect(),
        })
    }

    /// How `other` (the paths `--config` resolves to now) differs from these, one line per path.
    fn differences(&self, other: &LocalPaths) -> Vec<String> {
        let mut lines = Vec::new();
        let mut differ = |what: &str, kept: &Path, now: &Path| {
            if kept != now {
                lines.push(format!("{what}: {} (the configuration given now says {})", kept.display(), now.display()));
            }
        };
        differ("work directory", &self.work_dir, &other.work_dir);
        differ("directory for the LocalTarget's commands", &self.app_dir, &other.app_dir);
        differ("directory for the migration", &self.release_dir, &other.release_dir);
        for (cluster, kept) in &self.passwords {
            if let (Some(kept), Some(now)) = (&kept.file, other.passwords.get(cluster).and_then(|s| s.file.as_ref())) {
                differ(&format!("cluster {cluster}: password file"), kept, now);
            }
        }
        lines
    }
}

const NO_LOCAL_TARGET: &str =
    "--driver local needs a LocalTarget document (kind: LocalTarget) saying how tenants run on this machine";

/// The local process driver for `release` over the configuration's fleet, its paths those of
/// `paths` (the run's), with every tenant running (those a previous controller left running are
/// adopted; the others start at the previous version).
fn local_driver(config: &Config, release: &Release, paths: &LocalPaths) -> anyhow::Result<LocalDriver> {
    let Some(target) = &config.local_target else {
        usage!("{NO_LOCAL_TARGET}");
    };
    let mut tenants = Vec::new();
    for (n, t) in config.fleet.tenants.iter().enumerate() {
        let cluster =
            config.fleet.cluster(&t.cluster).with_context(|| format!("tenant {}: unknown cluster", t.id)).or_usage()?;
        let c = &cluster.connection;
        let mut pg = PgTarget::new(c.host.clone(), c.port, c.user.clone());
        if let Some(secret) = paths.passwords.get(&cluster.name) {
            pg = pg.with_password(read_secret(secret).with_context(|| format!("cluster {}: password", cluster.name))?);
        }
        let port =
            u16::try_from(usize::from(target.base_port) + n).context("basePort + tenants exceeds 65535").or_usage()?;
        tenants.push(LocalTenant {
            id: t.id.clone(),
            cluster: t.cluster.clone(),
            target: pg,
            database: t.database.clone(),
            port,
        });
    }
    let fleet = LocalFleet {
        work_dir: paths.work_dir.clone(),
        app: AppCommands {
            serve: target.serve.clone(),
            maintenance: target.maintenance.clone(),
            dir: Some(paths.app_dir.clone()),
        },
        tenants,
        slis: config.policy.slis.clone(),
        judge: config.policy.judge.clone(),
        scrape_interval: target.scrape_interval.into(),
        health_timeout: target.health_timeout.into(),
        pg: PgBinaries::locate(None)?,
        migration: config.policy.migration.clone(),
        metrics: config.policy.metrics.clone(),
    };
    let local_release = LocalRelease {
        version: release.version.clone(),
        previous: release.replaces.clone(),
        migration: release.migration.command.clone(),
        dir: Some(paths.release_dir.clone()),
    };
    let driver = LocalDriver::new(fleet, local_release)?;
    // Ctrl-C (or SIGTERM) stops the tenants' processes too (nothing is left behind); `ringfence
    // resume` starts them again at the versions they were on. A SIGKILL leaves them running for
    // `resume` to adopt. A hangup stops nothing: the rollout outlives its terminal.
    let apps = driver.apps_dir();
    let handler = crate::signals::on_interrupt(false, move || {
        errln!("\ninterrupted: stopping the tenants' processes; `ringfence resume --driver local` continues");
        ringfence_local::supervisor::kill_recorded(&apps);
        std::process::exit(Exit::Interrupted as i32);
    });
    if let Err(e) = handler {
        errln!("warning: cannot handle Ctrl-C ({e}); if interrupted, `ringfence resume` adopts what is left running");
    }
    driver.start_fleet(&release.replaces)?;
    Ok(driver)
}

/// Reads a secret from where the configuration says it is. The value is never printed.
pub fn read_secret(secret: &SecretRef) -> anyhow::Result<Secret> {
    match (&secret.env, &secret.file) {
        (Some(var), None) => {
            Ok(Secret::new(std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?))
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
        }
        _ => usage!("a secret reference names exactly one of `env` or `file`"),
    }
}

/// `ringfence resume`.
pub fn resume(args: &RunArgs, config: Option<&Path>, run_id: Option<i64>) -> anyhow::Result<Exit> {
    crate::signals::keep_running_on_hangup();
    let store = open_store(&args.state.state, false)?;
    let run = pick_run(&store, run_id)?;
    match args.driver {
        DriverKind::Local => {
            let summary = store.run(run)?;
            let recorded: Option<LocalPaths> = ringfence_runtime::recorded_driver_settings(&summary)
                .and_then(|settings| settings.get("local"))
                .map(|paths| serde_json::from_value(paths.clone()))
                .transpose()
                .with_context(|| format!("run {run}: the paths recorded with it cannot be read"))?;
            let dir = match (config, &recorded) {
                (Some(dir), _) => dir.to_owned(),
                (None, Some(recorded)) => {
                    errln!("configuration: {} (the run's)", recorded.config.display());
                    recorded.config.clone()
                }
                (None, None) => usage!(
                    "--driver local needs --config DIR: the configuration holding the fleet, release and LocalTarget (run {run} records none)"
                ),
            };
            let dir = dir.as_path();
            let loaded = match load_or_report(dir, false) {
                Ok(loaded) => loaded,
                Err(exit) => return Ok(exit),
            };
            let Some(release) = loaded.config.release.clone() else {
                usage!("{}: no Release document", dir.display());
            };
            if summary.release_version != release.version {
                usage!(
                    "run {run} rolls out {}, but {} holds release {}: pass the configuration the run was started from",
                    summary.release_version,
                    dir.display(),
                    release.version
                );
            }
            // The gates keep guarding the tenants still to start, as they did before the stop —
            // unless this release's gates were overridden (at its start, or now).
            let started_by = summary.plan.get("started_by").and_then(|v| v.as_str()).unwrap_or("operator").to_owned();
            let overridden = gates_overridden(&args.audit, &release.version)?;
            let gatekeeper = match (&args.override_gates, overridden) {
                (_, true) => None,
                (Some(reason), false) if !reason.trim().is_empty() => {
                    let details = json!({ "reason": reason.trim(), "when": "at resume" });
                    record_gates(args, &release.version, &started_by, "release.gates.overridden", details)?;
                    errln!("gates: OVERRIDDEN at resume by {started_by}: {} (recorded)", reason.trim());
                    None
                }
                _ => {
                    let paths = (args.audit.as_path(), args.rehearsals.as_path());
                    let context = crate::gates_cmd::GateContext::new(dir, &loaded, paths, Some(&started_by))?;
                    Some(gatekeeper(context, &make_plan(&loaded)?))
                }
            };
            // The run obeys the paths it started with, whatever the current directory or `--config`.
            let paths = match recorded {
                Some(recorded) => {
                    for line in recorded.differences(&LocalPaths::resolve(dir, &loaded)?) {
                        errln!("run {run} keeps its {line}");
                    }
                    recorded
                }
                None => {
                    errln!(
                        "warning: run {run} was started by an earlier ringfence, which did not record its paths: relative paths are taken from the current directory, as that version did"
                    );
                    LocalPaths::as_unrecorded(dir, &loaded)?
                }
            };
            errln!("work directory: {}", paths.work_dir.display());
            let driver = local_driver(&loaded.config, &release, &paths)?;
            let (mut runner, report) = Runner::resume_gated(store, &args.audit, driver, run, gatekeeper)?;
            report_resume(run, &report);
            drive(&mut runner, args)
        }
        DriverKind::Simulate => {
            let driver =
                SimulatedDriver::open(&world_path(&args.state.state), std::time::Duration::from_millis(args.pace))?;
            let (mut runner, report) = Runner::resume(store, &args.audit, driver, run)?;
            report_resume(run, &report);
            drive(&mut runner, args)
        }
    }
}

fn report_resume(run: RunId, report: &ResumeReport) {
    errln!(
        "resumed run {run}: {} events replayed, {} interrupted actions completed",
        report.events_replayed,
        report.actions_completed
    );
    for line in &report.reconciled {
        errln!("  reconciled {line}");
    }
}

fn drive<S: Store, D: Driver>(runner: &mut Runner<S, D>, args: &RunArgs) -> anyhow::Result<Exit> {
    let outcome = match runner.run_to_end(progress) {
        Ok(outcome) => outcome,
        // Paused for an operator (say, a tenant with no slot): the run is in a known, recorded
        // state, which is the rollout not completing rather than a usage error.
        Err(stalled @ ringfence_runtime::RuntimeError::Stalled { .. }) => {
            errln!("{stalled}");
            errln!(
                "the run stays as it is; see `ringfence status` and the audit trail ({}) for why",
                args.audit.display()
            );
            return Ok(Exit::Failed);
        }
        Err(other) => return Err(other.into()),
    };
    let engine = runner.engine();
    // Best effort: the rollout is over and recorded; a reader that went away does not change how
    // it ended, which is what the exit status says.
    let _ = if args.json {
        outln!("{}", serde_json::to_string_pretty(&report_json(runner.run_id(), engine, outcome))?)
    } else {
        out!("{}", report_text(engine, outcome))
    };
    Ok(if outcome == Outcome::Completed { Exit::Success } else { Exit::Failed })
}

/// One line per event that moved a tenant, for people watching (best effort: the state store and the
/// audit trail are the record; a closed terminal or pipe does not stop the rollout).
fn progress(engine: &Engine, event: &Event) {
    let Some(line) = event_line(event) else { return };
    let done = engine.tenants().values().filter(|t| t.phase == TenantPhase::Done).count();
    errln!("[{done}/{} done] {line}", engine.tenants().len());
}

/// What an event says to a person; `None` for clock ticks.
pub fn event_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::StepSucceeded { step, .. } => format!("{}: {} done", step.tenant, step.kind),
        Event::StepFailed { step, reason } => format!("{}: {} FAILED: {reason}", step.tenant, step.kind),
        Event::Observation { tenant, verdict } => format!("{tenant}: observation {verdict:?}"),
        Event::Look { tenant, changed: true, numbers } => format!("{tenant}: {}", look_line(numbers)),
        Event::Look { .. } | Event::Tick => return None,
        Event::Start { actor } => format!("started by {actor}"),
        Event::Operator { command, actor } => format!("{command:?} by {actor}"),
    })
}

/// A judge's look in one line: its verdict and, per SLI, where it stands and its statistic against
/// the bar (`ringfence_judge::Judgement` as the local driver sends it; other shapes print as JSON).
fn look_line(numbers: &serde_json::Value) -> String {
    let Some(findings) = numbers["findings"].as_array() else { return numbers.to_string() };
    let slis: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{} {} ({:.1} vs bar {:.0})",
                f["sli"].as_str().unwrap_or("?"),
                f["standing"].as_str().unwrap_or("?"),
                f["statistic"].as_f64().unwrap_or(f64::NAN),
                f["bar"].as_f64().unwrap_or(f64::NAN)
            )
        })
        .collect();
    format!(
        "{} judge: {}; {}",
        numbers["judge"].as_str().unwrap_or("the"),
        numbers["verdict"]["verdict"].as_str().unwrap_or("?"),
        slis.join(", ")
    )
}

fn report_json(run: RunId, engine: &Engine, outcome: Outcome) -> serde_json::Value {
    let plan = engine.plan();
    let tenants: Vec<_> = in_plan_order(engine)
        .map(|(id, t)| {
            json!({
                "id": id,
                "ring": plan.rings[t.ring].name,
                "phase": t.phase,
                "exposed": t.exposed(),
                "failure": t.failure,
            })
        })
        .collect();
    json!({
        "run": run,
        "release": plan.release,
        "replaces": plan.replaces,
        "outcome": outcome,
        "exposed_tenants": engine.exposed_tenants().count(),
        "halt_reason": engine.halt_reason(),
        "tenants": tenants,
    })
}

fn report_text(engine: &Engine, outcome: Outcome) -> String {
    let plan = engine.plan();
    let mut out = format!("\nRelease {} (replaces {}): {}\n", plan.release, plan.replaces, outcome.as_str());
    if let Some(reason) = engine.halt_reason() {
        out.push_str(&format!("halted: {reason}\n"));
    }
    out.push_str(&format!("tenants exposed to the release: {}\n", engine.exposed_tenants().count()));
    let mut table = Table::new(&["RING", "DONE", "ROLLED BACK", "NOT STARTED", "OTHER"]);
    let mut per_ring: BTreeMap<usize, [usize; 4]> = BTreeMap::new();
    for t in engine.tenants().values() {
        let counts = per_ring.entry(t.ring).or_default();
        let slot = match t.phase {
            TenantPhase::Done => 0,
            TenantPhase::RolledBack => 1,
            TenantPhase::Pending => 2,
            _ => 3,
        };
        counts[slot] += 1;
    }
    for (ring, counts) in per_ring {
        let mut row = vec![plan.rings[ring].name.clone()];
        row.extend(counts.iter().map(|c| c.to_string()));
        table.row(row);
    }
    out.push_str(&table.render());
    out
}

/// `ringfence status`.
pub fn status(args: &StateArgs, run_id: Option<i64>, json: bool) -> anyhow::Result<Exit> {
    let store = open_store(&args.state, false)?;
    let run = pick_run(&store, run_id)?;
    let summary = store.run(run)?;
    let snapshot = store.snapshot(run)?;
    let engine: Option<Engine> = snapshot
        .as_ref()
        .and_then(|s| s.state.get("engine").cloned())
        .map(serde_json::from_value)
        .transpose()
        .context("the stored engine state cannot be read by this version of ringfence")?;
    let steps = store.steps(run)?;
    // The last step each tenant started, and whether it finished: what a crash would have interrupted.
    let mut last: BTreeMap<String, &ringfence_store::StepRecord> = BTreeMap::new();
    for s in &steps {
        last.insert(s.key.tenant.clone(), s);
    }
    let status = snapshot.as_ref().map_or("pending".to_string(), |s| s.status.clone());
    if json {
        let tenants: Vec<_> = engine
            .iter()
            .flat_map(|e| in_plan_order(e).map(move |(id, t)| (e, id, t)))
            .map(|(e, id, t)| {
                let step = last.get(id.as_str());
                json!({
                    "id": id,
                    "ring": e.plan().rings[t.ring].name,
                    "phase": t.phase,
                    "waiting_until": t.not_before.map(|at| at.to_string()),
                    "failure": t.failure,
                    "last_step": step.map(|s| json!({
                        "step": s.key.step,
                        "attempt": s.key.attempt,
                        "started_at": s.started_at.to_string(),
                        "finished_at": s.finished_at.map(|f| f.to_string()),
                        "succeeded": s.outcome.as_ref().map(|o| o.succeeded),
                    })),
                })
            })
            .collect();
        let value = json!({
            "run": run,
            "release": summary.release_version,
            "replaces": summary.replaces,
            "status": status,
            "created_at": summary.created_at.to_string(),
            "updated_at": summary.updated_at.to_string(),
            "halt_reason": engine.as_ref().and_then(|e| e.halt_reason()),
            "tenants": tenants,
        });
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Exit::Success);
    }
    outln!(
        "run {run}: release {} (replaces {}) — {status}\nstarted {}, last change {}",
        summary.release_version,
        summary.replaces,
        summary.created_at,
        summary.updated_at
    )?;
    let Some(engine) = engine else {
        outln!("no step has been taken yet")?;
        return Ok(Exit::Success);
    };
    if let Some(reason) = engine.halt_reason() {
        outln!("halted: {reason}")?;
    }
    let mut table = Table::new(&["TENANT", "RING", "PHASE", "LAST STEP", "STARTED", "FINISHED"]);
    for (id, t) in in_plan_order(&engine) {
        let step = last.get(id.as_str());
        table.row(vec![
            id.to_string(),
            engine.plan().rings[t.ring].name.clone(),
            match (t.phase, t.not_before) {
                // Its next slot (window or freeze): the audit trail's `tenant.waiting` says why.
                (TenantPhase::Pending, Some(at)) => format!("waiting until {at}"),
                (phase, _) => phase_text(phase),
            },
            step.map_or("-".into(), |s| s.key.step.clone()),
            step.map_or("-".into(), |s| s.started_at.to_string()),
            step.map_or("-".into(), |s| match (&s.outcome, s.finished_at) {
                (Some(o), Some(at)) => format!("{at} ({})", if o.succeeded { "ok" } else { "failed" }),
                _ => "not finished".into(),
            }),
        ]);
    }
    out!("{}", table.render())?;
    Ok(Exit::Success)
}

/// Tenants in rollout order (ring, batch, position), the order people read a rollout in.
fn in_plan_order(engine: &Engine) -> impl Iterator<Item = (&TenantId, &TenantProgress)> {
    engine.plan().tenants().filter_map(|t| engine.tenants().get_key_value(&t.id))
}

fn phase_text(phase: TenantPhase) -> String {
    match phase {
        TenantPhase::Pending => "pending".into(),
        TenantPhase::Running(kind) => format!("running {kind}"),
        TenantPhase::Observing => "observing".into(),
        TenantPhase::Done => "done".into(),
        TenantPhase::RolledBack => "rolled back".into(),
        TenantPhase::RollbackFailed => "ROLLBACK FAILED".into(),
        TenantPhase::AwaitingDecision => "AWAITING DECISION (restore would discard writes)".into(),
    }
}

fn open_store(path: &Path, create: bool) -> anyhow::Result<SqliteStore> {
    if !create && !path.exists() {
        usage!(
            "no state store at {}: nothing has been rolled out from here (pass --state or set RINGFENCE_STATE)",
            path.display()
        );
    }
    Ok(SqliteStore::open(path)?)
}

fn pick_run(store: &SqliteStore, run_id: Option<i64>) -> anyhow::Result<RunId> {
    match run_id {
        Some(id) => Ok(store.run(RunId::from(id))?.id),
        None => match store.latest_run()? {
            Some(run) => Ok(run.id),
            None => usage!("the state store holds no rollout yet"),
        },
    }
}
