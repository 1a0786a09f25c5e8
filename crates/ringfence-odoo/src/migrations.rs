//! Lists the migration scripts an addon ships (`migrations/<folder>/` and `upgrades/<folder>/` holding
//! `pre-*.py`, `post-*.py` and `end-*.py`, the files Odoo runs around a module upgrade) and selects the
//! ones an upgrade from an installed version to a new one runs, in Odoo's order ([`select_scripts`]).
//!
//! Not here: reading the scripts (see [`crate::sql`]) and deciding which modules are upgraded (see
//! [`crate::upgrade`]).

use std::cmp::Ordering;
use std::fmt;

use crate::version::{ModuleVersion, Series};

/// When Odoo runs a script during a module upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Before the module's models and data are loaded.
    Pre,
    /// After the module is loaded.
    Post,
    /// After every module of the upgrade is loaded.
    End,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Pre => "pre",
            Stage::Post => "post",
            Stage::End => "end",
        })
    }
}

/// One migration script file of an addon.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MigrationScript {
    /// `migrations` or `upgrades`.
    pub root: String,
    /// The version folder as written, e.g. `17.0.1.3.1`, `1.3.1` or `0.0.0`.
    pub folder: String,
    /// When it runs.
    pub stage: Stage,
    /// Path relative to the addon, e.g. `migrations/17.0.1.3.1/pre-migration.py`.
    pub path: String,
}

/// The migration scripts among an addon's files (relative, `/`-separated), sorted by root, folder,
/// stage and file name; Odoo runs the files of one folder and stage in name order.
pub fn migration_scripts<'a>(files: impl IntoIterator<Item = &'a str>) -> Vec<MigrationScript> {
    let mut scripts: Vec<MigrationScript> = files
        .into_iter()
        .filter_map(|path| {
            let mut parts = path.split('/');
            let (root, folder, name) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || !matches!(root, "migrations" | "upgrades") {
                return None;
            }
            let stem = name.strip_suffix(".py")?;
            let stage = [("pre-", Stage::Pre), ("post-", Stage::Post), ("end-", Stage::End)]
                .into_iter()
                .find(|(prefix, _)| stem.starts_with(prefix))?
                .1;
            Some(MigrationScript { root: root.to_string(), folder: folder.to_string(), stage, path: path.to_string() })
        })
        .collect();
    scripts.sort();
    scripts
}

/// The scripts one module upgrade runs, per stage in run order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectedScripts {
    /// Run before the module is loaded.
    pub pre: Vec<MigrationScript>,
    /// Run right after the module is loaded.
    pub post: Vec<MigrationScript>,
    /// Run once every module of the upgrade is loaded.
    pub end: Vec<MigrationScript>,
    /// Folders whose name is not a dotted numeric version; Ringfence cannot place them, so they are
    /// left out and reported (sorted, deduplicated).
    pub unreadable_folders: Vec<String>,
}

impl SelectedScripts {
    /// The scripts of one stage.
    pub fn stage(&self, stage: Stage) -> &[MigrationScript] {
        match stage {
            Stage::Pre => &self.pre,
            Stage::Post => &self.post,
            Stage::End => &self.end,
        }
    }

    /// All scripts in the order they run for this module: pre, post, end.
    pub fn iter(&self) -> impl Iterator<Item = &MigrationScript> {
        self.pre.iter().chain(&self.post).chain(&self.end)
    }

    /// Whether nothing runs.
    pub fn is_empty(&self) -> bool {
        self.pre.is_empty() && self.post.is_empty() && self.end.is_empty()
    }
}

/// The scripts Odoo runs when it upgrades a module from `installed` to `new` (both full,
/// series-prefixed versions: `ir_module_module.latest_version` and the normalised manifest version).
///
/// A folder is selected when `installed < folder <= new`, where:
/// - a folder written with the series prefix (`17.0.1.3.1`) is compared as a whole;
/// - a folder without it (`1.3.1`) is compared on the module part only (installed and new without their
///   first two parts), so a `1.3.1` script that ran under 16.0 does not run again on the way to 17.0;
/// - `0.0.0` is selected on every upgrade (`installed < new`), never on a reinstall at the same version
///   or a downgrade;
/// - `installed == None` (a new install) selects nothing: Odoo runs migration scripts only for modules
///   that were installed before.
///
/// Order, per stage (Odoo runs a module's pre-scripts before loading it, its post-scripts right after,
/// and the end-scripts of all upgraded modules once everything is loaded, module by module in load
/// order): folders by version ascending, where a series-less folder counts as series-prefixed;
/// folders of the same version ordered by name; within a version folder, the files of `migrations/` and
/// `upgrades/` together, by file name. The `0.0.0` folder wraps the versioned ones: its `pre-` scripts
/// run before every versioned folder's, its `post-` and `end-` scripts after them (Odoo's
/// `migrate_module` moves `0.0.0` to the front of its version list for the `pre` stage and to the back
/// for the others).
pub fn select_scripts(
    scripts: &[MigrationScript],
    installed: Option<&ModuleVersion>,
    new: &ModuleVersion,
    series: Series,
) -> SelectedScripts {
    let mut selected = SelectedScripts::default();
    let Some(installed) = installed else {
        return selected;
    };
    let mut chosen: Vec<(ModuleVersion, &MigrationScript)> = Vec::new();
    for script in scripts {
        let Some(folder) = folder_version(&script.folder, series) else {
            selected.unreadable_folders.push(script.folder.clone());
            continue;
        };
        if runs(&script.folder, &folder, installed, new, series) {
            chosen.push((folder, script));
        }
    }
    // Where `0.0.0` stands depends on the stage: first for `pre`, last for `post` and `end`.
    let zero_rank = |script: &MigrationScript| match (script.folder == "0.0.0", script.stage) {
        (false, _) => 1,
        (true, Stage::Pre) => 0,
        (true, Stage::Post | Stage::End) => 2,
    };
    chosen.sort_by(|(va, a), (vb, b)| {
        zero_rank(a)
            .cmp(&zero_rank(b))
            .then_with(|| va.cmp(vb))
            .then_with(|| a.folder.cmp(&b.folder))
            .then_with(|| file_name(a).cmp(file_name(b)))
            .then_with(|| a.root.cmp(&b.root))
    });
    for (_, script) in chosen {
        let list = match script.stage {
            Stage::Pre => &mut selected.pre,
            Stage::Post => &mut selected.post,
            Stage::End => &mut selected.end,
        };
        list.push(script.clone());
    }
    selected.unreadable_folders.sort();
    selected.unreadable_folders.dedup();
    selected
}

/// A folder name as a full version: series-less names get the series prefix, as Odoo does.
fn folder_version(folder: &str, series: Series) -> Option<ModuleVersion> {
    if is_series_less(folder, series) {
        ModuleVersion::parse(&format!("{series}.{folder}"))
    } else {
        ModuleVersion::parse(folder)
    }
}

fn is_series_less(folder: &str, series: Series) -> bool {
    let prefix = series.to_string();
    folder == prefix || !folder.starts_with(&format!("{prefix}."))
}

fn runs(folder: &str, version: &ModuleVersion, installed: &ModuleVersion, new: &ModuleVersion, series: Series) -> bool {
    if folder == "0.0.0" {
        return installed < new;
    }
    if is_series_less(folder, series) {
        let (i, f, n) = (module_part(installed), module_part(version), module_part(new));
        return cmp_parts(i, f) == Ordering::Less && cmp_parts(f, n) != Ordering::Greater;
    }
    installed < version && version <= new
}

/// A version without its series (first two parts).
fn module_part(v: &ModuleVersion) -> &[u64] {
    v.parts().get(2..).unwrap_or(&[])
}

/// Compares numeric parts the way [`ModuleVersion`] does: trailing zeros do not count.
fn cmp_parts(a: &[u64], b: &[u64]) -> Ordering {
    let trim = |p: &[u64]| p.len() - p.iter().rev().take_while(|&&x| x == 0).count();
    a[..trim(a)].cmp(&b[..trim(b)])
}

fn file_name(script: &MigrationScript) -> &str {
    script.path.rsplit('/').next().unwrap_or(&script.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_stage_scripts_in_order_and_ignores_the_rest() {
        let files = [
            "__manifest__.py",
            "migrations/17.0.1.3.1/post-b.py",
            "migrations/17.0.1.3.1/pre-migration.py",
            "migrations/17.0.1.3.1/post-a.py",
            "migrations/17.0.1.3.1/helpers.py",
            "migrations/17.0.1.3.1/pre-notes.txt",
            "migrations/0.0.0/end-check.py",
            "upgrades/1.2/pre-x.py",
            "migrations/17.0.1.3.1/sub/pre-deep.py",
            "models/pre-model.py",
        ];
        let got: Vec<(String, Stage)> = migration_scripts(files).into_iter().map(|s| (s.path, s.stage)).collect();
        assert_eq!(
            got,
            vec![
                ("migrations/0.0.0/end-check.py".into(), Stage::End),
                ("migrations/17.0.1.3.1/pre-migration.py".into(), Stage::Pre),
                ("migrations/17.0.1.3.1/post-a.py".into(), Stage::Post),
                ("migrations/17.0.1.3.1/post-b.py".into(), Stage::Post),
                ("upgrades/1.2/pre-x.py".into(), Stage::Pre),
            ]
        );
    }
}

#[cfg(test)]
mod selection_tests {
    use super::*;

    fn v(s: &str) -> ModuleVersion {
        ModuleVersion::parse(s).unwrap()
    }

    fn s17() -> Series {
        "17.0".parse().unwrap()
    }

    fn paths(scripts: &[MigrationScript]) -> Vec<&str> {
        scripts.iter().map(|s| s.path.as_str()).collect()
    }

    const FILES: [&str; 12] = [
        "migrations/0.0.0/end-a.py",
        "migrations/17.0.1.0.0/pre-at-installed.py",
        "migrations/1.0.1/pre-b.py",
        "upgrades/17.0.1.0.1/pre-a.py",
        "migrations/17.0.1.1.0/post-z.py",
        "migrations/17.0.1.1.0/post-a.py",
        "migrations/17.0.1.1.1/pre-after-new.py",
        "migrations/1.1.0/pre-c.py",
        "upgrades/1.1.0/pre-a.py",
        "migrations/1.1.0/end-b.py",
        "migrations/1.10/pre-ten.py",
        "migrations/not-a-version/pre-x.py",
    ];

    #[test]
    fn selects_installed_exclusive_new_inclusive_in_odoo_order() {
        let scripts = migration_scripts(FILES);
        let got = select_scripts(&scripts, Some(&v("17.0.1.0.0")), &v("17.0.1.1.0"), s17());
        // By folder version (1.0.1 and 17.0.1.0.1 are the same version: by folder name), then file name
        // across migrations/ and upgrades/.
        assert_eq!(
            paths(&got.pre),
            [
                "migrations/1.0.1/pre-b.py",
                "upgrades/17.0.1.0.1/pre-a.py",
                "upgrades/1.1.0/pre-a.py",
                "migrations/1.1.0/pre-c.py"
            ]
        );
        assert_eq!(paths(&got.post), ["migrations/17.0.1.1.0/post-a.py", "migrations/17.0.1.1.0/post-z.py"]);
        // 0.0.0's end-scripts run after the versioned folders' ones.
        assert_eq!(paths(&got.end), ["migrations/1.1.0/end-b.py", "migrations/0.0.0/end-a.py"]);
        assert_eq!(got.unreadable_folders, ["not-a-version"]);
        assert_eq!(got.iter().count(), 8);
        assert_eq!(got.stage(Stage::Post), got.post.as_slice());
    }

    #[test]
    fn folder_versions_compare_numerically() {
        let scripts = migration_scripts(FILES);
        let got = select_scripts(&scripts, Some(&v("17.0.1.9")), &v("17.0.1.10"), s17());
        assert_eq!(paths(&got.pre), ["migrations/1.10/pre-ten.py"]);
        assert_eq!(paths(&got.end), ["migrations/0.0.0/end-a.py"]);
    }

    #[test]
    fn zero_folder_runs_first_for_pre_and_last_for_post_and_end() {
        let scripts = migration_scripts([
            "migrations/0.0.0/pre-zero.py",
            "migrations/0.0.0/post-zero.py",
            "migrations/0.0.0/end-zero.py",
            "migrations/1.0.1/pre-a.py",
            "migrations/1.0.1/post-a.py",
            "migrations/1.0.1/end-a.py",
            "upgrades/17.0.1.1.0/pre-b.py",
            "upgrades/17.0.1.1.0/post-b.py",
            "upgrades/17.0.1.1.0/end-b.py",
        ]);
        let got = select_scripts(&scripts, Some(&v("17.0.1.0.0")), &v("17.0.1.1.0"), s17());
        assert_eq!(
            paths(&got.pre),
            ["migrations/0.0.0/pre-zero.py", "migrations/1.0.1/pre-a.py", "upgrades/17.0.1.1.0/pre-b.py"]
        );
        assert_eq!(
            paths(&got.post),
            ["migrations/1.0.1/post-a.py", "upgrades/17.0.1.1.0/post-b.py", "migrations/0.0.0/post-zero.py"]
        );
        assert_eq!(
            paths(&got.end),
            ["migrations/1.0.1/end-a.py", "upgrades/17.0.1.1.0/end-b.py", "migrations/0.0.0/end-zero.py"]
        );
        // What `iter` yields (and so `odoo diff` lists) follows the same order, stage by stage.
        assert_eq!(got.iter().next().map(|s| s.path.as_str()), Some("migrations/0.0.0/pre-zero.py"));
        assert_eq!(got.iter().last().map(|s| s.path.as_str()), Some("migrations/0.0.0/end-zero.py"));
    }

    #[test]
    fn zero_folder_runs_on_upgrade_only() {
        let scripts = migration_scripts(["migrations/0.0.0/pre-always.py"]);
        let run = |from: &str, to: &str| select_scripts(&scripts, Some(&v(from)), &v(to), s17()).pre.len();
        assert_eq!(run("17.0.1.0.0", "17.0.1.0.1"), 1);
        assert_eq!(run("17.0.1.0.0", "17.0.1.0.0"), 0, "same version: a dependent's upgrade runs nothing");
        assert_eq!(run("17.0.1.0.1", "17.0.1.0.0"), 0, "downgrade");
    }

    #[test]
    fn series_less_folders_compare_on_the_module_part_across_series() {
        let scripts = migration_scripts(["migrations/1.1.0/pre-m.py", "migrations/17.0.1.1.0/pre-full.py"]);
        // 16.0.1.0.0 → 17.0.1.1.0: the full 17.0 folder runs, and so does 1.1.0 (module part 1.0.0 < 1.1.0).
        let got = select_scripts(&scripts, Some(&v("16.0.1.0.0")), &v("17.0.1.1.0"), s17());
        assert_eq!(got.pre.len(), 2);
        // 16.0.1.1.0 → 17.0.1.1.0: 1.1.0 already ran under 16.0; only the full folder is newer.
        let got = select_scripts(&scripts, Some(&v("16.0.1.1.0")), &v("17.0.1.1.0"), s17());
        assert_eq!(paths(&got.pre), ["migrations/17.0.1.1.0/pre-full.py"]);
    }

    #[test]
    fn a_new_install_runs_nothing() {
        let scripts = migration_scripts(FILES);
        assert!(select_scripts(&scripts, None, &v("17.0.1.1.0"), s17()).is_empty());
    }
}
