//! `ringfence odoo diff`: what an addon change will do to a tenant database, from the addon sources
//! alone. The analysis and the change facts live in `ringfence-odoo`; this module reads the inputs
//! (addon trees, snapshot or database) and prints the facts as text or JSON.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use ringfence_odoo::facts::{AnalysisOptions, CriticalDomains, StrategyChoice, analyse};
use ringfence_odoo::{AddonSet, InstalledModule, InstalledState, ModuleState, Series};
use ringfence_pg::{PgBinaries, PgTarget, Secret};
use serde_json::Value;

use ringfence_risk::{RiskInput, RiskRules, classify, classify_release};

use crate::Exit;
use crate::cli::{OdooDiffArgs, OdooStrategy};
use crate::failure::{UsageError, UsageResult, usage};
use crate::out::{errln, out, outln};
use crate::table::Table;

/// Reads addon paths, directories of wheels and wheel files into one set (first source wins).
fn load(paths: &[PathBuf]) -> anyhow::Result<AddonSet> {
    let mut set = AddonSet::new();
    for path in paths {
        if path.is_file() {
            set.add_wheel(path).with_context(|| format!("{}", path.display()))?;
            continue;
        }
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "whl"))
            .collect();
        wheels.sort();
        if wheels.is_empty() {
            for problem in set.add_addons_path(path)? {
                errln!("warning: {problem}");
            }
        } else {
            for wheel in wheels {
                set.add_wheel(&wheel).with_context(|| format!("{}", wheel.display()))?;
            }
        }
    }
    Ok(set)
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown (give --from)",
    }
}

/// `ringfence odoo diff`.
pub fn diff(args: &OdooDiffArgs) -> anyhow::Result<Exit> {
    let series: Series = args.series.parse().context("--series").or_usage()?;
    let strategy = match (args.strategy, args.modules.is_empty()) {
        (Some(OdooStrategy::Explicit), true) => usage!("--strategy explicit needs --modules a,b,…"),
        (Some(OdooStrategy::Explicit) | None, false) => StrategyChoice::Explicit(args.modules.clone()),
        (Some(_), false) => usage!("--modules goes with --strategy explicit (or no --strategy) only"),
        (Some(OdooStrategy::Checksum), true) => StrategyChoice::Checksum,
        (Some(OdooStrategy::VersionBump) | None, true) => StrategyChoice::VersionBump,
    };
    let new = load(&args.to)?;
    let old = if args.from.is_empty() { None } else { Some(load(&args.from)?) };
    let (tenant, installed) = match (&args.tenant_state, &args.database_url, &old) {
        (Some(file), _, _) => (file.display().to_string(), InstalledState::read_json(file)?),
        (None, Some(url), _) => {
            let (target, database) = parse_database_url(url)?;
            let bins = PgBinaries::locate(None)?;
            let mut state = ringfence_odoo::database::installed_state(&bins, &target, &database)?;
            // Only the checksum strategy needs module_auto_update's parameter and res_lang.
            if strategy == StrategyChoice::Checksum {
                state = state.with_checksums(ringfence_odoo::database::tenant_checksums(&bins, &target, &database)?);
            }
            (database, state)
        }
        (None, None, Some(old)) => {
            let mut modules = Vec::new();
            for addon in old.iter().filter(|a| a.manifest.installable) {
                let version = addon.manifest.version(series)?;
                modules.push(InstalledModule {
                    name: addon.name.clone(),
                    state: ModuleState::Installed,
                    version: Some(version),
                });
            }
            // The image's own modules run too; their versions are unknown, so no bump is read from them.
            for name in &args.image_modules {
                modules.push(InstalledModule { name: name.clone(), state: ModuleState::Installed, version: None });
            }
            ("a tenant running every addon of --from".to_owned(), InstalledState::from_modules(modules))
        }
        (None, None, None) => {
            usage!("give --from (the addons the tenant runs now), --tenant-state FILE or --database-url URL")
        }
    };
    // Only what the user names counts as provided by the Odoo image: guessing would hide a missing
    // dependency, which is exactly what this command is for.
    let image: BTreeSet<String> = args.image_modules.iter().cloned().collect();
    let critical =
        if args.critical.is_empty() { CriticalDomains::default() } else { CriticalDomains::new(args.critical.clone()) };
    let options = AnalysisOptions { series, image_modules: image.clone(), strategy, critical };
    let analysis = analyse(&tenant, old.as_ref(), &new, &installed, &options)?;
    let facts = &analysis.tenant;
    // The risk tier these facts give under the default rules, and the facts that decide it.
    let rules = RiskRules::default();
    // One tenant, named by the arguments (as in the facts below): its label is left out.
    let tenant_input = RiskInput { tenant: None, ..RiskInput::from(facts) };
    let risk = match &analysis.release {
        Some(release) => {
            classify_release(&RiskInput::from(release), std::slice::from_ref(&tenant_input), &rules).overall()
        }
        None => classify(&tenant_input, &rules),
    };

    if args.json {
        let mut value = serde_json::to_value(facts)?;
        let object = value.as_object_mut().expect("tenant facts serialize to an object");
        // One tenant, named by the arguments: the same facts read from a snapshot or from the database
        // print the same. The label matters to fleet-wide callers of the library only.
        object.remove("tenant");
        object.insert("series".into(), Value::from(args.series.clone()));
        object.insert("image_modules".into(), serde_json::to_value(&image)?);
        object.insert("release".into(), serde_json::to_value(&analysis.release)?);
        object.insert("risk".into(), serde_json::to_value(&risk)?);
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(if facts.safe_to_run { Exit::Success } else { Exit::Failed });
    }

    let mut table = Table::new(&["CHANGE", "MODULE", "FROM", "TO", "WHY"]);
    for (kind, changes) in [("upgrade", &facts.upgrade), ("install", &facts.install)] {
        for c in changes {
            let name = match &c.critical {
                Some(domain) => format!("{} (critical: {domain})", c.module),
                None => c.module.clone(),
            };
            table.row(vec![
                kind.into(),
                name,
                c.from.clone().unwrap_or_else(|| "-".into()),
                c.to.clone().unwrap_or_else(|| "(image)".into()),
                c.why.clone(),
            ]);
        }
    }
    out!("{}", table.render())?;
    for m in &facts.missing {
        outln!("MISSING  {m}: installed or needed, but in none of the new addons")?;
    }
    for m in &facts.blocked {
        outln!("BLOCKED  {m}: cannot load (a dependency is missing or in a cycle)")?;
    }
    for m in &facts.unchecked {
        outln!("UNCHECKED {m}: not in the addon trees, so its content hash is unknown")?;
    }
    if facts.missing.iter().any(|m| ["base", "web", "mail"].contains(&m.as_str())) {
        outln!(
            "hint: modules that ship with Odoo itself are in no addon tree: list them with --image-modules base,web,mail,…"
        )?;
    }
    outln!("order: {}", facts.order.join(" → "))?;
    for s in &facts.scripts {
        outln!("script   {}/{}", s.module, s.path)?;
    }
    for s in &analysis.sql {
        outln!("sql      {s}")?;
    }
    if !facts.critical_domains.is_empty() {
        let touched: Vec<String> =
            facts.critical_domains.iter().map(|t| format!("{} ({})", t.module, t.domain)).collect();
        outln!("critical domains touched: {}", touched.join(", "))?;
    }
    for d in &facts.dependency_changes {
        let added = d.added.iter().map(|a| format!("+{a}"));
        let removed = d.removed.iter().map(|r| format!("-{r}"));
        outln!("{} dependency  {}: {}", d.kind, d.module, added.chain(removed).collect::<Vec<_>>().join(" "))?;
    }
    outln!("image-only for this tenant: {}; assets-only: {}", yes_no(facts.image_only), yes_no(facts.assets_only))?;
    if let Some(release) = &analysis.release {
        let assets = release.modules_changed.iter().filter(|m| m.assets_only).count();
        outln!(
            "release: {} added, {} removed, {} changed ({assets} assets-only); image-only: {}; assets-only: {}",
            release.modules_added.len(),
            release.modules_removed.len(),
            release.modules_changed.len(),
            yes_no(Some(release.image_only)),
            yes_no(Some(release.assets_only)),
        )?;
        if !release.modules_changed.is_empty() {
            let mut table = Table::new(&["RELEASE", "MODULE", "FROM", "TO", "FILES", "CHECKSUM"]);
            for m in &release.modules_changed {
                let kind = if m.assets_only { "assets-only" } else { "changed" };
                let checksum = if m.checksum_from == m.checksum_to { "same" } else { "changed" };
                table.row(vec![
                    kind.into(),
                    m.module.clone(),
                    m.from_version.clone(),
                    m.to_version.clone(),
                    m.changed_files.len().to_string(),
                    checksum.into(),
                ]);
            }
            for (kind, list) in [("added", &release.modules_added), ("removed", &release.modules_removed)] {
                for m in list {
                    table.row(vec![kind.into(), m.clone()]);
                }
            }
            out!("{}", table.render())?;
        }
        if !release.critical_domains.is_empty() {
            let touched: Vec<String> =
                release.critical_domains.iter().map(|t| format!("{} ({})", t.module, t.domain)).collect();
            outln!("release critical domains touched: {}", touched.join(", "))?;
        }
        for (label, list) in [
            ("python added", &release.python_added),
            ("python removed", &release.python_removed),
            ("bin added", &release.bin_added),
            ("bin removed", &release.bin_removed),
        ] {
            if !list.is_empty() {
                outln!("release {label}: {}", list.join(", "))?;
            }
        }
    }
    outln!("risk tier (default rules): {:?}", risk.tier)?;
    // A fact found both release-wide and for the tenant is said once.
    let mut said = BTreeSet::new();
    let deciding: Vec<String> =
        risk.deciding().map(|r| r.fact.to_string()).filter(|f| said.insert(f.clone())).collect();
    for fact in &deciding {
        outln!("  because {fact}")?;
    }
    let lower = risk.reasons.iter().filter(|r| r.tier < risk.tier).count();
    if lower > 0 {
        outln!("  ({lower} lower-tier facts in --json)")?;
    }
    Ok(if facts.safe_to_run { Exit::Success } else { Exit::Failed })
}

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` → where to connect and which database. The
/// password, if any, becomes a [`Secret`]: it is never printed and reaches psql only as PGPASSWORD.
fn parse_database_url(url: &str) -> anyhow::Result<(PgTarget, String)> {
    let usage = || UsageError::new(anyhow::anyhow!("--database-url: expected postgres://USER@HOST[:PORT]/DATABASE"));
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")).ok_or_else(usage)?;
    let (auth, rest) = rest.rsplit_once('@').ok_or_else(usage)?;
    let (server, database) = rest.split_once('/').ok_or_else(usage)?;
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| usage())?),
        None => (server, 5432),
    };
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (auth, None),
    };
    if user.is_empty() || host.is_empty() || database.is_empty() {
        return Err(usage().into());
    }
    let mut target = PgTarget::new(host, port, user);
    if let Some(p) = password {
        target = target.with_password(Secret::new(p));
    }
    Ok((target, database.split('?').next().unwrap_or(database).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_keep_the_password_secret() {
        let (t, db) = parse_database_url("postgres://odoo:s3cret@10.0.0.5:5433/shop_17").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.user.as_str(), db.as_str()), ("10.0.0.5", 5433, "odoo", "shop_17"));
        assert!(!format!("{t:?} {t}").contains("s3cret"));
        let (t, _) = parse_database_url("postgresql://postgres@127.0.0.1/x").unwrap();
        assert_eq!(t.port, 5432);
        for bad in ["mysql://a@b/c", "postgres://host/db", "postgres://u@h:notaport/db", "postgres://u@h/"] {
            assert!(parse_database_url(bad).is_err(), "{bad}");
        }
    }
}
