//! A tenant database's installed modules: what `ir_module_module` says (name, state, `latest_version`),
//! read here from a JSON snapshot file.
//!
//! Snapshot format — a JSON list, one object per row of `ir_module_module`:
//!
//! ```json
//! [
//!   {"name": "queue_job", "state": "installed", "latest_version": "17.0.1.3.0"},
//!   {"name": "queue_job_cron", "state": "uninstalled", "latest_version": null}
//! ]
//! ```
//!
//! `state` is one of Odoo's module states (`installed`, `to upgrade`, `to install`, `to remove`,
//! `uninstalled`, `uninstallable`); `latest_version` is the version the module was last installed or
//! upgraded at (`null` or absent if never). Other keys are ignored, so `SELECT row_to_json(m) FROM
//! ir_module_module m` output works as is. A snapshot can be produced with
//! `psql -Atc "SELECT json_agg(json_build_object('name', name, 'state', state, 'latest_version',
//! latest_version)) FROM ir_module_module"`.
//!
//! Not here: reading a live database (an adapter, later) and deciding what an upgrade does
//! ([`crate::upgrade`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::error::OdooError;
use crate::version::ModuleVersion;

/// A module's state in `ir_module_module.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModuleState {
    /// `installed`.
    Installed,
    /// `to upgrade`: marked for upgrade by an earlier, unfinished operation.
    ToUpgrade,
    /// `to install`: marked for installation by an earlier, unfinished operation.
    ToInstall,
    /// `to remove`: marked for removal by an earlier, unfinished operation.
    ToRemove,
    /// `uninstalled`: known to the database, not installed.
    Uninstalled,
    /// `uninstallable`: its manifest says `installable: False` (or it vanished from the addons path).
    Uninstallable,
}

impl ModuleState {
    /// The state as Odoo writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleState::Installed => "installed",
            ModuleState::ToUpgrade => "to upgrade",
            ModuleState::ToInstall => "to install",
            ModuleState::ToRemove => "to remove",
            ModuleState::Uninstalled => "uninstalled",
            ModuleState::Uninstallable => "uninstallable",
        }
    }

    /// Parses a state as Odoo writes it.
    pub fn parse(s: &str) -> Option<ModuleState> {
        [
            ModuleState::Installed,
            ModuleState::ToUpgrade,
            ModuleState::ToInstall,
            ModuleState::ToRemove,
            ModuleState::Uninstalled,
            ModuleState::Uninstallable,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// Whether the module's tables and data are in the database: `installed`, `to upgrade` and
    /// `to remove` (Odoo loads all three when it starts).
    pub fn is_installed(self) -> bool {
        matches!(self, ModuleState::Installed | ModuleState::ToUpgrade | ModuleState::ToRemove)
    }
}

impl fmt::Display for ModuleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `ir_module_module`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledModule {
    /// Technical name.
    pub name: String,
    /// Its state.
    pub state: ModuleState,
    /// `latest_version`: the version last installed or upgraded, if any.
    pub version: Option<ModuleVersion>,
}

/// A tenant database's modules, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledState {
    modules: BTreeMap<String, InstalledModule>,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    state: String,
    #[serde(default)]
    latest_version: Option<String>,
}

impl InstalledState {
    /// A state from rows; a later row of the same name replaces an earlier one.
    pub fn from_modules(modules: impl IntoIterator<Item = InstalledModule>) -> InstalledState {
        InstalledState { modules: modules.into_iter().map(|m| (m.name.clone(), m)).collect() }
    }

    /// Parses a snapshot (see the module documentation); `path` names it in errors.
    pub fn parse_json(text: &str, path: &Path) -> Result<InstalledState, OdooError> {
        let bad = |message: String| OdooError::Snapshot { path: path.to_path_buf(), message };
        let rows: Vec<Row> =
            serde_json::from_str(text).map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
        let mut modules = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            let state = ModuleState::parse(&row.state).ok_or_else(|| {
                bad(format!("module `{}` (entry {}) has unknown state {:?}", row.name, i + 1, row.state))
            })?;
            // Odoo writes '' for some never-installed rows; treat it as no version.
            let version = match row.latest_version.as_deref().filter(|v| !v.is_empty()) {
                None => None,
                Some(v) => Some(ModuleVersion::parse(v).ok_or_else(|| {
                    bad(format!(
                        "module `{}` (entry {}) has latest_version {v:?}, not a dotted version",
                        row.name,
                        i + 1
                    ))
                })?),
            };
            modules.push(InstalledModule { name: row.name, state, version });
        }
        Ok(InstalledState::from_modules(modules))
    }

    /// Reads a snapshot file.
    pub fn read_json(path: &Path) -> Result<InstalledState, OdooError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| OdooError::Io { path: path.to_path_buf(), source })?;
        InstalledState::parse_json(&text, path)
    }

    /// The row of this module, if the database knows it.
    pub fn get(&self, name: &str) -> Option<&InstalledModule> {
        self.modules.get(name)
    }

    /// Every row, by name.
    pub fn iter(&self) -> impl Iterator<Item = &InstalledModule> {
        self.modules.values()
    }

    /// Whether the module is installed (see [`ModuleState::is_installed`]).
    pub fn is_installed(&self, name: &str) -> bool {
        self.get(name).is_some_and(|m| m.state.is_installed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_ignores_extra_keys() {
        let text = r#"[
            {"name": "queue_job", "state": "installed", "latest_version": "17.0.1.3.0", "id": 7},
            {"name": "sale", "state": "uninstalled", "latest_version": null},
            {"name": "stock", "state": "to upgrade", "latest_version": ""},
            {"name": "crm", "state": "uninstallable"}
        ]"#;
        let state = InstalledState::parse_json(text, Path::new("s.json")).unwrap();
        let job = state.get("queue_job").unwrap();
        assert_eq!(job.state, ModuleState::Installed);
        assert_eq!(job.version.as_ref().unwrap().as_str(), "17.0.1.3.0");
        assert_eq!(state.get("sale").unwrap().version, None);
        assert_eq!(state.get("stock").unwrap().state, ModuleState::ToUpgrade);
        assert_eq!(state.get("stock").unwrap().version, None);
        assert!(state.is_installed("stock") && !state.is_installed("sale") && !state.is_installed("crm"));
        assert_eq!(state.iter().count(), 4);
    }

    #[test]
    fn errors_name_the_file_and_the_module() {
        let path = Path::new("tenant.json");
        let err = InstalledState::parse_json(r#"[{"name": "a", "state": "broken"}]"#, path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("tenant.json: module `a` (entry 1) has unknown state \"broken\""), "{msg}");
        let err = InstalledState::parse_json(r#"[{"name": "a", "state": "installed", "latest_version": "1.x"}]"#, path)
            .unwrap_err();
        assert!(err.to_string().contains("not a dotted version"), "{err}");
        let err = InstalledState::parse_json(r#"{"modules": []}"#, path).unwrap_err();
        assert!(err.to_string().contains("line 1 column"), "{err}");
    }
}
