//! `validate`, `plan` and `audit verify`: commands that read files and report, changing nothing.

use std::path::Path;

use anyhow::Context;
use ringfence_config::{Diagnostics, Loaded};
use ringfence_core::plan::Plan;
use serde_json::json;

use crate::Exit;
use crate::table::Table;

/// Loads a configuration; on errors prints them all (or returns them as JSON) and yields `Exit::Usage`.
pub fn load_or_report(dir: &Path, json: bool) -> Result<Loaded, Exit> {
    ringfence_config::load(dir).map_err(|diagnostics| {
        if json {
            println!("{}", serde_json::to_string_pretty(&diagnostics_json(&diagnostics)).expect("json"));
        } else {
            eprint!("{diagnostics}");
        }
        Exit::Usage
    })
}

fn diagnostics_json(diagnostics: &Diagnostics) -> serde_json::Value {
    let errors: Vec<_> = diagnostics
        .iter()
        .map(|d| {
            json!({
                "file": d.file.display().to_string(),
                "line": d.line,
                "col": d.col,
                "path": d.path,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    json!({ "valid": false, "errors": errors })
}

/// `ringfence validate DIR`.
pub fn validate(dir: &Path, json: bool) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(dir, json) {
        Ok(loaded) => loaded,
        Err(exit) => return Ok(exit),
    };
    let c = &loaded.config;
    let release = c.release.as_ref().map(|r| r.version.clone());
    if json {
        let summary = json!({
            "valid": true,
            "errors": [],
            "clusters": c.fleet.clusters.len(),
            "pools": c.fleet.pools.len(),
            "tenants": c.fleet.tenants.len(),
            "rings": c.policy.rings.len(),
            "release": release,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{}: valid — {} clusters, {} pools, {} tenants, {} rings, {}",
            dir.display(),
            c.fleet.clusters.len(),
            c.fleet.pools.len(),
            c.fleet.tenants.len(),
            c.policy.rings.len(),
            release.map_or("no release".to_string(), |v| format!("release {v}")),
        );
    }
    Ok(Exit::Success)
}

/// Plans the configuration's release (or, without one, the next release) over its fleet.
pub fn make_plan(loaded: &Loaded) -> anyhow::Result<Plan> {
    let c = &loaded.config;
    let (version, replaces) = match &c.release {
        Some(r) => (r.version.as_str(), r.replaces.as_str()),
        None => ("next", "current"),
    };
    ringfence_core::plan::plan(&c.fleet, &c.policy, version, replaces).context("cannot plan the rollout")
}

/// `ringfence plan DIR`.
pub fn plan(dir: &Path, json: bool) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(dir, json) {
        Ok(loaded) => loaded,
        Err(exit) => return Ok(exit),
    };
    let plan = make_plan(&loaded)?;
    if json {
        let clusters: Vec<_> = loaded
            .config
            .fleet
            .clusters
            .iter()
            .map(|c| json!({ "name": c.name, "max_concurrent_migrations": c.max_concurrent_migrations }))
            .collect();
        let mut value = serde_json::to_value(&plan)?;
        value["clusters"] = json!(clusters);
        value["tenant_count"] = json!(plan.tenant_count());
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(Exit::Success);
    }
    println!(
        "Release {} (replaces {}): {} tenants in {} rings",
        plan.release,
        plan.replaces,
        plan.tenant_count(),
        plan.rings.len()
    );
    let mut table = Table::new(&["RING", "BATCH", "TENANT", "CLUSTER", "POOL", "DATABASE", "OBSERVE", "SOAK"]);
    for ring in &plan.rings {
        for (b, batch) in ring.batches.iter().enumerate() {
            for (i, t) in batch.tenants.iter().enumerate() {
                let first = b == 0 && i == 0;
                table.row(vec![
                    if first { ring.name.clone() } else { String::new() },
                    if i == 0 { format!("{}/{}", b + 1, ring.batches.len()) } else { String::new() },
                    t.id.to_string(),
                    t.cluster.clone(),
                    t.pool.clone(),
                    t.database.clone(),
                    if first { ring.observation.to_string() } else { String::new() },
                    if first { ring.soak.to_string() } else { String::new() },
                ]);
            }
        }
        if ring.batches.is_empty() {
            table.row(vec![ring.name.clone(), "-".into(), "(no tenants)".into()]);
        }
    }
    print!("{}", table.render());
    Ok(Exit::Success)
}

/// `ringfence audit verify FILE`.
pub fn audit_verify(file: &Path, json: bool) -> anyhow::Result<Exit> {
    match ringfence_audit::verify(file) {
        Ok(report) => {
            if json {
                println!("{}", json!({ "intact": true, "entries": report.entries, "head": report.head_hash }));
            } else {
                println!("{}: intact — {} entries, head {}", file.display(), report.entries, report.head_hash);
            }
            Ok(Exit::Success)
        }
        Err(error) => {
            if json {
                println!("{}", json!({ "intact": false, "line": error.line(), "error": error.to_string() }));
            } else {
                eprintln!("{}: BROKEN — {error}", file.display());
            }
            Ok(Exit::Failed)
        }
    }
}
