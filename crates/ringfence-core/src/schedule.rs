//! The schedule: when each tenant of a plan is expected to be released, given the calendar — its
//! maintenance windows, the freezes, the rings' observation and soak times — and the pacing limits,
//! and why it waits.
//!
//! Pure, like the planner: it takes `from` and the compiled [`Governance`] (windows, freezes, tier,
//! expected step durations, limits) and walks the plan ring by ring and batch by batch, as the engine
//! will: a batch starts when the previous one is done, a ring after the previous ring's soak, and each
//! tenant at its first slot that fits its window and no freeze, once the cluster, pool, capacity
//! buffer and release-wide limits have room. It is an estimate: the engine decides at run time from
//! what really happens, and `ringfence simulate` rehearses that with faults.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::calendar::Reason;
use crate::governance::Governance;
use crate::model::TenantId;
use crate::plan::Plan;

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
    /// A pacing limit is full: its cluster or pool has as many migrations running as allowed, its
    /// pool as many tenants in maintenance as the capacity buffer allows, or the release as many
    /// tenants in flight as its cap.
    Busy {
        /// Which limit, e.g. `cluster pg-eu-1`.
        limit: String,
        /// When room is expected.
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
            Wait::Busy { limit, until } => write!(f, "{limit} busy until {until}"),
        }
    }
}

impl From<Reason> for Wait {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::WindowClosedUntil { until } => Wait::WindowClosed { until },
            Reason::FrozenBy { name, until } => Wait::Frozen { name, until },
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
#[error("{reason} (looking from {after})")]
pub struct Unschedulable {
    /// The tenant.
    pub tenant: TenantId,
    /// From when it was looked for.
    pub after: Timestamp,
    /// The horizon.
    pub horizon: Duration,
    /// The step duration that had to fit.
    pub step: Duration,
    /// Why, in words.
    pub reason: String,
}

/// A tenant already placed in the current batch: what it occupies and until when.
struct Booking<'a> {
    cluster: &'a str,
    pool: &'a str,
    start: Timestamp,
    /// End of its steps: while migrating and in maintenance.
    steps_end: Timestamp,
    /// End of its observation: while in flight.
    end: Timestamp,
}

/// Computes when each tenant of `plan` is expected to be released from `from`, in plan order.
pub fn schedule(plan: &Plan, from: Timestamp, g: &Governance) -> Result<Vec<ScheduledTenant>, Unschedulable> {
    let mut out = Vec::with_capacity(plan.tenant_count());
    let mut t = from;
    let mut carried: Vec<Wait> = Vec::new();
    for ring in &plan.rings {
        for (b, batch) in ring.batches.iter().enumerate() {
            let batch_ready = t;
            let mut batch_end = t;
            let mut booked: Vec<Booking<'_>> = Vec::with_capacity(batch.tenants.len());
            for tenant in &batch.tenants {
                let step = g.step_duration(&tenant.id);
                let mut waits = carried.clone();
                let mut after = batch_ready;
                let start = loop {
                    let Some(slot) = g.first_slot(&tenant.id, &tenant.pool, after) else {
                        return Err(Unschedulable {
                            tenant: tenant.id.clone(),
                            after,
                            horizon: g.horizon,
                            step: g.step_duration(&tenant.id),
                            reason: g.no_slot_reason(&tenant.id),
                        });
                    };
                    waits.extend(slot.waits.into_iter().map(Wait::from));
                    match busy(g, &booked, &tenant.cluster, &tenant.pool, slot.start) {
                        Some(wait @ Wait::Busy { until, .. }) => {
                            waits.push(wait);
                            after = until;
                        }
                        _ => break slot.start,
                    }
                };
                // Saturating: durations built in code may be longer than any configuration can write.
                let steps_end = step.after(start);
                let end = ring.observation.after(steps_end);
                batch_end = batch_end.max(end);
                booked.push(Booking { cluster: &tenant.cluster, pool: &tenant.pool, start, steps_end, end });
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
            carried = if batch_end > from { vec![Wait::PreviousBatch { until: batch_end }] } else { vec![] };
        }
        if !ring.batches.is_empty() && !ring.soak.is_zero() {
            t = ring.soak.after(t);
            carried = vec![Wait::RingSoaking { ring: ring.name.clone(), until: t }];
        }
    }
    Ok(out)
}

/// The first pacing limit that is full at `at` for a tenant on `cluster` and `pool`, with when the
/// earliest booking holding it ends, as the engine counts: migrations and maintenance last a
/// tenant's steps, being in flight lasts to the end of its observation.
fn busy(g: &Governance, booked: &[Booking<'_>], cluster: &str, pool: &str, at: Timestamp) -> Option<Wait> {
    let limits = &g.limits;
    let full = |limit: Option<u32>, holds: &dyn Fn(&Booking<'_>) -> Option<Timestamp>, what: String| {
        let max = limit? as usize;
        let ends: Vec<Timestamp> =
            booked.iter().filter(|b| b.start <= at).filter_map(holds).filter(|e| *e > at).collect();
        (ends.len() >= max).then(|| Wait::Busy { limit: what, until: ends.into_iter().min().unwrap_or(at) })
    };
    let migrating_on_cluster = |b: &Booking<'_>| (b.cluster == cluster).then_some(b.steps_end);
    let migrating_in_pool = |b: &Booking<'_>| (b.pool == pool).then_some(b.steps_end);
    let in_flight = |b: &Booking<'_>| Some(b.end);
    full(limits.per_cluster.get(cluster).copied(), &migrating_on_cluster, format!("cluster {cluster}"))
        .or_else(|| full(limits.per_pool.get(pool).copied(), &migrating_in_pool, format!("pool {pool}")))
        .or_else(|| {
            let buffer = limits.unavailable_per_pool.get(pool).copied();
            full(buffer, &migrating_in_pool, format!("pool {pool} capacity buffer"))
        })
        .or_else(|| full(limits.in_flight, &in_flight, "release-wide cap on tenants in flight".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Calendar, Freeze, FreezeScope, MaintenanceWindow};
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
        let mut g = Governance { calendar: Calendar::new(vec![freeze]), ..Governance::default() };
        // c may only be changed from 22:00 UTC for 2 hours.
        g.windows.insert(
            TenantId::from("c"),
            vec![MaintenanceWindow::new("0 22 * * *", Duration::from_mins(120), TimeZone::UTC).unwrap()],
        );
        let s = schedule(&plan, at("2026-03-02T06:00:00Z"), &g).unwrap();
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
    fn durations_too_long_for_the_calendar_end_at_its_last_instant() {
        // Longer than any configuration may write; built in code, they used to overflow and panic.
        let huge = Duration::from_millis(u64::MAX);
        let plan = simple_plan(1, &[("one", &["a"], 1), ("two", &["b"], 1)], huge, huge);
        let s = schedule(&plan, at("2026-03-02T06:00:00Z"), &Governance::default()).unwrap();
        assert_eq!(s[0].expected_start, at("2026-03-02T06:00:00Z"));
        assert_eq!(s[0].expected_end, Timestamp::MAX);
        assert_eq!(s[1].expected_start, Timestamp::MAX, "after ring one's soak");
        assert_eq!(s[1].expected_end, Timestamp::MAX);
    }

    #[test]
    fn a_tenant_whose_window_never_fits_the_step_is_reported() {
        let plan = simple_plan(1, &[("one", &["a"], 1)], Duration::ZERO, Duration::ZERO);
        let mut g = Governance { horizon: Duration::from_mins(60 * 24 * 7), ..Governance::default() };
        g.windows.insert(
            TenantId::from("a"),
            vec![MaintenanceWindow::new("0 3 * * *", Duration::from_mins(20), TimeZone::UTC).unwrap()],
        );
        let err = schedule(&plan, at("2026-03-02T00:00:00Z"), &g).unwrap_err();
        assert_eq!(err.tenant.as_str(), "a");
    }

    #[test]
    fn a_full_pool_makes_the_next_tenant_of_the_batch_wait_for_room() {
        // One batch of three on one pool that lets two migrate at once; steps 30m, observation 10m.
        let plan = simple_plan(3, &[("all", &["a", "b", "c"], 3)], Duration::from_mins(10), Duration::ZERO);
        let mut g = Governance::default();
        g.limits.per_pool.insert("shared".into(), 2);
        let s = schedule(&plan, at("2026-03-02T06:00:00Z"), &g).unwrap();
        assert_eq!(s[0].expected_start, at("2026-03-02T06:00:00Z"));
        assert_eq!(s[1].expected_start, at("2026-03-02T06:00:00Z"));
        assert_eq!(s[2].expected_start, at("2026-03-02T06:30:00Z"), "after a's and b's steps");
        assert_eq!(s[2].waits, vec![Wait::Busy { limit: "pool shared".into(), until: at("2026-03-02T06:30:00Z") }]);
        assert_eq!(s[2].waits[0].to_string(), "pool shared busy until 2026-03-02T06:30:00Z");
        // A release-wide cap of one holds each tenant until the previous one's observation is over.
        let g = Governance { limits: crate::governance::Limits { in_flight: Some(1), ..Default::default() }, ..g };
        let s = schedule(&plan, at("2026-03-02T06:00:00Z"), &g).unwrap();
        let starts: Vec<_> = s.iter().map(|t| t.expected_start).collect();
        assert_eq!(starts, vec![at("2026-03-02T06:00:00Z"), at("2026-03-02T06:40:00Z"), at("2026-03-02T07:20:00Z")]);
    }
}
