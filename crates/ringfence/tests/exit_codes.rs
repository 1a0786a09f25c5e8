//! The exit-code table, through the binary: 0 success, 1 the checked thing failed, 2 usage or
//! configuration error, 3 environment or runtime failure (a database, process, file or network the
//! command needed failed — PostgreSQL unreachable above all), 141 standard output closed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

/// Exit code and everything written, for assertion messages.
fn run(cmd: &mut Command) -> (i32, String) {
    let Output { status, stdout, stderr } = cmd.stdin(Stdio::null()).output().expect("ringfence runs");
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.code().unwrap_or_else(|| panic!("killed by a signal: {status:?}\n{text}")), text)
}

/// A loopback port nobody listens on: bound, then let go.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// A simulated rollout of the example, its state and trail in `dir`.
fn rollout(dir: &Path) -> Command {
    let mut cmd = bin();
    cmd.args(["rollout", "--driver", "simulate", "--as", "ci", "--from", "2026-11-27T09:00:00Z"])
        .arg(example())
        .arg("--state")
        .arg(dir.join("state.sqlite"))
        .arg("--audit")
        .arg(dir.join("audit.jsonl"));
    cmd
}

#[test]
fn success_exits_0() {
    let (code, out) = run(bin().arg("validate").arg(example()));
    assert_eq!(code, 0, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(&mut rollout(dir.path()));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_failed_check_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = run(rollout(dir.path()).args(["--fail", "velo-werk-berlin:observation"]));
    assert_eq!(code, 1, "a halted rollout: {out}");
    let audit = dir.path().join("audit.jsonl");
    let mut trail = std::fs::read(&audit).unwrap();
    let middle = trail.len() / 2;
    trail[middle] ^= 0x01;
    std::fs::write(&audit, trail).unwrap();
    let (code, out) = run(bin().args(["audit", "verify"]).arg(&audit));
    assert_eq!(code, 1, "a tampered audit trail: {out}");
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: ringfence.dev/v1alpha1\nkind: Fleet\nspec: { clusters: 3 }\n").unwrap();
    let (code, out) = run(bin().arg("validate").arg(&bad));
    assert_eq!(code, 2, "a bad configuration: {out}");
    let (code, out) = run(bin().args(["plan", "--bogus"]).arg(example()));
    assert_eq!(code, 2, "an unknown flag: {out}");
    // Errors the command finds after parsing are usage errors too, by their type.
    let (code, out) = run(bin().args(["odoo", "diff", "--strategy", "explicit", "--to", "."]));
    assert_eq!(code, 2, "--strategy explicit without --modules: {out}");
    let (code, out) = run(bin()
        .args(["rollout", "--driver", "local", "--override-gates", "test"])
        .arg(example())
        .arg("--state")
        .arg(dir.path().join("local.sqlite"))
        .arg("--audit")
        .arg(dir.path().join("local.jsonl")));
    assert_eq!(code, 2, "--driver local without a LocalTarget: {out}");
    assert!(out.contains("needs a LocalTarget document"), "{out}");
    let (code, out) = run(&mut rollout(dir.path()));
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(bin().args(["status", "--run-id", "99", "--state"]).arg(dir.path().join("state.sqlite")));
    assert_eq!(code, 2, "an unknown run: {out}");
}

#[test]
fn environment_failures_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // A state store that is not one.
    let state = dir.path().join("state.sqlite");
    std::fs::write(&state, "not a database, whatever its name says\n".repeat(200)).unwrap();
    let (code, out) = run(bin().args(["status", "--state"]).arg(&state));
    assert_eq!(code, 3, "a corrupt state store: {out}");
    // A file the command must write cannot be.
    let (code, out) = run(bin()
        .args(["plan", "--from", "2026-11-27T09:00:00Z", "--html"])
        .arg(dir.path().join("no-such-dir/plan.html"))
        .arg(example()));
    assert_eq!(code, 3, "an unwritable --html: {out}");
}

/// PostgreSQL unreachable (a loopback port nobody listens on) is a runtime failure, not a usage
/// error: reading a tenant's modules, rehearsing a migration, and starting a local rollout.
#[test]
fn an_unreachable_postgresql_exits_3() {
    let port = closed_port();
    let odoo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringfence-odoo/tests/fixtures/upgrade");
    let (code, out) = run(bin()
        .args(["odoo", "diff", "--to"])
        .arg(odoo.join("addons"))
        .args(["--database-url", &format!("postgres://odoo@127.0.0.1:{port}/shop")]));
    assert_eq!(code, 3, "odoo diff --database-url: {out}");
    assert!(out.contains("Connection refused") || out.contains("connection"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let storefront = storefront::testing::binary();
    let sf = storefront.display();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            r#"apiVersion: ringfence.dev/v1alpha1
kind: Fleet
metadata: {{ name: unreachable }}
spec:
  clusters:
    - name: pg
      connection: {{ host: 127.0.0.1, port: {port}, user: postgres }}
      maxConcurrentMigrations: 1
  pools:
    - {{ name: shared, type: multi-tenant, cluster: pg }}
  tenants:
    - {{ id: shop-a, pool: shared, cluster: pg, database: shop_a, tier: standard, timezone: Europe/Paris }}
---
apiVersion: ringfence.dev/v1alpha1
kind: Policy
metadata: {{ name: unreachable }}
spec:
  rings:
    - {{ name: only, selector: {{ tenants: [shop-a] }}, batchSize: 1, observation: 2s }}
---
apiVersion: ringfence.dev/v1alpha1
kind: Release
metadata: {{ name: v2 }}
spec:
  version: v2
  replaces: v1
  image: registry.example.com/storefront@sha256:{digest}
  migration:
    command: [{sf}, migrate, --database-url, "{{database_url}}", --to, "{{version}}"]
  change: {{ description: add a column, author: dev@example.com }}
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
  healthTimeout: 10s
"#,
            digest = "a".repeat(64),
            base = ringfence_local::free_ports(1).unwrap()[0],
            work = dir.path().join("work").display(),
        ),
    )
    .unwrap();
    let (code, out) = run(bin()
        .current_dir(dir.path())
        .args(["rehearse", "--json"])
        .arg(&config)
        .arg("--out")
        .arg(dir.path().join("rehearsals")));
    assert_eq!(code, 3, "rehearse: a tenant that could not be rehearsed was not checked: {out}");
    let (code, out) = run(bin()
        .current_dir(dir.path())
        .args(["rollout", "--driver", "local", "--as", "ci", "--override-gates", "test fleet"])
        .arg(&config)
        .arg("--state")
        .arg(dir.path().join("state.sqlite"))
        .arg("--audit")
        .arg(dir.path().join("audit.jsonl")));
    assert_eq!(code, 3, "rollout --driver local: {out}");
}

#[test]
fn a_closed_standard_output_exits_141() {
    let mut child =
        bin().args(["plan", "--json"]).arg(example()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "quietly: {err}");
}

#[test]
fn help_gives_the_table() {
    let (code, help) = run(bin().arg("--help"));
    assert_eq!(code, 0);
    for line in ["2    usage or configuration error", "3    environment or runtime failure", "141  standard output"] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
    for command in ["rollout", "resume"] {
        let (code, help) = run(bin().args([command, "--help"]));
        assert_eq!(code, 0);
        assert!(help.contains("3    environment or runtime failure"), "{command} --help:\n{help}");
        assert!(help.contains("A closed terminal (SIGHUP)"), "{command} --help:\n{help}");
    }
}
