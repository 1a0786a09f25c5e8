//! The facts classification reads, as plain data: [`RiskInput`] for one tenant or for the release as a
//! whole, with conversions from Odoo change analysis, SQL lint findings and (later) rehearsal results.
//! Every field is a fact that is either there or not, so adding one can only add reasons.
//!
//! Not here: deciding what a fact weighs (`rules`, `classify`).

use std::collections::BTreeSet;

use ringfence_core::Duration;
use ringfence_lint::{Finding, LockMode, Severity};
use ringfence_odoo::facts::{ReleaseFacts, TenantFacts};
use serde::{Deserialize, Serialize};

/// What a release changes, for one tenant (`tenant` set) or release-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RiskInput {
    /// The tenant these facts are about; `None` for release-wide facts.
    pub tenant: Option<String>,
    /// Only configuration changes: same image, same addons.
    pub config_only: bool,
    /// Only the image changes: no addon content does.
    pub image_only: bool,
    /// Addons change only under `static/`.
    pub assets_only: bool,
    /// Addon content could not be compared with what runs now (no previous trees).
    pub content_unknown: bool,
    /// Some module's code changes without a module upgrade (names unknown, e.g. no version bump).
    pub code_changed: bool,
    /// Modules the release upgrades, installs, adds or changes.
    pub modules: Vec<ModuleInput>,
    /// Modules gone from the release's addon trees.
    pub removed: Vec<String>,
    /// Modules installed or needed that the release does not have.
    pub missing: Vec<String>,
    /// Modules that cannot load (missing dependency or cycle).
    pub blocked: Vec<String>,
    /// Migration scripts that run.
    pub scripts: Vec<ScriptInput>,
    /// SQL those scripts execute.
    pub sql: Vec<SqlInput>,
    /// Python distributions the image must newly provide.
    pub python_added: Vec<Dependency>,
    /// Executables the image must newly provide.
    pub bin_added: Vec<Dependency>,
    /// SQL lint findings on the migration's SQL.
    pub lint: Vec<LintInput>,
    /// What a rehearsal of the migration measured, once there is one.
    pub rehearsal: Option<RehearsalResult>,
}

/// How a module changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Upgraded (`-u`), usually a version bump.
    Upgrade,
    /// Newly installed on the tenant.
    Install,
    /// New in the release's addon trees.
    Added,
    /// Its code changes without an upgrade.
    Code,
    /// Only files under `static/` change.
    Assets,
}

/// A module the release changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModuleInput {
    /// Technical name.
    pub module: String,
    /// How it changes.
    pub kind: ChangeKind,
    /// Version before, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Version after, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl ModuleInput {
    /// A module changing `kind`-wise, versions unknown.
    pub fn new(module: impl Into<String>, kind: ChangeKind) -> ModuleInput {
        ModuleInput { module: module.into(), kind, from: None, to: None }
    }
}

/// A migration script that runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptInput {
    /// Technical name of its module.
    pub module: String,
    /// Path relative to the addon.
    pub path: String,
}

/// SQL a migration script executes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlInput {
    /// `module/path` of the script.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// The SQL text; `None` when it is built at run time.
    pub sql: Option<String>,
}

/// An external dependency the image must newly provide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dependency {
    /// The module that needs it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Distribution or executable name.
    pub name: String,
}

/// What a statement does to the table's rows while it holds its lock (mirrors the linter's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableWork {
    /// Catalog change only.
    None,
    /// Reads every row.
    Scan,
    /// Builds an index.
    IndexBuild,
    /// Writes a new copy of the table.
    Rewrite,
}

/// One SQL lint finding, as much of it as classification needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LintInput {
    /// The lint rule's id, e.g. `add-column-rewrite`.
    pub rule: String,
    /// The file or script.
    pub source: String,
    /// 1-based line.
    pub line: u32,
    /// The table or index concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The statement takes ACCESS EXCLUSIVE.
    pub access_exclusive: bool,
    /// What it does to the rows while locked.
    pub work: TableWork,
    /// The statement fails as written.
    pub fails: bool,
}

/// What a rehearsal of the migration on a clone measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RehearsalResult {
    /// Longest time another session waited on the migration's locks.
    pub max_blocking: Duration,
    /// How long the migration took.
    pub duration: Duration,
    /// Errors it reported (empty when it succeeded).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl RiskInput {
    /// A change of configuration only.
    pub fn config_only() -> RiskInput {
        RiskInput { config_only: true, ..RiskInput::default() }
    }

    /// These facts, for `tenant`.
    pub fn for_tenant(mut self, tenant: impl Into<String>) -> RiskInput {
        self.tenant = Some(tenant.into());
        self
    }

    /// These facts plus the lint findings on their SQL.
    pub fn with_lint<'a>(mut self, findings: impl IntoIterator<Item = &'a Finding>) -> RiskInput {
        self.lint.extend(findings.into_iter().map(LintInput::from));
        self
    }

    /// These facts plus a rehearsal's result.
    pub fn with_rehearsal(mut self, rehearsal: RehearsalResult) -> RiskInput {
        self.rehearsal = Some(rehearsal);
        self
    }
}

impl From<&Finding> for LintInput {
    fn from(f: &Finding) -> LintInput {
        LintInput {
            rule: f.rule.id().to_owned(),
            source: f.source.clone(),
            line: f.line,
            object: f.object.clone(),
            access_exclusive: f.lock == Some(LockMode::AccessExclusive),
            work: match f.work {
                ringfence_lint::TableWork::None => TableWork::None,
                ringfence_lint::TableWork::Scan => TableWork::Scan,
                ringfence_lint::TableWork::IndexBuild => TableWork::IndexBuild,
                ringfence_lint::TableWork::Rewrite => TableWork::Rewrite,
            },
            fails: f.severity == Severity::Error,
        }
    }
}

impl From<&ReleaseFacts> for RiskInput {
    /// The release-wide facts. Module content changes count as upgrades when the version moves, as
    /// assets when only `static/` changed, and as code changes otherwise.
    fn from(r: &ReleaseFacts) -> RiskInput {
        let mut modules: Vec<ModuleInput> =
            r.modules_added.iter().map(|m| ModuleInput::new(m.clone(), ChangeKind::Added)).collect();
        let mut scripts = Vec::new();
        for delta in &r.modules_changed {
            let kind = if delta.assets_only {
                ChangeKind::Assets
            } else if delta.from_version != delta.to_version {
                ChangeKind::Upgrade
            } else {
                ChangeKind::Code
            };
            modules.push(ModuleInput {
                module: delta.module.clone(),
                kind,
                from: Some(delta.from_version.clone()),
                to: Some(delta.to_version.clone()),
            });
            scripts.extend(delta.scripts.iter().map(|p| ScriptInput { module: delta.module.clone(), path: p.clone() }));
        }
        // Name the module that asks for each new dependency, when one does.
        let needed_by = |kind: &str, name: &str| {
            r.dependency_changes
                .iter()
                .find(|d| d.kind == kind && d.added.iter().any(|a| a == name))
                .map(|d| d.module.clone())
        };
        let deps = |kind: &str, names: &[String]| {
            names.iter().map(|n| Dependency { module: needed_by(kind, n), name: n.clone() }).collect()
        };
        RiskInput {
            tenant: None,
            image_only: r.image_only,
            assets_only: r.assets_only,
            modules,
            removed: r.modules_removed.clone(),
            scripts,
            python_added: deps("python", &r.python_added),
            bin_added: deps("bin", &r.bin_added),
            ..RiskInput::default()
        }
    }
}

impl From<&TenantFacts> for RiskInput {
    /// One tenant's facts. Without previous trees (`image_only` unknown) the content is unknown;
    /// critical modules whose content changes without an upgrade count as code changes.
    fn from(t: &TenantFacts) -> RiskInput {
        let module = |kind: ChangeKind| {
            move |m: &ringfence_odoo::facts::ModuleFact| ModuleInput {
                module: m.module.clone(),
                kind,
                from: m.from.clone(),
                to: m.to.clone(),
            }
        };
        let mut modules: Vec<ModuleInput> = t.upgrade.iter().map(module(ChangeKind::Upgrade)).collect();
        modules.extend(t.install.iter().map(module(ChangeKind::Install)));
        let listed: BTreeSet<&str> =
            modules.iter().map(|m| m.module.as_str()).chain(t.missing.iter().map(String::as_str)).collect();
        // Critical modules the tenant has whose content changes; an assets-only tenant's are assets.
        let kind = if t.assets_only == Some(true) { ChangeKind::Assets } else { ChangeKind::Code };
        let changed: Vec<ModuleInput> = t
            .critical_domains
            .iter()
            .filter(|c| !listed.contains(c.module.as_str()))
            .map(|c| ModuleInput::new(c.module.clone(), kind))
            .collect();
        modules.extend(changed);
        let deps = |kind: &str| {
            t.dependency_changes
                .iter()
                .filter(|d| d.kind == kind)
                .flat_map(|d| d.added.iter().map(|n| Dependency { module: Some(d.module.clone()), name: n.clone() }))
                .collect()
        };
        let nothing_planned = t.upgrade.is_empty() && t.install.is_empty() && t.missing.is_empty();
        RiskInput {
            tenant: Some(t.tenant.clone()),
            config_only: false,
            image_only: t.image_only == Some(true),
            assets_only: t.assets_only == Some(true),
            content_unknown: t.image_only.is_none(),
            // Content differs, not only under static/, and nothing is upgraded: the code changes at the restart.
            code_changed: nothing_planned && t.image_only == Some(false) && t.assets_only == Some(false),
            modules,
            removed: Vec::new(),
            missing: t.missing.clone(),
            blocked: t.blocked.clone(),
            scripts: t.scripts.iter().map(|s| ScriptInput { module: s.module.clone(), path: s.path.clone() }).collect(),
            sql: t.sql.iter().map(|s| SqlInput { file: s.file.clone(), line: s.line, sql: s.sql.clone() }).collect(),
            python_added: deps("python"),
            bin_added: deps("bin"),
            lint: Vec::new(),
            rehearsal: None,
        }
    }
}
