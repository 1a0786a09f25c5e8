//! The checkers: whole-system invariants asserted on every simulated run.
//!
//! They read the world (which step each tenant is carrying out, what its database and code are)
//! and the configured rules, and they compute what they need their own way — window periods and
//! freeze periods directly from the recurrences, loads by counting the world's running steps — so
//! a mistake in the engine's slot search or bookkeeping does not hide itself.
//!
//! - no tenant starts inside a freeze that stops the release's tier, unless an approved break-glass
//!   exception opens it and the audit trail marks it;
//! - a tenant with windows starts only inside one, with its expected step duration left before it
//!   closes;
//! - never more tenants migrating per cluster or pool, in maintenance per pool, or in flight across
//!   the release than allowed;
//! - no tenant starts after the release halted;
//! - no migration without a restore point, and no migration twice (across crashes too);
//! - the engine rebuilt after a crash is the engine that crashed, and decides the same actions;
//! - the release ends, and every tenant ends done, rolled back, untouched (after a halt), held for
//!   an operator's decision, or with a failed rollback that was injected — and its database and code
//!   agree with that.

use std::collections::BTreeMap;

use jiff::Timestamp;
use ringfence_core::calendar::FreezeKind;
use ringfence_core::engine::{Outcome, RolloutStatus, StepId, StepKind, TenantPhase};
use ringfence_core::model::TenantId;
use serde::Serialize;

use crate::sim::Simulation;

/// An invariant a run broke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which checker.
    pub checker: &'static str,
    /// Simulated time it was found.
    pub at: Timestamp,
    /// What happened.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] at {}: {}", self.checker, self.at, self.detail)
    }
}

/// A tenant takes its first step now.
pub(crate) fn tenant_start(sim: &mut Simulation, tenant: &TenantId, break_glass_marked: bool) {
    let now = sim.now();
    if sim.halted {
        sim.violate("after-halt", format!("tenant {tenant} started after the release halted"));
    }
    let g = &sim.governance;
    let step = g.step_duration(tenant).to_signed();
    let end = now + step;
    if let Some(windows) = g.windows.get(tenant).filter(|w| !w.is_empty()) {
        // The period open at `now`, straight from the recurrence: it must hold the whole step.
        let fits = windows
            .iter()
            .any(|w| w.recurrence().periods(now, now).next().is_some_and(|(open, close)| open <= now && end <= close));
        if !fits {
            let detail =
                format!("tenant {tenant} started at {now}, outside its windows or without {step:#} left in one");
            sim.violate("window", detail);
        }
    }
    let g = &sim.governance;
    let pool = g.pools.get(tenant).cloned().unwrap_or_default();
    let frozen: Vec<String> = g
        .calendar
        .freezes
        .iter()
        .filter(|f| f.stops(tenant, &pool, g.tier))
        .filter(|f| match &f.kind {
            FreezeKind::Absolute { start, end: stop } => *start < end && *stop > now,
            FreezeKind::Recurring(r) => r.periods(now, end).next().is_some_and(|(open, _)| open < end),
        })
        .map(|f| f.name.clone())
        .collect();
    if !frozen.is_empty() {
        if g.break_glass.is_none() {
            sim.violate("freeze", format!("tenant {tenant} started at {now} inside {frozen:?}"));
        } else if !break_glass_marked {
            let detail = format!("tenant {tenant} entered {frozen:?} under break-glass without an audit record");
            sim.violate("break-glass", detail);
        }
    }
}

/// A migration starts now.
pub(crate) fn migration_start(sim: &mut Simulation, step: &StepId) {
    let w = sim.world.get_mut(&step.tenant).expect("planned tenant");
    w.migrations.insert(step.clone());
    let twice = w.migrations.len() > 1;
    let no_restore_point = !w.restore_point;
    if no_restore_point {
        sim.violate("restore-point", format!("{step} started without a restore point"));
    }
    if twice {
        sim.violate("migrate-once", format!("{step}: tenant {} migrated a second time", step.tenant));
    }
}

/// After each event: the loads the world carries are within the limits.
pub(crate) fn limits(sim: &mut Simulation) {
    let limits = &sim.governance.limits;
    if limits.per_cluster.is_empty()
        && limits.per_pool.is_empty()
        && limits.unavailable_per_pool.is_empty()
        && limits.in_flight.is_none()
    {
        return;
    }
    let mut migrating_cluster: BTreeMap<&str, u32> = BTreeMap::new();
    let mut migrating_pool: BTreeMap<&str, u32> = BTreeMap::new();
    let mut unavailable_pool: BTreeMap<&str, u32> = BTreeMap::new();
    let mut in_flight = 0u32;
    for w in sim.world.values() {
        // Rollbacks are never held back by pacing (returning a tenant to a known state comes first),
        // so the limits bound the tenants moving forward; the engine counts rollbacks against new
        // starts, which keeps this bound.
        let kind = w.running.as_ref().map(|s| s.kind).filter(|k| *k != StepKind::Rollback);
        if matches!(kind, Some(StepKind::RestorePoint | StepKind::Migrate)) {
            *migrating_cluster.entry(&w.cluster).or_default() += 1;
            *migrating_pool.entry(&w.pool).or_default() += 1;
        }
        if kind.is_some() {
            *unavailable_pool.entry(&w.pool).or_default() += 1;
        }
        if kind.is_some() || w.observing {
            in_flight += 1;
        }
    }
    let limits = &sim.governance.limits;
    let mut found = Vec::new();
    for (cluster, n) in &migrating_cluster {
        if let Some(&max) = limits.per_cluster.get(*cluster).filter(|max| n > max) {
            found.push(format!("{n} tenants migrating on cluster {cluster}, limit {max}"));
        }
    }
    for (pool, n) in &migrating_pool {
        if let Some(&max) = limits.per_pool.get(*pool).filter(|max| n > max) {
            found.push(format!("{n} tenants migrating on pool {pool}, limit {max}"));
        }
    }
    for (pool, n) in &unavailable_pool {
        if let Some(&max) = limits.unavailable_per_pool.get(*pool).filter(|max| n > max) {
            found.push(format!("{n} tenants of pool {pool} in maintenance, capacity buffer {max}"));
        }
    }
    if let Some(max) = limits.in_flight.filter(|max| in_flight > *max) {
        found.push(format!("{in_flight} tenants in flight, release-wide cap {max}"));
    }
    for detail in found {
        sim.violate("limits", detail);
    }
}

/// When the run is over: it ended, and every tenant is in a known state its world agrees with.
pub(crate) fn end_state(sim: &mut Simulation) {
    let status = sim.status();
    let outcome = match status {
        RolloutStatus::Finished(outcome) => Some(outcome),
        // Paused for an operator because a tenant found no slot (the audit trail says which).
        RolloutStatus::Paused => None,
        _ => {
            sim.violate("liveness", format!("the release did not finish: {status:?}"));
            return;
        }
    };
    let compatible = sim.options().schema_backward_compatible;
    let mut found = Vec::new();
    let tenants: Vec<TenantId> = sim.engine().tenants().keys().cloned().collect();
    for id in &tenants {
        let phase = sim.phase(id);
        let w = &sim.world[id];
        let ok = match phase {
            TenantPhase::Done => w.serving_new && w.schema_is_new(),
            TenantPhase::RolledBack => {
                !w.serving_new && (w.schema_is_old() || (compatible && w.migration_succeeded && w.schema_is_new()))
            }
            TenantPhase::Pending => outcome != Some(Outcome::Completed) && !w.started,
            TenantPhase::AwaitingDecision => w.serving_new,
            TenantPhase::RollbackFailed => w.rollback_failed,
            TenantPhase::Running(_) | TenantPhase::Observing => false,
        };
        if !ok {
            found.push(format!(
                "tenant {id} ends {phase:?} but serves {} on a {} schema",
                if w.serving_new { "the new release" } else { "the previous release" },
                if w.schema_is_new() {
                    "new"
                } else if w.schema_is_old() {
                    "previous"
                } else {
                    "half-migrated"
                },
            ));
        }
        if w.running.is_some() || w.observing {
            found.push(format!("tenant {id} still has a step or an observation going after the end"));
        }
    }
    if outcome == Some(Outcome::Completed) && tenants.iter().any(|id| sim.phase(id) != TenantPhase::Done) {
        found.push("the release completed with tenants not done".into());
    }
    for detail in found {
        sim.violate("end-state", detail);
    }
}
