//! Governance from the command line, end to end through the binary: a release is submitted,
//! approved and gated against evidence made in the test — an image signature and SLSA provenance
//! signed with a P-256 key generated here, a Trivy report, a JUnit report — under the built-in
//! gate policy. The author's own approval does not count; a changed Release expires approvals; a
//! wrong key fails the signature gate; `rollout --driver local` refuses a release whose gates do not
//! pass and records it; `policy test` counts passing and failing Rego tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ringfence_supply::sign::{sign_image, sign_provenance};
use ringfence_supply::{Algorithm, ImageRef, SigningKey};
use serde_json::Value;

const IMAGE: &str =
    "registry.example.com/retail/odoo@sha256:eddbbeddc1d2d6a084e0187efe52d5ad9406cc6a060f67404d076e93159013a8";
const BUILDER: &str = "https://ci.hoster.example/builders/odoo-images";

fn ringfence(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringfence")).current_dir(cwd).args(args).output().expect("ringfence runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A configuration with one release, its evidence signed with a fresh key, and four users.
fn config(dir: &Path, description: &str) -> PathBuf {
    let cfg = dir.join("config");
    write(
        &cfg.join("fleet.yaml"),
        "apiVersion: ringfence.dev/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  clusters:\n    - name: pg-1\n      connection: {host: 127.0.0.1, user: ringfence}\n      maxConcurrentMigrations: 1\n  pools:\n    - {name: shared, type: multi-tenant, cluster: pg-1}\n  tenants:\n    - {id: shop-a, pool: shared, cluster: pg-1, database: shop_a, tier: standard, timezone: Europe/Paris}\n    - {id: shop-b, pool: shared, cluster: pg-1, database: shop_b, tier: standard, timezone: Europe/Paris}\n",
    );
    write(
        &cfg.join("policy.yaml"),
        &format!(
            "apiVersion: ringfence.dev/v1alpha1\nkind: Policy\nmetadata: {{name: p}}\nspec:\n  rings:\n    - {{name: all, selector: {{tiers: [standard]}}, batchSize: 1, observation: 1m}}\n  supplyChain:\n    keys: [keys/release.pub]\n    allowedBuilders: [\"{BUILDER}\"]\n"
        ),
    );
    write(
        &cfg.join("users.yaml"),
        "apiVersion: ringfence.dev/v1alpha1\nkind: Users\nmetadata: {name: team}\nspec:\n  users:\n    - {name: ana, email: ana@shop.example, roles: [approver]}\n    - {name: bob, roles: [approver]}\n    - {name: carol, roles: [release-manager]}\n    - {name: ops, roles: [operator]}\n",
    );
    write_release(&cfg, description);
    if !cfg.join("keys/release.pub").exists() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let image = ImageRef::parse(IMAGE).unwrap();
        write(&cfg.join("keys/release.pub"), &key.public_key().to_pem());
        sign_image(&key, &image).unwrap().write_dir(&cfg.join("evidence/signature")).unwrap();
        let envelope = sign_provenance(&key, "release", &image, BUILDER, "https://ci.hoster.example/odoo@v1").unwrap();
        write(&cfg.join("evidence/provenance.json"), &envelope.to_json());
        write(&cfg.join("evidence/trivy.json"), TRIVY);
        let cases: String =
            (0..60).map(|i| format!("<testcase classname=\"t\" name=\"case_{i}\" time=\"0.01\"/>")).collect();
        write(
            &cfg.join("evidence/junit.xml"),
            &format!("<?xml version=\"1.0\"?><testsuite name=\"odoo\" tests=\"60\">{cases}</testsuite>"),
        );
    }
    cfg
}

fn write_release(cfg: &Path, description: &str) {
    write(
        &cfg.join("release.yaml"),
        &format!(
            "apiVersion: ringfence.dev/v1alpha1\nkind: Release\nmetadata: {{name: r}}\nspec:\n  version: \"2026.12.1\"\n  replaces: \"2026.11.2\"\n  image: {IMAGE}\n  migration: {{command: [odoo, -d, \"{{database}}\", -u, all, --stop-after-init]}}\n  change: {{description: \"{description}\", author: ana@shop.example}}\n  risk: medium\n  evidence:\n    signature: evidence/signature\n    provenance: evidence/provenance.json\n    vulnerabilities: evidence/trivy.json\n    tests: [evidence/junit.xml]\n"
        ),
    );
}

/// One high finding with a fix, one critical without: within the built-in thresholds.
const TRIVY: &str = r#"{"SchemaVersion": 2, "ArtifactName": "odoo", "Results": [{"Target": "odoo (debian 12.8)", "Vulnerabilities": [
 {"VulnerabilityID": "CVE-2024-0001", "PkgName": "libfoo", "InstalledVersion": "1.0", "FixedVersion": "1.1", "Severity": "HIGH"},
 {"VulnerabilityID": "CVE-2024-0002", "PkgName": "libbar", "InstalledVersion": "2.0", "Severity": "CRITICAL"}]}]}"#;

/// One gate verdict: scope kind, gate, verdict, rule.
type Row = (String, String, String, String);

/// The gate verdicts of `ringfence gates --json`, and its exit code.
fn gates(cwd: &Path, cfg: &Path) -> (Option<i32>, Vec<Row>) {
    let out = ringfence(cwd, &["gates", "2026.12.1", "--config", cfg.to_str().unwrap(), "--as", "ops", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let mut verdicts = Vec::new();
    for report in json["reports"].as_array().unwrap() {
        let scope = report["scope"]["kind"].as_str().unwrap().to_owned();
        for v in report["verdicts"].as_array().unwrap() {
            verdicts.push((
                scope.clone(),
                v["gate"].as_str().unwrap().to_owned(),
                v["verdict"].as_str().unwrap().to_owned(),
                v["rule"].as_str().unwrap().to_owned(),
            ));
        }
    }
    (out.status.code(), verdicts)
}

fn verdict(verdicts: &[Row], gate: &str) -> (String, String) {
    let v = verdicts.iter().find(|v| v.0 == "release" && v.1 == gate).unwrap_or_else(|| panic!("no gate {gate}"));
    (v.2.clone(), v.3.clone())
}

#[test]
fn a_release_is_submitted_approved_by_someone_else_and_its_gates_pass_on_real_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "stock: fix reservation of lots");
    let cwd = dir.path();
    let c = cfg.to_str().unwrap();

    let (code, v) = gates(cwd, &cfg);
    assert_eq!(code, Some(1));
    assert_eq!(verdict(&v, "submitted"), ("waiting".into(), "not-submitted".into()));
    assert_eq!(verdict(&v, "signature"), ("pass".into(), "verified".into()), "signed with the configured key");
    assert_eq!(verdict(&v, "provenance"), ("pass".into(), "verified".into()));
    assert_eq!(verdict(&v, "vulnerabilities"), ("pass".into(), "within-limits".into()));
    assert_eq!(verdict(&v, "tests"), ("pass".into(), "all-passed".into()));

    let out = ringfence(cwd, &["release", "submit", c, "--as", "ana"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("revision 1"), "{}", text(&out));

    // A role the user does not hold is refused before anything is recorded.
    let out = ringfence(
        cwd,
        &["approve", "2026.12.1", "--config", c, "--as", "carol", "--role", "approver", "--reason", "x"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not hold role"), "{}", text(&out));

    // The author approving her own release is recorded but does not count.
    let out = ringfence(
        cwd,
        &["approve", "2026.12.1", "--config", c, "--as", "ana", "--role", "approver", "--reason", "mine"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (code, v) = gates(cwd, &cfg);
    assert_eq!(code, Some(1));
    assert_eq!(verdict(&v, "approvals"), ("waiting".into(), "separation-of-duties".into()));

    let out = ringfence(
        cwd,
        &["approve", "2026.12.1", "--config", c, "--as", "bob", "--role", "approver", "--reason", "reviewed"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let (code, v) = gates(cwd, &cfg);
    assert_eq!(verdict(&v, "approvals"), ("pass".into(), "ok".into()));
    let not_passing: Vec<_> = v.iter().filter(|v| v.2 != "pass").collect();
    assert!(not_passing.is_empty(), "{not_passing:?}");
    assert_eq!(code, Some(0));

    // Every submission and approval is in the audit trail, and the trail is intact.
    let audit = cwd.join(".ringfence/audit.jsonl");
    let trail = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(trail.matches("\"release.approved\"").count(), 2);
    assert!(ringfence(cwd, &["audit", "verify", audit.to_str().unwrap()]).status.success());

    // A changed release is a new revision: it must be submitted again, and bob's approval expires.
    write_release(&cfg, "stock: fix reservation of lots; POS: receipts");
    let (code, v) = gates(cwd, &cfg);
    assert_eq!(code, Some(1));
    assert_eq!(verdict(&v, "submitted"), ("waiting".into(), "not-submitted".into()));
    let out = ringfence(cwd, &["release", "submit", c, "--as", "ana"]);
    assert!(text(&out).contains("revision 2"), "{}", text(&out));
    let (_, v) = gates(cwd, &cfg);
    assert_eq!(verdict(&v, "approvals").0, "waiting");
    assert!(["expired-approval", "separation-of-duties"].contains(&verdict(&v, "approvals").1.as_str()), "{v:?}");
}

#[test]
fn a_signature_made_with_another_key_fails_its_gate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "x");
    // The policy now trusts a different key than the one that signed.
    let other = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    write(&cfg.join("keys/release.pub"), &other.public_key().to_pem());
    let (code, v) = gates(dir.path(), &cfg);
    assert_eq!(code, Some(1));
    assert_eq!(verdict(&v, "signature"), ("fail".into(), "not-verified".into()));
    assert_eq!(verdict(&v, "provenance"), ("fail".into(), "not-verified".into()));
}

#[test]
fn a_local_rollout_does_not_start_while_gates_do_not_pass_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "x");
    let c = cfg.to_str().unwrap();
    let out = ringfence(dir.path(), &["rollout", c, "--driver", "local", "--as", "ops"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the rollout does not start"), "{}", text(&out));
    assert!(text(&out).contains("has not been submitted"), "{}", text(&out));
    let trail = std::fs::read_to_string(dir.path().join(".ringfence/audit.jsonl")).unwrap();
    assert!(trail.contains("\"release.gates.blocked\""), "{trail}");
    assert!(!dir.path().join(".ringfence/state.sqlite").exists() || !trail.contains("release.started"));
}

#[test]
fn policy_test_counts_passing_and_failing_rego_tests_and_names_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let gates = dir.path().join("gates");
    write(
        &gates.join("extra_test.rego"),
        "package ringfence.extra_test\n\ntest_adds if 1 + 1 == 2\n\ntest_wrong if 1 + 1 == 3\n",
    );
    let out = ringfence(dir.path(), &["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("1 passed, 1 failed"), "{}", text(&out));
    assert!(text(&out).contains("extra_test.rego:5"), "the failing test's place: {}", text(&out));

    write(&gates.join("broken.rego"), "package ringfence.broken\n\nallow if {\n");
    let out = ringfence(dir.path(), &["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("broken.rego:"), "{}", text(&out));
}

/// Break-glass approvals come from `ringfence approve --for break-glass`: a release whose exception
/// names no approver cannot enter the freeze (the rollout refuses to compile its rules); once two
/// users approve the exception for the submitted revision, the simulated rollout enters the freeze,
/// and the audit trail marks every tenant it let in with those two approvers.
#[test]
fn break_glass_approvals_recorded_with_approve_open_the_freeze() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "payment fix");
    let c = cfg.to_str().unwrap();
    let cwd = dir.path();
    let policy = std::fs::read_to_string(cfg.join("policy.yaml")).unwrap();
    write(
        &cfg.join("policy.yaml"),
        &format!(
            "{policy}  breakGlassApprovals: 2\n  freezes:\n    - {{name: payday, start: \"2026-12-01T00:00\", end: \"2026-12-03T00:00\", timezone: Europe/Paris}}\n"
        ),
    );
    let release = std::fs::read_to_string(cfg.join("release.yaml")).unwrap();
    write(
        &cfg.join("release.yaml"),
        &format!("{release}  breakGlass:\n    reason: card payments fail since 2026.11.2\n"),
    );
    let rollout = |cwd: &Path| {
        ringfence(cwd, &["rollout", c, "--driver", "simulate", "--from", "2026-12-01T10:00:00Z", "--as", "ops"])
    };
    let out = rollout(cwd);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("break-glass"), "{}", text(&out));

    assert!(ringfence(cwd, &["release", "submit", c, "--as", "ana"]).status.success());
    for (user, role) in [("bob", "approver"), ("carol", "release-manager")] {
        let out = ringfence(
            cwd,
            &[
                "approve",
                "2026.12.1",
                "--config",
                c,
                "--as",
                user,
                "--role",
                role,
                "--reason",
                "outage",
                "--for",
                "break-glass",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = rollout(cwd);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let trail = std::fs::read_to_string(cwd.join(".ringfence/audit.jsonl")).unwrap();
    let entered: Vec<&str> = trail.lines().filter(|l| l.contains("\"tenant.break-glass\"")).collect();
    assert_eq!(entered.len(), 2, "{trail}");
    assert!(entered.iter().all(|l| l.contains("bob") && l.contains("carol")), "{entered:?}");
}
