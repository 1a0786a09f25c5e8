//! The local driver end to end: a real PostgreSQL cluster started by the test, real `storefront`
//! processes, the real runner, store and audit trail. A good release completes on every tenant; a
//! release whose migration dies half-way is caught on the first tenant, whose database is restored from
//! its restore point, and nobody else is touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ringfence_core::Duration as Span;
use ringfence_core::engine::{EngineOptions, Outcome, TenantPhase};
use ringfence_core::fixtures::{cluster, ring, tenant};
use ringfence_core::model::{Fleet, Policy, TenantId};
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
        app: AppCommands { serve, maintenance },
        tenants,
        slis: vec![],
        judge: Default::default(),
        scrape_interval: Duration::from_millis(300),
        health_timeout: Duration::from_secs(20),
        pg: ringfence_pg::PgBinaries::locate(None).unwrap(),
    }
}

fn release(bin: &Path, version: &str, previous: &str) -> LocalRelease {
    let (_, _, migration) = storefront::command_templates(&bin.display().to_string());
    LocalRelease { version: version.into(), previous: previous.into(), migration }
}

fn schema_version(pg: &EphemeralCluster, db: &str) -> String {
    pg.psql(db, "SELECT version FROM storefront_schema").unwrap().trim().to_owned()
}

fn run(
    ids: &[&str],
    version: &str,
) -> (Outcome, Runner<SqliteStore, LocalDriver>, EphemeralCluster, tempfile::TempDir) {
    let (pg, bin, work, tenants) = setup(ids);
    let local_fleet = fleet(&bin, &work, tenants);
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
    let driver = LocalDriver::new(local_fleet, release(&bin, version, "v1")).unwrap();
    driver.start_fleet("v1").unwrap();
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
    assert_eq!(outcome, Outcome::Completed);
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
