//! Change facts: what a release changes, as data the risk rules read. For the release as a whole
//! (OLD addon trees → NEW): modules added, removed and changed (with the files that changed and
//! whether only `static/` did), external dependency changes, critical domains touched, and whether
//! the release is image-only (no addon content changed) or assets-only. Per tenant: the modules its
//! upgrade touches, the scripts and SQL that run, the critical domains and dependency changes that
//! concern the modules it has, and the same image-only / assets-only verdicts for its modules.
//!
//! [`analyse`] ties it together for one tenant (hashing, planning, reading the scripts' SQL); the
//! `ringfence odoo diff` command and the benchmark both go through it. Not here: the risk tier the
//! facts lead to (a policy decision), printing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::checksum::{AddonDigest, HashRules, digest_set, fnmatch};
use crate::error::OdooError;
use crate::installed::InstalledState;
use crate::migrations::{Stage, select_scripts};
use crate::sql::{Sql, SqlStatement, extract_sql};
use crate::tree::AddonSet;
use crate::upgrade::{Checksums, ModuleChange, ModuleScripts, Strategy, UpgradePlan, plan_upgrade};
use crate::version::Series;

/// Module-name globs for money, stock, orders and integrations, the default critical domains.
/// `pos_*` besides `point_of_sale*` because Odoo's and OCA's POS addons are named `pos_…`.
pub const DEFAULT_CRITICAL_DOMAINS: [&str; 10] = [
    "account*",
    "stock*",
    "sale*",
    "point_of_sale*",
    "pos_*",
    "payment*",
    "website_sale*",
    "l10n_*",
    "queue_job",
    "*connector*",
];

/// Which modules are critical: module-name globs (`fnmatch` syntax), the first match names the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriticalDomains {
    globs: Vec<String>,
}

impl Default for CriticalDomains {
    fn default() -> CriticalDomains {
        CriticalDomains::new(DEFAULT_CRITICAL_DOMAINS)
    }
}

impl CriticalDomains {
    /// Domains from globs such as `account*` or `*connector*`.
    pub fn new(globs: impl IntoIterator<Item = impl Into<String>>) -> CriticalDomains {
        CriticalDomains { globs: globs.into_iter().map(Into::into).collect() }
    }

    /// The glob a module matches, if it is critical.
    pub fn domain_of(&self, module: &str) -> Option<&str> {
        self.globs.iter().find(|g| fnmatch(module, g)).map(String::as_str)
    }

    fn touches<'a>(&self, modules: impl IntoIterator<Item = &'a str>) -> Vec<CriticalTouch> {
        let set: BTreeSet<&str> = modules.into_iter().collect();
        set.into_iter()
            .filter_map(|m| self.domain_of(m).map(|d| CriticalTouch { module: m.to_owned(), domain: d.to_owned() }))
            .collect()
    }
}

/// A critical module a change touches, and the domain glob it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CriticalTouch {
    /// Technical name.
    pub module: String,
    /// The glob from the critical-domain list it matched.
    pub domain: String,
}

/// A change of one module's `external_dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyChange {
    /// Technical name.
    pub module: String,
    /// `python` (pip distributions) or `bin` (executables).
    pub kind: &'static str,
    /// Entries in NEW and not in OLD.
    pub added: Vec<String>,
    /// Entries in OLD and not in NEW.
    pub removed: Vec<String>,
}

/// One module whose content differs between OLD and NEW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleDelta {
    /// Technical name.
    pub module: String,
    /// Manifest version in OLD, normalised (as written if it cannot be).
    pub from_version: String,
    /// Manifest version in NEW, normalised (as written if it cannot be).
    pub to_version: String,
    /// click-odoo-update checksum in OLD.
    pub checksum_from: String,
    /// click-odoo-update checksum in NEW; equal to `checksum_from` when only excluded files changed.
    pub checksum_to: String,
    /// Files added, removed or modified (relative to the addon).
    pub changed_files: Vec<String>,
    /// Every changed file is under `static/` (web assets, icons): no `-u` is needed for it.
    pub assets_only: bool,
    /// Migration scripts a database at the OLD version runs on the way to NEW (relative paths).
    pub scripts: Vec<String>,
}

/// What a release changes, whatever the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseFacts {
    /// Modules in NEW and not in OLD.
    pub modules_added: Vec<String>,
    /// Modules in OLD and not in NEW: a tenant that has one installed cannot upgrade.
    pub modules_removed: Vec<String>,
    /// Modules whose content differs, by name.
    pub modules_changed: Vec<ModuleDelta>,
    /// Per-module `external_dependencies` changes (modules added or removed count whole).
    pub dependency_changes: Vec<DependencyChange>,
    /// Python distributions some NEW addon needs and no OLD addon did: the image must provide them.
    pub python_added: Vec<String>,
    /// Python distributions no NEW addon needs any more.
    pub python_removed: Vec<String>,
    /// Executables some NEW addon needs and no OLD addon did.
    pub bin_added: Vec<String>,
    /// Executables no NEW addon needs any more.
    pub bin_removed: Vec<String>,
    /// Critical modules among those added, removed or changed.
    pub critical_domains: Vec<CriticalTouch>,
    /// The same modules' names alone.
    pub critical_domains_touched: Vec<String>,
    /// No addon was added, removed or changed: only the image (Odoo, system, Python packages) differs.
    pub image_only: bool,
    /// Some addon changed, and only under `static/`; none added or removed.
    pub assets_only: bool,
}

/// A module in a tenant's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleFact {
    /// Technical name.
    pub module: String,
    /// Installed version; `null` for a new install.
    pub from: Option<String>,
    /// New version; `null` for a module the image provides.
    pub to: Option<String>,
    /// Why it is in the plan, for people.
    pub why: String,
    /// Its critical domain, if any.
    pub critical: Option<String>,
}

/// A migration script that runs for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptFact {
    /// Technical name of the module.
    pub module: String,
    /// `pre`, `post` or `end`.
    pub stage: &'static str,
    /// Its version folder.
    pub folder: String,
    /// Path relative to the addon.
    pub path: String,
}

/// SQL a script passes to `cr.execute`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SqlFact {
    /// `module/path` of the script.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// The SQL text, when it is a literal.
    pub sql: Option<String>,
    /// The literal is `%`- or `.format`-formatted, so what runs differs from `sql`.
    pub formatted: bool,
    /// What the argument is, when the SQL is built at run time.
    pub dynamic: Option<String>,
}

impl From<&SqlStatement> for SqlFact {
    fn from(s: &SqlStatement) -> SqlFact {
        let (sql, formatted, dynamic) = match &s.sql {
            Sql::Literal { text, formatted } => (Some(text.clone()), *formatted, None),
            Sql::Dynamic { found } => (None, false, Some(found.clone())),
        };
        SqlFact { file: s.file.clone(), line: s.line, sql, formatted, dynamic }
    }
}

/// What a release does to one tenant database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantFacts {
    /// Which tenant (a name, snapshot file or database), as the caller labels it.
    pub tenant: String,
    /// `version-bump`, `checksum` or `explicit`.
    pub strategy: &'static str,
    /// Modules upgraded, by name.
    pub upgrade: Vec<ModuleFact>,
    /// Modules newly installed, by name.
    pub install: Vec<ModuleFact>,
    /// Installed or needed modules that the new trees do not have: the upgrade would break.
    pub missing: Vec<String>,
    /// Modules that cannot load because a dependency is missing or in a cycle.
    pub blocked: Vec<String>,
    /// Explicitly listed modules that are not installed (ignored, as Odoo does).
    pub ignored: Vec<String>,
    /// Installed modules whose checksum could not be computed (they come from the image).
    pub unchecked: Vec<String>,
    /// The order Odoo processes the upgraded and installed modules in.
    pub order: Vec<String>,
    /// Migration scripts that run, in order.
    pub scripts: Vec<ScriptFact>,
    /// SQL those scripts execute.
    pub sql: Vec<SqlFact>,
    /// Critical modules the tenant upgrades, installs or loses, or has and whose content changes.
    pub critical_domains: Vec<CriticalTouch>,
    /// The same modules' names alone.
    pub critical_domains_touched: Vec<String>,
    /// `external_dependencies` changes of modules it upgrades or installs (a new install counts whole).
    pub dependency_changes: Vec<DependencyChange>,
    /// None of its modules changes content and nothing is installed or missing; `null` without OLD trees.
    pub image_only: Option<bool>,
    /// Its modules change only under `static/` and nothing is upgraded, installed or missing; `null`
    /// without OLD trees.
    pub assets_only: Option<bool>,
    /// Nothing is missing or blocked.
    pub safe_to_run: bool,
}

/// Which strategy [`analyse`] plans with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyChoice {
    /// Modules whose manifest version is higher than installed.
    VersionBump,
    /// Modules whose content hash differs from the stored one (or from OLD's, when the tenant has none).
    Checksum,
    /// These modules.
    Explicit(Vec<String>),
}

/// What [`analyse`] needs besides the trees and the tenant.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// The Odoo series the image runs.
    pub series: Series,
    /// Modules the image provides outside the trees.
    pub image_modules: BTreeSet<String>,
    /// How modules to upgrade are chosen.
    pub strategy: StrategyChoice,
    /// Which modules are critical.
    pub critical: CriticalDomains,
}

/// The result of [`analyse`].
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The release as a whole; `None` without OLD trees.
    pub release: Option<ReleaseFacts>,
    /// The tenant.
    pub tenant: TenantFacts,
    /// The plan the tenant facts come from.
    pub plan: UpgradePlan,
    /// The SQL statements behind [`TenantFacts::sql`], for printing with their `Display`.
    pub sql: Vec<SqlStatement>,
}

/// Hashes both trees, plans the tenant's upgrade, reads the SQL of the scripts that run, and sums it
/// all up. Without `old`, release facts and the image-only / assets-only verdicts are unknown, and the
/// checksum strategy needs checksums stored for the tenant.
pub fn analyse(
    tenant: &str,
    old: Option<&AddonSet>,
    new: &AddonSet,
    installed: &InstalledState,
    options: &AnalysisOptions,
) -> Result<Analysis, OdooError> {
    let rules = rules_for(installed);
    let new_digests = digest_set(new, &rules)?;
    let old_digests = old.map(|o| digest_set(o, &rules)).transpose()?;
    let (strategy, strategy_name) = match &options.strategy {
        StrategyChoice::VersionBump => (Strategy::VersionBump, "version-bump"),
        StrategyChoice::Explicit(names) => (Strategy::Explicit(names.clone()), "explicit"),
        StrategyChoice::Checksum => {
            let stored = match (installed.checksums(), &old_digests) {
                (Some(sums), _) => sums.installed.clone(),
                // The tenant runs OLD and its checksums were saved then (click-odoo-update saves
                // them after every update).
                (None, Some(old)) => old.iter().map(|(n, d)| (n.clone(), Some(d.checksum.clone()))).collect(),
                (None, None) => return Err(OdooError::NoStoredChecksums),
            };
            let current = new_digests.iter().map(|(n, d)| (n.clone(), d.checksum.clone())).collect();
            (Strategy::Checksum(Checksums { stored, current }), "checksum")
        }
    };
    let plan = plan_upgrade(installed, new, options.series, &options.image_modules, &strategy)?;
    let scripts = plan.scripts(new, options.series);
    let mut sql = Vec::new();
    for module in &scripts {
        let Some(addon) = new.get(&module.module) else { continue };
        for script in module.scripts.iter() {
            let text = addon.read_text(&script.path)?;
            sql.extend(extract_sql(&text, &format!("{}/{}", module.module, script.path)));
        }
    }
    let release = match (old, &old_digests) {
        (Some(old), Some(old_digests)) => {
            Some(release_facts(old, new, old_digests, &new_digests, options.series, &options.critical))
        }
        _ => None,
    };
    let tenant = tenant_facts(
        tenant,
        strategy_name,
        installed,
        &plan,
        &scripts,
        &sql,
        old,
        new,
        release.as_ref(),
        &options.critical,
    );
    Ok(Analysis { release, tenant, plan, sql })
}

/// The release's facts from both trees and their digests (computed with the same rules).
pub fn release_facts(
    old: &AddonSet,
    new: &AddonSet,
    old_digests: &BTreeMap<String, AddonDigest>,
    new_digests: &BTreeMap<String, AddonDigest>,
    series: Series,
    critical: &CriticalDomains,
) -> ReleaseFacts {
    let names = |set: &AddonSet| set.iter().map(|a| a.name.clone()).collect::<BTreeSet<_>>();
    let (before, after) = (names(old), names(new));
    let modules_added: Vec<String> = after.difference(&before).cloned().collect();
    let modules_removed: Vec<String> = before.difference(&after).cloned().collect();
    let version = |set: &AddonSet, name: &str| {
        let a = set.get(name).expect("name comes from the set");
        a.manifest
            .version(series)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_else(|_| a.manifest.version.clone().unwrap_or_default())
    };
    let mut modules_changed = Vec::new();
    for name in before.intersection(&after) {
        let (Some(o), Some(n)) = (old_digests.get(name), new_digests.get(name)) else { continue };
        let changed_files = n.changed_files(o);
        if changed_files.is_empty() {
            continue;
        }
        let (from_addon, to_addon) = (old.get(name).expect("in old"), new.get(name).expect("in new"));
        let scripts = match (from_addon.manifest.version(series), to_addon.manifest.version(series)) {
            (Ok(from), Ok(to)) if to > from => select_scripts(&to_addon.migration_scripts(), Some(&from), &to, series)
                .iter()
                .map(|s| s.path.clone())
                .collect(),
            _ => Vec::new(),
        };
        modules_changed.push(ModuleDelta {
            module: name.clone(),
            from_version: version(old, name),
            to_version: version(new, name),
            checksum_from: o.checksum.clone(),
            checksum_to: n.checksum.clone(),
            assets_only: changed_files.iter().all(|f| f.starts_with("static/")),
            changed_files,
            scripts,
        });
    }

    let mut dependency_changes = Vec::new();
    for name in before.union(&after) {
        let deps = |set: &AddonSet| set.get(name).map(|a| a.manifest.external_dependencies.clone()).unwrap_or_default();
        let (o, n) = (deps(old), deps(new));
        dependency_changes.extend(dependency_change(name, "python", &o.python, &n.python));
        dependency_changes.extend(dependency_change(name, "bin", &o.bin, &n.bin));
    }
    let all = |set: &AddonSet, python: bool| -> BTreeSet<String> {
        set.iter()
            .filter(|a| a.manifest.installable)
            .flat_map(|a| {
                let deps = &a.manifest.external_dependencies;
                if python { deps.python.clone() } else { deps.bin.clone() }
            })
            .collect()
    };
    let diff = |o: BTreeSet<String>, n: BTreeSet<String>| -> (Vec<String>, Vec<String>) {
        (n.difference(&o).cloned().collect(), o.difference(&n).cloned().collect())
    };
    let (python_added, python_removed) = diff(all(old, true), all(new, true));
    let (bin_added, bin_removed) = diff(all(old, false), all(new, false));

    let touched = modules_added
        .iter()
        .chain(&modules_removed)
        .map(String::as_str)
        .chain(modules_changed.iter().map(|m| m.module.as_str()));
    let critical_domains = critical.touches(touched);
    let nothing_added_or_removed = modules_added.is_empty() && modules_removed.is_empty();
    ReleaseFacts {
        image_only: nothing_added_or_removed && modules_changed.is_empty(),
        assets_only: nothing_added_or_removed
            && !modules_changed.is_empty()
            && modules_changed.iter().all(|m| m.assets_only),
        modules_added,
        modules_removed,
        modules_changed,
        dependency_changes,
        python_added,
        python_removed,
        bin_added,
        bin_removed,
        critical_domains_touched: critical_domains.iter().map(|t| t.module.clone()).collect(),
        critical_domains,
    }
}

fn dependency_change(module: &str, kind: &'static str, old: &[String], new: &[String]) -> Option<DependencyChange> {
    let (o, n): (BTreeSet<&String>, BTreeSet<&String>) = (old.iter().collect(), new.iter().collect());
    let added: Vec<String> = n.difference(&o).map(|s| s.to_string()).collect();
    let removed: Vec<String> = o.difference(&n).map(|s| s.to_string()).collect();
    (!added.is_empty() || !removed.is_empty()).then(|| DependencyChange {
        module: module.to_owned(),
        kind,
        added,
        removed,
    })
}

/// One tenant's facts from its plan and what the scripts execute; `release` (with `old`) adds
/// the content comparison.
#[allow(clippy::too_many_arguments)]
pub fn tenant_facts(
    tenant: &str,
    strategy: &'static str,
    installed: &InstalledState,
    plan: &UpgradePlan,
    scripts: &[ModuleScripts],
    sql: &[SqlStatement],
    old: Option<&AddonSet>,
    new: &AddonSet,
    release: Option<&ReleaseFacts>,
    critical: &CriticalDomains,
) -> TenantFacts {
    let fact = |c: &ModuleChange| ModuleFact {
        module: c.name.clone(),
        from: c.from.as_ref().map(|v| v.as_str().to_owned()),
        to: c.to.as_ref().map(|v| v.as_str().to_owned()),
        why: c.reason.to_string(),
        critical: critical.domain_of(&c.name).map(str::to_owned),
    };
    let script_rows = scripts
        .iter()
        .flat_map(|m| {
            [(Stage::Pre, "pre"), (Stage::Post, "post"), (Stage::End, "end")].into_iter().flat_map(
                move |(stage, label)| {
                    m.scripts.stage(stage).iter().map(move |s| ScriptFact {
                        module: m.module.clone(),
                        stage: label,
                        folder: s.folder.clone(),
                        path: s.path.clone(),
                    })
                },
            )
        })
        .collect();

    let has = |name: &str| installed.is_installed(name);
    let upgraded_or_installed: BTreeSet<&str> =
        plan.upgrade.iter().chain(&plan.install).map(|c| c.name.as_str()).collect();
    // The tenant's content changes: modules it has whose files differ in the release.
    let changed: Vec<&ModuleDelta> =
        release.map(|r| r.modules_changed.iter().filter(|m| has(&m.module)).collect()).unwrap_or_default();
    let touched = upgraded_or_installed
        .iter()
        .copied()
        .chain(changed.iter().map(|m| m.module.as_str()))
        .chain(plan.missing.iter().map(String::as_str));
    let critical_domains = critical.touches(touched);

    let mut dependency_changes = Vec::new();
    for name in &upgraded_or_installed {
        let had_it = has(name) && old.is_none_or(|o| o.get(name).is_some());
        if had_it {
            if let Some(r) = release {
                dependency_changes.extend(r.dependency_changes.iter().filter(|d| d.module == *name).cloned());
            }
        } else if let Some(a) = new.get(name) {
            let deps = &a.manifest.external_dependencies;
            dependency_changes.extend(dependency_change(name, "python", &[], &deps.python));
            dependency_changes.extend(dependency_change(name, "bin", &[], &deps.bin));
        }
    }

    let quiet = plan.install.is_empty() && plan.missing.is_empty();
    let (image_only, assets_only) = match release {
        None => (None, None),
        Some(_) => (
            Some(quiet && changed.is_empty() && plan.upgrade.is_empty()),
            Some(quiet && plan.upgrade.is_empty() && !changed.is_empty() && changed.iter().all(|m| m.assets_only)),
        ),
    };
    TenantFacts {
        tenant: tenant.to_owned(),
        strategy,
        upgrade: plan.upgrade.iter().map(fact).collect(),
        install: plan.install.iter().map(fact).collect(),
        missing: plan.missing.clone(),
        blocked: plan.blocked.clone(),
        ignored: plan.ignored.clone(),
        unchecked: plan.unchecked.clone(),
        order: plan.order.clone(),
        scripts: script_rows,
        sql: sql.iter().map(SqlFact::from).collect(),
        critical_domains_touched: critical_domains.iter().map(|t| t.module.clone()).collect(),
        critical_domains,
        dependency_changes,
        image_only,
        assets_only,
        safe_to_run: plan.is_safe_to_run(),
    }
}

/// For callers that hashed already: the rules a tenant's checksums use (default without any).
pub fn rules_for(installed: &InstalledState) -> HashRules {
    installed.checksums().map(|c| c.rules()).unwrap_or_default()
}
