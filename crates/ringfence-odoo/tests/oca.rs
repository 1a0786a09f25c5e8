//! Real OCA data: wheels downloaded from PyPI with `pip download --no-deps` into a cache under the
//! target directory (reused when present). A failing `pip` or network fails the test; it never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use ringfence_odoo::{
    AddonSet, AddonSource, HashRules, InstalledState, ModuleVersion, Reason, Series, Sql, Stage, Strategy, digest_set,
    extract_sql, plan_upgrade,
};

// Tests run on parallel threads; one download at a time keeps pip from writing the same file twice.
static DOWNLOAD: Mutex<()> = Mutex::new(());

/// The cached wheel of `dist==version`, downloading it first if needed.
fn wheel(dist: &str, version: &str) -> PathBuf {
    let _guard = DOWNLOAD.lock().unwrap_or_else(|e| e.into_inner());
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oca-cache");
    std::fs::create_dir_all(&cache).unwrap();
    // Wheel names normalise `-` to `_` in the distribution part.
    let prefix = format!("{}-{version}-", dist.replace('-', "_"));
    let find = || {
        std::fs::read_dir(&cache).unwrap().filter_map(Result::ok).map(|e| e.path()).find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&prefix) && name.ends_with(".whl")
        })
    };
    if let Some(found) = find() {
        return found;
    }
    let spec = format!("{dist}=={version}");
    let mut attempts = Vec::new();
    for (program, pre) in [("pip", vec![]), ("python3", vec!["-m", "pip"])] {
        let output = Command::new(program)
            .args(pre)
            .args(["download", "--no-deps", "--disable-pip-version-check", "-q"])
            .args(["--timeout", "30", "-d"])
            .arg(&cache)
            .arg(&spec)
            .output();
        match output {
            Ok(o) if o.status.success() => break,
            Ok(o) => attempts.push(format!("{program}: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr))),
            Err(e) => attempts.push(format!("{program}: {e}")),
        }
    }
    find().unwrap_or_else(|| {
        panic!(
            "could not download {spec} from PyPI into {}; this test needs pip and network access to \
             pypi.org (install pip, or put the wheel there by hand). Attempts:\n{}",
            cache.display(),
            attempts.join("\n")
        )
    })
}

fn s17() -> Series {
    "17.0".parse().unwrap()
}

fn odoo_core() -> BTreeSet<String> {
    ["base", "web", "mail", "base_sparse_field"].into_iter().map(String::from).collect()
}

#[test]
fn queue_job_wheels_at_two_versions() {
    let old = wheel("odoo-addon-queue-job", "17.0.1.3.0");
    let new = wheel("odoo-addon-queue-job", "17.0.1.5.4");
    let cron = wheel("odoo-addon-queue-job-cron", "17.0.1.1.0");

    let mut before = AddonSet::new();
    before.add_wheel(&old).unwrap();
    before.add_wheel(&cron).unwrap();
    let mut after = AddonSet::new();
    after.add_wheel(&new).unwrap();
    after.add_wheel(&cron).unwrap();

    let job_old = before.get("queue_job").unwrap();
    let job_new = after.get("queue_job").unwrap();
    assert_eq!(job_old.manifest.name.as_deref(), Some("Job Queue"));
    assert_eq!(job_old.source, AddonSource::Wheel { path: old.clone(), prefix: "odoo/addons/queue_job/".into() });
    assert_eq!(job_old.manifest.depends, ["mail", "base_sparse_field", "web"]);
    assert_eq!(job_old.manifest.external_dependencies.python, ["requests"]);
    assert_eq!(job_old.manifest.license.as_deref(), Some("LGPL-3"));
    let v_old = job_old.manifest.version(s17()).unwrap();
    let v_new = job_new.manifest.version(s17()).unwrap();
    assert_eq!(v_old.as_str(), "17.0.1.3.0");
    assert_eq!(v_new.as_str(), "17.0.1.5.4");
    assert!(v_new > v_old);
    assert!(job_old.files.contains(&"__manifest__.py".to_string()));
    assert!(job_old.files.iter().all(|f| !f.contains("dist-info")), "metadata is not part of the addon");

    // 1.3.0 → 1.5.4 crosses folders with pre-migration scripts.
    let folders = |set: &AddonSet| -> Vec<(String, Stage)> {
        set.get("queue_job").unwrap().migration_scripts().into_iter().map(|s| (s.folder, s.stage)).collect()
    };
    assert_eq!(folders(&before), [("17.0.1.2.0".to_string(), Stage::Pre)]);
    assert_eq!(folders(&after), [("17.0.1.3.1".to_string(), Stage::Pre), ("17.0.1.3.2".to_string(), Stage::Pre)]);
    for folder in folders(&after) {
        assert!(ModuleVersion::parse(&folder.0).unwrap() > v_old);
    }

    let cron_addon = after.get("queue_job_cron").unwrap();
    assert_eq!(cron_addon.manifest.depends, ["queue_job"]);
    assert_eq!(cron_addon.manifest.version(s17()).unwrap().as_str(), "17.0.1.1.0");

    for set in [&before, &after] {
        let r = set.resolve(&odoo_core());
        assert!(r.is_complete(), "{r:?}");
        assert_eq!(r.order, ["queue_job", "queue_job_cron"]);
    }
    let bare = after.resolve(&BTreeSet::new());
    let missing: Vec<&str> = bare.missing.iter().map(|m| m.dependency.as_str()).collect();
    assert_eq!(missing, ["base_sparse_field", "mail", "web"]);
    assert_eq!(bare.blocked, ["queue_job", "queue_job_cron"]);
}

#[test]
fn a_later_wheel_of_the_same_addon_is_shadowed() {
    let old = wheel("odoo-addon-queue-job", "17.0.1.3.0");
    let new = wheel("odoo-addon-queue-job", "17.0.1.5.4");
    let mut set = AddonSet::new();
    set.add_wheel(&new).unwrap();
    set.add_wheel(&old).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.get("queue_job").unwrap().manifest.version.as_deref(), Some("17.0.1.5.4"));
    let shadowed = &set.shadowed()[0];
    assert_eq!(shadowed.shadowed, AddonSource::Wheel { path: old, prefix: "odoo/addons/queue_job/".into() });
}

#[test]
fn a_zip_without_an_addon_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-an-addon.whl");
    std::fs::write(&path, b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0").unwrap();
    let err = AddonSet::new().add_wheel(&path).unwrap_err();
    assert!(err.to_string().contains("not an Odoo addon wheel"), "{err}");
    std::fs::write(&path, b"not a zip").unwrap();
    let err = AddonSet::new().add_wheel(&path).unwrap_err();
    assert!(err.to_string().contains("not a readable wheel"), "{err}");
}

#[test]
fn queue_job_upgrade_from_1_3_0_to_1_5_4_runs_the_two_pre_migrations() {
    let new = wheel("odoo-addon-queue-job", "17.0.1.5.4");
    let cron = wheel("odoo-addon-queue-job-cron", "17.0.1.1.0");
    let mut after = AddonSet::new();
    after.add_wheel(&new).unwrap();
    after.add_wheel(&cron).unwrap();
    let snapshot = r#"[
        {"name": "base", "state": "installed", "latest_version": "17.0.1.3"},
        {"name": "web", "state": "installed", "latest_version": "17.0.1.0"},
        {"name": "mail", "state": "installed", "latest_version": "17.0.1.15"},
        {"name": "base_sparse_field", "state": "installed", "latest_version": "17.0.1.0"},
        {"name": "queue_job", "state": "installed", "latest_version": "17.0.1.3.0"},
        {"name": "queue_job_cron", "state": "installed", "latest_version": "17.0.1.1.0"}
    ]"#;
    let installed = InstalledState::parse_json(snapshot, Path::new("tenant.json")).unwrap();

    for strategy in [Strategy::VersionBump, Strategy::Explicit(vec!["queue_job".into()])] {
        let plan = plan_upgrade(&installed, &after, s17(), &odoo_core(), &strategy).unwrap();
        let upgraded: Vec<(&str, &Reason)> = plan.upgrade.iter().map(|c| (c.name.as_str(), &c.reason)).collect();
        let first = if strategy == Strategy::VersionBump { Reason::Bumped } else { Reason::Explicit };
        assert_eq!(
            upgraded,
            [("queue_job", &first), ("queue_job_cron", &Reason::Dependent { of: "queue_job".into() })]
        );
        assert_eq!(plan.upgrade[0].from.as_ref().unwrap().as_str(), "17.0.1.3.0");
        assert_eq!(plan.upgrade[0].to.as_ref().unwrap().as_str(), "17.0.1.5.4");
        assert!(plan.install.is_empty() && plan.missing.is_empty() && plan.blocked.is_empty(), "{plan:?}");
        assert_eq!(plan.order, ["queue_job", "queue_job_cron"]);

        let runs = plan.scripts(&after, s17());
        assert_eq!(runs.len(), 1, "queue_job_cron stays at 17.0.1.1.0 and runs nothing");
        let scripts = &runs[0].scripts;
        assert_eq!(runs[0].module, "queue_job");
        let pre: Vec<&str> = scripts.stage(Stage::Pre).iter().map(|s| s.path.as_str()).collect();
        assert_eq!(pre, ["migrations/17.0.1.3.1/pre-migration.py", "migrations/17.0.1.3.2/pre-migration.py"]);
        assert!(scripts.post.is_empty() && scripts.end.is_empty() && scripts.unreadable_folders.is_empty());
    }

    // The scripts' text, read from the wheel; 17.0.1.3.1 calls openupgradelib only, 17.0.1.3.2 drops
    // an index with a literal.
    let job = after.get("queue_job").unwrap();
    let mut sql = Vec::new();
    for folder in ["17.0.1.3.1", "17.0.1.3.2"] {
        let rel = format!("migrations/{folder}/pre-migration.py");
        sql.extend(extract_sql(&job.read_text(&rel).unwrap(), &format!("queue_job/{rel}")));
    }
    assert_eq!(sql.len(), 1, "{sql:?}");
    assert_eq!(
        sql[0].to_string(),
        "queue_job/migrations/17.0.1.3.2/pre-migration.py:10: SQL: DROP INDEX IF EXISTS queue_job_identity_key_state_partial_index;"
    );
    assert_eq!(
        sql[0].sql,
        Sql::Literal {
            text: "DROP INDEX IF EXISTS queue_job_identity_key_state_partial_index;".into(),
            formatted: false
        }
    );
}

/// The checksums of real OCA wheels equal those of `fixtures/checksum/reference_checksums.py`, which
/// extracts the wheel and hashes the directory with Python's os.walk, fnmatch and hashlib.
#[test]
fn queue_job_wheel_checksums_match_the_python_reference() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checksum/expected_checksums.json"),
    )
    .unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    for version in ["17.0.1.3.0", "17.0.1.5.4"] {
        let mut set = AddonSet::new();
        set.add_wheel(&wheel("odoo-addon-queue-job", version)).unwrap();
        let digests = digest_set(&set, &HashRules::default()).unwrap();
        let want = expected[format!("queue_job-{version}")]["queue_job"].as_str().unwrap();
        assert_eq!(digests["queue_job"].checksum, want, "queue_job {version}");
    }
}
