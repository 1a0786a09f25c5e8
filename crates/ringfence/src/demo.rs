//! `ringfence demo`: the product's main job on this machine. Starts two PostgreSQL clusters, creates the
//! 12 shops of `examples/demo-fleet` (databases, schema v1, products), starts them as `storefront`
//! processes with shopper traffic, then releases v2 (good: every ring), v3 (bad code: caught on the first
//! ring by the policy's comparative judge, before the SLIs' limits, and rolled back by a code switch)
//! and v4 (its migration dies half-way on the first tenant, which is restored from its restore point;
//! nobody else is touched). Each release's migration is first rehearsed on a copy of the first tenant it
//! will reach (restored from a restore point taken then). Ends with a summary per release and per
//! tenant — the rehearsal, what halted each release, the judge's numbers, and every order the shoppers
//! were told was taken, checked in the database.
//!
//! Everything it starts is stopped at the end, on an error, and on Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ringfence_core::engine::{Engine, EngineOptions, Event, Outcome, TenantPhase};
use ringfence_core::model::TenantId;
use ringfence_core::plan::plan;
use ringfence_local::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};
use ringfence_pg::{EphemeralCluster, PgBinaries, PgError};
use ringfence_runtime::Runner;
use ringfence_store::SqliteStore;
use serde_json::{Value, json};
use storefront::shopper::{Shopper, ShopperConfig, ShopperStats, TrafficMix};

use crate::Exit;
use crate::cli::DemoArgs;
use crate::out::{err, errln, out};

const FLEET: &str = include_str!("../../../examples/demo-fleet/fleet.yaml");
const POLICY: &str = include_str!("../../../examples/demo-fleet/policy.yaml");

/// One release of the demo.
struct DemoRelease {
    version: &'static str,
    replaces: &'static str,
    what: &'static str,
    schema_backward_compatible: bool,
}

const RELEASES: [DemoRelease; 3] = [
    DemoRelease {
        version: "v2",
        replaces: "v1",
        what: "a good release: a column with a default, an index, a batched backfill",
        schema_backward_compatible: true,
    },
    DemoRelease {
        version: "v3",
        replaces: "v2",
        what: "bad code: fails 30% of checkouts and slows order creation (no schema change)",
        schema_backward_compatible: true,
    },
    DemoRelease {
        version: "v4",
        replaces: "v2",
        what: "its migration dies half-way, after changing the database",
        schema_backward_compatible: false,
    },
];

fn say(started: Instant, text: impl AsRef<str>) {
    errln!("[{:>6.1}s] {}", started.elapsed().as_secs_f64(), text.as_ref());
}

/// `ringfence demo`.
pub fn demo(args: &DemoArgs) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let pg = ensure_postgres()?;
    let storefront = find_storefront(args.storefront.as_deref())?;
    let work =
        tempfile::Builder::new().prefix("ringfence-demo-").tempdir().context("cannot create a work directory")?;
    let work_dir = work.path().to_owned();

    say(started, "starting two PostgreSQL clusters");
    let clusters = BTreeMap::from([
        ("pg-a".to_string(), EphemeralCluster::start_default()?),
        ("pg-b".to_string(), EphemeralCluster::start_default()?),
    ]);
    install_interrupt_handler(&work_dir, &clusters, args.keep);

    let config_dir = work_dir.join("config");
    std::fs::create_dir_all(&config_dir)?;
    let fleet_text = FLEET
        .replace("${PG_A_PORT}", &clusters["pg-a"].port().to_string())
        .replace("${PG_B_PORT}", &clusters["pg-b"].port().to_string());
    std::fs::write(config_dir.join("fleet.yaml"), fleet_text)?;
    std::fs::write(config_dir.join("policy.yaml"), POLICY)?;
    let loaded = match ringfence_config::load(&config_dir) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            err!("{diagnostics}");
            bail!("the embedded demo fleet is invalid");
        }
    };
    let config = loaded.config;

    say(started, format!("creating {} tenants: database, schema v1, products", config.fleet.tenants.len()));
    let mut tenants = Vec::new();
    let mut ports = ringfence_local::free_ports(config.fleet.tenants.len())?.into_iter();
    for t in &config.fleet.tenants {
        let cluster = &clusters[&t.cluster];
        cluster.create_database(&t.database)?;
        let url = cluster.url(&t.database);
        run_storefront(&storefront, &["migrate", "--database-url", &url, "--to", "v1"])?;
        run_storefront(&storefront, &["seed", "--database-url", &url, "--products", "200"])?;
        tenants.push(LocalTenant {
            id: t.id.clone(),
            cluster: t.cluster.clone(),
            target: cluster.target(),
            database: t.database.clone(),
            port: ports.next().expect("one port per tenant"),
        });
    }

    let (serve, maintenance, migration) = storefront::command_templates(&storefront.display().to_string());
    let local_fleet = LocalFleet {
        work_dir: work_dir.clone(),
        app: AppCommands { serve, maintenance, dir: None },
        tenants: tenants.clone(),
        slis: config.policy.slis.clone(),
        judge: config.policy.judge.clone(),
        scrape_interval: Duration::from_secs(2),
        health_timeout: Duration::from_secs(30),
        pg: pg.clone(),
        migration: config.policy.migration.clone(),
        metrics: config.policy.metrics.clone(),
    };
    let local_release = |r: &DemoRelease| LocalRelease {
        version: r.version.into(),
        previous: r.replaces.into(),
        migration: migration.clone(),
        dir: None,
    };
    let mut driver = LocalDriver::new(local_fleet, local_release(&RELEASES[0]))?;
    say(started, "starting every shop at v1");
    driver.start_fleet("v1")?;

    say(started, format!("starting shopper traffic: {} requests/s per shop", args.rate));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let shoppers: Vec<_> = {
        let _guard = runtime.enter();
        tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Shopper::spawn(ShopperConfig {
                    tenant: t.id.to_string(),
                    base_url: format!("http://127.0.0.1:{}", t.port),
                    rate_per_sec: args.rate,
                    mix: TrafficMix::default(),
                    seed: 1000 + i as u64,
                })
            })
            .collect()
    };
    // Let every shop take orders on v1 before anything changes.
    std::thread::sleep(Duration::from_secs(3));

    let state = work_dir.join("state.sqlite");
    let audit = work_dir.join("audit.jsonl");
    let mut summaries = Vec::new();
    for release in &RELEASES {
        driver.set_release(local_release(release));
        say(started, format!("release {} (replaces {}): {}", release.version, release.replaces, release.what));
        let plan = plan(&config.fleet, &config.policy, release.version, release.replaces)?;
        // Rehearse the migration on a copy of the first tenant the release will reach, restored from
        // a restore point taken now (the shop keeps serving): its locks, rewrites and predicted
        // blocking, before any real tenant is touched.
        let first = &plan.rings[0].batches[0].tenants[0].id.clone();
        let tenant = tenants.iter().find(|t| &t.id == first).expect("planned tenants are the fleet's");
        let rehearsal = rehearse_release(&pg, tenant, release, &migration, &work_dir, &config.policy.migration);
        say(started, rehearsal_line(first, &rehearsal));
        let options = EngineOptions { schema_backward_compatible: release.schema_backward_compatible };
        let store = SqliteStore::open(&state)?;
        let release_started = Instant::now();
        let mut rings = RingClock::default();
        let mut runner = Runner::start(store, &audit, driver, plan, options, "demo@ringfence.dev")?;
        let outcome = runner.run_to_end(|engine, event| {
            rings.observe(engine, release_started);
            progress(started, engine, event);
        })?;
        let mut summary = release_summary(
            release,
            runner.engine(),
            outcome,
            release_started,
            &rings,
            (config.policy.judge.method.judge_name(), &runner.driver().judgements(), &runner.driver().comparisons()),
        );
        summary["rehearsal"] = rehearsal_json(first, &rehearsal);
        say(
            started,
            format!(
                "release {}: {} ({} tenants exposed)",
                release.version,
                summary["outcome"].as_str().unwrap_or("?"),
                summary["exposed_tenants"]
            ),
        );
        summaries.push(summary);
        driver = runner.into_parts().1;
    }

    say(started, "stopping shopper traffic");
    let stats: Vec<ShopperStats> = runtime.block_on(async {
        let mut out = Vec::new();
        for shopper in shoppers {
            out.push(shopper.stop().await);
        }
        out
    });
    let versions = driver.versions();
    let mut tenant_rows = Vec::new();
    let mut no_order_lost = true;
    for (t, s) in tenants.iter().zip(&stats) {
        let cluster = &clusters[&t.cluster];
        let schema = cluster.psql(&t.database, "SELECT version FROM storefront_schema")?.trim().to_owned();
        let present: u64 = cluster.psql(&t.database, "SELECT count(*) FROM orders")?.trim().parse().unwrap_or(0);
        let ids: Vec<String> = s.acknowledged_order_ids.iter().map(|id| id.to_string()).collect();
        let found: u64 = if ids.is_empty() {
            0
        } else {
            let sql = format!("SELECT count(*) FROM orders WHERE id IN ({})", ids.join(","));
            cluster.psql(&t.database, &sql)?.trim().parse().unwrap_or(0)
        };
        let missing = s.orders_acknowledged.saturating_sub(found);
        no_order_lost &= missing == 0 && present >= s.orders_acknowledged;
        tenant_rows.push(json!({
            "id": t.id,
            "final_version": versions.get(&t.id).cloned().flatten(),
            "schema_version": format!("v{schema}"),
            "orders_acknowledged": s.orders_acknowledged,
            "orders_present": present,
            "acknowledged_orders_missing": missing,
            "requests_rejected_503": s.rejected,
            "requests_failed": s.failed,
        }));
    }
    driver.stop_all();
    drop(driver);
    drop(clusters);

    let duration = started.elapsed().as_secs_f64();
    let as_designed = summaries[0]["outcome"] == "completed"
        && summaries[1]["outcome"] == "rolled_back"
        && summaries[2]["outcome"] == "rolled_back"
        && no_order_lost;
    let report = json!({
        "releases": summaries,
        "tenants": tenant_rows,
        "no_order_lost": no_order_lost,
        "as_designed": as_designed,
        "duration_seconds": duration,
        "work_dir": if args.keep { Some(work_dir.display().to_string()) } else { None },
    });
    // A closed standard output ends the command (exit 141) once the JSON summary is written and the
    // work directory kept, as asked.
    let printed = out!("{}", summary_text(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        errln!("summary written to {}", path.display());
    }
    if args.keep {
        errln!("state, audit trail, logs and restore points kept in {}", work.keep().display());
    }
    printed?;
    Ok(if as_designed { Exit::Success } else { Exit::Failed })
}

/// Rehearses `release`'s migration on a clone of `tenant`'s database restored from a restore point
/// taken now (so the running shop is not disturbed, and the restore is a drill too), under the
/// policy's timeouts, with the lock tracer and probes.
fn rehearse_release(
    bins: &PgBinaries,
    tenant: &LocalTenant,
    release: &DemoRelease,
    migration: &[String],
    work_dir: &Path,
    safety: &ringfence_core::model::MigrationSafety,
) -> anyhow::Result<ringfence_pg::RehearsalReport> {
    let dir = work_dir.join("rehearsals");
    std::fs::create_dir_all(&dir)?;
    let point = ringfence_pg::take_restore_point(bins, &tenant.target, &tenant.database, &dir, release.version)?;
    let argv = migration
        .iter()
        .map(|a| {
            a.replace("{database_url}", "postgres://{user}@{host}:{port}/{database}")
                .replace("{version}", release.version)
                .replace("{previous}", release.replaces)
                .replace("{tenant}", tenant.id.as_str())
        })
        .collect();
    let timeouts = ringfence_pg::MigrationTimeouts {
        lock_timeout: Duration::from_millis(safety.lock_timeout.as_millis()),
        statement_timeout: Duration::from_millis(safety.statement_timeout.as_millis()),
    };
    let command = ringfence_pg::MigrationCommand {
        argv,
        env: vec![("PGOPTIONS".to_owned(), timeouts.pgoptions())],
        working_dir: None,
    };
    let options = ringfence_pg::RehearsalOptions::new(
        tenant.id.as_str(),
        ringfence_pg::CloneMethod::RestorePoint { point: Box::new(point) },
        command,
        format!("demo-{}", release.version),
    );
    let report = ringfence_pg::rehearse(bins, &tenant.target, &tenant.database, &options)?;
    std::fs::write(dir.join(format!("{}-{}.html", release.version, tenant.id)), report.to_html())?;
    std::fs::write(dir.join(format!("{}-{}.json", release.version, tenant.id)), serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

/// The strongest lock the migration held per table, strongest first.
fn strongest_locks(report: &ringfence_pg::RehearsalReport) -> Vec<(String, String)> {
    let mut locks: Vec<(&ringfence_pg::LockMode, &str)> =
        report.tables.iter().filter_map(|t| t.strongest_mode.as_ref().map(|m| (m, t.table.as_str()))).collect();
    locks.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(b.1)));
    locks.into_iter().map(|(m, t)| (t.trim_start_matches("public.").to_owned(), m.to_string())).collect()
}

fn rehearsal_line(tenant: &TenantId, rehearsal: &anyhow::Result<ringfence_pg::RehearsalReport>) -> String {
    match rehearsal {
        Err(e) => format!("rehearsal on a copy of {tenant} could not run: {e:#}"),
        Ok(r) => {
            let drill = r.restore_drill.as_ref().map(|d| format!(", restore drill {:.1}s", d.duration.as_secs_f64()));
            let locks: Vec<String> = strongest_locks(r).iter().take(3).map(|(t, m)| format!("{t} {m}")).collect();
            format!(
                "rehearsal on a copy of {tenant}{}: migration {} in {:.2}s; locks: {}; rewrites: {}; predicted blocking {:.2}s{}",
                drill.unwrap_or_default(),
                if r.ok() { "completed" } else { "FAILED" },
                r.migration.duration_ms / 1000.0,
                match (locks.is_empty(), r.migration.duration_ms < 100.0) {
                    (false, _) => locks.join(", "),
                    // A lock shorter than the sampling interval may go unseen: say so, not "none".
                    (true, true) => format!("none held {}ms or longer", r.trace.interval_ms),
                    (true, false) => "none".into(),
                },
                if r.rewrites.is_empty() { "none".into() } else { r.rewrites.join(", ") },
                r.blocking.max_ms / 1000.0,
                r.errors.first().map(|e| format!("; {e}")).unwrap_or_default(),
            )
        }
    }
}

fn rehearsal_json(tenant: &TenantId, rehearsal: &anyhow::Result<ringfence_pg::RehearsalReport>) -> Value {
    match rehearsal {
        Err(e) => json!({ "tenant": tenant, "error": format!("{e:#}") }),
        Ok(r) => json!({
            "tenant": tenant,
            "ok": r.ok(),
            "clone": r.clone.method,
            "restore_drill_seconds": r.restore_drill.as_ref().map(|d| d.duration.as_secs_f64()),
            "migration_seconds": r.migration.duration_ms / 1000.0,
            "locks": strongest_locks(r),
            "rewrites": r.rewrites,
            "predicted_blocking_seconds": r.blocking.max_ms / 1000.0,
            "predicted_blocking_table": r.blocking.table,
            "errors": r.errors.iter().take(3).collect::<Vec<_>>(),
            "line": rehearsal_line(tenant, rehearsal),
        }),
    }
}

/// When each ring of a release started and ended, seen through the engine's state after each event.
#[derive(Default)]
struct RingClock {
    started: BTreeMap<usize, f64>,
    ended: BTreeMap<usize, f64>,
}

impl RingClock {
    fn observe(&mut self, engine: &Engine, since: Instant) {
        let now = since.elapsed().as_secs_f64();
        for ring in 0..engine.plan().rings.len() {
            let mut members = engine.tenants().values().filter(|t| t.ring == ring).peekable();
            if members.peek().is_none() {
                continue;
            }
            let phases: Vec<TenantPhase> = members.map(|t| t.phase).collect();
            if phases.iter().any(|p| *p != TenantPhase::Pending) {
                self.started.entry(ring).or_insert(now);
            }
            if self.started.contains_key(&ring) && phases.iter().all(|p| p.is_terminal() || *p == TenantPhase::Pending)
            {
                self.ended.entry(ring).or_insert(now);
            }
        }
    }
}

fn release_summary(
    release: &DemoRelease,
    engine: &Engine,
    outcome: Outcome,
    started: Instant,
    rings: &RingClock,
    (judge, judgements, comparisons): (
        Option<&str>,
        &BTreeMap<TenantId, ringfence_core::judge::Judgement>,
        &BTreeMap<TenantId, ringfence_judge::Judgement>,
    ),
) -> Value {
    let outcome = match outcome {
        Outcome::Completed => "completed",
        Outcome::RolledBack => "rolled_back",
        Outcome::Halted => "halted",
    };
    let ring_rows: Vec<Value> = engine
        .plan()
        .rings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let tenants = engine.tenants().values().filter(|t| t.ring == i);
            let (done, rolled_back) = tenants.fold((0, 0), |(d, rb), t| match t.phase {
                TenantPhase::Done => (d + 1, rb),
                TenantPhase::RolledBack => (d, rb + 1),
                _ => (d, rb),
            });
            let duration = match (rings.started.get(&i), rings.ended.get(&i)) {
                (Some(s), Some(e)) => Some(e - s),
                _ => None,
            };
            json!({ "ring": r.name, "done": done, "rolled_back": rolled_back, "duration_seconds": duration })
        })
        .collect();
    let verdicts: Vec<Value> = judgements
        .iter()
        .map(|(tenant, j)| {
            let findings: Vec<Value> = j
                .findings
                .iter()
                .map(|f| {
                    json!({
                        "sli": f.sli,
                        "treated": f.treated.value,
                        "treated_events": f.treated.events,
                        "control": f.control.value,
                        "control_events": f.control.events,
                        "ratio_to_control": f.ratio_to_control,
                        "failure": f.failure,
                    })
                })
                .collect();
            json!({ "tenant": tenant, "verdict": j.verdict, "findings": findings })
        })
        .collect();
    // What stopped the release: the policy's comparative judge (checked first at every scrape), an
    // SLI's absolute limit (the guard rail), or a step that failed.
    let judge_failed = comparisons.values().any(|j| matches!(j.verdict, ringfence_judge::Verdict::Fail { .. }));
    let limit_failed = judgements.values().any(|j| matches!(j.verdict, ringfence_core::engine::Verdict::Fail { .. }));
    let halted_by = engine.halt_reason().map(|_| match (judge_failed, limit_failed) {
        (true, _) => judge.unwrap_or("judge"),
        (false, true) => "guard-rail",
        (false, false) => "step",
    });
    json!({
        "version": release.version,
        "replaces": release.replaces,
        "outcome": outcome,
        "exposed_tenants": engine.exposed_tenants().count(),
        "halt_reason": engine.halt_reason(),
        "halted_by": halted_by,
        "judge": judge,
        "duration_seconds": started.elapsed().as_secs_f64(),
        "rings": ring_rows,
        "verdicts": verdicts,
        // The comparative judge (policy `judge.method`, sequential by default): each observed
        // tenant's last look, with per SLI the effect, its interval and the statistic against its bar.
        "comparisons": comparisons
            .iter()
            .map(|(tenant, j)| json!({ "tenant": tenant, "verdict": j.verdict, "findings": j.findings }))
            .collect::<Vec<_>>(),
    })
}

fn summary_text(report: &Value) -> String {
    let mut out = String::from("\nReleases\n");
    for r in report["releases"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} (replaces {}): {}, {} tenants exposed, {:.0}s\n",
            r["version"].as_str().unwrap_or("?"),
            r["replaces"].as_str().unwrap_or("?"),
            r["outcome"].as_str().unwrap_or("?"),
            r["exposed_tenants"],
            r["duration_seconds"].as_f64().unwrap_or(0.0)
        ));
        if let Some(line) = r["rehearsal"]["line"].as_str() {
            out.push_str(&format!("    {line}\n"));
        }
        if let Some(reason) = r["halt_reason"].as_str() {
            let by = match r["halted_by"].as_str() {
                Some("guard-rail") => " by an SLI's limit (guard rail)".to_owned(),
                Some("step") | None => String::new(),
                Some(judge) => format!(" by the {judge} judge"),
            };
            out.push_str(&format!("    halted{by}: {reason}\n"));
        }
        for ring in r["rings"].as_array().into_iter().flatten() {
            if let Some(d) = ring["duration_seconds"].as_f64() {
                out.push_str(&format!(
                    "    ring {:<11} {:>5.1}s  done {}  rolled back {}\n",
                    ring["ring"].as_str().unwrap_or("?"),
                    d,
                    ring["done"],
                    ring["rolled_back"]
                ));
            }
        }
        // The comparative judge's numbers for every tenant that failed, whichever judge caught it.
        let failed: Vec<&Value> = r["verdicts"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(r["comparisons"].as_array().into_iter().flatten())
            .filter(|v| v["verdict"]["verdict"] == "fail")
            .map(|v| &v["tenant"])
            .collect();
        for c in r["comparisons"].as_array().into_iter().flatten() {
            if !failed.contains(&&c["tenant"]) {
                continue;
            }
            let judge = r["judge"].as_str().unwrap_or("comparative");
            // The sequential judge's statistic is an e-value: evidence of harm, failing at 1/α.
            let statistic = if judge == "sequential" { "e-value" } else { "statistic" };
            out.push_str(&format!(
                "    {judge} judge on {}: {}\n",
                c["tenant"].as_str().unwrap_or("?"),
                match c["verdict"]["verdict"].as_str() {
                    Some("fail") => c["verdict"]["why"].as_str().unwrap_or("fail").to_owned(),
                    Some(other) => format!("{other} at the halt (its evidence so far below)"),
                    None => "?".to_owned(),
                }
            ));
            for f in c["findings"].as_array().into_iter().flatten() {
                let effect = &f["effect"];
                out.push_str(&format!(
                    "      {:<22} {:<7} effect {:.2} [{}, {}] ({}), {statistic} {:.1} vs bar {:.1}, events treated {:.0} control {:.0}\n",
                    f["sli"].as_str().unwrap_or("?"),
                    f["standing"].as_str().unwrap_or("?"),
                    effect["estimate"].as_f64().unwrap_or(f64::NAN),
                    effect["lower"].as_f64().map_or("-".into(), |v| format!("{v:.2}")),
                    effect["upper"].as_f64().map_or("-".into(), |v| format!("{v:.2}")),
                    f["scale"].as_str().unwrap_or(""),
                    f["statistic"].as_f64().unwrap_or(f64::NAN),
                    f["bar"].as_f64().unwrap_or(f64::NAN),
                    f["treatedEvents"].as_f64().unwrap_or(0.0),
                    f["controlEvents"].as_f64().unwrap_or(0.0),
                ));
            }
        }
        for v in r["verdicts"].as_array().into_iter().flatten() {
            if v["verdict"]["verdict"] == "fail" {
                out.push_str(&format!(
                    "    guard rail on {}: {}\n",
                    v["tenant"].as_str().unwrap_or("?"),
                    v["verdict"]["reason"].as_str().unwrap_or("")
                ));
            }
        }
    }
    out.push_str("\nTenants                 version  schema  orders acknowledged  present  missing\n");
    for t in report["tenants"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<21} {:<8} {:<7} {:>19}  {:>7}  {:>7}\n",
            t["id"].as_str().unwrap_or("?"),
            t["final_version"].as_str().unwrap_or("-"),
            t["schema_version"].as_str().unwrap_or("?"),
            t["orders_acknowledged"].as_u64().unwrap_or(0),
            t["orders_present"].as_u64().unwrap_or(0),
            t["acknowledged_orders_missing"].as_u64().unwrap_or(0)
        ));
    }
    out.push_str(&format!(
        "\nno acknowledged order lost: {}; demo {} in {:.0}s\n",
        report["no_order_lost"],
        if report["as_designed"] == true { "ran as designed" } else { "did NOT run as designed" },
        report["duration_seconds"].as_f64().unwrap_or(0.0)
    ));
    out
}

fn progress(started: Instant, engine: &Engine, event: &Event) {
    // The demo starts releases itself and takes no operator commands: only tenant events are news.
    if matches!(event, Event::Start { .. } | Event::Operator { .. }) {
        return;
    }
    let Some(line) = crate::rollout_cmd::event_line(event) else { return };
    let done = engine.tenants().values().filter(|t| t.phase == TenantPhase::Done).count();
    say(started, format!("  [{done}/{}] {line}", engine.tenants().len()));
}

fn run_storefront(bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(bin).args(args).output().with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!("storefront {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// The storefront binary: given, or beside this executable (cargo builds both into the same directory).
fn find_storefront(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_owned(),
        None => std::env::current_exe()?.with_file_name("storefront"),
    };
    if !path.is_file() {
        bail!(
            "no storefront binary at {}: build it with `cargo build --release -p storefront` (scripts/demo does), or pass --storefront PATH",
            path.display()
        );
    }
    Ok(path)
}

/// Finds the PostgreSQL programs; when missing, installs them as root on Debian/Ubuntu, or says how.
fn ensure_postgres() -> anyhow::Result<PgBinaries> {
    match PgBinaries::locate(None) {
        Ok(bins) => Ok(bins),
        Err(PgError::NotInstalled { .. }) => {
            let root = nix::unistd::geteuid().is_root();
            let debian = Path::new("/etc/debian_version").exists();
            if !(root && debian) {
                bail!(
                    "PostgreSQL is not installed: run `sudo apt-get install -y postgresql postgresql-client` (Debian/Ubuntu), or install PostgreSQL ≥ 13 and set RINGFENCE_PG_BIN to its bin directory"
                );
            }
            errln!("PostgreSQL is not installed: apt-get install -y postgresql postgresql-client");
            let ok = Command::new("apt-get").arg("update").status()?.success()
                && Command::new("apt-get")
                    .args(["install", "-y", "--no-install-recommends", "postgresql", "postgresql-client"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()?
                    .success();
            if !ok {
                bail!(
                    "installing PostgreSQL failed; run `apt-get install -y postgresql postgresql-client` and try again"
                );
            }
            Ok(PgBinaries::locate(None)?)
        }
        Err(other) => Err(other.into()),
    }
}

/// On Ctrl-C (or SIGTERM, or a hangup: nobody watches a demo whose terminal closed), stops the shops
/// and the clusters from their pid files, then exits: the main thread may be deep in a step, and
/// nothing must be left running.
fn install_interrupt_handler(work_dir: &Path, clusters: &BTreeMap<String, EphemeralCluster>, keep: bool) {
    let work = work_dir.to_owned();
    let apps = work_dir.join("apps");
    let data_dirs: Vec<PathBuf> = clusters.values().map(|c| c.data_dir().to_owned()).collect();
    let result = crate::signals::on_interrupt(true, move || {
        errln!("\ninterrupted: stopping every shop and cluster");
        ringfence_local::supervisor::kill_recorded(&apps);
        for data in &data_dirs {
            if let Some(pid) = std::fs::read_to_string(data.join("postmaster.pid"))
                .ok()
                .and_then(|t| t.lines().next()?.trim().parse().ok())
            {
                // SIGQUIT: PostgreSQL's immediate shutdown.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
            }
            if let Some(root) = data.parent() {
                std::thread::sleep(Duration::from_millis(300));
                let _ = std::fs::remove_dir_all(root);
            }
        }
        if keep {
            errln!("state, audit trail, logs and restore points kept in {}", work.display());
        } else {
            let _ = std::fs::remove_dir_all(&work);
        }
        std::process::exit(Exit::Interrupted as i32);
    });
    if let Err(e) = result {
        errln!("warning: cannot handle Ctrl-C ({e}); if interrupted, stop leftover processes by hand");
    }
}
