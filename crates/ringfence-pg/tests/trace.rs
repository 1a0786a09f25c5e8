//! The lock tracer against real PostgreSQL: a type change on a table of 200,000 rows takes ACCESS
//! EXCLUSIVE and rewrites the table (and makes a reader wait); CREATE INDEX CONCURRENTLY takes only
//! SHARE UPDATE EXCLUSIVE and rewrites nothing.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ringfence_pg::trace::RelationTrace;
use ringfence_pg::{EphemeralCluster, LockMode, StartOptions, Trace, TraceOptions, Tracer};

const DB: &str = "shop";
const ROWS: u32 = 200_000;

/// A cluster with `items` holding `ROWS` rows, analyzed; autovacuum off so that only the
/// migration (and the test's reader) take locks on it.
fn start() -> EphemeralCluster {
    let options = StartOptions { settings: vec![("autovacuum".into(), "off".into())], ..StartOptions::default() };
    let cluster = EphemeralCluster::start(options).unwrap_or_else(|err| panic!("{err}"));
    cluster.create_database(DB).unwrap_or_else(|err| panic!("{err}"));
    let setup = format!(
        "CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL, name text NOT NULL);
         INSERT INTO items SELECT g, g % 100, 'item ' || g FROM generate_series(1, {ROWS}) g;
         ANALYZE items;"
    );
    cluster.psql(DB, &setup).unwrap_or_else(|err| panic!("{err}"));
    cluster
}

/// psql running `statements` in one session under application name `app`.
fn psql(cluster: &EphemeralCluster, app: &str, statements: &[&str]) -> Command {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), DB);
    cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
    for statement in statements {
        cmd.arg("-c").arg(statement);
    }
    cmd.env("PGAPPNAME", app).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn succeeded(output: Output) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    text
}

fn trace_of(cluster: &EphemeralCluster, run: impl FnOnce()) -> Trace {
    let options = TraceOptions { interval: Duration::from_millis(10) };
    let tracer =
        Tracer::start(cluster.binaries(), &cluster.target(), DB, options).unwrap_or_else(|err| panic!("{err}"));
    run();
    let trace = tracer.stop().unwrap_or_else(|err| panic!("{err}"));
    assert!(trace.max_gap_ms < 200.0, "samples too far apart: {} ms", trace.max_gap_ms);
    trace
}

fn relation<'t>(trace: &'t Trace, name: &str) -> &'t RelationTrace {
    trace.relation(name).unwrap_or_else(|| panic!("{name} not in the trace: {trace:#?}"))
}

#[test]
fn type_change_takes_access_exclusive_rewrites_and_makes_readers_wait() {
    let cluster = start();
    let began = Instant::now();
    let trace = trace_of(&cluster, || {
        // Like an ORM upgrade: the change, more work in the same transaction, then the commit.
        let migration = psql(
            &cluster,
            "migration",
            &["BEGIN", "ALTER TABLE items ALTER COLUMN qty TYPE bigint", "SELECT pg_sleep(0.5)", "COMMIT"],
        )
        .spawn()
        .unwrap();
        thread::sleep(Duration::from_millis(200));
        let reader = psql(&cluster, "web-shop", &["SELECT count(*) FROM items"]).spawn().unwrap();
        succeeded(migration.wait_with_output().unwrap());
        assert_eq!(succeeded(reader.wait_with_output().unwrap()).trim(), ROWS.to_string());
    });
    eprintln!("traced in {:?}: {}", began.elapsed(), serde_json::to_string_pretty(&trace).unwrap());

    let items = relation(&trace, "public.items");
    let holder = items
        .holds
        .iter()
        .find(|h| h.mode == LockMode::AccessExclusive)
        .unwrap_or_else(|| panic!("no ACCESS EXCLUSIVE on items: {items:#?}"));
    assert_eq!(holder.application_name, "migration");
    assert!(holder.max_continuous_ms >= 400.0, "held through the sleep until commit: {holder:?}");
    assert!(items.rewritten, "{items:#?}");
    let (before, after) = (items.before.unwrap(), items.after.unwrap());
    assert_ne!(before.relfilenode, after.relfilenode);
    assert!((before.rows_estimate - f64::from(ROWS)).abs() < 1.0, "{before:?}");
    assert!(before.size_bytes > 1_000_000 && after.size_bytes > 1_000_000, "{before:?} {after:?}");
    assert!(relation(&trace, "items_pkey").rewritten, "the table's indexes are rebuilt with it");
    // The rewrite's scratch heap holds ACCESS EXCLUSIVE under an invisible name until commit.
    assert!(trace.relations.iter().any(|r| r.transient && r.strongest_mode() == Some(LockMode::AccessExclusive)));

    let wait = items
        .waits
        .iter()
        .find(|w| w.application_name == "web-shop")
        .unwrap_or_else(|| panic!("the reader's wait was not seen: {items:#?}"));
    assert_eq!(wait.mode, LockMode::AccessShare);
    assert!(wait.blocked_by.contains(&holder.pid), "{wait:?}");
    assert!(wait.max_continuous_ms >= 100.0, "{wait:?}");
}

#[test]
fn create_index_concurrently_takes_share_update_exclusive_and_rewrites_nothing() {
    let cluster = start();
    let trace = trace_of(&cluster, || {
        succeeded(
            psql(&cluster, "migration", &["CREATE INDEX CONCURRENTLY items_name_idx ON items (name)"])
                .output()
                .unwrap(),
        );
    });
    eprintln!("{}", serde_json::to_string_pretty(&trace).unwrap());

    let items = relation(&trace, "items");
    let ours: Vec<&LockMode> =
        items.holds.iter().filter(|h| h.application_name == "migration").map(|h| &h.mode).collect();
    assert!(ours.contains(&&LockMode::ShareUpdateExclusive), "{items:#?}");
    assert_eq!(items.strongest_mode(), Some(LockMode::ShareUpdateExclusive), "{items:#?}");
    assert!(!items.modes_held().iter().any(LockMode::blocks_writes), "{items:#?}");
    assert!(!items.rewritten, "{items:#?}");
    assert_eq!(trace.rewrites().count(), 0, "{trace:#?}");
    let index = relation(&trace, "items_name_idx");
    assert!(index.before.is_none() && index.after.is_some(), "{index:#?}");
    assert_eq!(index.table.as_deref(), Some("items"));
}

#[test]
fn a_lock_still_held_at_stop_does_not_hang_the_trace() {
    let cluster = start();
    let mut cmd = cluster.target().command(cluster.binaries().psql(), DB);
    cmd.args(["-X", "-q", "-A", "-t"]).env("PGAPPNAME", "migration").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut holder = cmd.spawn().unwrap();
    let began = Instant::now();
    let trace = trace_of(&cluster, || {
        let stdin = holder.stdin.as_mut().unwrap();
        stdin.write_all(b"BEGIN;\nLOCK TABLE items IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        thread::sleep(Duration::from_millis(100));
    });
    assert!(began.elapsed() < Duration::from_secs(5), "{:?}", began.elapsed());
    let items = relation(&trace, "items");
    assert_eq!(items.strongest_mode(), Some(LockMode::AccessExclusive));
    // Sizes come from the statistics ANALYZE left, since the table cannot be opened.
    assert_eq!(items.after.unwrap().size_bytes, items.before.unwrap().size_bytes);
    holder.kill().unwrap();
    holder.wait().unwrap();
}
