//! Real OCA data: wheels downloaded from PyPI with `pip download --no-deps` into a cache under the
//! target directory (reused when present). A failing `pip` or network fails the test; it never skips.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use ringfence_odoo::{AddonSet, AddonSource, ModuleVersion, Series, Stage};

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
