//! Addon paths from the hand-written fixtures: discovery, shadowing, dependency order, missing
//! dependencies, cycles, migration script listing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ringfence_odoo::{AddonSet, AddonSource, MissingDependency, OdooError, Stage};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn external(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn load(paths: &[&str]) -> (AddonSet, Vec<OdooError>) {
    let mut set = AddonSet::new();
    let mut errors = Vec::new();
    for p in paths {
        errors.extend(set.add_addons_path(&fixture(p)).unwrap());
    }
    (set, errors)
}

#[test]
fn addons_path_finds_subdirectories_with_a_manifest() {
    let (set, errors) = load(&["addons_a"]);
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<&str> = set.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "legacy_report",
            "needs_missing",
            "retired",
            "shop_bridge",
            "shop_core",
            "shop_sale",
            "shop_stock",
            "uses_missing",
            "wants_retired"
        ],
        "not_an_addon has no manifest"
    );
    let sale = set.get("shop_sale").unwrap();
    assert_eq!(sale.source, AddonSource::Dir(fixture("addons_a/shop_sale")));
    assert!(sale.files.contains(&"models/sale.py".to_string()), "{:?}", sale.files);
    assert!(sale.files.windows(2).all(|w| w[0] < w[1]), "sorted");
}

#[test]
fn dependency_order_missing_and_not_installable() {
    let (set, _) = load(&["addons_a"]);
    let r = set.resolve(&external(&["base", "sale", "stock"]));
    assert_eq!(
        r.order,
        [
            "shop_core",     // depth 0
            "legacy_report", // depth 1, by name
            "shop_sale",
            "shop_stock",
            "shop_bridge", // depth 2
        ]
    );
    assert_eq!(
        r.missing,
        [
            MissingDependency { addon: "needs_missing".into(), dependency: "not_there".into(), not_installable: false },
            MissingDependency { addon: "wants_retired".into(), dependency: "retired".into(), not_installable: true },
        ]
    );
    assert_eq!(
        r.blocked,
        ["needs_missing", "uses_missing", "wants_retired"],
        "uses_missing is blocked through needs_missing"
    );
    assert_eq!(r.not_installable, ["retired"]);
    assert!(r.cycles.is_empty());
    assert!(!r.is_complete());
    let problems: Vec<String> = r.problems().iter().map(ToString::to_string).collect();
    assert!(
        problems[0].contains("`needs_missing` depends on `not_there`, which is not in any addon path"),
        "{problems:?}"
    );
    assert!(problems[1].contains("installable: False"), "{problems:?}");
}

#[test]
fn unknown_external_dependencies_are_missing() {
    let (set, _) = load(&["addons_a"]);
    let r = set.resolve(&external(&[]));
    let missing: Vec<(&str, &str)> = r.missing.iter().map(|m| (m.addon.as_str(), m.dependency.as_str())).collect();
    assert!(missing.contains(&("shop_sale", "sale")), "{missing:?}");
    assert!(missing.contains(&("shop_stock", "stock")), "{missing:?}");
    assert!(r.blocked.contains(&"shop_bridge".to_string()), "{:?}", r.blocked);
    assert_eq!(r.order, ["shop_core", "legacy_report"]);
}

#[test]
fn cycles_are_reported_with_their_path() {
    let (set, _) = load(&["addons_cycle"]);
    let r = set.resolve(&external(&["base"]));
    assert_eq!(r.cycles, [["cyc_a", "cyc_b", "cyc_c", "cyc_a"]]);
    assert_eq!(r.blocked, ["cyc_after"]);
    assert_eq!(r.order, ["loner"]);
    let text = r.problems()[0].to_string();
    assert_eq!(text, "dependency cycle cyc_a -> cyc_b -> cyc_c -> cyc_a; remove one of these dependencies");
}

#[test]
fn first_path_wins_and_bad_manifests_do_not_hide_the_others() {
    let (set, errors) = load(&["addons_a", "addons_b"]);
    assert_eq!(set.get("shop_core").unwrap().manifest.version.as_deref(), Some("1.0"));
    assert_eq!(set.shadowed().len(), 1);
    assert_eq!(set.shadowed()[0].name, "shop_core");
    assert_eq!(set.shadowed()[0].shadowed, AddonSource::Dir(fixture("addons_b/shop_core")));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    let path = fixture("addons_b/broken/__manifest__.py");
    assert!(text.starts_with(&format!("{}:4:30: the operator `+`", path.display())), "{text}");
    assert!(set.get("broken").is_none());
}

#[test]
fn an_unreadable_addons_path_is_an_error() {
    let err = AddonSet::new().add_addons_path(&fixture("no_such_dir")).unwrap_err();
    assert!(err.to_string().starts_with("cannot read "), "{err}");
}

#[test]
fn migration_scripts_are_listed_per_folder() {
    let (set, _) = load(&["addons_a"]);
    let scripts: Vec<(String, String, Stage, String)> = set
        .get("shop_sale")
        .unwrap()
        .migration_scripts()
        .into_iter()
        .map(|s| (s.root, s.folder, s.stage, s.path))
        .collect();
    assert_eq!(
        scripts,
        [
            ("migrations".into(), "17.0.2.1.0".into(), Stage::Pre, "migrations/17.0.2.1.0/pre-rename.py".into()),
            ("migrations".into(), "17.0.2.1.0".into(), Stage::Post, "migrations/17.0.2.1.0/post-recompute.py".into()),
            ("upgrades".into(), "0.0.0".into(), Stage::End, "upgrades/0.0.0/end-check.py".into()),
        ]
    );
}

#[test]
fn pycache_is_not_an_addon_file() {
    let dir = tempfile::tempdir().unwrap();
    let addon = dir.path().join("demo");
    std::fs::create_dir_all(addon.join("__pycache__")).unwrap();
    std::fs::create_dir_all(addon.join("models")).unwrap();
    std::fs::write(addon.join("__manifest__.py"), "{'name': 'Demo'}").unwrap();
    std::fs::write(addon.join("__pycache__/x.pyc"), "").unwrap();
    std::fs::write(addon.join("models/m.py"), "").unwrap();
    let mut set = AddonSet::new();
    assert!(set.add_addons_path(dir.path()).unwrap().is_empty());
    assert_eq!(set.get("demo").unwrap().files, ["__manifest__.py", "models/m.py"]);
}
