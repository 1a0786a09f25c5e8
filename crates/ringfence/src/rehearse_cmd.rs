//! `ringfence rehearse`: the release's migration on clones of tenant databases, with the lock
//! tracer and probes of `ringfence_pg::rehearse`, at most `--per-cluster` at once per cluster.
//! Reports are written as `OUT/<version>/<tenant>.json` (the evidence `gates` and `rollout` read)
//! and `.html` (the lock timeline), and summarised against the policy's limit on predicted blocking
//! for the release's tier.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, bail};
use ringfence_config::{DocumentKind, Loaded};
use ringfence_core::calendar::RiskTier;
use ringfence_core::model::{MigrationSafety, Release, Tenant, TenantId};
use ringfence_pg::{
    CloneMethod, MigrationCommand, MigrationTimeouts, PgBinaries, PgTarget, RehearsalOptions, RehearsalReport,
    RestorePoint,
};
use serde_json::json;

use crate::Exit;
use crate::cli::{CloneArg, RehearseArgs};
use crate::config_cmd::load_or_report;
use crate::failure::usage;
use crate::out::{errln, out, outln};
use crate::table::Table;

/// Where the reports of `version` are kept under `root`.
pub fn reports_dir(root: &Path, version: &str) -> PathBuf {
    root.join(version)
}

/// Every rehearsal report of `version` under `root`, by tenant; none when the directory is missing.
pub fn read_reports(root: &Path, version: &str) -> anyhow::Result<Vec<RehearsalReport>> {
    let dir = reports_dir(root, version);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading rehearsal reports in {}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_slice(&text).with_context(|| format!("{}: not a rehearsal report", p.display()))
        })
        .collect()
}

/// The rehearsal reports of `version` by tenant (the latest file per tenant wins).
pub fn reports_by_tenant(root: &Path, version: &str) -> anyhow::Result<BTreeMap<TenantId, RehearsalReport>> {
    Ok(read_reports(root, version)?.into_iter().map(|r| (TenantId::from(r.tenant.as_str()), r)).collect())
}

/// Why a tenant must be migrated inside a maintenance window, when its rehearsal predicts more
/// blocking than the policy allows for `tier`.
pub fn window_required_reason(report: &RehearsalReport, safety: &MigrationSafety, tier: RiskTier) -> Option<String> {
    let limit = safety.max_predicted_blocking.for_tier(tier);
    let limit_std = Duration::from_millis(limit.as_millis());
    report.exceeds(limit_std).then(|| {
        format!(
            "its rehearsal predicts {:.1}s of blocked reads or writes on {}, above the {limit} migration.maxPredictedBlocking allows for a {tier:?} release outside a maintenance window",
            report.blocking.max_ms / 1000.0,
            report.blocking.table.as_deref().unwrap_or("a table"),
        )
    })
}

/// The connection to a tenant's cluster (a password file is taken from the Fleet's directory).
pub fn cluster_target(loaded: &Loaded, tenant: &Tenant) -> anyhow::Result<PgTarget> {
    let config = &loaded.config;
    let cluster =
        config.fleet.cluster(&tenant.cluster).with_context(|| format!("tenant {}: unknown cluster", tenant.id))?;
    let c = &cluster.connection;
    let mut pg = PgTarget::new(c.host.clone(), c.port, c.user.clone());
    if let Some(secret) = &c.password_from {
        let secret = loaded.resolve_secret(secret);
        pg = pg.with_password(
            crate::rollout_cmd::read_secret(&secret).with_context(|| format!("cluster {}: password", cluster.name))?,
        );
    }
    Ok(pg)
}

/// The migration command of `release` for `tenant`, with the placeholders Ringfence knows filled
/// and those of the database left for the rehearsal to point at the clone. It runs in `dir`, the
/// directory of the Release's file, as it does in a rollout.
fn migration_for(release: &Release, tenant: &Tenant, safety: &MigrationSafety, dir: &Path) -> MigrationCommand {
    let mut argv: Vec<String> = release
        .migration
        .command
        .iter()
        .map(|arg| {
            arg.replace("{tenant}", tenant.id.as_str())
                .replace("{cluster}", &tenant.cluster)
                .replace("{version}", &release.version)
                .replace("{previous}", &release.replaces)
                .replace("{database_url}", "postgres://{user}@{host}:{port}/{database}")
        })
        .collect();
    let timeouts = MigrationTimeouts {
        lock_timeout: Duration::from_millis(safety.lock_timeout.as_millis()),
        statement_timeout: Duration::from_millis(safety.statement_timeout.as_millis()),
    };
    // The rehearsal sets the application name itself (the tracer tells the migration's sessions
    // apart by it); the timeouts are production's, so a lock timeout shows here first.
    let env = vec![("PGOPTIONS".to_owned(), timeouts.pgoptions())];
    if let Some(program) = argv.first_mut() {
        *program = ringfence_local::driver::program_in(program, Some(dir)).to_string_lossy().into_owned();
    }
    MigrationCommand { argv, env, working_dir: Some(dir.to_owned()) }
}

/// The latest restore point recorded for `tenant` in the LocalTarget's work directory.
fn latest_restore_point(loaded: &Loaded, tenant: &TenantId) -> anyhow::Result<RestorePoint> {
    let Some(work_dir) = loaded.work_dir() else {
        usage!(
            "--clone restore-point reads restore points from the LocalTarget's work directory, and the configuration has no LocalTarget"
        );
    };
    let dir = work_dir.join("restore-points");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(&format!("{tenant}-")) && name.ends_with(".json")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    let Some((_, path)) = found.pop() else {
        bail!(
            "tenant {tenant} has no restore point in {}: take one (a rollout does) or use --clone template",
            dir.display()
        );
    };
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("{}: not a restore point record", path.display()))
}

/// `ringfence rehearse DIR`.
pub fn rehearse(args: &RehearseArgs) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(&args.dir, args.json) {
        Ok(l) => l,
        Err(exit) => return Ok(exit),
    };
    let config = &loaded.config;
    let Some(release) = &config.release else {
        usage!("{} holds no Release document: there is no migration to rehearse", args.dir.display());
    };
    let unknown: Vec<&String> =
        args.tenants.iter().filter(|id| !config.fleet.tenants.iter().any(|t| t.id.as_str() == id.as_str())).collect();
    if !unknown.is_empty() {
        errln!(
            "error: unknown tenant(s) {}; the fleet has {}",
            unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            config.fleet.tenants.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
        );
        return Ok(Exit::Usage);
    }
    let chosen: Vec<&Tenant> = config
        .fleet
        .tenants
        .iter()
        .filter(|t| args.tenants.is_empty() || args.tenants.iter().any(|id| id == t.id.as_str()))
        .collect();
    let bins = PgBinaries::locate(None)?;
    let out = reports_dir(&args.out, &release.version);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let tier = release.risk.unwrap_or(RiskTier::Medium);
    let safety = &config.policy.migration;

    // One queue per cluster, `per_cluster` workers on each: a big cluster is not hammered by many
    // copies at once, and clusters proceed in parallel.
    let mut queues: BTreeMap<&str, Vec<&Tenant>> = BTreeMap::new();
    for t in &chosen {
        queues.entry(t.cluster.as_str()).or_default().push(t);
    }
    let queues: BTreeMap<&str, Mutex<std::vec::IntoIter<&Tenant>>> =
        queues.into_iter().map(|(c, ts)| (c, Mutex::new(ts.into_iter()))).collect();
    let results: Mutex<Vec<(TenantId, anyhow::Result<RehearsalReport>)>> = Mutex::new(Vec::new());
    let run_id = format!("{}", jiff::Timestamp::now().as_millisecond());
    errln!(
        "rehearsing release {} on {} tenant(s) over {} cluster(s), at most {} at once per cluster",
        release.version,
        chosen.len(),
        queues.len(),
        args.per_cluster
    );
    std::thread::scope(|scope| {
        for queue in queues.values() {
            for _ in 0..args.per_cluster {
                scope.spawn(|| {
                    loop {
                        let next = queue.lock().expect("queue").next();
                        let Some(tenant) = next else { return };
                        let result = rehearse_one(&loaded, release, tenant, &bins, args, &run_id);
                        match &result {
                            Ok(r) => errln!(
                                "  {}: {} in {:.1}s, predicted blocking {:.1}s{}",
                                tenant.id,
                                if r.ok() { "done" } else { "FAILED" },
                                r.migration.duration_ms / 1000.0,
                                r.blocking.max_ms / 1000.0,
                                r.blocking.table.as_deref().map(|t| format!(" on {t}")).unwrap_or_default()
                            ),
                            Err(e) => errln!("  {}: could not rehearse: {e:#}", tenant.id),
                        }
                        results.lock().expect("results").push((tenant.id.clone(), result));
                    }
                });
            }
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let mut exit = Exit::Success;
    // A tenant that could not be rehearsed (its cluster unreachable, say) was not checked: that
    // decides the exit status over any finding.
    let mut unrehearsed = None;
    let mut table =
        Table::new(&["tenant", "clone", "migration", "result", "predicted blocking", "rewrites", "outside windows"]);
    let mut json_reports = Vec::new();
    for (id, result) in &results {
        match result {
            Err(e) => {
                unrehearsed = Some(crate::failure::exit_for(e));
                table.row(vec![
                    id.to_string(),
                    "-".into(),
                    "-".into(),
                    format!("not rehearsed: {e:#}"),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                ]);
                json_reports.push(json!({ "tenant": id, "error": format!("{e:#}") }));
            }
            Ok(report) => {
                let path = out.join(format!("{id}.json"));
                std::fs::write(&path, serde_json::to_vec_pretty(report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                let html = out.join(format!("{id}.html"));
                std::fs::write(&html, report.to_html()).with_context(|| format!("writing {}", html.display()))?;
                let window = window_required_reason(report, safety, tier);
                if !report.ok() || window.is_some() {
                    exit = Exit::Failed;
                }
                table.row(vec![
                    id.to_string(),
                    report.clone.method.to_string(),
                    format!("{:.1}s", report.migration.duration_ms / 1000.0),
                    if report.ok() {
                        "completed".into()
                    } else {
                        report.errors.first().cloned().unwrap_or_else(|| "failed".into())
                    },
                    format!(
                        "{:.1}s{}",
                        report.blocking.max_ms / 1000.0,
                        report.blocking.table.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
                    ),
                    report.rewrites.len().to_string(),
                    if window.is_some() {
                        format!("no: above {} for {tier:?}", safety.max_predicted_blocking.for_tier(tier))
                    } else {
                        "yes".into()
                    },
                ]);
                json_reports.push(json!({
                    "tenant": id, "report": report, "json": path, "html": html,
                    "windowRequired": window,
                }));
            }
        }
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "release": release.version, "tier": tier, "rehearsals": json_reports })
            )?
        )?;
    } else {
        out!("{}", table.render())?;
        outln!("reports (JSON, and HTML with the lock timeline) in {}", out.display())?;
        if results.len() == 1
            && let Ok(report) = &results[0].1
        {
            outln!()?;
            out!("{}", report.to_text())?;
        }
    }
    Ok(unrehearsed.unwrap_or(exit))
}

fn rehearse_one(
    loaded: &Loaded,
    release: &Release,
    tenant: &Tenant,
    bins: &PgBinaries,
    args: &RehearseArgs,
    run_id: &str,
) -> anyhow::Result<RehearsalReport> {
    let config = &loaded.config;
    let target = cluster_target(loaded, tenant)?;
    let clone = match args.clone {
        CloneArg::Template => CloneMethod::Template { terminate_source_sessions: args.terminate_sessions },
        CloneArg::RestorePoint => {
            CloneMethod::RestorePoint { point: Box::new(latest_restore_point(loaded, &tenant.id)?) }
        }
    };
    let release_dir = loaded.dirs.get(&DocumentKind::Release).context("no Release document")?;
    let migration = migration_for(release, tenant, &config.policy.migration, release_dir);
    let mut options = RehearsalOptions::new(tenant.id.as_str(), clone, migration, run_id);
    options.timeout = args.timeout.map(Duration::from_secs);
    if args.no_probes {
        options.probes = None;
    }
    Ok(ringfence_pg::rehearse(bins, &target, &tenant.database, &options)?)
}
