//! The typed manifest: the keys of `__manifest__.py` (or legacy `__openerp__.py`) that change analysis
//! uses, checked for type with file:line:col, on top of the literal tree from [`crate::literal`].
//!
//! Not here: Odoo's defaults that need the addon directory (icon, README description) and keys Ringfence
//! does not use (they stay readable through [`Manifest::value`]).

use std::path::{Path, PathBuf};

use crate::error::OdooError;
use crate::literal::{Pos, Value, ValueKind, parse_literal};
use crate::version::{ModuleVersion, Series};

/// File names Odoo looks for in an addon directory, preferred first.
pub const MANIFEST_NAMES: [&str; 2] = ["__manifest__.py", "__openerp__.py"];

/// Odoo's default when a manifest has no `version`.
const DEFAULT_VERSION: &str = "1.0";

/// When Odoo installs a module on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoInstall {
    /// `False` (never on its own) or `True` (as soon as all its dependencies are installed).
    Bool(bool),
    /// As soon as all of these dependencies (a subset of `depends`) are installed.
    List(Vec<String>),
}

impl AutoInstall {
    /// The dependencies whose installation triggers this module, or `None` if it is never auto-installed.
    pub fn triggers<'a>(&'a self, depends: &'a [String]) -> Option<&'a [String]> {
        match self {
            AutoInstall::Bool(false) => None,
            AutoInstall::Bool(true) => Some(depends),
            AutoInstall::List(list) => Some(list),
        }
    }
}

/// `external_dependencies`: what the image must provide besides Odoo modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalDependencies {
    /// Python distributions (pip requirement names as written).
    pub python: Vec<String>,
    /// Executables on PATH.
    pub bin: Vec<String>,
}

/// A manifest's keys that change analysis needs, type-checked.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from (for a wheel: `WHEEL!entry`), used in later errors.
    pub file: PathBuf,
    /// `name`: the human-readable title.
    pub name: Option<String>,
    /// `version` as written; see [`Manifest::version`] for the normalised one.
    pub version: Option<String>,
    version_pos: Option<Pos>,
    /// `depends`: technical names of the modules this one needs.
    pub depends: Vec<String>,
    /// `auto_install`.
    pub auto_install: AutoInstall,
    /// `installable` (default `True`).
    pub installable: bool,
    /// `external_dependencies`.
    pub external_dependencies: ExternalDependencies,
    /// `data`: files loaded on install and upgrade, in order.
    pub data: Vec<String>,
    /// `license` as written (Odoo assumes `LGPL-3` when it is absent).
    pub license: Option<String>,
    /// `category`.
    pub category: Option<String>,
    /// The whole literal, for keys not lifted into fields.
    pub value: Value,
}

impl Manifest {
    /// Parses manifest source text; `file` names it in errors.
    pub fn parse(src: &str, file: &Path) -> Result<Manifest, OdooError> {
        let value = parse_literal(src, file)?;
        Manifest::from_value(value, file)
    }

    /// Reads and parses a manifest file (UTF-8, as Odoo reads it).
    pub fn read(path: &Path) -> Result<Manifest, OdooError> {
        let bytes = std::fs::read(path).map_err(|source| OdooError::Io { path: path.to_path_buf(), source })?;
        Manifest::parse(&utf8(bytes, path)?, path)
    }

    /// Types the keys of an already parsed literal.
    pub fn from_value(value: Value, file: &Path) -> Result<Manifest, OdooError> {
        let typed = Typer { file };
        if !matches!(value.kind, ValueKind::Dict(_)) {
            return Err(typed.wrong(&value, "manifest", "a dict"));
        }
        let depends = match value.get("depends") {
            Some(v) => typed.strings(v, "depends")?,
            None => Vec::new(),
        };
        let auto_install = match value.get("auto_install") {
            None => AutoInstall::Bool(false),
            Some(Value { kind: ValueKind::Bool(b), .. }) => AutoInstall::Bool(*b),
            Some(v) => {
                if v.as_sequence().is_none() {
                    return Err(typed.wrong(v, "auto_install", "True, False or a list of strings"));
                }
                let list = typed.strings(v, "auto_install")?;
                // Odoo refuses an auto_install trigger that is not also a dependency.
                if let Some(extra) = list.iter().find(|d| !depends.contains(d)) {
                    return Err(OdooError::ManifestType {
                        file: file.to_path_buf(),
                        line: v.pos.line,
                        col: v.pos.col,
                        key: "auto_install".into(),
                        expected: "a subset of `depends`",
                        found: format!("`{extra}`, which is not in depends"),
                    });
                }
                AutoInstall::List(list)
            }
        };
        let installable = match value.get("installable") {
            None => true,
            Some(v) => typed.boolean(v, "installable")?,
        };
        let external_dependencies = match value.get("external_dependencies") {
            None => ExternalDependencies::default(),
            Some(v) if matches!(v.kind, ValueKind::Dict(_)) => ExternalDependencies {
                python: v
                    .get("python")
                    .map(|p| typed.strings(p, "external_dependencies.python"))
                    .transpose()?
                    .unwrap_or_default(),
                bin: v
                    .get("bin")
                    .map(|p| typed.strings(p, "external_dependencies.bin"))
                    .transpose()?
                    .unwrap_or_default(),
            },
            Some(v) => return Err(typed.wrong(v, "external_dependencies", "a dict")),
        };
        let data = match value.get("data") {
            Some(v) => typed.strings(v, "data")?,
            None => Vec::new(),
        };
        let version_value = value.get("version");
        let version = version_value.map(|v| typed.string(v, "version")).transpose()?;
        Ok(Manifest {
            file: file.to_path_buf(),
            name: value.get("name").map(|v| typed.string(v, "name")).transpose()?,
            version,
            version_pos: version_value.map(|v| v.pos),
            depends,
            auto_install,
            installable,
            external_dependencies,
            data,
            license: value.get("license").map(|v| typed.string(v, "license")).transpose()?,
            category: value.get("category").map(|v| typed.string(v, "category")).transpose()?,
            value,
        })
    }

    /// The version normalised against `series` (Odoo's default `1.0` when absent), as Odoo stores it.
    pub fn version(&self, series: Series) -> Result<ModuleVersion, OdooError> {
        let raw = self.version.as_deref().unwrap_or(DEFAULT_VERSION);
        ModuleVersion::normalise(raw, series).map_err(|reason| {
            let pos = self.version_pos.unwrap_or(self.value.pos);
            OdooError::Version {
                file: self.file.clone(),
                line: pos.line,
                col: pos.col,
                version: raw.to_string(),
                series: series.to_string(),
                reason,
            }
        })
    }
}

/// Decodes manifest bytes as UTF-8 or says where they are not.
pub(crate) fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String, OdooError> {
    String::from_utf8(bytes)
        .map_err(|e| OdooError::NotUtf8 { path: path.to_path_buf(), offset: e.utf8_error().valid_up_to() })
}

struct Typer<'a> {
    file: &'a Path,
}

impl Typer<'_> {
    fn wrong(&self, v: &Value, key: &str, expected: &'static str) -> OdooError {
        OdooError::ManifestType {
            file: self.file.to_path_buf(),
            line: v.pos.line,
            col: v.pos.col,
            key: key.to_string(),
            expected,
            found: v.type_name().to_string(),
        }
    }

    fn string(&self, v: &Value, key: &str) -> Result<String, OdooError> {
        v.as_str().map(str::to_string).ok_or_else(|| self.wrong(v, key, "a string"))
    }

    fn boolean(&self, v: &Value, key: &str) -> Result<bool, OdooError> {
        match v.kind {
            ValueKind::Bool(b) => Ok(b),
            _ => Err(self.wrong(v, key, "True or False")),
        }
    }

    fn strings(&self, v: &Value, key: &str) -> Result<Vec<String>, OdooError> {
        let items = v.as_sequence().ok_or_else(|| self.wrong(v, key, "a list of strings"))?;
        items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| self.wrong(item, key, "a list of strings")))
            .collect()
    }
}
