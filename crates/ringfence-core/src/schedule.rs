//! The schedule: when each tenant of a plan is expected to be released, given the calendar — its
//! maintenance windows, the freezes, the rings' observation and soak times — and why it waits.
//!
//! Pure, like the planner: it takes `from`, the expected duration of a tenant's steps, the tenants'
//! windows (already in their time zones) and the freeze calendar, and walks the plan ring by ring and
//! batch by batch, as the engine will: a batch starts when the previous one is done, a ring after the
//! previous ring's soak, and each tenant at its first slot that fits its window and no freeze.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::calendar::{Calendar, MaintenanceWindow, Reason, RiskTier, SlotQuery};
use crate::model::TenantId;
use crate::plan::Plan;

/// What the schedule needs besides the plan.
pub struct ScheduleInput<'a> {
    /// When the release may start.
    pub from: Timestamp,
    /// How long a tenant's steps take before its observation (restore point, migration, switch).
    pub step: Duration,
    /// Each tenant's maintenance windows; a tenant with none may be changed at any time.
    pub windows: &'a BTreeMap<TenantId, Vec<MaintenanceWindow>>,
    /// Each tenant's pool, for pool-scoped freezes.
    pub pools: &'a BTreeMap<TenantId, String>,
    /// The freezes.
    pub calendar: &'a Calendar,
    /// The release's risk tier, which freezes may let through.
    pub tier: RiskTier,
    /// How far ahead to look for a slot.
    pub horizon: Duration,
}

/// Why a tenant starts later than it could have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Wait {
    /// Its maintenance window is closed (or too short) until then.
    WindowClosed {
        /// When a fitting window opens.
        until: Timestamp,
    },
    /// A freeze holds it back.
    Frozen {
        /// The freeze.
        name: String,
        /// Until when.
        until: Timestamp,
    },
    /// The previous batch of its ring is still in flight (batch size and per-cluster limits).
    PreviousBatch {
        /// When that batch is expected to be done.
        until: Timestamp,
    },
    /// The previous ring is soaking.
    RingSoaking {
        /// The soaking ring.
        ring: String,
        /// Until when.
        until: Timestamp,
    },
}

impl std::fmt::Display for Wait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wait::WindowClosed { until } => write!(f, "window closed until {until}"),
            Wait::Frozen { name, until } => write!(f, "frozen by {name:?} until {until}"),
            Wait::PreviousBatch { until } => write!(f, "previous batch in flight until {until}"),
            Wait::RingSoaking { ring, until } => write!(f, "ring {ring:?} soaking until {until}"),
        }
    }
}

/// When one tenant is expected to be released.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScheduledTenant {
    /// The tenant.
    pub id: TenantId,
    /// Its ring, by name.
    pub ring: String,
    /// Its batch in the ring, from 1.
    pub batch: usize,
    /// When its first step is expected to start.
    pub expected_start: Timestamp,
    /// When it is expected to be done: steps, then its ring's observation.
    pub expected_end: Timestamp,
    /// Why it starts later than the release's start, in the order met.
    pub waits: Vec<Wait>,
}

/// A tenant that finds no slot within the horizon.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("tenant {tenant} finds no slot within {horizon} of {after}: its windows never fit {step} outside the freezes")]
pub struct Unschedulable {
    /// The tenant.
    pub tenant: TenantId,
    /// From when it was looked for.
    pub after: Timestamp,
    /// The horizon.
    pub horizon: Duration,
    /// The step duration that had to fit.
    pub step: Duration,
}

/// Computes when each tenant of `plan` is expected to be released, in plan order.
pub fn schedule(plan: &Plan, input: &ScheduleInput<'_>) -> Result<Vec<ScheduledTenant>, Unschedulable> {
    let mut out = Vec::with_capacity(plan.tenant_count());
    let mut t = input.from;
    let mut carried: Vec<Wait> = Vec::new();
    for ring in &plan.rings {
        for (b, batch) in ring.batches.iter().enumerate() {
            let batch_ready = t;
            let mut batch_end = t;
            for tenant in &batch.tenants {
                let pool = input.pools.get(&tenant.id).map(String::as_str).unwrap_or("");
                let (start, reasons) = first_slot(&tenant.id, pool, batch_ready, input)?;
                let end = start + input.step.to_signed() + ring.observation.to_signed();
                batch_end = batch_end.max(end);
                let mut waits = carried.clone();
                waits.extend(reasons.into_iter().map(|r| match r {
                    Reason::WindowClosedUntil { until } => Wait::WindowClosed { until },
                    Reason::FrozenBy { name, until } => Wait::Frozen { name, until },
                }));
                out.push(ScheduledTenant {
                    id: tenant.id.clone(),
                    ring: ring.name.clone(),
                    batch: b + 1,
                    expected_start: start,
                    expected_end: end,
                    waits,
                });
            }
            t = batch_end;
            carried = if batch_end > input.from { vec![Wait::PreviousBatch { until: batch_end }] } else { vec![] };
        }
        if !ring.batches.is_empty() && !ring.soak.is_zero() {
            t += ring.soak.to_signed();
            carried = vec![Wait::RingSoaking { ring: ring.name.clone(), until: t }];
        }
    }
    Ok(out)
}

/// The earliest slot for a tenant from `after`: the earliest fit over its windows (any time when it
/// has none) outside the freezes that hold its pool, itself or the fleet.
fn first_slot(
    tenant: &TenantId,
    pool: &str,
    after: Timestamp,
    input: &ScheduleInput<'_>,
) -> Result<(Timestamp, Vec<Reason>), Unschedulable> {
    let base = SlotQuery::new(tenant, pool, input.tier).within(input.horizon);
    let windows = input.windows.get(tenant).map(Vec::as_slice).unwrap_or(&[]);
    let best = if windows.is_empty() {
        input.calendar.next_unfrozen(after, input.step, &base)
    } else {
        windows
            .iter()
            .filter_map(|w| input.calendar.next_unfrozen(after, input.step, &base.clone().in_window(w)))
            .min_by_key(|slot| slot.start)
    };
    match best {
        Some(slot) => Ok((slot.start, slot.waits)),
        None => Err(Unschedulable { tenant: tenant.clone(), after, horizon: input.horizon, step: input.step }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Freeze, FreezeScope};
    use crate::fixtures::simple_plan;
    use jiff::tz::TimeZone;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn tenants_wait_for_freezes_windows_batches_and_soak() {
        // Ring one: a; ring two: b then c (batch size 1). Observation 10m, soak 1h, steps 30m.
        let plan = simple_plan(
            1,
            &[("one", &["a"], 1), ("two", &["b", "c"], 1)],
            Duration::from_mins(10),
            Duration::from_mins(60),
        );
        let freeze = Freeze::absolute(
            "inventory",
            &"2026-03-02T00:00".parse::<jiff::civil::DateTime>().unwrap().to_zoned_datetime(TimeZone::UTC).unwrap(),
            &"2026-03-02T08:00".parse::<jiff::civil::DateTime>().unwrap().to_zoned_datetime(TimeZone::UTC).unwrap(),
            FreezeScope::Global,
        )
        .unwrap();
        let calendar = Calendar::new(vec![freeze]);
        // c may only be changed from 22:00 UTC for 2 hours.
        let windows = BTreeMap::from([(
            TenantId::from("c"),
            vec![MaintenanceWindow::new("0 22 * * *", Duration::from_mins(120), TimeZone::UTC).unwrap()],
        )]);
        let pools = BTreeMap::new();
        let input = ScheduleInput {
            from: at("2026-03-02T06:00:00Z"),
            step: Duration::from_mins(30),
            windows: &windows,
            pools: &pools,
            calendar: &calendar,
            tier: RiskTier::Medium,
            horizon: crate::calendar::DEFAULT_HORIZON,
        };
        let s = schedule(&plan, &input).unwrap();
        let by_id = |id: &str| s.iter().find(|t| t.id.as_str() == id).unwrap();
        let a = by_id("a");
        assert_eq!(a.expected_start, at("2026-03-02T08:00:00Z"), "after the freeze");
        assert_eq!(a.expected_end, at("2026-03-02T08:40:00Z"), "steps and observation");
        assert!(matches!(&a.waits[..], [Wait::Frozen { name, .. }] if name == "inventory"));
        let b = by_id("b");
        assert_eq!(b.expected_start, at("2026-03-02T09:40:00Z"), "after ring one's soak");
        assert!(matches!(b.waits[..], [Wait::RingSoaking { .. }]));
        let c = by_id("c");
        assert_eq!(c.expected_start, at("2026-03-02T22:00:00Z"), "in its window, after b's batch");
        assert!(matches!(c.waits[..], [Wait::PreviousBatch { .. }, Wait::WindowClosed { .. }]));
    }

    #[test]
    fn a_tenant_whose_window_never_fits_the_step_is_reported() {
        let plan = simple_plan(1, &[("one", &["a"], 1)], Duration::ZERO, Duration::ZERO);
        let windows = BTreeMap::from([(
            TenantId::from("a"),
            vec![MaintenanceWindow::new("0 3 * * *", Duration::from_mins(20), TimeZone::UTC).unwrap()],
        )]);
        let calendar = Calendar::new(vec![]);
        let pools = BTreeMap::new();
        let input = ScheduleInput {
            from: at("2026-03-02T00:00:00Z"),
            step: Duration::from_mins(30),
            windows: &windows,
            pools: &pools,
            calendar: &calendar,
            tier: RiskTier::Low,
            horizon: Duration::from_mins(60 * 24 * 7),
        };
        let err = schedule(&plan, &input).unwrap_err();
        assert_eq!(err.tenant.as_str(), "a");
    }
}
