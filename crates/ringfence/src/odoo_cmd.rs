//! `ringfence odoo diff`: what an addon change will do to a tenant database, from the addon sources
//! alone. The analysis lives in `ringfence-odoo`; this module reads the inputs and prints.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ringfence_odoo::{
    AddonSet, InstalledModule, InstalledState, ModuleChange, ModuleState, Series, Sql, Stage, Strategy, extract_sql,
    plan_upgrade,
};
use ringfence_pg::{PgBinaries, PgTarget, Secret};
use serde_json::{Value, json};

use crate::Exit;
use crate::cli::OdooDiffArgs;
use crate::table::Table;

/// Module name prefixes whose changes touch money, stock, orders or integrations: a change to any of
/// them raises a release's risk (the risk rules of a later issue read this list).
const CRITICAL_DOMAINS: [&str; 10] =
    ["account", "stock", "sale", "point_of_sale", "pos_", "payment", "website_sale", "l10n_", "queue_job", "connector"];

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
                eprintln!("warning: {problem}");
            }
        } else {
            for wheel in wheels {
                set.add_wheel(&wheel).with_context(|| format!("{}", wheel.display()))?;
            }
        }
    }
    Ok(set)
}

fn critical(name: &str) -> bool {
    CRITICAL_DOMAINS.iter().any(|d| name == d.trim_end_matches('_') || name.starts_with(d))
}

/// `ringfence odoo diff`.
pub fn diff(args: &OdooDiffArgs) -> anyhow::Result<Exit> {
    let series: Series = args.series.parse().context("--series")?;
    let new = load(&args.to)?;
    let installed = match (&args.tenant_state, args.from.is_empty()) {
        (Some(file), _) => InstalledState::read_json(file)?,
        (None, _) if args.database_url.is_some() => {
            let (target, database) = parse_database_url(args.database_url.as_deref().unwrap_or_default())?;
            ringfence_odoo::database::installed_state(&PgBinaries::locate(None)?, &target, &database)?
        }
        (None, false) => {
            let old = load(&args.from)?;
            let mut modules = Vec::new();
            for addon in old.iter().filter(|a| a.manifest.installable) {
                let version = addon.manifest.version(series)?;
                modules.push(InstalledModule {
                    name: addon.name.clone(),
                    state: ModuleState::Installed,
                    version: Some(version),
                });
            }
            InstalledState::from_modules(modules)
        }
        (None, true) => {
            bail!("give --from (the addons the tenant runs now), --tenant-state FILE or --database-url URL")
        }
    };
    // Only what the user names counts as provided by the Odoo image: guessing would hide a missing
    // dependency, which is exactly what this command is for.
    let image: BTreeSet<String> = args.image_modules.iter().cloned().collect();
    let strategy =
        if args.modules.is_empty() { Strategy::VersionBump } else { Strategy::Explicit(args.modules.clone()) };
    let plan = plan_upgrade(&installed, &new, series, &image, &strategy)?;
    let scripts = plan.scripts(&new, series);
    let mut sql = Vec::new();
    for module in &scripts {
        let Some(addon) = new.get(&module.module) else { continue };
        for script in module.scripts.iter() {
            let text = addon.read_text(&script.path)?;
            sql.extend(extract_sql(&text, &format!("{}/{}", module.module, script.path)));
        }
    }
    let touched: Vec<&str> =
        plan.upgrade.iter().chain(&plan.install).map(|c| c.name.as_str()).filter(|n| critical(n)).collect();

    let change = |c: &ModuleChange| {
        json!({
            "module": c.name,
            "from": c.from.as_ref().map(|v| v.as_str()),
            "to": c.to.as_ref().map(|v| v.as_str()),
            "why": c.reason.to_string(),
            "critical": critical(&c.name),
        })
    };
    if args.json {
        let script_rows: Vec<Value> = scripts
            .iter()
            .flat_map(|m| {
                [Stage::Pre, Stage::Post, Stage::End].into_iter().flat_map(move |stage| {
                    m.scripts.stage(stage).iter().map(move |s| {
                        json!({ "module": m.module, "stage": format!("{stage:?}").to_lowercase(), "folder": s.folder, "path": s.path })
                    })
                })
            })
            .collect();
        let sql_rows: Vec<Value> = sql
            .iter()
            .map(|s| match &s.sql {
                Sql::Literal { text, formatted } => {
                    json!({ "file": s.file, "line": s.line, "sql": text, "formatted": formatted })
                }
                Sql::Dynamic { found } => json!({ "file": s.file, "line": s.line, "dynamic": found }),
            })
            .collect();
        let value = json!({
            "series": args.series,
            "upgrade": plan.upgrade.iter().map(change).collect::<Vec<_>>(),
            "install": plan.install.iter().map(change).collect::<Vec<_>>(),
            "missing": plan.missing,
            "blocked": plan.blocked,
            "ignored": plan.ignored,
            "order": plan.order,
            "scripts": script_rows,
            "sql": sql_rows,
            "critical_domains_touched": touched,
            "image_modules": image,
            "safe_to_run": plan.is_safe_to_run(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let mut table = Table::new(&["CHANGE", "MODULE", "FROM", "TO", "WHY"]);
        for (kind, changes) in [("upgrade", &plan.upgrade), ("install", &plan.install)] {
            for c in changes {
                let name = if critical(&c.name) { format!("{} (critical)", c.name) } else { c.name.clone() };
                table.row(vec![
                    kind.into(),
                    name,
                    c.from.as_ref().map_or("-".into(), |v| v.as_str().to_owned()),
                    c.to.as_ref().map_or("(image)".into(), |v| v.as_str().to_owned()),
                    c.reason.to_string(),
                ]);
            }
        }
        print!("{}", table.render());
        for m in &plan.missing {
            println!("MISSING  {m}: installed or needed, but in none of the new addons");
        }
        for m in &plan.blocked {
            println!("BLOCKED  {m}: cannot load (a dependency is missing or in a cycle)");
        }
        if plan.missing.iter().any(|m| ["base", "web", "mail"].contains(&m.as_str())) {
            println!(
                "hint: modules that ship with Odoo itself are in no addon tree: list them with --image-modules base,web,mail,…"
            );
        }
        println!("order: {}", plan.order.join(" → "));
        for m in &scripts {
            for stage in [Stage::Pre, Stage::Post, Stage::End] {
                for s in m.scripts.stage(stage) {
                    println!("script   {}/{}", m.module, s.path);
                }
            }
        }
        for s in &sql {
            println!("sql      {s}");
        }
        if !touched.is_empty() {
            println!("critical domains touched: {}", touched.join(", "));
        }
    }
    Ok(if plan.is_safe_to_run() { Exit::Success } else { Exit::Failed })
}

/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` → where to connect and which database. The
/// password, if any, becomes a [`Secret`]: it is never printed and reaches psql only as PGPASSWORD.
fn parse_database_url(url: &str) -> anyhow::Result<(PgTarget, String)> {
    let usage = || anyhow::anyhow!("--database-url: expected postgres://USER@HOST[:PORT]/DATABASE");
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
        return Err(usage());
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
