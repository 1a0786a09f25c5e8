//! What `odoo -u` will do to one tenant database: from its installed modules ([`InstalledState`]) and
//! the new addon trees ([`AddonSet`]), which modules are upgraded and why, which are newly installed,
//! which installed ones are missing, the order Odoo processes them in, and the migration scripts each
//! upgrade runs.
//!
//! The rules follow Odoo's module operations:
//! - upgrading a module also upgrades every module in state `installed` that depends on it, directly or
//!   not (`button_upgrade`), following the new manifests' `depends`;
//! - an upgraded module's dependencies that are not installed get installed, with their own
//!   dependencies (`button_upgrade` hands them to `button_install`);
//! - an uninstalled `auto_install` module is installed when every trigger is installed, being upgraded
//!   or being installed, and at least one trigger is being installed (`button_install`'s check) — so a
//!   new `auto_install` bridge whose triggers were all installed already is *not* installed by `-u`;
//! - modules left `to upgrade` / `to install` by an earlier unfinished run are processed too;
//! - `-u` names that are not installed are ignored, as Odoo's command line ignores them.
//!
//! The checksum strategy follows click-odoo-update: every module `installed` or `to upgrade` whose
//! addon is installable and whose content hash differs from the stored one (or has none stored) is
//! named to `-u`; Odoo then adds the dependents as above. The hashes come in computed
//! ([`crate::checksum`]), so planning stays free of file reading.
//!
//! Not here: computing content hashes, reading a live database, what the scripts do.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::error::OdooError;
use crate::installed::{InstalledState, ModuleState};
use crate::migrations::{SelectedScripts, select_scripts};
use crate::tree::AddonSet;
use crate::version::{ModuleVersion, Series};

/// How Ringfence decides which modules to name to `odoo -u`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    /// Every installed module whose new manifest version is higher than its installed version.
    VersionBump,
    /// These modules (as `odoo -u a,b`).
    Explicit(Vec<String>),
    /// Every installed module whose content hash differs from the one stored for the tenant, as
    /// click-odoo-update decides.
    Checksum(Checksums),
}

/// The content hashes the checksum strategy compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksums {
    /// As stored for the tenant (`module_auto_update.installed_checksums`); `None` where it stored
    /// `false`. A module absent here counts as changed.
    pub stored: BTreeMap<String, Option<String>>,
    /// Of the new addons, computed with the tenant's rules ([`crate::checksum::digest_set`]).
    pub current: BTreeMap<String, String>,
}

/// Why a module is in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its manifest version is higher than the installed one.
    Bumped,
    /// Named in the explicit list.
    Explicit,
    /// Its content hash differs from the one stored for the tenant.
    ChecksumChanged {
        /// The stored hash; `None` when none was stored (or `false`).
        stored: Option<String>,
        /// The new hash.
        current: String,
    },
    /// Installed and depends (directly or not) on `of`, which is upgraded.
    Dependent {
        /// The upgraded module it depends on (the one that pulled it in first).
        of: String,
    },
    /// A dependency of `of` (upgraded or installed) that is not installed yet.
    NewDependency {
        /// The module that needs it.
        of: String,
    },
    /// An `auto_install` module whose triggers are now all installed.
    AutoInstall {
        /// Its triggers.
        triggers: Vec<String>,
    },
    /// Already marked `to upgrade` or `to install` in the database by an earlier, unfinished run.
    Pending,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Bumped => f.write_str("version bumped"),
            Reason::Explicit => f.write_str("listed"),
            Reason::ChecksumChanged { stored: None, .. } => f.write_str("no stored checksum"),
            Reason::ChecksumChanged { stored: Some(stored), current } => {
                write!(f, "content changed ({} → {})", short(stored), short(current))
            }
            Reason::Dependent { of } => write!(f, "depends on {of}"),
            Reason::NewDependency { of } => write!(f, "needed by {of}"),
            Reason::AutoInstall { triggers } => write!(f, "auto_install on {}", triggers.join(", ")),
            Reason::Pending => f.write_str("pending from an earlier run"),
        }
    }
}

/// The first 8 digits of a hash, enough for a person to tell two apart.
fn short(hash: &str) -> &str {
    hash.get(..8).unwrap_or(hash)
}

/// One module the upgrade touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleChange {
    /// Technical name.
    pub name: String,
    /// The installed version (`latest_version`); `None` for a new install.
    pub from: Option<ModuleVersion>,
    /// The new manifest version, normalised; `None` for a module provided outside the addon set (the
    /// Odoo image's own modules), whose manifest Ringfence has not read.
    pub to: Option<ModuleVersion>,
    /// Why.
    pub reason: Reason,
}

/// What `odoo -u` will do to one tenant database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePlan {
    /// Modules upgraded, by name.
    pub upgrade: Vec<ModuleChange>,
    /// Modules newly installed, by name.
    pub install: Vec<ModuleChange>,
    /// Modules installed (or needed by the upgrade) that are in neither the new addon trees nor the
    /// modules known to come with the image, or are `installable: False` there: the upgrade would break.
    pub missing: Vec<String>,
    /// Modules of the upgrade or install that cannot be loaded because the new trees leave one of their
    /// dependencies missing or in a cycle (see [`AddonSet::resolve`]).
    pub blocked: Vec<String>,
    /// Explicitly listed modules that are not installed (Odoo ignores them).
    pub ignored: Vec<String>,
    /// Checksum strategy: installed modules whose content was not hashed — the image's own, outside
    /// the addon set, or ones the caller left out of [`Checksums::current`]; click-odoo-update would
    /// upgrade them if their hash changed.
    pub unchecked: Vec<String>,
    /// Upgraded and installed modules in the order Odoo processes them: modules from outside the addon
    /// set first (by name; their relative order needs their manifests), then the new trees' load order.
    pub order: Vec<String>,
}

/// The migration scripts one module upgrade runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleScripts {
    /// Technical name.
    pub module: String,
    /// Its scripts, per stage.
    pub scripts: SelectedScripts,
}

impl UpgradePlan {
    /// Whether the upgrade leaves every module loadable.
    pub fn is_safe_to_run(&self) -> bool {
        self.missing.is_empty() && self.blocked.is_empty()
    }

    /// The migration scripts of the upgraded modules, in [`UpgradePlan::order`]; modules that run none
    /// are left out. New installs run none (Odoo only migrates modules that were installed).
    pub fn scripts(&self, new: &AddonSet, series: Series) -> Vec<ModuleScripts> {
        let upgraded: BTreeMap<&str, &ModuleChange> = self.upgrade.iter().map(|c| (c.name.as_str(), c)).collect();
        self.order
            .iter()
            .filter_map(|name| {
                let change = upgraded.get(name.as_str())?;
                let to = change.to.as_ref()?;
                let addon = new.get(name)?;
                let scripts = select_scripts(&addon.migration_scripts(), change.from.as_ref(), to, series);
                (!scripts.is_empty() || !scripts.unreadable_folders.is_empty())
                    .then(|| ModuleScripts { module: name.clone(), scripts })
            })
            .collect()
    }
}

/// Plans the upgrade of one tenant database. `known_external` names modules the Odoo image provides
/// outside `new` (`base`, `web`, `mail`, …): they are never missing, and never version-bumped since
/// their manifests are not read. `Err` if a manifest version in `new` cannot be normalised.
pub fn plan_upgrade(
    installed: &InstalledState,
    new: &AddonSet,
    series: Series,
    known_external: &BTreeSet<String>,
    strategy: &Strategy,
) -> Result<UpgradePlan, OdooError> {
    let mut plan = UpgradePlan::default();
    let addon = |name: &str| new.get(name).filter(|a| a.manifest.installable);
    let available = |name: &str| addon(name).is_some() || known_external.contains(name);
    let new_version = |name: &str| addon(name).map(|a| a.manifest.version(series)).transpose();
    let state = |name: &str| installed.get(name).map(|m| m.state);
    let from = |name: &str| installed.get(name).and_then(|m| m.version.clone());

    let mut missing: BTreeSet<String> =
        installed.iter().filter(|m| m.state.is_installed() && !available(&m.name)).map(|m| m.name.clone()).collect();

    // Modules named to `-u` (or implied by it), in name order so that `Dependent { of }` is stable.
    let mut seeds: BTreeMap<String, Reason> = BTreeMap::new();
    for m in installed.iter().filter(|m| available(&m.name)) {
        if m.state == ModuleState::ToUpgrade {
            seeds.insert(m.name.clone(), Reason::Pending);
        }
    }
    match strategy {
        Strategy::VersionBump => {
            for m in installed.iter().filter(|m| m.state == ModuleState::Installed) {
                let Some(to) = new_version(&m.name)? else {
                    continue;
                };
                // An installed module without latest_version counts as older than any version.
                if m.version.as_ref().is_none_or(|v| &to > v) {
                    seeds.insert(m.name.clone(), Reason::Bumped);
                }
            }
        }
        Strategy::Explicit(names) => {
            for name in names {
                match state(name) {
                    Some(ModuleState::Installed) if available(name) => {
                        seeds.insert(name.clone(), Reason::Explicit);
                    }
                    // Installed but gone from the trees: already in `missing`.
                    Some(ModuleState::Installed) => {}
                    Some(ModuleState::ToUpgrade) => {}
                    _ => plan.ignored.push(name.clone()),
                }
            }
            plan.ignored.sort();
            plan.ignored.dedup();
        }
        Strategy::Checksum(sums) => {
            // `to upgrade` modules are seeds already; click-odoo-update also checks installable.
            for m in installed.iter().filter(|m| m.state == ModuleState::Installed) {
                if addon(&m.name).is_none() {
                    if known_external.contains(&m.name) {
                        plan.unchecked.push(m.name.clone());
                    }
                    continue;
                }
                let Some(current) = sums.current.get(&m.name) else {
                    // A caller that hashed only part of the set cannot say the module is unchanged.
                    plan.unchecked.push(m.name.clone());
                    continue;
                };
                let stored = sums.stored.get(&m.name).cloned().flatten();
                if stored.as_ref() != Some(current) {
                    seeds.insert(m.name.clone(), Reason::ChecksumChanged { stored, current: current.clone() });
                }
            }
        }
    }

    // Dependents, following the new manifests.
    let mut dependents: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in new.iter().filter(|a| a.manifest.installable) {
        for dep in &a.manifest.depends {
            dependents.entry(dep.as_str()).or_default().push(a.name.as_str());
        }
    }
    let mut upgrade: BTreeMap<String, Reason> = seeds.clone();
    let mut queue: VecDeque<String> = seeds.into_keys().collect();
    while let Some(name) = queue.pop_front() {
        for &d in dependents.get(name.as_str()).into_iter().flatten() {
            if state(d) == Some(ModuleState::Installed) && !upgrade.contains_key(d) {
                upgrade.insert(d.to_string(), Reason::Dependent { of: name.clone() });
                queue.push_back(d.to_string());
            }
        }
    }

    // Installs: dependencies of upgraded modules not installed, their own dependencies, then
    // auto_install modules, until nothing changes.
    let mut install: BTreeMap<String, Reason> = installed
        .iter()
        .filter(|m| m.state == ModuleState::ToInstall && available(&m.name))
        .map(|m| (m.name.clone(), Reason::Pending))
        .collect();
    let mut needs: VecDeque<String> = upgrade.keys().chain(install.keys()).cloned().collect();
    loop {
        while let Some(name) = needs.pop_front() {
            let Some(a) = addon(&name) else {
                continue;
            };
            for dep in &a.manifest.depends {
                if state(dep).is_some_and(ModuleState::is_installed) || install.contains_key(dep) {
                    continue;
                }
                if !available(dep) {
                    missing.insert(dep.clone());
                    continue;
                }
                install.insert(dep.clone(), Reason::NewDependency { of: name.clone() });
                needs.push_back(dep.clone());
            }
        }
        let will_be_installed = |n: &str| state(n).is_some_and(ModuleState::is_installed) || install.contains_key(n);
        let auto: Vec<(String, Vec<String>)> = new
            .iter()
            .filter(|a| a.manifest.installable && !will_be_installed(&a.name))
            .filter_map(|a| {
                let triggers = a.manifest.auto_install.triggers(&a.manifest.depends)?;
                let fire =
                    triggers.iter().all(|t| will_be_installed(t)) && triggers.iter().any(|t| install.contains_key(t));
                fire.then(|| (a.name.clone(), triggers.to_vec()))
            })
            .collect();
        if auto.is_empty() {
            break;
        }
        for (name, triggers) in auto {
            install.insert(name.clone(), Reason::AutoInstall { triggers });
            needs.push_back(name);
        }
    }

    for (name, reason) in upgrade {
        let to = new_version(&name)?;
        plan.upgrade.push(ModuleChange { from: from(&name), to, name, reason });
    }
    for (name, reason) in install {
        let to = new_version(&name)?;
        plan.install.push(ModuleChange { from: None, to, name, reason });
    }
    plan.missing = missing.into_iter().collect();

    let touched: BTreeSet<&str> = plan.upgrade.iter().chain(&plan.install).map(|c| c.name.as_str()).collect();
    let resolution = new.resolve(known_external);
    let loadable: BTreeSet<&str> = resolution.order.iter().map(String::as_str).collect();
    let external = touched.iter().filter(|n| addon(n).is_none()).map(|n| n.to_string());
    let inside = resolution.order.iter().filter(|n| touched.contains(n.as_str())).cloned();
    plan.order = external.chain(inside).collect();
    plan.blocked =
        touched.iter().filter(|n| addon(n).is_some() && !loadable.contains(*n)).map(|n| n.to_string()).collect();
    Ok(plan)
}
