//! The `ringfence` binary run as a process, the way operators and CI run it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/retail-fleet")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("ringfence runs");
    (status.code().expect("exited"), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn replace(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} does not contain {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn validate_accepts_the_example() {
    let (code, out, err) = run(bin().arg("validate").arg(example()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid"), "{out}");
}

#[test]
fn validate_reports_every_problem_with_its_position_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    let fleet = dir.path().join("fleet.yaml");
    let policy = dir.path().join("policy.yaml");
    replace(&fleet, "maxConcurrentMigrations: 2", "maxConcurrentMigrations: 2\n      colour: blue");
    replace(&fleet, "maxConcurrentMigrations: 1", "maxConcurrentMigrations: many");
    replace(&policy, "observation: 10m", "observation: ten minutes");
    replace(&fleet, "timezone: Europe/Berlin", "timezone: Europe/Atlantis");
    replace(&fleet, "channel: marketplace, updates: regular", "channel: marketplace, updates: never");
    let (code, out, err) = run(bin().arg("validate").arg(dir.path()));
    assert_eq!(code, 2, "{out}{err}");
    let located: Vec<&str> = err.lines().filter(|l| l.contains(".yaml:")).collect();
    assert_eq!(located.len(), 5, "one error per problem:\n{err}");
    for needle in ["colour", "maxConcurrentMigrations", "ten minutes", "Europe/Atlantis", "is in no ring"] {
        assert!(located.iter().any(|l| l.contains(needle)), "no error mentions {needle}:\n{err}");
    }
    // --json gives the same errors for machines.
    let (code, out, _) = run(bin().arg("validate").arg("--json").arg(dir.path()));
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["errors"].as_array().unwrap().iter().all(|e| e["line"].as_u64().unwrap() > 0));
}

#[test]
fn validate_refuses_an_alias_bomb_quickly_with_its_place() {
    // Nine levels of nine aliases each: 387 million nodes once expanded, from about 400 bytes.
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("a0: &a0 [{}]\n", ["x"; 9].join(","));
    for level in 1..9 {
        let previous = format!("*a{}", level - 1);
        text += &format!("a{level}: &a{level} [{}]\n", [previous.as_str(); 9].join(","));
    }
    std::fs::write(dir.path().join("bomb.yaml"), text).unwrap();
    let started = std::time::Instant::now();
    let (code, out, err) = run(bin().arg("validate").arg(dir.path()));
    // A guard against expanding the bomb (which took minutes and gigabytes); BENCHMARKS.md has the figures.
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("bomb.yaml:5:9: aliases expand too much: with `&a4` here"), "{err}");
    assert!(err.contains("hint: alias plain values or small mappings"), "{err}");
}

#[test]
fn validate_locates_a_byte_that_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    let users = dir.path().join("users.yaml");
    let mut bytes = b"# Users\n# of the fleet\n  # caf".to_vec();
    bytes.extend_from_slice(b"\xff\n");
    bytes.extend_from_slice(&std::fs::read(&users).unwrap());
    std::fs::write(&users, bytes).unwrap();
    let (code, out, err) = run(bin().arg("validate").arg(dir.path()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("users.yaml:3:8: the file is not UTF-8: byte 0xFF (at byte offset 30) is not valid UTF-8"),
        "{err}"
    );
    assert!(err.contains("hint: save the file as UTF-8"), "{err}");
}

#[test]
fn plan_json_lists_every_tenant_once_in_ring_order_within_cluster_limits() {
    let (code, out, err) = run(bin().arg("plan").arg("--json").arg(example()));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let limits: std::collections::HashMap<&str, u64> = plan["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["max_concurrent_migrations"].as_u64().unwrap()))
        .collect();
    let rings: Vec<&str> = plan["rings"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(rings, ["internal", "canary", "standard", "enterprise"], "policy order");
    let mut seen = std::collections::HashSet::new();
    for ring in plan["rings"].as_array().unwrap() {
        for batch in ring["batches"].as_array().unwrap() {
            let mut per_cluster = std::collections::HashMap::new();
            for t in batch["tenants"].as_array().unwrap() {
                assert!(seen.insert(t["id"].as_str().unwrap().to_owned()), "{} planned twice", t["id"]);
                *per_cluster.entry(t["cluster"].as_str().unwrap()).or_insert(0u64) += 1;
            }
            for (cluster, n) in per_cluster {
                assert!(n <= limits[cluster], "batch holds {n} tenants of {cluster}");
            }
        }
    }
    let fleet = std::fs::read_to_string(example().join("fleet.yaml")).unwrap();
    assert_eq!(seen.len(), fleet.matches("\n    - id: ").count(), "every tenant of the fleet");
    assert_eq!(seen.len() as u64, plan["tenant_count"].as_u64().unwrap());
}

#[test]
fn audit_verify_names_the_line_of_any_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let audit = dir.path().join("audit.jsonl");
    let (code, _, err) = run(bin()
        .args(["rollout", "--from", "2026-11-27T09:00:00Z"])
        .arg(example())
        .arg("--state")
        .arg(&state)
        .arg("--audit")
        .arg(&audit));
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(bin().args(["audit", "verify"]).arg(&audit));
    assert_eq!(code, 0, "{out}");
    let original = std::fs::read(&audit).unwrap();
    let lines = original.iter().filter(|&&b| b == b'\n').count();
    assert!(lines > 20, "a rollout writes many audit records");
    // One changed byte per position class: in the first line, the middle and the last line.
    for pos in [10, original.len() / 2, original.len() - 5] {
        let mut tampered = original.clone();
        tampered[pos] ^= 0x01;
        std::fs::write(&audit, &tampered).unwrap();
        let line = original[..pos].iter().filter(|&&b| b == b'\n').count() + 1;
        let (code, out, err) = run(bin().args(["audit", "verify", "--json"]).arg(&audit));
        assert_eq!(code, 1, "byte {pos} changed: {out}{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["line"].as_u64(), Some(line as u64), "byte {pos}: {out}");
    }
}

#[test]
fn a_halted_rollout_exits_1_and_status_shows_where_each_tenant_stands() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let (code, out, err) = run(bin()
        .args(["rollout", "--json", "--fail", "velo-werk-berlin:observation"])
        .arg(example())
        .arg("--state")
        .arg(&state)
        .arg("--audit")
        .arg(dir.path().join("audit.jsonl")));
    assert_eq!(code, 1, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outcome"], "halted");
    assert!(report["halt_reason"].as_str().unwrap().contains("velo-werk-berlin"));
    let (code, out, _) = run(bin().args(["status", "--json", "--state"]).arg(&state));
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["status"], "halted");
    let tenant = |id: &str| status["tenants"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap().clone();
    // The example's release is not schema-backward-compatible: velo took orders on the new release, so
    // it is held for a decision instead of being restored behind the operator's back.
    let velo = tenant("velo-werk-berlin");
    assert_eq!(velo["phase"]["phase"], "awaiting-decision");
    assert_eq!(velo["last_step"]["step"], "health-check");
    assert_eq!(velo["last_step"]["succeeded"], true);
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let held = audit.lines().find(|l| l.contains("\"tenant.rollback.held\"")).expect("the hold is audited");
    assert!(held.contains("a_restore_would_discard"), "{held}");
    assert_eq!(tenant("modahaus")["phase"]["phase"], "pending", "nothing after the halt");
}

#[test]
fn status_without_a_store_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(bin().args(["status", "--state"]).arg(dir.path().join("none.sqlite")));
    assert_eq!(code, 2);
    assert!(err.contains("nothing has been rolled out"), "{err}");
}

/// Time governance on the example: nothing before the Black Friday freeze ends, and every enterprise
/// tenant inside one of its own windows (Monday–Thursday, 02:00 local for 4 hours).
#[test]
fn plan_from_schedules_nobody_in_the_freeze_and_enterprise_tenants_in_their_windows() {
    let (code, out, err) = run(bin().args(["plan", "--json", "--from", "2026-11-27T09:00:00Z"]).arg(example()));
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let freeze_end: jiff::Timestamp = "2026-12-01T05:00:00Z".parse().unwrap();
    let mut enterprise = 0;
    for ring in plan["rings"].as_array().unwrap() {
        for batch in ring["batches"].as_array().unwrap() {
            for t in batch["tenants"].as_array().unwrap() {
                let start: jiff::Timestamp = t["expected_start"].as_str().unwrap().parse().unwrap();
                let end: jiff::Timestamp = t["expected_end"].as_str().unwrap().parse().unwrap();
                assert!(start >= freeze_end, "{} starts {start}, inside black-friday", t["id"]);
                assert!(end > start);
                if ring["name"] == "enterprise" {
                    enterprise += 1;
                    let zone = if t["id"] == "modahaus" { "Europe/Berlin" } else { "Europe/Paris" };
                    let local = start.in_tz(zone).unwrap();
                    let steps_done = (start + jiff::SignedDuration::from_mins(30)).in_tz(zone).unwrap();
                    let weekday = local.weekday().to_monday_one_offset();
                    assert!((1..=4).contains(&weekday), "{} starts on weekday {weekday}", t["id"]);
                    assert!(local.hour() >= 2, "{} starts at {local}", t["id"]);
                    assert!(
                        steps_done <= local.date().at(6, 0, 0, 0).to_zoned_datetime(local.time_zone().clone()).unwrap(),
                        "{} ends its steps at {steps_done}",
                        t["id"]
                    );
                    assert!(
                        t["waits"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("window")
                            || w.as_str().unwrap().contains("previous batch")),
                        "{}",
                        t["waits"]
                    );
                }
            }
        }
    }
    assert_eq!(enterprise, 2);
}

/// `ringfence odoo diff` on hand-written addons and a tenant's installed modules: what `odoo -u` will
/// upgrade and install, what is missing (exit 1), which scripts run in which order, and their SQL.
#[test]
fn odoo_diff_reports_upgrades_missing_modules_scripts_and_sql() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringfence-odoo/tests/fixtures/upgrade");
    let (code, out, err) = run(bin()
        .args(["odoo", "diff", "--json", "--image-modules", "base,web,mail", "--to"])
        .arg(fixture.join("addons"))
        .arg("--tenant-state")
        .arg(fixture.join("installed.json")));
    assert_eq!(code, 1, "missing modules make the upgrade unsafe: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let names = |key: &str| -> Vec<String> {
        v[key].as_array().unwrap().iter().map(|c| c["module"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names("upgrade"), ["base_ext", "gone_dep_user", "sale_ext", "sale_report"]);
    assert_eq!(names("install"), ["bridge", "helper_core", "new_helper"]);
    assert_eq!(v["missing"], serde_json::json!(["vanished_dep", "vanished_module"]));
    assert_eq!(v["blocked"], serde_json::json!(["gone_dep_user"]));
    assert_eq!(v["risk"]["tier"], "critical", "missing modules break the upgrade: {}", v["risk"]);
    let scripts: Vec<&str> = v["scripts"].as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(
        scripts,
        [
            "upgrades/1.1.0/pre-a-first.py",
            "migrations/1.1.0/pre-rename.py",
            "migrations/1.1.0/post-fill.py",
            "migrations/0.0.0/end-check.py"
        ]
    );
    let sql = v["sql"].as_array().unwrap();
    assert!(
        sql.iter().any(|s| s["sql"].as_str().is_some_and(|q| q.contains("RENAME COLUMN a TO b")) && s["line"] == 2)
    );
    assert!(sql.iter().any(|s| s["dynamic"].is_string()), "dynamic SQL is reported, not guessed");
    assert_eq!(v["critical_domains_touched"], serde_json::json!(["sale_ext", "sale_report"]));

    // Without --image-modules, Odoo's own modules are missing too, and the hint says what to do.
    let (code, out, _) = run(bin()
        .args(["odoo", "diff", "--to"])
        .arg(fixture.join("addons"))
        .arg("--tenant-state")
        .arg(fixture.join("installed.json")));
    assert_eq!(code, 1);
    assert!(out.contains("--image-modules"), "{out}");
    // Neither the tenant's addons nor its state: a usage error.
    let (code, _, err) = run(bin().args(["odoo", "diff", "--to"]).arg(fixture.join("addons")));
    assert_eq!(code, 2, "{err}");
}

/// `odoo diff --database-url` reads the tenant's modules from `ir_module_module` in a real database
/// and reaches the same conclusions as with the same modules in a snapshot file.
#[test]
fn odoo_diff_reads_the_tenant_from_its_database() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringfence-odoo/tests/fixtures/upgrade");
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("installed.json")).unwrap()).unwrap();
    let pg =
        ringfence_pg::EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    pg.create_database("tenant").unwrap();
    let rows: Vec<String> = snapshot
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let version = m["latest_version"].as_str().map_or("NULL".to_string(), |v| format!("'{v}'"));
            format!("('{}', '{}', {version})", m["name"].as_str().unwrap(), m["state"].as_str().unwrap())
        })
        .collect();
    pg.psql(
        "tenant",
        &format!(
            "CREATE TABLE ir_module_module (id serial PRIMARY KEY, name varchar UNIQUE, state varchar, latest_version varchar);
             INSERT INTO ir_module_module (name, state, latest_version) VALUES {};",
            rows.join(", ")
        ),
    )
    .unwrap();
    let diff = |source: &[&str]| {
        let (code, out, err) = run(bin()
            .args(["odoo", "diff", "--json", "--image-modules", "base,web,mail", "--to"])
            .arg(fixture.join("addons"))
            .args(source));
        assert_eq!(code, 1, "{err}");
        let mut v: Value = serde_json::from_str(&out).unwrap();
        v.as_object_mut().unwrap().remove("image_modules");
        v
    };
    let from_db = diff(&["--database-url", &pg.url("tenant")]);
    let from_file = diff(&["--tenant-state", fixture.join("installed.json").to_str().unwrap()]);
    assert_eq!(from_db, from_file);
    assert_eq!(from_db["upgrade"].as_array().unwrap().len(), 4);
}

/// `ringfence simulate` on the example: every checker passes, the JSON says so, and a release that
/// cannot enter the freeze without break-glass is refused at once when its exception is too weak.
#[test]
fn simulate_rehearses_the_example_calendar_and_refuses_a_weak_break_glass() {
    let (code, out, err) = run(bin()
        .args(["simulate", "--json", "--runs", "50", "--seed", "7", "--from", "2026-11-27T09:00:00Z"])
        .arg(example()));
    assert_eq!(code, 0, "{out}{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["passed"], true, "{summary}");
    assert_eq!(summary["runs"], 50);
    assert!(summary["tenant_steps"].as_u64().unwrap() > 50 * 12, "{summary}");

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&example(), dir.path());
    replace(
        &dir.path().join("release.yaml"),
        "  # breakGlass:\n  #   reason: \"card payments fail at checkout since 2026.11.1; the fix cannot wait for Monday\"\n  #   approvals: [head-of-ops@hoster.example, cto@hoster.example]",
        "  breakGlass:\n    reason: payment outage\n    approvals: [head-of-ops@hoster.example]",
    );
    let (code, out, err) = run(bin().args(["simulate", "--from", "2026-11-27T09:00:00Z"]).arg(dir.path()));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("break-glass needs 2 distinct approvals, it has 1"), "{err}");
}

/// A seed that breaks a checker is printed with the command that replays it; generated scenarios run
/// without a configuration.
#[test]
fn simulate_generated_scenarios_pass_and_name_their_seeds() {
    let (code, out, err) = run(bin().args(["simulate", "--generated", "--seed", "1000", "--runs", "200"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("200 runs of generated scenarios"), "{out}");
    assert!(out.contains("every checker passed on every run"), "{out}");
}

/// `odoo diff --strategy checksum`: modules whose content changed are upgraded even without a version
/// bump, changes the checksum ignores (assets, tests) are not, and the release's facts say what changed.
#[test]
fn odoo_diff_with_the_checksum_strategy_upgrades_changed_content_only() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ringfence-odoo/tests/fixtures/checksum");
    let diff = |strategy: &str| -> Value {
        let (code, out, err) = run(bin()
            .args(["odoo", "diff", "--json", "--image-modules", "base,web", "--strategy", strategy, "--from"])
            .arg(fixture.join("old"))
            .arg("--to")
            .arg(fixture.join("new"))
            .arg("--tenant-state")
            .arg(fixture.join("tenant.json")));
        assert_eq!(code, 0, "{out}{err}");
        serde_json::from_str(&out).unwrap()
    };
    let upgraded = |v: &Value| -> Vec<String> {
        v["upgrade"].as_array().unwrap().iter().map(|c| c["module"].as_str().unwrap().to_owned()).collect()
    };
    let by_checksum = diff("checksum");
    assert_eq!(upgraded(&by_checksum), ["sale_shop_ext", "shop_base", "shop_pydeps", "stock_untouched"]);
    let by_version = diff("version-bump");
    assert!(upgraded(&by_version).contains(&"shop_pydeps".to_owned()), "{by_version}");
    assert!(!upgraded(&by_version).contains(&"shop_base".to_owned()), "a code change without a version bump");

    let release = &by_checksum["release"];
    let assets_only: Vec<&str> = release["modules_changed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["assets_only"] == true)
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(assets_only, ["shop_assets"]);
    assert_eq!(release["image_only"], false);
    assert_eq!(release["modules_added"], serde_json::json!(["shop_connector"]));
    let python: Vec<&str> = release["dependency_changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "python")
        .flat_map(|d| d["added"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()))
        .collect();
    assert_eq!(python, ["paramiko", "zeep"]);
    let touched: Vec<&str> =
        by_checksum["critical_domains_touched"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(touched.contains(&"sale_shop_ext") && touched.contains(&"stock_untouched"), "{touched:?}");
    // The risk tier these facts give, with the facts that decide it: scripts, critical domains and a
    // new Python dependency are high; nothing here is critical.
    assert_eq!(by_checksum["risk"]["tier"], "high", "{}", by_checksum["risk"]);
    let rules: Vec<&str> = by_checksum["risk"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["tier"] == "high")
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    for rule in ["migrationScript", "criticalDomain", "pythonDependency"] {
        assert!(rules.contains(&rule), "{rule} missing from {rules:?}");
    }
}
