//! Rehearsals against real PostgreSQL, the migration a real `psql -c …` process: a rewriting type
//! change on 1,000,000 rows is reported with ACCESS EXCLUSIVE, a rewrite and probes stalled for
//! most of it; CREATE INDEX CONCURRENTLY with SHARE UPDATE EXCLUSIVE only and probes barely
//! slowed. Clones by template and from a restore point (a recorded drill), refused while the
//! source has sessions unless allowed, gone afterwards — also when the migration fails or times
//! out — and orphans of a crashed controller found and dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ringfence_pg::clone::CLONE_PREFIX;
use ringfence_pg::trace::LockMode;
use ringfence_pg::{
    CloneKind, CloneMethod, CloneOptions, DatabaseClone, EphemeralCluster, MigrationCommand, PgError, ProbeOptions,
    RehearsalOptions, RehearsalReport, StartOptions, drop_stale_clones, list_clones, rehearse, take_restore_point,
};

const SOURCE: &str = "shop-eu";
const BIG_ROWS: u32 = 1_000_000;

/// The two timing tests share two cores with everything else; running them one at a time keeps
/// one from distorting the other's figures.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cluster with the tenant database: `items` (`rows` rows, the largest table) and `customers`
/// (1,000 rows), analyzed; autovacuum off so only the migration and the probes take locks.
fn start(rows: u32) -> EphemeralCluster {
    let options = StartOptions { settings: vec![("autovacuum".into(), "off".into())], ..StartOptions::default() };
    let cluster = EphemeralCluster::start(options).unwrap_or_else(|err| panic!("{err}"));
    cluster.create_database(SOURCE).unwrap_or_else(|err| panic!("{err}"));
    let began = Instant::now();
    sql(
        &cluster,
        SOURCE,
        &format!(
            "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, name text NOT NULL);
             INSERT INTO items SELECT g, g % 100, 'item ' || g FROM generate_series(1, {rows}) g;
             CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
             INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 1000) g;
             ANALYZE;"
        ),
    );
    eprintln!("source with {rows} rows loaded in {:?}", began.elapsed());
    cluster
}

fn sql(cluster: &EphemeralCluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).unwrap_or_else(|err| panic!("{err}")).trim().to_owned()
}

/// `psql -c <statement>` run as the migration: connection from the environment rehearse sets.
fn psql_migration(cluster: &EphemeralCluster, statement: &str) -> MigrationCommand {
    MigrationCommand {
        argv: vec![
            cluster.binaries().psql().display().to_string(),
            "-X".into(),
            "-v".into(),
            "ON_ERROR_STOP=1".into(),
            "-c".into(),
            statement.into(),
        ],
        env: vec![("PGOPTIONS".into(), "-c statement_timeout=120s".into())],
        working_dir: None,
    }
}

fn template(terminate: bool) -> CloneMethod {
    CloneMethod::Template { terminate_source_sessions: terminate }
}

fn options(method: CloneMethod, migration: MigrationCommand, probes: bool) -> RehearsalOptions {
    let mut options = RehearsalOptions::new("shop-eu", method, migration, "test-run");
    options.probes = probes.then(|| ProbeOptions { tables: 2, ..ProbeOptions::default() });
    options.timeout = Some(Duration::from_secs(120));
    options
}

fn run(cluster: &EphemeralCluster, options: &RehearsalOptions) -> RehearsalReport {
    let began = Instant::now();
    let report = rehearse(cluster.binaries(), &cluster.target(), SOURCE, options).unwrap_or_else(|err| panic!("{err}"));
    eprintln!("rehearsed in {:?}:\n{}", began.elapsed(), report.to_text());
    report
}

/// With `RINGFENCE_REHEARSAL_OUT=<dir>`, keeps the report as `<name>.html` and `<name>.json` there,
/// to look at the page a test produced.
fn keep(report: &RehearsalReport, name: &str) {
    if let Some(dir) = std::env::var_os("RINGFENCE_REHEARSAL_OUT") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join(format!("{name}.html")), report.to_html()).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(report).unwrap()).unwrap();
    }
}

/// No rehearsal clone is left on the cluster, by our listing and by the catalog.
fn assert_no_clones(cluster: &EphemeralCluster) {
    let listed = list_clones(cluster.binaries(), &cluster.target()).unwrap_or_else(|err| panic!("{err}"));
    assert!(listed.is_empty(), "clones left behind: {listed:?}");
    let in_catalog =
        sql(cluster, "postgres", &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{CLONE_PREFIX}%'"));
    assert_eq!(in_catalog, "0");
}

fn column_type(cluster: &EphemeralCluster, db: &str) -> String {
    sql(
        cluster,
        db,
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'qty'",
    )
}

#[test]
fn a_rewriting_type_change_holds_access_exclusive_and_stalls_the_probes_for_it() {
    let _heavy = heavy();
    let cluster = start(BIG_ROWS);
    let migration = psql_migration(&cluster, "ALTER TABLE items ALTER COLUMN qty TYPE bigint");

    let report = run(&cluster, &options(template(false), migration, true));
    keep(&report, "type-change");

    assert!(report.migration.success, "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.clone.method, CloneKind::Template);
    assert!(report.clone.name.starts_with("rf_rehearsal_shop_eu_"), "{}", report.clone.name);
    assert!(report.clone.dropped);
    assert!(report.migration.log_tail.contains("ALTER TABLE"), "{}", report.migration.log_tail);
    assert!(!report.migration.backends.is_empty());

    let items = report.table("items").unwrap_or_else(|| panic!("items not reported: {report:#?}"));
    assert_eq!(items.strongest_mode, Some(LockMode::AccessExclusive), "{items:#?}");
    assert!(items.rewritten, "{items:#?}");
    assert!(report.rewrites.iter().any(|r| r == "public.items"), "{:?}", report.rewrites);
    assert_eq!(items.rows_before.map(|r| r.round()), Some(f64::from(BIG_ROWS)));
    assert!(items.size_before_bytes.unwrap() > 30_000_000, "{items:#?}");
    let hold_ms = items.access_exclusive_ms.expect("an ACCESS EXCLUSIVE hold");
    assert!(
        hold_ms > 200.0 && hold_ms <= report.migration.duration_ms + 100.0,
        "{hold_ms} of {}",
        report.migration.duration_ms
    );
    assert!(items.holds.iter().any(|h| h.mode == LockMode::AccessExclusive && h.start_ms >= -50.0));

    // The probes on items waited for most of the hold; customers was not touched.
    let probes = report.probes.as_ref().expect("probes ran");
    let probed = probes.table("items").expect("items is the largest table");
    assert!(probed.reads.count >= 3 && probed.writes.count >= 3, "{probed:#?}");
    assert!(probed.reads.max_ms >= 0.5 * hold_ms, "read stall {} vs hold {hold_ms}", probed.reads.max_ms);
    assert!(probed.writes.max_ms >= 0.5 * hold_ms, "write stall {} vs hold {hold_ms}", probed.writes.max_ms);
    assert!(!probed.stalls.is_empty());
    assert!(items.waits.iter().any(|w| w.mode == LockMode::AccessShare), "the read probe's wait is traced");
    let customers = probes.table("customers").expect("customers probed too");
    assert!(customers.max_ms() < 0.5 * hold_ms, "{customers:#?}");

    assert!(report.blocking.max_ms >= hold_ms, "{:#?}", report.blocking);
    assert_eq!(report.blocking.table.as_deref(), Some("public.items"));
    assert!(report.blocking.reads_max_ms >= 0.5 * hold_ms);
    assert!(report.exceeds(Duration::from_millis(100)));
    assert!(!report.exceeds(Duration::from_secs(600)));

    let html = report.to_html();
    assert!(html.contains("class=\"hold m-ax\"") && html.contains("↻ rewritten"), "timeline shows it");

    // The source was only the template: its column is still an integer, and the clone is gone.
    assert_eq!(column_type(&cluster, SOURCE), "integer");
    assert_no_clones(&cluster);
}

#[test]
fn create_index_concurrently_takes_share_update_exclusive_and_barely_slows_the_probes() {
    let _heavy = heavy();
    let cluster = start(BIG_ROWS);
    let migration = psql_migration(&cluster, "CREATE INDEX CONCURRENTLY items_name_idx ON items (name)");

    let report = run(&cluster, &options(template(false), migration, true));
    keep(&report, "create-index-concurrently");

    assert!(report.migration.success, "{report:#?}");
    let items = report.table("items").unwrap_or_else(|| panic!("items not reported: {report:#?}"));
    assert_eq!(items.strongest_mode, Some(LockMode::ShareUpdateExclusive), "{items:#?}");
    assert_eq!(items.access_exclusive_ms, None);
    // Only the new index, invisible to others until its first transaction commits, may be seen
    // under ACCESS EXCLUSIVE (if a sample falls into that short transaction); the table never.
    let on_existing = |h: &&ringfence_pg::rehearse::HoldBar| h.relation != "public.items_name_idx";
    assert!(!items.holds.iter().filter(on_existing).any(|h| h.mode.blocks_writes()), "{items:#?}");
    assert!(!items.rewritten);
    assert_eq!(items.rewritten_indexes, ["public.items_name_idx"], "the new index is listed");
    assert_eq!((items.blocking.reads_from_locks_ms, items.blocking.writes_from_locks_ms), (0.0, 0.0));

    let duration = report.migration.duration_ms;
    assert!(duration > 150.0, "an index on 1M rows takes a while: {duration} ms");
    let probed = report.probes.as_ref().and_then(|p| p.table("items")).expect("items probed");
    assert!(probed.reads.count >= 5 && probed.writes.count >= 5, "{probed:#?}");
    let limit = 250f64.max(0.1 * duration);
    assert!(probed.max_ms() < limit, "probes stalled {} ms during a {duration} ms CIC: {probed:#?}", probed.max_ms());
    assert!(report.blocking.max_ms < limit, "{:#?}", report.blocking);
    assert!(!report.exceeds(Duration::from_millis(limit as u64)));
    assert_no_clones(&cluster);
}

#[test]
fn a_clone_from_the_restore_point_is_a_recorded_restore_drill() {
    let cluster = start(20_000);
    let dir = tempfile::tempdir().unwrap();
    let point = take_restore_point(cluster.binaries(), &cluster.target(), SOURCE, dir.path(), "pre-v2")
        .unwrap_or_else(|err| panic!("{err}"));
    // Changed after the restore point: the clone must not see this row.
    sql(&cluster, SOURCE, "INSERT INTO customers VALUES (1001, 'after the restore point')");
    let migration = psql_migration(&cluster, "SELECT count(*) AS customers_seen FROM customers");
    let method = CloneMethod::RestorePoint { point: Box::new(point.clone()) };

    let report = run(&cluster, &options(method, migration, false));

    assert!(report.migration.success, "{report:#?}");
    assert_eq!(report.clone.method, CloneKind::RestorePoint);
    let drill = report.restore_drill.as_ref().expect("the restore is recorded as a drill");
    assert!(drill.ok, "{drill:#?}");
    assert_eq!(drill.problem, None);
    assert_eq!(drill.point, point);
    assert_eq!(drill.bytes, point.size_bytes);
    assert!(drill.restored_bytes.unwrap() > 1_000_000, "{drill:#?}");
    assert!(drill.duration > Duration::ZERO && drill.started >= point.taken_at);
    assert!(report.migration.log_tail.contains("1000"), "restored as of the point: {}", report.migration.log_tail);
    assert!(report.probes.is_none());
    assert!(report.to_html().contains("Restore drill"));
    assert_no_clones(&cluster);

    // A restore point that no longer matches its file fails the drill, and says so.
    let mut broken = point.clone();
    broken.sha256 = "0".repeat(64);
    let clone_options = CloneOptions {
        tenant: "shop-eu".into(),
        method: CloneMethod::RestorePoint { point: Box::new(broken) },
        created_by: "test".into(),
    };
    let err = DatabaseClone::create(cluster.binaries(), &cluster.target(), SOURCE, &clone_options).unwrap_err();
    let PgError::CloneFailed { drill: Some(drill), leftover: None, .. } = &err else {
        panic!("expected a failed drill, got {err:?}");
    };
    assert!(!drill.ok);
    assert!(drill.problem.as_deref().unwrap_or("").contains("cannot be trusted"), "{drill:#?}");
    assert_no_clones(&cluster);
}

#[test]
fn the_clone_is_dropped_when_the_migration_fails_or_times_out() {
    let cluster = start(1000);
    let failing = psql_migration(&cluster, "ALTER TABLE no_such_table ADD COLUMN x int");
    let report = run(&cluster, &options(template(false), failing, true));
    assert!(!report.migration.success);
    assert_eq!(report.migration.exit_code, Some(1), "psql's code for a failed -c");
    assert!(!report.ok());
    assert!(report.errors.iter().any(|e| e.contains("exit code 1")), "{:?}", report.errors);
    assert!(report.errors.iter().any(|e| e.contains("no_such_table")), "{:?}", report.errors);
    assert!(report.clone.dropped);
    assert_no_clones(&cluster);

    let hanging = psql_migration(&cluster, "SELECT pg_sleep(60)");
    let mut opts = options(template(false), hanging, false);
    opts.timeout = Some(Duration::from_millis(1500));
    let began = Instant::now();
    let report = run(&cluster, &opts);
    assert!(began.elapsed() < Duration::from_secs(30), "{:?}", began.elapsed());
    assert!(report.migration.timed_out && !report.migration.success, "{report:#?}");
    assert!(report.errors.iter().any(|e| e.contains("timeout")), "{:?}", report.errors);
    // The killed client's backend was still sleeping on the clone; the drop ended it.
    assert!(report.clone.dropped, "{:?}", report.clone.drop_error);
    assert_no_clones(&cluster);

    // A command that names the source instead of {database} is refused before anything is made.
    let mut naming_source = psql_migration(&cluster, "SELECT 1");
    naming_source.argv.extend(["-d".to_owned(), SOURCE.to_owned()]);
    let err = rehearse(cluster.binaries(), &cluster.target(), SOURCE, &options(template(false), naming_source, false))
        .unwrap_err();
    assert!(matches!(err, PgError::InvalidOption { .. }), "{err}");
    assert_no_clones(&cluster);
}

#[test]
fn a_migration_naming_its_own_connections_is_still_recognised_on_the_clone() {
    let cluster = start(1000);
    // Like Odoo 19's db_app_name: the migration's session renames itself, then holds the lock.
    let migration = psql_migration(
        &cluster,
        "BEGIN; SET application_name = 'odoo-19'; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; \
         SELECT pg_sleep(0.8); COMMIT;",
    );
    let report = run(&cluster, &options(template(false), migration, true));

    assert!(report.migration.success, "{report:#?}");
    let customers = report.table("customers").unwrap_or_else(|| panic!("customers not reported: {report:#?}"));
    let hold = customers.holds.iter().find(|h| h.mode == LockMode::AccessExclusive).expect("the lock is traced");
    assert_eq!(hold.application_name, "odoo-19");
    assert_eq!(customers.strongest_mode, Some(LockMode::AccessExclusive), "counted as the migration's");
    assert!(report.migration.backends.contains(&hold.pid));
    let held = customers.access_exclusive_ms.unwrap();
    assert!(held >= 600.0, "{held}");
    let probed = report.probes.as_ref().and_then(|p| p.table("customers")).expect("customers probed");
    assert!(probed.reads.max_ms >= 0.5 * held && probed.writes.max_ms >= 0.5 * held, "{probed:#?}");
    assert_eq!(report.blocking.table.as_deref(), Some("public.customers"));
    assert!(report.exceeds(Duration::from_millis(500)) && !report.exceeds(Duration::from_secs(5)));
    // Nothing was rewritten: a lock alone changes no storage.
    assert!(report.rewrites.is_empty(), "{:?}", report.rewrites);
    assert_no_clones(&cluster);
}

/// A session on the source database, kept open until killed.
fn session_on_source(cluster: &EphemeralCluster, app: &str) -> Child {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), SOURCE);
    cmd.args(["-X", "-A", "-t"]).env("PGAPPNAME", app).stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"SELECT 'ready';\n").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

#[test]
fn a_template_clone_refuses_while_the_source_has_sessions_unless_allowed_to_end_them() {
    let cluster = start(1000);
    let mut shop = session_on_source(&cluster, "web-shop");
    let clone_options =
        |terminate| CloneOptions { tenant: "shop-eu".into(), method: template(terminate), created_by: "test".into() };

    let err = DatabaseClone::create(cluster.binaries(), &cluster.target(), SOURCE, &clone_options(false)).unwrap_err();
    let PgError::SourceInUse { sessions, .. } = &err else { panic!("expected SourceInUse, got {err:?}") };
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].application_name.as_deref(), Some("web-shop"));
    let message = err.to_string();
    assert!(message.contains("web-shop") && message.contains("restore point"), "{message}");
    assert_no_clones(&cluster);
    assert!(shop.try_wait().unwrap().is_none(), "the session was left alone");

    let clone = DatabaseClone::create(cluster.binaries(), &cluster.target(), SOURCE, &clone_options(true))
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(sql(&cluster, clone.name(), "SELECT count(*) FROM items"), "1000");
    let listed = list_clones(cluster.binaries(), &cluster.target()).unwrap();
    let marker = listed[0].marker.as_ref().expect("marked");
    assert_eq!((marker.source.as_str(), marker.tenant.as_str(), marker.pid), (SOURCE, "shop-eu", std::process::id()));
    let left = sql(&cluster, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'web-shop'");
    assert_eq!(left, "0", "the source's session was terminated");
    shop.kill().unwrap();
    shop.wait().unwrap();
    clone.drop().unwrap_or_else(|err| panic!("{err}"));
    assert_no_clones(&cluster);
    // Dropping the value (as on an early return) drops the database too.
    drop(DatabaseClone::create(cluster.binaries(), &cluster.target(), SOURCE, &clone_options(false)).unwrap());
    assert_no_clones(&cluster);
}

#[test]
fn drop_stale_clones_removes_orphans_and_leaves_live_clones_and_other_databases() {
    let cluster = start(1000);
    let (bins, target) = (cluster.binaries(), cluster.target());
    let clone_options = CloneOptions { tenant: "shop-eu".into(), method: template(false), created_by: "test".into() };
    // A clone whose controller lives on (this process), forgotten as a crash would.
    let live = DatabaseClone::create(bins, &target, SOURCE, &clone_options).unwrap_or_else(|err| panic!("{err}"));
    let live_name = live.name().to_owned();
    std::mem::forget(live);
    // An orphan whose controller process is gone, and one that never got its marker.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let marker = serde_json::json!({
        "ringfence": "rehearsal-clone", "tenant": "shop-eu", "source": SOURCE, "method": "template",
        "createdAt": jiff::Timestamp::now(), "createdBy": "crashed controller",
        "host": std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), "pid": dead_pid,
    });
    sql(&cluster, "postgres", "CREATE DATABASE rf_rehearsal_shop_eu_deadbeef TEMPLATE \"shop-eu\"");
    sql(&cluster, "postgres", &format!("COMMENT ON DATABASE rf_rehearsal_shop_eu_deadbeef IS '{marker}'"));
    sql(&cluster, "postgres", "CREATE DATABASE rf_rehearsal_shop_eu_00c0ffee");
    assert_eq!(list_clones(bins, &target).unwrap().len(), 3);

    let dropped = drop_stale_clones(bins, &target, Duration::from_secs(3600), jiff::Timestamp::now())
        .unwrap_or_else(|err| panic!("{err}"));
    let mut names: Vec<&str> = dropped.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["rf_rehearsal_shop_eu_00c0ffee", "rf_rehearsal_shop_eu_deadbeef"], "{dropped:#?}");
    assert!(dropped.iter().all(|d| d.drop_error.is_none()), "{dropped:#?}");
    let left: Vec<String> = list_clones(bins, &target).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(left, [live_name], "a clone whose controller lives stays");

    // Past the age limit even a live controller's clone is stale; the source is never a clone.
    let dropped =
        drop_stale_clones(bins, &target, Duration::ZERO, jiff::Timestamp::now() + jiff::SignedDuration::from_secs(1))
            .unwrap();
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].reason.contains("longer than"), "{dropped:#?}");
    assert_no_clones(&cluster);
    assert_eq!(sql(&cluster, SOURCE, "SELECT count(*) FROM items"), "1000");
}
