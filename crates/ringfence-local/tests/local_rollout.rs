//! The local driver end to end: a real PostgreSQL cluster started by the test, real `storefront`
//! processes, the real runner, store and audit trail. A good release completes on every tenant; a
//! release whose migration dies half-way is caught on the first tenant, whose database is restored from
//! its restore point, and nobody else is touched. The migration guardrails against real sessions: a
//! long transaction keeps the migration from starting, a lock timeout is retried until the lock is
//! free, and a migration that keeps a reader waiting past `maxBlocking` is cancelled by the watchdog
//! and its tenant rolled back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ringfence_core::Duration as Span;
use ringfence_core::engine::{EngineOptions, Outcome, TenantPhase};
use ringfence_core::fixtures::{cluster, ring, tenant};
use ringfence_core::model::{Fleet, MigrationSafety, Policy, RetrySpec, TenantId};
use ringfence_core::plan::plan;
use ringfence_local::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};
use ringfence_pg::EphemeralCluster;
use ringfence_runtime::Runner;
use ringfence_store::SqliteStore;

fn storefront() -> PathBuf {
    storefront::testing::binary()
}

fn sh(bin: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(out.status.success(), "{bin:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn setup(ids: &[&str]) -> (EphemeralCluster, PathBuf, tempfile::TempDir, Vec<LocalTenant>) {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    let bin = storefront();
    let mut tenants = Vec::new();
    let mut ports = ringfence_local::free_ports(ids.len()).unwrap().into_iter();
    for id in ids {
        let database = id.replace('-', "_");
        pg.create_database(&database).unwrap();
        let url = pg.url(&database);
        sh(&bin, &["migrate", "--database-url", &url, "--to", "v1"]);
        sh(&bin, &["seed", "--database-url", &url, "--products", "50"]);
        tenants.push(LocalTenant {
            id: TenantId::from(*id),
            cluster: "pg-1".into(),
            target: pg.target(),
            database,
            port: ports.next().unwrap(),
        });
    }
    (pg, bin, tempfile::tempdir().unwrap(), tenants)
}

fn fleet(bin: &Path, work: &tempfile::TempDir, tenants: Vec<LocalTenant>) -> LocalFleet {
    let (serve, maintenance, _) = storefront::command_templates(&bin.display().to_string());
    LocalFleet {
        work_dir: work.path().to_owned(),
        app: AppCommands { serve, maintenance, dir: None },
        tenants,
        slis: vec![],
        judge: Default::default(),
        scrape_interval: Duration::from_millis(300),
        health_timeout: Duration::from_secs(20),
        pg: ringfence_pg::PgBinaries::locate(None).unwrap(),
        migration: Default::default(),
        metrics: Default::default(),
    }
}

fn release(bin: &Path, version: &str, previous: &str) -> LocalRelease {
    let (_, _, migration) = storefront::command_templates(&bin.display().to_string());
    LocalRelease { version: version.into(), previous: previous.into(), migration, dir: None }
}

fn schema_version(pg: &EphemeralCluster, db: &str) -> String {
    pg.psql(db, "SELECT version FROM storefront_schema").unwrap().trim().to_owned()
}

fn run(
    ids: &[&str],
    version: &str,
) -> (Outcome, Runner<SqliteStore, LocalDriver>, EphemeralCluster, tempfile::TempDir) {
    run_with(ids, version, None, MigrationSafety::default(), |_| ())
}

/// Runs a release of `version` over `ids`, with `migration` (a command template) instead of
/// storefront's own when given, under the `safety` guardrails; `before` runs once the fleet serves
/// v1, just before the rollout starts.
fn run_with<T>(
    ids: &[&str],
    version: &str,
    migration: Option<Vec<String>>,
    safety: MigrationSafety,
    before: impl FnOnce(&EphemeralCluster) -> T,
) -> (Outcome, Runner<SqliteStore, LocalDriver>, EphemeralCluster, tempfile::TempDir) {
    let (pg, bin, work, tenants) = setup(ids);
    let mut local_fleet = fleet(&bin, &work, tenants);
    local_fleet.migration = safety;
    let core_fleet = Fleet {
        clusters: vec![cluster("pg-1", 1)],
        pools: vec![],
        tenants: ids.iter().map(|id| tenant(id, "pg-1")).collect(),
    };
    let (obs, soak) = (Span::from_secs(1), Span::ZERO);
    let policy = Policy {
        rings: vec![ring("first", &ids[..1], 1, obs, soak), ring("rest", &ids[1..], 2, obs, soak)],
        ..Default::default()
    };
    let plan = plan(&core_fleet, &policy, version, "v1").unwrap();
    let mut local_release = release(&bin, version, "v1");
    if let Some(migration) = migration {
        local_release.migration = migration;
    }
    let driver = LocalDriver::new(local_fleet, local_release).unwrap();
    driver.start_fleet("v1").unwrap();
    let _during = before(&pg);
    let store = SqliteStore::open(work.path().join("state.sqlite")).unwrap();
    let mut runner =
        Runner::start(store, &work.path().join("audit.jsonl"), driver, plan, EngineOptions::default(), "test").unwrap();
    let outcome = runner.run_to_end(|_, _| {}).unwrap();
    (outcome, runner, pg, work)
}

#[test]
fn a_good_release_reaches_every_tenant_with_its_schema() {
    let ids = ["shop-a", "shop-b", "shop-c"];
    let (outcome, runner, pg, _work) = run(&ids, "v2");
    assert_eq!(outcome, Outcome::Completed, "{}", audit_text(&_work));
    for id in ids {
        assert_eq!(schema_version(&pg, &id.replace('-', "_")), "2", "{id}");
        assert_eq!(runner.driver().versions()[&TenantId::from(id)].as_deref(), Some("v2"));
    }
    let points = std::fs::read_dir(_work.path().join("restore-points")).unwrap().count();
    assert!(points >= 3, "a restore point per tenant, found {points} files");
}

#[test]
fn a_migration_that_dies_half_way_is_restored_and_nobody_else_is_touched() {
    let ids = ["shop-a", "shop-b"];
    let (outcome, runner, pg, _work) = run(&ids, "v4");
    assert_eq!(outcome, Outcome::RolledBack);
    let engine = runner.engine();
    assert_eq!(engine.tenants()[&TenantId::from("shop-a")].phase, TenantPhase::RolledBack);
    assert_eq!(engine.tenants()[&TenantId::from("shop-b")].phase, TenantPhase::Pending);
    // shop-a's half-applied migration is gone: its database is as the restore point had it.
    assert_eq!(schema_version(&pg, "shop_a"), "1");
    let leftover = pg.psql("shop_a", "SELECT count(*) FROM pg_tables WHERE tablename = 'loyalty_cards'").unwrap();
    assert_eq!(leftover.trim(), "0", "the half migration's table was restored away");
    assert_eq!(runner.driver().versions()[&TenantId::from("shop-a")].as_deref(), Some("v1"));
    assert_eq!(schema_version(&pg, "shop_b"), "1");
}

/// A `psql` migration command template running `sql` in the tenant's database, stopping at the
/// first error (as a real migration does).
fn psql_migration(pg: &ringfence_pg::PgBinaries, sql: &str) -> Vec<String> {
    let psql = pg.psql().display().to_string();
    [
        &psql,
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "{host}",
        "-p",
        "{port}",
        "-U",
        "{user}",
        "-d",
        "{database}",
        "-c",
        sql,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A `psql` session of its own in `db`, running `sql` in the background (killed on drop).
struct Session(std::process::Child);

impl Session {
    fn start(pg: &EphemeralCluster, db: &str, sql: &str) -> Session {
        let mut cmd = pg.target().command(pg.binaries().psql(), db);
        cmd.args(["-X", "-c", sql]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        Session(cmd.spawn().expect("psql starts"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn audit_text(work: &tempfile::TempDir) -> String {
    std::fs::read_to_string(work.path().join("audit.jsonl")).unwrap()
}

fn quick_retries(max_attempts: u32, budget: Span) -> RetrySpec {
    RetrySpec { max_attempts, backoff: Span::from_millis(300), max_backoff: Span::from_secs(1), budget }
}

#[test]
fn a_long_transaction_keeps_the_migration_from_starting_and_the_tenant_is_rolled_back() {
    let safety = MigrationSafety {
        max_transaction_age: Span::from_secs(1),
        retry: quick_retries(3, Span::from_secs(3)),
        ..MigrationSafety::default()
    };
    let (outcome, runner, pg, work) = run_with(&["shop-a"], "v2", None, safety, |pg| {
        // A report left open: its transaction stays open for ten minutes.
        let session =
            Session::start(pg, "shop_a", "BEGIN; SELECT count(*) FROM products; SELECT pg_sleep(600); COMMIT;");
        std::thread::sleep(Duration::from_millis(1500));
        session
    });
    assert_eq!(outcome, Outcome::RolledBack);
    assert_eq!(runner.engine().tenants()[&TenantId::from("shop-a")].phase, TenantPhase::RolledBack);
    assert_eq!(schema_version(&pg, "shop_a"), "1", "the migration never ran");
    let audit = audit_text(&work);
    assert!(audit.contains("the migration was never started"), "{audit}");
    assert!(audit.contains("long transaction"), "the refusal names the session: {audit}");
    assert_eq!(runner.driver().versions()[&TenantId::from("shop-a")].as_deref(), Some("v1"));
}

#[test]
fn a_lock_timeout_is_retried_until_the_lock_is_free() {
    let bins = ringfence_pg::PgBinaries::locate(None).unwrap();
    let migration = psql_migration(
        &bins,
        "ALTER TABLE products ADD COLUMN search_name text; UPDATE storefront_schema SET version = 2;",
    );
    let safety = MigrationSafety {
        lock_timeout: Span::from_millis(300),
        retry: quick_retries(20, Span::from_secs(30)),
        ..MigrationSafety::default()
    };
    let (outcome, _runner, pg, work) = run_with(&["shop-a"], "v2", Some(migration), safety, |pg| {
        // A session holding a lock the ALTER conflicts with for a few seconds, then letting go.
        Session::start(pg, "shop_a", "BEGIN; LOCK TABLE products IN SHARE MODE; SELECT pg_sleep(4); COMMIT;")
    });
    assert_eq!(outcome, Outcome::Completed, "{}", audit_text(&work));
    assert_eq!(schema_version(&pg, "shop_a"), "2");
    let log = std::fs::read_dir(work.path().join("steps"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name().to_string_lossy().starts_with("shop-a-migrate")
                && e.path().extension().is_some_and(|x| x == "log")
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("the migration's log");
    // The lock_timeout of the policy reached the server through PGOPTIONS, and the step went on.
    assert!(log.contains("lock timeout"), "the first attempt timed out waiting for the lock: {log}");
    let retried = std::fs::read_dir(work.path().join("steps"))
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains(".status.attempt-1"));
    assert!(retried, "the failed attempt's status was kept aside");
}

#[test]
fn a_migration_keeping_readers_waiting_is_cancelled_by_the_watchdog_and_rolled_back() {
    let bins = ringfence_pg::PgBinaries::locate(None).unwrap();
    let migration =
        psql_migration(&bins, "BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT;");
    let safety = MigrationSafety { max_blocking: Span::from_secs(2), ..MigrationSafety::default() };
    let started = std::time::Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (outcome, runner, pg, work) = run_with(&["shop-a"], "v2", Some(migration), safety, |pg| {
        // A shopper browsing the catalogue, over and over: it queues behind the migration's lock.
        let (target, psql, stop) = (pg.target(), pg.binaries().psql().to_path_buf(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = target.command(&psql, "shop_a").args(["-X", "-c", "SELECT count(*) FROM products"]).output();
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(outcome, Outcome::RolledBack);
    assert!(started.elapsed() < Duration::from_secs(50), "cancelled long before its 60 s sleep ended");
    assert_eq!(runner.engine().tenants()[&TenantId::from("shop-a")].phase, TenantPhase::RolledBack);
    let audit = audit_text(&work);
    assert!(audit.contains("the watchdog cancelled the migration"), "{audit}");
    assert!(audit.contains("products"), "the failure names the table the reader waited for: {audit}");
    assert_eq!(schema_version(&pg, "shop_a"), "1");
    assert_eq!(runner.driver().versions()[&TenantId::from("shop-a")].as_deref(), Some("v1"));
}
