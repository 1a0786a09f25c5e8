//! Lists the migration scripts an addon ships: `migrations/<folder>/` and `upgrades/<folder>/` holding
//! `pre-*.py`, `post-*.py` and `end-*.py`, the files Odoo runs around a module upgrade.
//!
//! Not here: choosing which folders run for a given installed → new version (that needs the tenant's
//! installed versions), and reading the scripts.

use std::fmt;

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
