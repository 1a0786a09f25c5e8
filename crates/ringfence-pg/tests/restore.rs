//! Restore points against real PostgreSQL: take one, change the database, restore, and check the
//! database is back exactly; and every way a restore can be refused or fail.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Instant;

use ringfence_pg::{
    EphemeralCluster, PgError, PgTarget, RestorePoint, RestoreStage, Secret, StartOptions, database_exists,
    database_size, pg_lsn, restore, take_restore_point, verify_restore_point,
};
use sha2::{Digest, Sha256};

fn start(options: StartOptions) -> EphemeralCluster {
    let began = Instant::now();
    let cluster = EphemeralCluster::start(options).unwrap_or_else(|err| panic!("{err}"));
    eprintln!("cluster on port {} started in {:?}", cluster.port(), began.elapsed());
    cluster
}

fn sql(cluster: &EphemeralCluster, db: &str, sql: &str) -> String {
    cluster.psql(db, sql).unwrap_or_else(|err| panic!("{err}")).trim().to_owned()
}

/// A small shop: two tables with rows, a serial, a standalone sequence, an index, a view and a
/// table to be dropped later; owned by `owner` when given.
fn load_shop(cluster: &EphemeralCluster, db: &str, owner: Option<&str>) {
    let set_role = owner.map(|o| format!("SET ROLE {o};")).unwrap_or_default();
    sql(
        cluster,
        db,
        &format!(
            "{set_role}
             CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
             CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric NOT NULL);
             CREATE INDEX orders_customer_idx ON orders (customer_id);
             CREATE SEQUENCE invoice_no START 1000;
             SELECT setval('invoice_no', 1041);
             CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 50;
             CREATE TABLE stock_moves (id int, qty int);
             INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 20) g;
             INSERT INTO orders (customer_id, total) SELECT 1 + g % 20, g FROM generate_series(1, 100) g;
             INSERT INTO stock_moves SELECT g, g FROM generate_series(1, 7) g;"
        ),
    );
}

/// Row counts, columns of `orders`, tables, sequence value and view: what "back exactly" means here.
fn fingerprint(cluster: &EphemeralCluster, db: &str) -> String {
    sql(
        cluster,
        db,
        "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders),
                (SELECT sum(total) FROM orders), (SELECT count(*) FROM big_orders);
         SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns
          WHERE table_name = 'orders';
         SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public';
         SELECT last_value FROM invoice_no;
         SELECT last_value FROM orders_id_seq;
         SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer_idx';",
    )
}

/// Changes of the kind a failed migration leaves behind.
fn migrate_badly(cluster: &EphemeralCluster, db: &str) {
    sql(
        cluster,
        db,
        "INSERT INTO orders (customer_id, total) VALUES (1, 999);
         ALTER TABLE orders ADD COLUMN channel text DEFAULT 'web';
         DROP TABLE stock_moves;
         SELECT nextval('invoice_no');",
    );
}

/// Databases whose name says a restore left them behind.
fn side_databases(cluster: &EphemeralCluster) -> String {
    sql(cluster, "postgres", "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE '%~%'")
}

fn take(cluster: &EphemeralCluster, db: &str, dir: &Path, label: &str) -> RestorePoint {
    take_restore_point(cluster.binaries(), &cluster.target(), db, dir, label).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn a_restore_point_brings_back_rows_columns_dropped_tables_sequences_and_owners() {
    let cluster = start(StartOptions::default());
    let db = "shop-eu";
    sql(&cluster, "postgres", "CREATE ROLE shop_owner");
    sql(&cluster, "postgres", "CREATE DATABASE \"shop-eu\" OWNER shop_owner");
    load_shop(&cluster, db, Some("shop_owner"));
    let before = fingerprint(&cluster, db);
    let dir = tempfile::tempdir().unwrap();

    let point = take(&cluster, db, dir.path(), "pre-v2");

    assert_eq!(point.path, dir.path().join("shop-eu-pre-v2.dump"));
    assert_eq!(point.database, db);
    let bytes = fs::read(&point.path).unwrap();
    assert_eq!(point.size_bytes, bytes.len() as u64);
    assert_eq!(point.sha256, format!("{:x}", Sha256::digest(&bytes)));
    assert!(bytes.starts_with(b"PGDMP"), "custom format archive");
    let (hi, lo) = point.lsn.split_once('/').expect("LSN is hi/lo");
    assert!([hi, lo].iter().all(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())), "{}", point.lsn);
    let lsn_before_now = sql(&cluster, "postgres", &format!("SELECT '{}'::pg_lsn <= pg_current_wal_lsn()", point.lsn));
    assert_eq!(lsn_before_now, "t");
    assert_eq!(point.table_data_entries, 3, "customers, orders, stock_moves");
    // 3 tables, 2 serial + 1 sequence (+ SEQUENCE SET and OWNED BY), 1 index, 1 view, 2 pkeys, 1 fkey, ...
    assert!(point.toc_entries >= 20, "{}", point.toc_entries);
    assert_eq!(point.properties.owner, "shop_owner");
    assert_eq!(point.properties.encoding, "UTF8");
    assert!(point.taken_at <= jiff::Timestamp::now());
    // Nothing but the finished dump in the directory (no temporary file left).
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["shop-eu-pre-v2.dump"]);
    verify_restore_point(cluster.binaries(), &point).unwrap();
    // It survives the trip through the controller's state as JSON.
    let json = serde_json::to_string(&point).unwrap();
    assert_eq!(serde_json::from_str::<RestorePoint>(&json).unwrap(), point);

    // The same label again never overwrites the recorded file.
    let again = take_restore_point(cluster.binaries(), &cluster.target(), db, dir.path(), "pre-v2").unwrap_err();
    assert!(matches!(again, PgError::RestorePointExists { .. }), "{again}");

    migrate_badly(&cluster, db);
    assert_ne!(fingerprint(&cluster, db), before);

    let report = restore(cluster.binaries(), &cluster.target(), &point).unwrap_or_else(|err| panic!("{err}"));

    assert_eq!(fingerprint(&cluster, db), before);
    assert!(report.replaced_existing);
    assert_eq!(report.leftover_database, None);
    assert_eq!(report.sha256, point.sha256);
    assert_eq!(side_databases(&cluster), "", "no scratch or replaced copy remains");
    let owners = sql(
        &cluster,
        db,
        "SELECT string_agg(DISTINCT pg_get_userbyid(relowner), ',') FROM pg_class
          WHERE relnamespace = 'public'::regnamespace;
         SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database();",
    );
    assert_eq!(owners, "shop_owner\nshop_owner", "ownership is restored, not handed to the restoring role");
    // The restored copy was analyzed before it went live.
    let analyzed = sql(&cluster, db, "SELECT count(*) FROM pg_stats WHERE tablename = 'orders'");
    assert_ne!(analyzed, "0");
    assert!(database_size(cluster.binaries(), &cluster.target(), db).unwrap() > 1_000_000);
    eprintln!("restore report: {report:?}");
}

#[test]
fn a_tampered_or_missing_dump_is_refused_without_touching_the_database() {
    let cluster = start(StartOptions::default());
    cluster.create_database("shop_nl").unwrap();
    load_shop(&cluster, "shop_nl", None);
    let dir = tempfile::tempdir().unwrap();
    let point = take(&cluster, "shop_nl", dir.path(), "pre-v3");
    migrate_badly(&cluster, "shop_nl");
    let migrated = fingerprint(&cluster, "shop_nl");

    // Same size, one byte changed near the end (table data, not the header).
    let mut bytes = fs::read(&point.path).unwrap();
    let at = bytes.len() - 10;
    bytes[at] ^= 0xff;
    fs::write(&point.path, &bytes).unwrap();

    let err = restore(cluster.binaries(), &cluster.target(), &point).unwrap_err();
    let PgError::RestorePointUnusable { detail, .. } = &err else { panic!("expected RestorePointUnusable, got {err}") };
    assert!(detail.contains("sha256"), "{detail}");
    assert!(err.to_string().contains("the database was not touched"), "{err}");
    assert!(matches!(verify_restore_point(cluster.binaries(), &point), Err(PgError::RestorePointUnusable { .. })));
    assert_eq!(fingerprint(&cluster, "shop_nl"), migrated);
    assert_eq!(side_databases(&cluster), "");

    fs::remove_file(&point.path).unwrap();
    let err = restore(cluster.binaries(), &cluster.target(), &point).unwrap_err();
    assert!(err.to_string().contains("cannot read the file"), "{err}");
    assert_eq!(fingerprint(&cluster, "shop_nl"), migrated);
}

/// A `psql` session on `db` that has a table locked and stays connected until killed.
fn hold_session(cluster: &EphemeralCluster, db: &str) -> Child {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), db);
    cmd.args(["-X", "-A", "-t"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(b"BEGIN;\nLOCK TABLE orders IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n").unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.as_mut().unwrap());
    while line.trim() != "locked" {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "psql session ended early");
    }
    child
}

#[test]
fn restore_terminates_sessions_holding_the_database_and_handles_odd_names() {
    let cluster = start(StartOptions::default());
    let db = r#"odd "name"-x y"#;
    cluster.create_database(db).unwrap();
    load_shop(&cluster, db, None);
    let before = fingerprint(&cluster, db);
    let dir = tempfile::tempdir().unwrap();
    let point = take(&cluster, db, dir.path(), "pre-v4");
    assert_eq!(point.path.file_name().unwrap(), "odd%20%22name%22-x%20y-pre-v4.dump");
    migrate_badly(&cluster, db);

    let mut session = hold_session(&cluster, db);
    let report = restore(cluster.binaries(), &cluster.target(), &point).unwrap_or_else(|err| panic!("{err}"));

    assert_eq!(report.sessions_terminated, 1);
    assert_eq!(fingerprint(&cluster, db), before);
    // The held session is gone: psql exits once it notices.
    let _ = session.stdin.as_mut().unwrap().write_all(b"SELECT 1;\n");
    drop(session.stdin.take());
    let output = session.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("terminating connection"), "{stderr}");
    // And the restored database takes new connections.
    assert_eq!(sql(&cluster, db, "SELECT 1"), "1");
}

#[test]
fn a_restore_point_of_a_missing_database_says_so() {
    let cluster = start(StartOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let err =
        take_restore_point(cluster.binaries(), &cluster.target(), "no_such_shop", dir.path(), "pre-v2").unwrap_err();
    let PgError::DatabaseNotFound { database, .. } = &err else { panic!("expected DatabaseNotFound, got {err}") };
    assert_eq!(database, "no_such_shop");
    let message = err.to_string();
    assert!(message.contains("\"no_such_shop\" does not exist on postgres@127.0.0.1:"), "{message}");
    assert!(message.contains("fix:"), "{message}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "no file, not even a partial one");
    assert!(!database_exists(cluster.binaries(), &cluster.target(), "no_such_shop").unwrap());
    assert!(matches!(
        database_size(cluster.binaries(), &cluster.target(), "no_such_shop"),
        Err(PgError::DatabaseNotFound { .. })
    ));
    let lsn = pg_lsn(cluster.binaries(), &cluster.target()).unwrap();
    assert!(lsn.contains('/'), "{lsn}");
}

#[test]
fn each_failed_restore_leaves_the_database_as_it_was_and_says_what_else_changed() {
    let cluster = start(StartOptions {
        settings: vec![("max_prepared_transactions".into(), "2".into())],
        ..StartOptions::default()
    });
    let db = "shop_fr";
    cluster.create_database(db).unwrap();
    load_shop(&cluster, db, None);
    sql(&cluster, "postgres", "CREATE ROLE temp_owner");
    sql(&cluster, db, "CREATE TABLE imports (id int); ALTER TABLE imports OWNER TO temp_owner");
    let dir = tempfile::tempdir().unwrap();
    let point = take(&cluster, db, dir.path(), "pre-v4");
    migrate_badly(&cluster, db);
    let migrated = fingerprint(&cluster, db);
    let (bins, target) = (cluster.binaries(), cluster.target());

    // 1. The scratch database cannot be created (the recorded owner role is gone).
    let mut ownerless = point.clone();
    ownerless.properties.owner = "nobody_here".into();
    let err = restore(bins, &target, &ownerless).unwrap_err();
    let PgError::RestoreFailed { stage, state, .. } = &err else { panic!("expected RestoreFailed, got {err}") };
    assert_eq!(*stage, RestoreStage::PrepareScratch);
    assert!(!state.sessions_terminated && !state.refuses_connections && state.leftover_database.is_none());
    assert!(err.to_string().contains("keeps the contents it had before"), "{err}");
    assert_eq!(fingerprint(&cluster, db), migrated);

    // 2. pg_restore fails halfway: a role the dump gives a table to no longer exists.
    sql(&cluster, db, "ALTER TABLE imports OWNER TO postgres");
    sql(&cluster, "postgres", "DROP ROLE temp_owner");
    let err = restore(bins, &target, &point).unwrap_err();
    let PgError::RestoreFailed { stage, state, .. } = &err else { panic!("expected RestoreFailed, got {err}") };
    assert_eq!(*stage, RestoreStage::PgRestore);
    assert!(!state.sessions_terminated && state.leftover_database.is_none(), "{state:?}");
    assert!(err.to_string().contains("temp_owner"), "stderr tail names the cause: {err}");
    assert_eq!(fingerprint(&cluster, db), migrated);
    assert_eq!(side_databases(&cluster), "", "the half-restored scratch database is dropped");
    sql(&cluster, "postgres", "CREATE ROLE temp_owner");

    // 3. The swap fails: a prepared transaction keeps the database busy and cannot be terminated.
    sql(&cluster, db, "BEGIN; INSERT INTO customers (name) VALUES ('pending'); PREPARE TRANSACTION 'tx1';");
    let err = restore(bins, &target, &point).unwrap_err();
    let PgError::RestoreFailed { stage, state, .. } = &err else { panic!("expected RestoreFailed, got {err}") };
    assert_eq!(*stage, RestoreStage::Swap);
    assert!(state.sessions_terminated && !state.refuses_connections, "{state:?}");
    assert!(err.to_string().contains("prepared transaction"), "{err}");
    assert_eq!(side_databases(&cluster), "");
    assert_eq!(fingerprint(&cluster, db), migrated, "still open for connections and unchanged");
    sql(&cluster, db, "ROLLBACK PREPARED 'tx1'");

    // Once the obstacle is gone the same restore point works.
    restore(bins, &target, &point).unwrap_or_else(|err| panic!("{err}"));
    assert_ne!(fingerprint(&cluster, db), migrated);
}

#[test]
fn password_authentication_goes_through_pgpassword_and_is_never_printed() {
    let cluster = start(StartOptions::default());
    let password = "s3cret-Pw-4711";
    sql(&cluster, "postgres", &format!("CREATE ROLE tenant LOGIN CREATEDB PASSWORD '{password}'"));
    sql(&cluster, "postgres", "CREATE DATABASE shop_at OWNER tenant");
    load_shop(&cluster, "shop_at", Some("tenant"));
    // The role must use its password over TCP; everyone else keeps trust.
    let hba = cluster.data_dir().join("pg_hba.conf");
    let rules = fs::read_to_string(&hba).unwrap();
    fs::write(&hba, format!("host all tenant 127.0.0.1/32 scram-sha-256\n{rules}")).unwrap();
    sql(&cluster, "postgres", "SELECT pg_reload_conf()");

    let dir = tempfile::tempdir().unwrap();
    let bins = cluster.binaries();
    let tenant = PgTarget::new(cluster.host(), cluster.port(), "tenant");

    let no_password = take_restore_point(bins, &tenant, "shop_at", dir.path(), "a").unwrap_err().to_string();
    assert!(no_password.contains("password"), "{no_password}");

    let wrong = tenant.clone().with_password(Secret::new("wrong-guess-123"));
    let err = take_restore_point(bins, &wrong, "shop_at", dir.path(), "a").unwrap_err();
    let message = format!("{err} {err:?}");
    assert!(message.contains("password authentication failed"), "{message}");
    assert!(!message.contains("wrong-guess-123"), "{message}");

    let right = tenant.with_password(Secret::new(password));
    let point = take_restore_point(bins, &right, "shop_at", dir.path(), "a").unwrap_or_else(|e| panic!("{e}"));
    migrate_badly(&cluster, "shop_at");
    // A non-superuser that owns its database can restore it, ownership included.
    let report = restore(bins, &right, &point).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.leftover_database, None);
    assert_eq!(sql(&cluster, "shop_at", "SELECT count(*) FROM stock_moves"), "7");
    assert!(!format!("{point:?} {report:?} {right:?}").contains(password));
}
