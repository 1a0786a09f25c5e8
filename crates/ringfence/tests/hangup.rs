//! A rollout outlives its terminal. When the terminal closes, the shell sends SIGHUP to its jobs'
//! process groups: the controller notes it and carries on, and the tenants' apps, migrations,
//! maintenance commands and PostgreSQL tools — in process groups of their own — never receive it.
//! Each test runs the controller as a job would (a process group of its own) and sends the hangup
//! to that whole group, repeatedly, while the rollout runs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use ringfence_pg::EphemeralCluster;
use serde_json::Value;

fn ringfence() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

/// Starts `cmd` as a job of its own, its stderr in `err`.
fn spawn_job(cmd: &mut Command, err: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(err).unwrap())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// Sends SIGHUP to the job's process group every `every` once `ready` holds, until it exits;
/// returns its exit code and how many hangups it received.
fn hang_up_until_exit(child: &mut Child, ready: impl Fn() -> bool, every: Duration, limit: Duration) -> (i32, u32) {
    let started = Instant::now();
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let mut sent = 0;
    let mut last = Instant::now() - every;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or_else(|| panic!("killed by a signal: {status:?}")), sent);
        }
        assert!(started.elapsed() < limit, "the rollout did not end within {limit:?}");
        if ready() && last.elapsed() >= every && killpg(group, Signal::SIGHUP).is_ok() {
            sent += 1;
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status(state: &Path) -> Value {
    let out = ringfence().args(["status", "--json", "--state"]).arg(state).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every tenant done, none rolled back, and no rollback in the audit trail.
fn assert_completed_untouched(state: &Path, audit: &Path, tenants: usize) {
    let status = status(state);
    assert_eq!(status["status"], "completed", "{status}");
    let all = status["tenants"].as_array().unwrap();
    assert_eq!(all.len(), tenants);
    assert!(all.iter().all(|t| t["phase"]["phase"] == "done"), "{status}");
    let trail = std::fs::read_to_string(audit).unwrap();
    assert!(!trail.contains("rollback"), "nothing is rolled back: {trail}");
}

#[test]
fn a_simulated_rollout_carries_on_through_hangups() {
    let dir = tempfile::tempdir().unwrap();
    let (state, audit, err) = (dir.path().join("state.sqlite"), dir.path().join("audit.jsonl"), dir.path().join("err"));
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet");
    let mut child = spawn_job(
        ringfence()
            .args(["rollout", "--driver", "simulate", "--as", "ci", "--from", "2026-11-27T09:00:00Z", "--pace", "40"])
            .arg(&example)
            .arg("--state")
            .arg(&state)
            .arg("--audit")
            .arg(&audit),
        &err,
    );
    let started = || std::fs::read_to_string(&err).is_ok_and(|e| e.contains("gates:"));
    let (code, sent) = hang_up_until_exit(&mut child, started, Duration::from_millis(300), Duration::from_secs(60));
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(sent >= 2, "the rollout ended before it could be hung up on ({sent} hangups): {stderr}");
    assert!(stderr.contains("hangup: the terminal went away; the rollout continues"), "{stderr}");
    assert_completed_untouched(&state, &audit, 12);
}

const TENANTS: [&str; 2] = ["shop-a", "shop-b"];

/// Consecutive free loopback ports for the tenants (the LocalTarget gives tenant n basePort + n).
fn base_port() -> u16 {
    let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    (0..200)
        .map(|_| ringfence_local::free_ports(1).unwrap()[0])
        .find(|&base| base < 32_000 && (0..TENANTS.len() as u16).all(|i| free(base + i)))
        .expect("consecutive free ports")
}

fn write_config(dir: &Path, pg: &EphemeralCluster, storefront: &Path, work: &Path) {
    let tenants: String = TENANTS
        .iter()
        .map(|t| {
            format!(
                "    - {{ id: {t}, pool: shared, cluster: pg, database: {}, tier: standard, timezone: Europe/Paris }}\n",
                t.replace('-', "_")
            )
        })
        .collect();
    let sf = storefront.display();
    let base = base_port();
    let config = format!(
        r#"apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {{ name: hangup }}
spec:
  clusters:
    - name: pg
      connection: {{ host: 127.0.0.1, port: {port}, user: postgres }}
      maxConcurrentMigrations: 2
  pools:
    - {{ name: shared, type: multi-tenant, cluster: pg }}
  tenants:
{tenants}---
apiVersion: ringfence.dev/v1alpha1
kind: Policy
metadata: {{ name: hangup }}
spec:
  rings:
    - {{ name: first, selector: {{ tenants: [shop-a] }}, batchSize: 1, observation: 2s }}
    - {{ name: rest, selector: {{ tenants: [shop-b] }}, batchSize: 1, observation: 2s }}
---
apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {{ name: v2 }}
spec:
  version: v2
  replaces: v1
  image: registry.example.com/storefront@sha256:{digest}
  migration:
    command: [sh, -c, "sleep 1; exec {sf} migrate --database-url {{database_url}} --to {{version}}"]
  change: {{ description: add a sales channel column, author: dev@example.com }}
  schemaBackwardCompatible: true
---
apiVersion: ringfence.dev/v1alpha1
kind: LocalTarget
metadata: {{ name: this-machine }}
spec:
  serve: [{sf}, serve, --database-url, "{{database_url}}", --listen, "127.0.0.1:{{app_port}}", --code-version, "{{version}}", --tenant, "{{tenant}}", --pool-size, "2"]
  maintenance: [{sf}, maintenance, --database-url, "{{database_url}}", "{{state}}"]
  basePort: {base}
  workDir: {work}
  scrapeInterval: 1s
  healthTimeout: 30s
"#,
        port = pg.port(),
        digest = "a".repeat(64),
        work = work.display(),
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
}

/// Real processes: storefront shops on a real PostgreSQL cluster, hung up on every 100 ms from the
/// moment the gates are checked — through the fleet's start, restore points (pg_dump), migrations,
/// maintenance switches, health checks and observations. Before, a hangup killed the controller (or,
/// once the Ctrl-C handler was in place, stopped every tenant and exited 130), and a pg_dump or a
/// maintenance command in the controller's process group died with it, failing the tenant's step.
#[test]
fn a_local_rollout_and_its_tenants_carry_on_through_hangups() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    let storefront = storefront::testing::binary();
    for t in TENANTS {
        let db = t.replace('-', "_");
        pg.create_database(&db).unwrap();
        storefront::testing::prepare_v1_shop(&storefront, &pg.url(&db), 30);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    write_config(&config, &pg, &storefront, &dir.path().join("work"));
    let (state, audit, err) = (dir.path().join("state.sqlite"), dir.path().join("audit.jsonl"), dir.path().join("err"));
    let mut child = spawn_job(
        ringfence()
            .args(["rollout", "--driver", "local", "--as", "ci"])
            .arg(&config)
            .arg("--state")
            .arg(&state)
            .arg("--audit")
            .arg(&audit)
            .args(["--override-gates", "hangup test fleet, nobody to approve"]),
        &err,
    );
    let started = || std::fs::read_to_string(&err).is_ok_and(|e| e.contains("gates:"));
    let (code, sent) = hang_up_until_exit(&mut child, started, Duration::from_millis(100), Duration::from_secs(180));
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(sent >= 10, "{sent} hangups: {stderr}");
    assert!(stderr.contains("hangup: the terminal went away"), "{stderr}");
    assert_completed_untouched(&state, &audit, TENANTS.len());
    // Each shop's migration ran once, to its end.
    for t in TENANTS {
        let db = t.replace('-', "_");
        let runs = pg.psql(&db, "SELECT count(*) FROM storefront_migration_runs WHERE to_version = 2").unwrap();
        assert_eq!(runs.trim(), "1", "{t}: the migration to v2 ran {} times", runs.trim());
        assert_eq!(pg.psql(&db, "SELECT version FROM storefront_schema").unwrap().trim(), "2", "{t}");
    }
}
