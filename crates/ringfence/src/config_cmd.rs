//! `validate`, `plan` and `audit verify`: commands that read files and report, changing nothing.

use std::path::Path;

use anyhow::Context;
use ringfence_config::{Diagnostics, Loaded};
use std::collections::BTreeMap;

use ringfence_core::calendar::RiskTier;
use ringfence_core::governance::{Governance, GovernanceSpec};
use ringfence_core::model::TenantId;
use ringfence_core::plan::Plan;
use ringfence_core::schedule::{ScheduledTenant, schedule};
use serde_json::json;

use crate::Exit;
use crate::out::{err, errln, out, outln};
use crate::table::Table;
use crate::timeline;

/// Loads a configuration; on errors prints them all (or returns them as JSON) and yields `Exit::Usage`
/// (`Exit::ClosedPipe` when the JSON finds standard output closed).
pub fn load_or_report(dir: &Path, json: bool) -> Result<Loaded, Exit> {
    ringfence_config::load(dir).map_err(|diagnostics| {
        if json {
            let printed = outln!("{}", serde_json::to_string_pretty(&diagnostics_json(&diagnostics)).expect("json"));
            if let Err(e) = printed {
                return crate::failure::exit_for(&e);
            }
        } else {
            err!("{diagnostics}");
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
        outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        outln!(
            "{}: valid — {} clusters, {} pools, {} tenants, {} rings, {}",
            dir.display(),
            c.fleet.clusters.len(),
            c.fleet.pools.len(),
            c.fleet.tenants.len(),
            c.policy.rings.len(),
            release.map_or("no release".to_string(), |v| format!("release {v}")),
        )?;
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

/// `ringfence plan DIR [--from TIME [--html FILE]]`.
pub fn plan(
    dir: &Path,
    json: bool,
    from: Option<jiff::Timestamp>,
    risk: Option<RiskTier>,
    html: Option<&Path>,
) -> anyhow::Result<Exit> {
    let loaded = match load_or_report(dir, json) {
        Ok(loaded) => loaded,
        Err(exit) => return Ok(exit),
    };
    let plan = make_plan(&loaded)?;
    // The tier the schedule used: `--risk`, else the release's declared one, else medium.
    let mut tier = RiskTier::Medium;
    let schedule: Option<BTreeMap<TenantId, ScheduledTenant>> = match from {
        None => None,
        Some(from) => {
            let (scheduled, resolved) = schedule_release(&loaded, &plan, from, risk)?;
            tier = resolved.governance.tier;
            if let Some(file) = html {
                let page = timeline::render(&timeline::TimelineInput {
                    plan: &plan,
                    schedule: &scheduled,
                    from,
                    risk: resolved.governance.tier,
                    step: resolved.governance.expected_step,
                    windows: &resolved.governance.windows,
                    zones: &resolved.zones,
                    freezes: &resolved.governance.calendar.freezes,
                });
                std::fs::write(file, page)
                    .with_context(|| format!("cannot write the timeline to {}", file.display()))?;
                // stderr, so that `--json` output stays one JSON document.
                errln!("timeline written to {}", file.display());
            }
            Some(scheduled.into_iter().map(|s| (s.id.clone(), s)).collect())
        }
    };
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
        if let Some(schedule) = &schedule {
            // Each tenant entry carries its expected times and the reasons it waits.
            for ring in value["rings"].as_array_mut().into_iter().flatten() {
                for batch in ring["batches"].as_array_mut().into_iter().flatten() {
                    for tenant in batch["tenants"].as_array_mut().into_iter().flatten() {
                        let id = TenantId(tenant["id"].as_str().unwrap_or_default().to_owned());
                        if let Some(s) = schedule.get(&id) {
                            tenant["expected_start"] = json!(s.expected_start.to_string());
                            tenant["expected_end"] = json!(s.expected_end.to_string());
                            tenant["waits"] = json!(s.waits.iter().map(|w| w.to_string()).collect::<Vec<_>>());
                        }
                    }
                }
            }
            value["from"] = json!(from.map(|f| f.to_string()));
            value["risk"] = json!(tier);
        }
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(Exit::Success);
    }
    outln!(
        "Release {} (replaces {}): {} tenants in {} rings",
        plan.release,
        plan.replaces,
        plan.tenant_count(),
        plan.rings.len()
    )?;
    let mut header = vec!["RING", "BATCH", "TENANT", "CLUSTER", "POOL", "OBSERVE", "SOAK"];
    if schedule.is_some() {
        header.extend(["EXPECTED START", "EXPECTED END", "WAITS FOR"]);
    }
    let mut table = Table::new(&header);
    for ring in &plan.rings {
        for (b, batch) in ring.batches.iter().enumerate() {
            for (i, t) in batch.tenants.iter().enumerate() {
                let first = b == 0 && i == 0;
                let mut row = vec![
                    if first { ring.name.clone() } else { String::new() },
                    if i == 0 { format!("{}/{}", b + 1, ring.batches.len()) } else { String::new() },
                    t.id.to_string(),
                    t.cluster.clone(),
                    t.pool.clone(),
                    if first { ring.observation.to_string() } else { String::new() },
                    if first { ring.soak.to_string() } else { String::new() },
                ];
                if let Some(s) = schedule.as_ref().and_then(|s| s.get(&t.id)) {
                    row.push(s.expected_start.strftime("%Y-%m-%d %H:%MZ").to_string());
                    row.push(s.expected_end.strftime("%Y-%m-%d %H:%MZ").to_string());
                    // The last reason is the one that decided the start; earlier ones led to it.
                    row.push(s.waits.last().map(|w| w.to_string()).unwrap_or_else(|| "-".into()));
                }
                table.row(row);
            }
        }
        if ring.batches.is_empty() {
            table.row(vec![ring.name.clone(), "-".into(), "(no tenants)".into()]);
        }
    }
    out!("{}", table.render())?;
    Ok(Exit::Success)
}

/// The rules a schedule was computed under, kept for the timeline that draws them.
struct Resolved {
    governance: Governance,
    zones: BTreeMap<TenantId, jiff::tz::TimeZone>,
}

/// Compiles the configuration's windows, freezes and limits (time zones read here, outside the core)
/// and schedules the plan from `from`, for a release of tier `risk` (the release's own when not given).
fn schedule_release(
    loaded: &Loaded,
    plan: &Plan,
    from: jiff::Timestamp,
    risk: Option<RiskTier>,
) -> anyhow::Result<(Vec<ScheduledTenant>, Resolved)> {
    let config = &loaded.config;
    let governance = GovernanceSpec::from_config(config, risk).compile(jiff::tz::TimeZone::get)?;
    let mut zones = BTreeMap::new();
    for t in &config.fleet.tenants {
        let tz = jiff::tz::TimeZone::get(&t.timezone).with_context(|| format!("tenant {}: time zone", t.id))?;
        zones.insert(t.id.clone(), tz);
    }
    let scheduled = schedule(plan, from, &governance)?;
    Ok((scheduled, Resolved { governance, zones }))
}

/// `ringfence audit verify FILE`.
pub fn audit_verify(file: &Path, json: bool) -> anyhow::Result<Exit> {
    match ringfence_audit::verify(file) {
        Ok(report) => {
            if json {
                outln!("{}", json!({ "intact": true, "entries": report.entries, "head": report.head_hash }))?;
            } else {
                outln!("{}: intact — {} entries, head {}", file.display(), report.entries, report.head_hash)?;
            }
            Ok(Exit::Success)
        }
        Err(error) => {
            if json {
                outln!("{}", json!({ "intact": false, "line": error.line(), "error": error.to_string() }))?;
            } else {
                errln!("{}: BROKEN — {error}", file.display());
            }
            Ok(Exit::Failed)
        }
    }
}
