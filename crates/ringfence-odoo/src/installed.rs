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
//! For the checksum strategy the snapshot may instead be an object holding the same list under
//! `modules` plus what click-odoo-update keeps in the database ([`TenantChecksums`]):
//!
//! ```json
//! {
//!   "modules": [{"name": "queue_job", "state": "installed", "latest_version": "17.0.1.3.0"}],
//!   "installed_checksums": {"queue_job": "5f8c…"},
//!   "languages": ["en_US", "fr_BE"],
//!   "exclude_patterns": "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*"
//! }
//! ```
//!
//! `installed_checksums` is the `module_auto_update.installed_checksums` parameter, as a JSON object or
//! as the JSON text the parameter stores; `languages` the active `res_lang` codes; `exclude_patterns`
//! the `module_auto_update.exclude_patterns` parameter (absent: click-odoo-update's default).
//!
//! Not here: reading a live database ([`crate::database`]) and deciding what an upgrade does
//! ([`crate::upgrade`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use crate::checksum::{DEFAULT_EXCLUDE_PATTERNS, HashRules};
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

/// A tenant database's modules, by name, and the checksums click-odoo-update stored, if known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledState {
    modules: BTreeMap<String, InstalledModule>,
    checksums: Option<TenantChecksums>,
}

/// What click-odoo-update keeps in a tenant database to decide which modules changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantChecksums {
    /// `module_auto_update.installed_checksums`: module → hash; `None` where it stored `false` (the
    /// module's directory was not found when the checksums were saved).
    pub installed: BTreeMap<String, Option<String>>,
    /// The active languages (`res_lang.code`), which decide the `.po` files hashed.
    pub languages: Vec<String>,
    /// `module_auto_update.exclude_patterns`, if the database sets it.
    pub exclude_patterns: Option<String>,
}

impl TenantChecksums {
    /// The hashing rules this tenant's checksums were computed with.
    pub fn rules(&self) -> HashRules {
        HashRules::new(self.exclude_patterns.as_deref().unwrap_or(DEFAULT_EXCLUDE_PATTERNS), &self.languages)
    }

    /// Parses the `module_auto_update.installed_checksums` parameter's text (a JSON object of module →
    /// hash, `false` for a module that had no directory); `Err` says what is wrong.
    pub fn parse_parameter(text: &str) -> Result<BTreeMap<String, Option<String>>, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("installed_checksums is not JSON: {e}"))?;
        checksum_map(&value)
    }
}

fn checksum_map(value: &serde_json::Value) -> Result<BTreeMap<String, Option<String>>, String> {
    let object = value.as_object().ok_or("installed_checksums must be a JSON object of module → hash")?;
    object
        .iter()
        .map(|(name, hash)| match hash {
            serde_json::Value::String(h) => Ok((name.clone(), Some(h.clone()))),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok((name.clone(), None)),
            other => Err(format!("installed_checksums[{name:?}] must be a hash string or false, found {other}")),
        })
        .collect()
}

#[derive(Deserialize)]
struct Row {
    name: String,
    state: String,
    #[serde(default)]
    latest_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotObject {
    modules: Vec<Row>,
    #[serde(default)]
    installed_checksums: Option<serde_json::Value>,
    #[serde(default)]
    languages: Vec<String>,
    #[serde(default)]
    exclude_patterns: Option<String>,
}

/// The largest module-state snapshot read: 32 MiB, a hundred times a real one, so a wrong or runaway
/// file is refused before it takes memory (JSON nesting is bounded by serde_json's limit of 128).
pub const MAX_SNAPSHOT_BYTES: u64 = 32 << 20;

impl InstalledState {
    /// A state from rows; a later row of the same name replaces an earlier one.
    pub fn from_modules(modules: impl IntoIterator<Item = InstalledModule>) -> InstalledState {
        InstalledState { modules: modules.into_iter().map(|m| (m.name.clone(), m)).collect(), checksums: None }
    }

    /// The same modules with the checksums click-odoo-update stored for them.
    pub fn with_checksums(self, checksums: TenantChecksums) -> InstalledState {
        InstalledState { checksums: Some(checksums), ..self }
    }

    /// The checksums click-odoo-update stored, if the snapshot or database had them.
    pub fn checksums(&self) -> Option<&TenantChecksums> {
        self.checksums.as_ref()
    }

    /// Parses a snapshot (see the module documentation); `path` names it in errors.
    pub fn parse_json(text: &str, path: &Path) -> Result<InstalledState, OdooError> {
        let bad = |message: String| OdooError::Snapshot { path: path.to_path_buf(), message };
        let at = |e: serde_json::Error| bad(format!("line {} column {}: {e}", e.line(), e.column()));
        let (rows, checksums) = if text.trim_start().starts_with('{') {
            let object: SnapshotObject = serde_json::from_str(text).map_err(at)?;
            let checksums = match object.installed_checksums {
                None => None,
                // The parameter's own text, pasted as a string, or already an object.
                Some(serde_json::Value::String(raw)) => Some(TenantChecksums::parse_parameter(&raw).map_err(bad)?),
                Some(value) => Some(checksum_map(&value).map_err(bad)?),
            };
            let checksums = checksums.map(|installed| TenantChecksums {
                installed,
                languages: object.languages,
                exclude_patterns: object.exclude_patterns,
            });
            (object.modules, checksums)
        } else {
            (serde_json::from_str::<Vec<Row>>(text).map_err(at)?, None)
        };
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
        Ok(InstalledState { checksums, ..InstalledState::from_modules(modules) })
    }

    /// Reads a snapshot file of at most [`MAX_SNAPSHOT_BYTES`].
    pub fn read_json(path: &Path) -> Result<InstalledState, OdooError> {
        use std::io::Read as _;
        let io = |source| OdooError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let mut text = String::new();
        // One byte more than allowed tells a file at the limit from a longer one.
        file.take(MAX_SNAPSHOT_BYTES + 1).read_to_string(&mut text).map_err(io)?;
        if text.len() as u64 > MAX_SNAPSHOT_BYTES {
            return Err(OdooError::Snapshot {
                path: path.to_path_buf(),
                message: format!(
                    "larger than {} MiB, the most Ringfence reads as a tenant's module states; a snapshot of \
                     ir_module_module is a few hundred kilobytes: check that this is the right file",
                    MAX_SNAPSHOT_BYTES >> 20
                ),
            });
        }
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
    fn an_oversized_snapshot_is_refused_before_it_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("installed.json");
        std::fs::File::create(&path).unwrap().set_len(MAX_SNAPSHOT_BYTES + 1).unwrap();
        let err = InstalledState::read_json(&path).unwrap_err().to_string();
        assert!(err.contains("larger than 32 MiB"), "{err}");
        assert!(err.contains("installed.json"), "{err}");
    }

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
    fn an_object_snapshot_carries_the_stored_checksums() {
        let text = r#"{
            "modules": [{"name": "queue_job", "state": "installed", "latest_version": "17.0.1.3.0"}],
            "installed_checksums": "{\"queue_job\": \"abc\", \"gone\": false}",
            "languages": ["fr_BE"]
        }"#;
        let state = InstalledState::parse_json(text, Path::new("s.json")).unwrap();
        let sums = state.checksums().unwrap();
        assert_eq!(sums.installed["queue_job"].as_deref(), Some("abc"));
        assert_eq!(sums.installed["gone"], None);
        assert!(!sums.rules().counts("i18n/de.po") && sums.rules().counts("i18n/fr.po"));
        assert!(state.is_installed("queue_job"));
        let err =
            InstalledState::parse_json(r#"{"modules": [], "installed_checksums": {"a": 1}}"#, Path::new("s.json"))
                .unwrap_err();
        assert!(err.to_string().contains("must be a hash string or false"), "{err}");
        let err = InstalledState::parse_json(r#"{"modules": [], "checksums": {}}"#, Path::new("s.json")).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
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
        let err = InstalledState::parse_json(r#"{"modules": 3}"#, path).unwrap_err();
        assert!(err.to_string().contains("line 1 column"), "{err}");
    }
}
