//! Upgrade plans on a hand-written addon tree (`fixtures/upgrade/addons`) and tenant snapshot
//! (`fixtures/upgrade/installed.json`): dependents, new dependencies, auto_install, missing modules,
//! order, and the migration scripts and SQL of the upgrade.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ringfence_odoo::{
    AddonSet, InstalledModule, InstalledState, ModuleChange, ModuleState, ModuleVersion, Reason, Series, Sql, Strategy,
    UpgradePlan, extract_sql, plan_upgrade,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn s17() -> Series {
    "17.0".parse().unwrap()
}

fn core() -> BTreeSet<String> {
    ["base", "web", "mail"].into_iter().map(String::from).collect()
}

fn tree() -> AddonSet {
    let mut set = AddonSet::new();
    assert!(set.add_addons_path(&fixture().join("addons")).unwrap().is_empty());
    set
}

fn plan(strategy: Strategy) -> UpgradePlan {
    let installed = InstalledState::read_json(&fixture().join("installed.json")).unwrap();
    plan_upgrade(&installed, &tree(), s17(), &core(), &strategy).unwrap()
}

fn summary(changes: &[ModuleChange]) -> Vec<(String, String)> {
    changes.iter().map(|c| (c.name.clone(), c.reason.to_string())).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn version_bump_upgrades_dependents_and_installs_what_they_need() {
    let plan = plan(Strategy::VersionBump);
    assert_eq!(
        summary(&plan.upgrade),
        pairs(&[
            ("base_ext", "version bumped"),
            ("gone_dep_user", "version bumped"),
            ("sale_ext", "depends on base_ext"),
            // Transitive: sale_report depends on sale_ext, not on base_ext.
            ("sale_report", "depends on sale_ext"),
        ])
    );
    let base_ext = &plan.upgrade[0];
    assert_eq!(base_ext.from.as_ref().map(ModuleVersion::as_str), Some("17.0.1.0.0"));
    assert_eq!(base_ext.to.as_ref().map(ModuleVersion::as_str), Some("17.0.1.1.0"));
    // A dependent keeps its version; normalised with the series.
    assert_eq!(plan.upgrade[2].to.as_ref().map(ModuleVersion::as_str), Some("17.0.1.0.0"));
    assert_eq!(plan.upgrade[2].from, plan.upgrade[2].to);

    assert_eq!(
        summary(&plan.install),
        pairs(&[
            // Both triggers end up installed and new_helper is newly installed.
            ("bridge", "auto_install on new_helper, sale_ext"),
            ("helper_core", "needed by new_helper"),
            ("new_helper", "needed by sale_ext"),
        ])
    );
    assert!(plan.install.iter().all(|c| c.from.is_none()));
    // old_bridge's trigger base_ext was installed already: Odoo does not install it on `-u`; and the
    // uninstalled never_installed is not upgraded although it depends on base_ext.
    let touched: Vec<&str> = plan.upgrade.iter().chain(&plan.install).map(|c| c.name.as_str()).collect();
    assert!(
        !touched.contains(&"old_bridge") && !touched.contains(&"never_installed") && !touched.contains(&"unrelated")
    );

    assert_eq!(plan.missing, ["vanished_dep", "vanished_module"]);
    assert_eq!(plan.blocked, ["gone_dep_user"]);
    assert!(!plan.is_safe_to_run());
    assert_eq!(plan.order, ["base_ext", "helper_core", "new_helper", "sale_ext", "bridge", "sale_report"]);
}

#[test]
fn only_the_bumped_module_runs_scripts_in_stage_order() {
    let plan = plan(Strategy::VersionBump);
    let set = tree();
    let runs = plan.scripts(&set, s17());
    assert_eq!(runs.len(), 1, "dependents at the same version and new installs run none: {runs:?}");
    assert_eq!(runs[0].module, "base_ext");
    let paths = |v: &[ringfence_odoo::MigrationScript]| v.iter().map(|s| s.path.clone()).collect::<Vec<_>>();
    let s = &runs[0].scripts;
    // 17.0.1.0.0 (= installed) and 17.0.1.1.1 (> new) do not run; the series-less 1.1.0 does; the two
    // roots of folder 1.1.0 merge by file name.
    assert_eq!(paths(&s.pre), ["upgrades/1.1.0/pre-a-first.py", "migrations/1.1.0/pre-rename.py"]);
    assert_eq!(paths(&s.post), ["migrations/1.1.0/post-fill.py"]);
    assert_eq!(paths(&s.end), ["migrations/0.0.0/end-check.py"]);

    let addon = set.get("base_ext").unwrap();
    let sql: Vec<(String, u32, Sql)> = s
        .iter()
        .flat_map(|script| {
            let text = addon.read_text(&script.path).unwrap();
            extract_sql(&text, &format!("base_ext/{}", script.path))
        })
        .map(|st| (st.file, st.line, st.sql))
        .collect();
    assert_eq!(
        sql,
        [
            (
                "base_ext/migrations/1.1.0/pre-rename.py".to_string(),
                2,
                Sql::Literal { text: "ALTER TABLE base_ext_thing RENAME COLUMN a TO b".into(), formatted: false }
            ),
            (
                "base_ext/migrations/1.1.0/post-fill.py".to_string(),
                2,
                Sql::Dynamic { found: "the expression `query`".into() }
            ),
        ]
    );
}

#[test]
fn explicit_list_upgrades_installed_names_and_ignores_the_rest() {
    let plan = plan(Strategy::Explicit(vec!["unrelated".into(), "not_there".into(), "never_installed".into()]));
    // old_bridge depends on unrelated but is not installed.
    assert_eq!(summary(&plan.upgrade), pairs(&[("unrelated", "listed")]));
    assert!(plan.install.is_empty());
    assert_eq!(plan.ignored, ["never_installed", "not_there"]);
    assert_eq!(plan.order, ["unrelated"]);
    assert!(plan.scripts(&tree(), s17()).is_empty());
}

#[test]
fn explicit_core_module_upgrades_installed_dependents_from_the_tree() {
    let plan = plan(Strategy::Explicit(vec!["base".into()]));
    let names: Vec<&str> = plan.upgrade.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["base", "base_ext", "sale_ext", "sale_report", "unrelated"]);
    assert_eq!(plan.upgrade[0].to, None, "base's manifest is not in the set");
    assert_eq!(plan.upgrade[3].reason, Reason::Dependent { of: "sale_ext".into() });
    // Modules from outside the set come first.
    assert_eq!(plan.order[..2], ["base".to_string(), "base_ext".to_string()]);
}

#[test]
fn pending_states_from_an_unfinished_run_are_processed() {
    let v = |s: &str| ModuleVersion::parse(s);
    let installed = InstalledState::from_modules([
        InstalledModule { name: "base".into(), state: ModuleState::Installed, version: v("17.0.1.3") },
        InstalledModule { name: "unrelated".into(), state: ModuleState::ToUpgrade, version: v("17.0.1.0.0") },
        InstalledModule { name: "helper_core".into(), state: ModuleState::ToInstall, version: None },
    ]);
    let plan = plan_upgrade(&installed, &tree(), s17(), &core(), &Strategy::VersionBump).unwrap();
    assert_eq!(summary(&plan.upgrade), pairs(&[("unrelated", "pending from an earlier run")]));
    assert_eq!(summary(&plan.install), pairs(&[("helper_core", "pending from an earlier run")]));
    assert!(plan.is_safe_to_run());
}
