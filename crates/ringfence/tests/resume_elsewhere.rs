//! Relative paths in the configuration mean the same whichever directory `ringfence` is started
//! from: a local rollout whose LocalTarget has a relative `workDir` and commands, and whose cluster
//! reads its password from a relative `passwordFrom.file`, is started from one directory, killed
//! with SIGKILL after a migration finished, resumed from another directory with `--config` naming a
//! copy of the configuration elsewhere (the run keeps the paths it started with), killed again and
//! resumed from a third directory without `--config`. Every resume finds the restore points and
//! step records where the run left them, no tenant's migration runs twice, and the release finishes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringfence_pg::EphemeralCluster;
use serde_json::Value;

const TENANTS: [&str; 3] = ["shop-a", "shop-b", "shop-c"];

/// Consecutive free loopback ports (the LocalTarget gives tenant n basePort + n), below the
/// ephemeral range like every app port.
fn base_port() -> u16 {
    let n = TENANTS.len() as u16;
    let mut base = ringfence_local::free_ports(1).unwrap()[0];
    for _ in 0..200 {
        if base < 31_990 && (0..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
        base = if base >= 31_990 { 20_000 } else { base + n };
    }
    panic!("no {n} consecutive free ports between 20000 and 32000");
}

/// The configuration, every path in it relative: `bin/storefront` (a link to the app), the
/// password file `secrets/pg-password` and the work directory `work`.
fn write_config(dir: &Path, pg: &EphemeralCluster, storefront: &Path, base: u16) {
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::create_dir_all(dir.join("secrets")).unwrap();
    std::os::unix::fs::symlink(storefront, dir.join("bin/storefront")).unwrap();
    // The test cluster trusts local connections: the password is read (and handed over in
    // PGPASSWORD) but not checked. A file that cannot be read stops the controller.
    std::fs::write(dir.join("secrets/pg-password"), "not-checked\n").unwrap();
    let tenants: String = TENANTS
        .iter()
        .map(|t| {
            format!(
                "    - {{ id: {t}, pool: shared, cluster: pg, database: {}, tier: standard, timezone: Europe/Paris }}\n",
                t.replace('-', "_")
            )
        })
        .collect();
    let fleet = format!(
        r#"apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {{ name: elsewhere }}
spec:
  clusters:
    - name: pg
      connection:
        host: 127.0.0.1
        port: {port}
        user: postgres
        passwordFrom: {{ file: secrets/pg-password }}
      maxConcurrentMigrations: 2
  pools:
    - {{ name: shared, type: multi-tenant, cluster: pg }}
  tenants:
{tenants}---
apiVersion: ringfence.dev/v1alpha1
kind: Policy
metadata: {{ name: elsewhere }}
spec:
  rings:
    - {{ name: first, selector: {{ tenants: [shop-a] }}, batchSize: 1, observation: 2s }}
    - {{ name: rest, selector: {{ tenants: [shop-b, shop-c] }}, batchSize: 2, observation: 2s }}
"#,
        port = pg.port(),
    );
    let release = format!(
        r#"apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {{ name: v2 }}
spec:
  version: v2
  replaces: v1
  image: registry.example.com/storefront@sha256:{digest}
  migration:
    # Slowed down like a real upgrade; the program is relative to this file's directory.
    command: [sh, -c, "sleep 1.5; exec bin/storefront migrate --database-url {{database_url}} --to {{version}}"]
  change: {{ description: add a sales channel column, author: dev@example.com }}
  schemaBackwardCompatible: true
---
apiVersion: ringfence.dev/v1alpha1
kind: LocalTarget
metadata: {{ name: this-machine }}
spec:
  serve: [bin/storefront, serve, --database-url, "{{database_url}}", --listen, "127.0.0.1:{{app_port}}", --code-version, "{{version}}", --tenant, "{{tenant}}", --pool-size, "2"]
  maintenance: [bin/storefront, maintenance, --database-url, "{{database_url}}", "{{state}}"]
  basePort: {base}
  workDir: work
  scrapeInterval: 1s
  healthTimeout: 30s
"#,
        digest = "a".repeat(64),
    );
    std::fs::write(dir.join("fleet.yaml"), fleet).unwrap();
    std::fs::write(dir.join("release.yaml"), release).unwrap();
}

/// `ringfence ARGS` started in `cwd`, its stderr kept in `log` to explain a failure.
fn spawn(cwd: &Path, args: &[&str], state: &Path, audit: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .current_dir(cwd)
        .args(args)
        .args(["--driver", "local", "--state"])
        .arg(state)
        .arg("--audit")
        .arg(audit)
        // A test fleet has no users to approve it: start anyway, the override recorded.
        .args(["--override-gates", "test fleet, nobody to approve"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Step records (`*.status`) of migrations that finished, and whether one is running (a pid file
/// without its status).
fn migrations(steps: &Path) -> (usize, bool) {
    let names: Vec<String> = std::fs::read_dir(steps)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-migrate-"))
        .collect();
    let finished = names.iter().filter(|n| n.ends_with(".status")).count();
    let running = names.iter().any(|n| n.ends_with(".pid") && !names.contains(&n.replace(".pid", ".status")));
    (finished, running)
}

/// Waits until `due` or the child ends (a failure: it was to be killed mid-run), then SIGKILLs it.
fn kill_when(mut child: Child, log: &Path, what: &str, due: impl Fn() -> bool) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what}: the controller ended ({status}) before it could be killed: {}", read(log));
        }
        if due() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: not due after 60s: {}", read(log));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Stops the shops a killed controller left running when the test ends early (a failed assertion),
/// by the process ids found serving this test's cluster.
struct Leftovers(String);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for pid in storefront::testing::processes_matching(&self.0) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn dir(path: PathBuf) -> PathBuf {
    std::fs::create_dir_all(&path).unwrap();
    path
}

#[test]
fn a_run_resumed_from_another_directory_keeps_its_work_dir_and_secret_and_runs_no_migration_twice() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    let storefront = storefront::testing::binary();
    for t in TENANTS {
        let db = t.replace('-', "_");
        pg.create_database(&db).unwrap();
        storefront::testing::prepare_v1_shop(&storefront, &pg.url(&db), 30);
    }
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let base = base_port();
    let config = dir(root.join("config"));
    write_config(&config, &pg, &storefront, base);
    // The same configuration copied elsewhere: its relative paths name other places.
    let copy = dir(root.join("copy"));
    write_config(&copy, &pg, &storefront, base);
    // Without a password file or an app of its own: were its paths used, the resume would fail.
    std::fs::remove_file(copy.join("secrets/pg-password")).unwrap();
    std::fs::remove_file(copy.join("bin/storefront")).unwrap();
    let (first, second, third) = (dir(root.join("first")), dir(root.join("second")), dir(root.join("third")));
    let state = root.join("state.sqlite");
    let audit = root.join("audit.jsonl");
    let steps = config.join("work").join("steps");
    let ours = format!("serve --database-url postgres://postgres@127.0.0.1:{}/", pg.port());
    let running = || storefront::testing::processes_matching(&ours).len();
    let _cleanup = Leftovers(ours.clone());

    // Started from a sibling directory, the configuration named relatively; killed once the first
    // migration has finished (its status recorded) and before the release ends.
    let log = root.join("rollout.log");
    let child = spawn(&first, &["rollout", "../config", "--as", "elsewhere-test"], &state, &audit, &log);
    kill_when(child, &log, "rollout", || migrations(&steps).0 >= 1);
    assert!(config.join("work/restore-points").is_dir(), "the work directory is beside the LocalTarget's file");

    // Resumed from another directory, `--config` naming the copy: the run keeps the work directory,
    // secret and command directory it started with. Killed while a migration runs (or after one more
    // finished, whichever comes first).
    let log = root.join("resume-1.log");
    let copy_arg = copy.to_str().unwrap();
    let child = spawn(&second, &["resume", "--config", copy_arg], &state, &audit, &log);
    let done_before = migrations(&steps).0;
    kill_when(child, &log, "first resume", || {
        let (finished, in_flight) = migrations(&steps);
        in_flight || finished > done_before
    });

    // Resumed from a third directory without `--config`: the run's recorded configuration.
    let log = root.join("resume-2.log");
    let child = spawn(&third, &["resume", "--json"], &state, &audit, &log);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "final resume: {}", read(&log));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "completed", "{report}\n{}", read(&log));

    for t in TENANTS {
        let db = t.replace('-', "_");
        let runs = pg.psql(&db, "SELECT count(*) FROM storefront_migration_runs WHERE to_version = 2").unwrap();
        assert_eq!(runs.trim(), "1", "{t}: the migration to v2 ran {} times", runs.trim());
        assert_eq!(pg.psql(&db, "SELECT version FROM storefront_schema").unwrap().trim(), "2", "{t}");
        let points: Vec<_> = std::fs::read_dir(config.join("work/restore-points"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{t}-")))
            .collect();
        assert!(!points.is_empty(), "{t}: no restore point in the run's work directory");
    }
    for elsewhere in [&first, &second, &third] {
        let left: Vec<_> = std::fs::read_dir(elsewhere).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
        assert!(left.is_empty(), "the current directory {} was written to: {left:?}", elsewhere.display());
    }
    assert!(!copy.join("work").exists(), "the copy's work directory was used by a run that did not start there");
    let status = Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(["status", "--json", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    for t in status["tenants"].as_array().unwrap() {
        assert_eq!(t["phase"]["phase"], "done", "{t}");
    }
    let verify = Command::new(env!("CARGO_BIN_EXE_ringfence")).args(["audit", "verify"]).arg(&audit).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    assert_eq!(running(), 0, "storefront processes left behind");
}
