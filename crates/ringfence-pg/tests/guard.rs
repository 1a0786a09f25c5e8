//! Guardrails against real PostgreSQL: preflight refuses old and idle transactions and names
//! them, the migration lock admits one holder, `PGOPTIONS` timeouts make a blocked migration fail
//! with SQLSTATE 55P03, and the watchdog cancels a migration that keeps a reader waiting.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use ringfence_pg::guard::{OffenceKind, WatchdogAction};
use ringfence_pg::{
    AttemptOutcome, EphemeralCluster, MigrationLock, MigrationTimeouts, PgError, PreflightLimits, RetryBudget,
    RetryDecision, Watchdog, WatchdogPolicy, migration_application_name, preflight,
};

const DB: &str = "shop-eu";

fn start() -> EphemeralCluster {
    let cluster = EphemeralCluster::start_default().unwrap_or_else(|err| panic!("{err}"));
    cluster.create_database(DB).unwrap_or_else(|err| panic!("{err}"));
    sql(
        &cluster,
        "CREATE TABLE orders (id serial PRIMARY KEY, total numeric NOT NULL); INSERT INTO orders (total) SELECT g FROM generate_series(1, 100) g;",
    );
    cluster
}

fn sql(cluster: &EphemeralCluster, sql: &str) -> String {
    cluster.psql(DB, sql).unwrap_or_else(|err| panic!("{err}")).trim().to_owned()
}

/// A psql session named `app` that has run `script` and printed `ready`, kept open until killed.
fn hold_session(cluster: &EphemeralCluster, app: &str, script: &str) -> Child {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), DB);
    cmd.args(["-X", "-A", "-t"])
        .env("PGAPPNAME", app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdin = child.stdin.as_mut().unwrap();
    stdin.write_all(format!("{script}\nSELECT 'ready';\n").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut out = BufReader::new(child.stdout.as_mut().unwrap());
    let mut line = String::new();
    while line.trim() != "ready" {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "psql session {app} ended early");
    }
    child
}

fn pid_of(cluster: &EphemeralCluster, app: &str) -> i32 {
    let out = sql(cluster, &format!("SELECT pid FROM pg_stat_activity WHERE application_name = '{app}'"));
    out.parse().unwrap_or_else(|_| panic!("no single session named {app}: {out:?}"))
}

/// A psql running `statements` one after another (one session) as the migration process would:
/// with the timeouts' environment, stopping at the first error, printing SQLSTATEs.
fn migration(cluster: &EphemeralCluster, timeouts: &MigrationTimeouts, app: &str, statements: &[&str]) -> Command {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), DB);
    cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"]);
    for statement in statements {
        cmd.arg("-c").arg(statement);
    }
    cmd.envs(timeouts.environment(app)).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn preflight_refuses_a_long_transaction_and_names_it() {
    let cluster = start();
    let limits = PreflightLimits {
        max_transaction_age: Duration::from_secs(1),
        max_idle_in_transaction: Duration::from_secs(3600),
    };
    // Setup's psql sessions may still be exiting; none has an open transaction.
    let clean = preflight(cluster.binaries(), &cluster.target(), DB, limits).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(clean.oldest_transaction_secs, 0.0, "{clean:?}");

    let mut report_job = hold_session(
        &cluster,
        "nightly-report",
        "BEGIN; SELECT txid_current();\nSELECT 'ready';\nSELECT pg_sleep(60);",
    );
    let pid = pid_of(&cluster, "nightly-report");
    thread::sleep(Duration::from_millis(1500));

    let err =
        preflight(cluster.binaries(), &cluster.target(), DB, limits).expect_err("a 1.5 s old transaction must refuse");
    let message = err.to_string();
    let PgError::PreflightRefused { database, sessions, .. } = err else { panic!("wrong error: {message}") };
    assert_eq!(database, DB);
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let session = &sessions[0];
    assert_eq!(session.pid, pid);
    assert_eq!(session.offences, [OffenceKind::LongTransaction]);
    assert_eq!(session.application_name, "nightly-report");
    assert_eq!(session.user.as_deref(), Some("postgres"));
    assert_eq!(session.state.as_deref(), Some("active"));
    assert!(session.transaction_age_secs >= 1.0, "{session:?}");
    assert!(session.query_excerpt.contains("pg_sleep(60)"), "{session:?}");
    assert!(message.contains(&format!("pid {pid}")) && message.contains("nightly-report"), "{message}");

    // A looser limit lets the same database pass.
    let loose = PreflightLimits { max_transaction_age: Duration::from_secs(600), ..limits };
    let ok = preflight(cluster.binaries(), &cluster.target(), DB, loose).unwrap_or_else(|err| panic!("{err}"));
    assert!(ok.sessions_checked >= 1, "{ok:?}");
    assert!(ok.oldest_transaction_secs >= 1.0, "{ok:?}");
    report_job.kill().unwrap();
    report_job.wait().unwrap();
}

#[test]
fn preflight_refuses_a_session_idle_in_transaction() {
    let cluster = start();
    let mut idle = hold_session(&cluster, "forgotten-shell", "BEGIN; UPDATE orders SET total = total WHERE id = 1;");
    let pid = pid_of(&cluster, "forgotten-shell");
    thread::sleep(Duration::from_millis(1200));

    let limits = PreflightLimits {
        max_transaction_age: Duration::from_secs(3600),
        max_idle_in_transaction: Duration::from_secs(1),
    };
    let err =
        preflight(cluster.binaries(), &cluster.target(), DB, limits).expect_err("idle in transaction must refuse");
    let PgError::PreflightRefused { sessions, .. } = &err else { panic!("wrong error: {err}") };
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].pid, pid);
    assert_eq!(sessions[0].offences, [OffenceKind::IdleInTransaction]);
    assert_eq!(sessions[0].state.as_deref(), Some("idle in transaction"));
    assert!(sessions[0].state_age_secs >= 1.0, "{:?}", sessions[0]);
    assert!(err.to_string().contains("idle in transaction"), "{err}");
    idle.kill().unwrap();
    idle.wait().unwrap();
}

#[test]
fn migration_lock_admits_one_holder_per_database() {
    let cluster = start();
    let (bins, target) = (cluster.binaries(), cluster.target());
    let mut first = MigrationLock::acquire(bins, &target, DB).unwrap_or_else(|err| panic!("{err}"));
    assert!(first.is_held().unwrap());

    let err = MigrationLock::acquire(bins, &target, DB).expect_err("a second migration of the same database");
    let message = err.to_string();
    assert!(matches!(&err, PgError::MigrationInProgress { database, .. } if database == DB), "{message}");
    assert!(message.contains("ringfence-migration-lock") && message.contains("pid "), "{message}");

    let other = MigrationLock::acquire(bins, &target, "shop-us").unwrap_or_else(|err| panic!("other database: {err}"));
    first.release().unwrap_or_else(|err| panic!("{err}"));
    let second = MigrationLock::acquire(bins, &target, DB).unwrap_or_else(|err| panic!("after release: {err}"));

    // Dropping a holder (e.g. the controller's step panicked) frees the lock too.
    drop(second);
    let third = MigrationLock::acquire(bins, &target, DB).unwrap_or_else(|err| panic!("after drop: {err}"));
    third.release().unwrap();
    other.release().unwrap();
}

#[test]
fn blocked_migration_hits_lock_timeout_and_is_retried() {
    let cluster = start();
    let timeouts =
        MigrationTimeouts { lock_timeout: Duration::from_millis(500), statement_timeout: Duration::from_secs(20) };
    let app = migration_application_name("shop-eu-v3");

    // The environment reaches the server: both settings are in effect in the migration's session.
    let show = migration(&cluster, &timeouts, &app, &["SHOW lock_timeout", "SHOW statement_timeout"]).output().unwrap();
    assert!(show.status.success(), "{}", text(&show));
    assert_eq!(String::from_utf8_lossy(&show.stdout).split_whitespace().collect::<Vec<_>>(), ["500ms", "20s"]);

    let mut reader = hold_session(&cluster, "pos-terminal", "BEGIN; SELECT count(*) FROM orders;");
    let budget = RetryBudget {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        total: Duration::from_secs(10),
    };
    let alter = ["ALTER TABLE orders ADD COLUMN note text"];
    let began = Instant::now();
    let blocked = migration(&cluster, &timeouts, &app, &alter).output().unwrap();
    let took = began.elapsed();
    assert!(!blocked.status.success(), "the ALTER must not get its lock: {}", text(&blocked));
    assert!(text(&blocked).contains("55P03"), "{}", text(&blocked));
    assert!(took < Duration::from_secs(5), "lock_timeout did not apply: waited {took:?}");
    let outcome = AttemptOutcome::from_exit(blocked.status.success(), &text(&blocked));
    assert_eq!(outcome, AttemptOutcome::LockTimeout);
    let RetryDecision::RetryAfter(wait) = budget.decide(1, began.elapsed(), outcome) else {
        panic!("a first lock timeout within budget is retried")
    };

    reader.kill().unwrap();
    reader.wait().unwrap();
    thread::sleep(wait);
    let retried = migration(&cluster, &timeouts, &app, &alter).output().unwrap();
    let outcome = AttemptOutcome::from_exit(retried.status.success(), &text(&retried));
    assert_eq!(budget.decide(2, began.elapsed(), outcome), RetryDecision::Done, "{}", text(&retried));
    assert_eq!(sql(&cluster, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), "1");
}

#[test]
fn watchdog_cancels_a_migration_that_keeps_a_reader_waiting() {
    let cluster = start();
    let (bins, target) = (cluster.binaries(), cluster.target());
    let app = migration_application_name("shop-eu-v4");
    let policy = WatchdogPolicy {
        max_wait: Duration::from_secs(1),
        interval: Duration::from_millis(200),
        terminate_after: Duration::from_secs(5),
    };
    // A session with the migration's name that was there before the watchdog is never its business.
    let mut stale = hold_session(&cluster, &app, "SELECT 1;");
    let stale_pid = pid_of(&cluster, &app);
    let watchdog = Watchdog::start(bins, &target, DB, &app, policy).unwrap_or_else(|err| panic!("{err}"));

    let timeouts = MigrationTimeouts::default();
    let statements = ["BEGIN", "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", "SELECT pg_sleep(20)", "COMMIT"];
    let migrating = migration(&cluster, &timeouts, &app, &statements).spawn().unwrap();
    let migration_pid = wait_for_exclusive_lock(&cluster, &app);

    let reader_began = Instant::now();
    let reader = reader(&cluster);

    let migrated = migrating.wait_with_output().unwrap();
    let stopped_after = reader_began.elapsed();
    let read = reader.wait_with_output().unwrap();
    let read_after = reader_began.elapsed();
    let report = watchdog.stop().unwrap_or_else(|err| panic!("{err}"));

    assert!(!migrated.status.success(), "the migration must have been cancelled: {}", text(&migrated));
    assert!(text(&migrated).contains("57014"), "cancel is SQLSTATE 57014: {}", text(&migrated));
    assert!(stopped_after >= policy.max_wait, "cancelled too early: {stopped_after:?}");
    assert!(
        stopped_after < policy.max_wait + policy.interval + Duration::from_secs(2),
        "cancelled late: {stopped_after:?}"
    );
    assert!(read.status.success(), "the reader gets its answer once the migration is gone: {}", text(&read));
    assert_eq!(String::from_utf8_lossy(&read.stdout).trim(), "100");
    assert!(read_after < Duration::from_secs(5), "{read_after:?}");

    assert_eq!(report.interventions.len(), 1, "{report:#?}");
    let done = &report.interventions[0];
    assert_eq!(done.action, WatchdogAction::Cancel);
    assert!(done.signalled);
    assert_eq!(done.migration_pid, migration_pid);
    assert!(done.migration_query.contains("pg_sleep(20)"), "{done:?}");
    assert_eq!(done.waiter.application_name, "web-shop");
    assert_eq!(done.waiter.relation.as_deref(), Some("orders"));
    assert_eq!(done.waiter.mode.as_deref(), Some("AccessShareLock"));
    assert!(done.waiter.waited_secs > 1.0, "{done:?}");
    assert_eq!(report.migration_pids, [migration_pid], "the stale session {stale_pid} is not the migration's");
    stale.kill().unwrap();
    stale.wait().unwrap();
}

/// Polls until a session named `app` holds ACCESS EXCLUSIVE on `orders`; returns its pid.
fn wait_for_exclusive_lock(cluster: &EphemeralCluster, app: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holder = sql(
            cluster,
            &format!(
                "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = '{app}' AND l.mode = 'AccessExclusiveLock' AND l.granted \
                 AND l.relation = 'orders'::regclass"
            ),
        );
        if let Ok(pid) = holder.parse::<i32>() {
            return pid;
        }
        assert!(Instant::now() < deadline, "{app} never took its lock");
        thread::sleep(Duration::from_millis(20));
    }
}

fn reader(cluster: &EphemeralCluster) -> Child {
    let mut cmd = cluster.target().command(cluster.binaries().psql(), DB);
    cmd.args(["-X", "-A", "-t", "-c", "SELECT count(*) FROM orders"]).env("PGAPPNAME", "web-shop");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

#[test]
fn watchdog_leaves_short_waits_alone_and_reports_the_longest() {
    let cluster = start();
    let app = migration_application_name("short");
    let policy = WatchdogPolicy {
        max_wait: Duration::from_secs(3),
        interval: Duration::from_millis(100),
        ..WatchdogPolicy::default()
    };
    let watchdog = Watchdog::start(cluster.binaries(), &cluster.target(), DB, &app, policy).unwrap();
    let statements = ["BEGIN", "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", "SELECT pg_sleep(1)", "COMMIT"];
    let migrating = migration(&cluster, &MigrationTimeouts::default(), &app, &statements).spawn().unwrap();
    wait_for_exclusive_lock(&cluster, &app);
    let read = reader(&cluster);
    let migrated = migrating.wait_with_output().unwrap();
    let read = read.wait_with_output().unwrap();
    let report = watchdog.stop().unwrap_or_else(|err| panic!("{err}"));

    assert!(migrated.status.success(), "{}", text(&migrated));
    assert!(read.status.success(), "{}", text(&read));
    assert!(!report.intervened(), "{report:#?}");
    assert!(report.samples >= 5, "{report:#?}");
    let longest = report.longest_wait.expect("the reader's wait was seen");
    assert_eq!(longest.application_name, "web-shop");
    assert!(longest.waited_secs > 0.3 && longest.waited_secs < 1.5, "{longest:?}");
}

#[test]
fn watchdog_terminates_a_migration_idle_in_transaction_on_a_lock() {
    let cluster = start();
    let app = migration_application_name("idle");
    let policy = WatchdogPolicy {
        max_wait: Duration::from_millis(500),
        interval: Duration::from_millis(100),
        ..WatchdogPolicy::default()
    };
    let watchdog = Watchdog::start(cluster.binaries(), &cluster.target(), DB, &app, policy).unwrap();
    // A cancel cannot reach a session that runs nothing; only terminating it frees the table.
    let mut stuck = hold_session(&cluster, &app, "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;");
    let pid = wait_for_exclusive_lock(&cluster, &app);
    let began = Instant::now();
    let read = reader(&cluster).wait_with_output().unwrap();
    let waited = began.elapsed();
    let report = watchdog.stop().unwrap_or_else(|err| panic!("{err}"));

    assert!(read.status.success(), "{}", text(&read));
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(report.interventions.len(), 1, "{report:#?}");
    let done = &report.interventions[0];
    assert_eq!((done.action, done.migration_pid, done.signalled), (WatchdogAction::Terminate, pid, true));
    assert_eq!(done.migration_state.as_deref(), Some("idle in transaction"));
    let gone = Instant::now() + Duration::from_secs(3);
    while sql(&cluster, &format!("SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")) != "0" {
        assert!(Instant::now() < gone, "the terminated backend {pid} is still there");
        thread::sleep(Duration::from_millis(20));
    }
    stuck.kill().unwrap();
    stuck.wait().unwrap();
}

#[test]
fn watchdog_refuses_names_that_cannot_identify_the_migration() {
    let cluster = start();
    for name in ["", "ringfence", "ringfence-watchdog", "café", &"x".repeat(64)] {
        let err = Watchdog::start(cluster.binaries(), &cluster.target(), DB, name, WatchdogPolicy::default())
            .expect_err(name);
        assert!(matches!(err, PgError::InvalidOption { .. }), "{name:?}: {err}");
    }
}
