//! Crash safety with real processes: `ringfence rollout --driver local` over real storefront shops and
//! a real PostgreSQL cluster is killed with SIGKILL at several points and `ringfence resume` is run each
//! time. No tenant's migration may run twice — the app records every migration run in its database —
//! and every tenant must end on the new release, with the audit trail intact and no process left.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringfence_pg::EphemeralCluster;
use serde_json::Value;

const TENANTS: [&str; 4] = ["shop-a", "shop-b", "shop-c", "shop-d"];

/// Four consecutive free loopback ports (the LocalTarget gives tenant n basePort + n), below the
/// ephemeral range like every app port.
fn base_port() -> u16 {
    let mut base = ringfence_local::free_ports(1).unwrap()[0];
    for _ in 0..200 {
        if base < 31_990
            && (0..TENANTS.len() as u16).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok())
        {
            return base;
        }
        base = if base >= 31_990 { 20_000 } else { base + TENANTS.len() as u16 };
    }
    panic!("no four consecutive free ports between 20000 and 32000");
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
    let config = format!(
        r#"apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {{ name: crash }}
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
metadata: {{ name: crash }}
spec:
  rings:
    - {{ name: first, selector: {{ tenants: [shop-a] }}, batchSize: 1, observation: 2s }}
    - {{ name: rest, selector: {{ tenants: [shop-b, shop-c, shop-d] }}, batchSize: 2, observation: 2s }}
---
apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {{ name: v2 }}
spec:
  version: v2
  replaces: v1
  image: registry.example.com/storefront@sha256:{digest}
  migration:
    # Slowed down like a real upgrade, so the controller can be killed while one runs.
    command: [sh, -c, "sleep 1.5; exec {sf} migrate --database-url {{database_url}} --to {{version}}"]
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
        base = base_port(),
        work = work.display(),
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
}

fn ringfence() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

#[test]
fn sigkill_the_controller_at_several_points_and_resume_no_migration_runs_twice() {
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
    let state = dir.path().join("state.sqlite");
    let audit = dir.path().join("audit.jsonl");
    let with_state = |cmd: &mut Command| {
        cmd.arg("--driver").arg("local").arg("--state").arg(&state).arg("--audit").arg(&audit);
        // A test fleet has no users to approve it: start anyway, the override recorded.
        cmd.arg("--override-gates").arg("crash test fleet, nobody to approve");
    };

    // Kill while a migration is in flight (its wrapper wrote a pid file, not yet an exit status), then
    // at fixed times that land on restore points, switches and observations.
    let steps = dir.path().join("work").join("steps");
    let migration_in_flight = || {
        std::fs::read_dir(&steps).into_iter().flatten().filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.contains("-migrate-")
                && name.ends_with(".pid")
                && !steps.join(name.replace(".pid", ".status")).exists()
        })
    };
    // Every shop of this test serves a database of our cluster. (Migrations still running after a
    // Ctrl-C are meant to: they finish on their own, and the next controller reads their status.)
    let ours = format!("serve --database-url postgres://postgres@127.0.0.1:{}/", pg.port());
    let running = || storefront::testing::processes_matching(&ours).len();
    enum KillAt {
        MigrationInFlight,
        After(u64),
        /// Ctrl-C once every tenant runs: the controller stops them all and exits 130; the next
        /// resume starts them again at the versions they were on.
        Interrupt,
    }
    let mut interrupted = 0;
    let schedule = [
        KillAt::MigrationInFlight,
        KillAt::Interrupt,
        KillAt::After(1200),
        KillAt::MigrationInFlight,
        KillAt::After(2500),
        KillAt::MigrationInFlight,
        KillAt::After(1800),
    ];
    let mut kills = 0;
    let mut in_migration = 0;
    for (i, at) in schedule.iter().enumerate() {
        let mut cmd = ringfence();
        if i == 0 {
            cmd.arg("rollout").arg(&config).args(["--as", "crash-test"]);
        } else {
            cmd.arg("resume").arg("--config").arg(&config);
        }
        with_state(&mut cmd);
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        // Give a resumed controller time to adopt what is running before looking for a new migration.
        std::thread::sleep(Duration::from_millis(300));
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let due = match at {
                KillAt::MigrationInFlight => migration_in_flight(),
                KillAt::After(ms) => started.elapsed() >= Duration::from_millis(*ms),
                KillAt::Interrupt => running() >= TENANTS.len(),
            };
            if due && matches!(at, KillAt::Interrupt) {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT)
                    .unwrap();
                let status = child.wait().unwrap();
                assert_eq!(status.code(), Some(130), "Ctrl-C exits 130");
                std::thread::sleep(Duration::from_millis(200));
                assert_eq!(running(), 0, "Ctrl-C left tenant processes running");
                interrupted += 1;
                break;
            }
            if due || started.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                in_migration += usize::from(matches!(at, KillAt::MigrationInFlight) && due);
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(in_migration >= 2, "only {in_migration} kills landed while a migration ran");
    assert_eq!(interrupted, 1, "the Ctrl-C landed on a running controller");
    assert!(kills >= 4, "only {kills} SIGKILLs landed on a running controller");

    let mut last = ringfence();
    last.arg("resume").arg("--config").arg(&config).arg("--json");
    with_state(&mut last);
    let out = last.output().unwrap();
    assert!(out.status.success(), "final resume: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "completed", "{report}");

    for t in TENANTS {
        let db = t.replace('-', "_");
        let runs = pg.psql(&db, "SELECT count(*) FROM storefront_migration_runs WHERE to_version = 2").unwrap();
        assert_eq!(runs.trim(), "1", "{t}: the migration to v2 ran {} times", runs.trim());
        assert_eq!(pg.psql(&db, "SELECT version FROM storefront_schema").unwrap().trim(), "2", "{t}");
    }
    let status = ringfence().args(["status", "--json", "--state"]).arg(&state).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    for t in status["tenants"].as_array().unwrap() {
        assert_eq!(t["phase"]["phase"], "done", "{t}");
    }
    let verify = ringfence().args(["audit", "verify"]).arg(&audit).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert_eq!(running(), 0, "storefront processes left behind");
}
