//! Time governance and pacing as the engine applies them while a release runs: whether a tenant of
//! the current batch may take its first step *now* — inside one of its maintenance windows with time
//! to finish, outside every freeze that stops the release's risk tier (unless an approved break-glass
//! exception opens it), and within the cluster, pool, release-wide and capacity-buffer limits.
//!
//! Two halves. [`GovernanceSpec`] is the serialisable form, built from the configuration and kept
//! with a run so that a resumed controller rebuilds exactly the rules it started with.
//! [`Governance`] is the compiled form the engine and the schedule query; compiling needs time zones,
//! which the caller resolves (the core reads no tz database).
//!
//! Not here: where a tenant is in its steps (the engine) and how tenants are grouped into batches
//! (the planner).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::Duration;
use crate::calendar::{
    ApprovedBreakGlass, BreakGlass, BreakGlassError, Calendar, CalendarError, DEFAULT_HORIZON, MaintenanceWindow,
    RiskTier, Slot, SlotQuery,
};
use crate::model::{Config, FreezeSpec, FreezeSpecError, TenantId, WindowSpec};

/// The pacing limits the engine enforces while tenants are in flight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Tenants migrating at once per cluster (restore point, migration, restoring rollback).
    #[serde(default)]
    pub per_cluster: BTreeMap<String, u32>,
    /// Tenants migrating at once per pool, for pools that set a limit.
    #[serde(default)]
    pub per_pool: BTreeMap<String, u32>,
    /// Tenants in flight (first step to end of observation) across the release.
    #[serde(default)]
    pub in_flight: Option<u32>,
    /// Tenants in maintenance at once per pool, derived from the capacity buffer rule.
    #[serde(default)]
    pub unavailable_per_pool: BTreeMap<String, u32>,
}

/// One tenant's windows as written, with the time zone they are read in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantWindows {
    /// IANA time zone name.
    pub timezone: String,
    /// The windows (the tenant's own, or its pool's).
    pub windows: Vec<WindowSpec>,
}

/// Time governance and pacing as configured, in a form that can be stored with a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceSpec {
    /// The release's risk tier.
    pub tier: RiskTier,
    /// Expected duration of a tenant's steps when no rehearsal measured it.
    pub expected_step: Duration,
    /// Measured step durations per tenant (from rehearsals), overriding `expected_step`.
    #[serde(default)]
    pub step_by_tenant: BTreeMap<TenantId, Duration>,
    /// Windows per tenant; tenants without an entry may be changed at any time.
    #[serde(default)]
    pub windows: BTreeMap<TenantId, TenantWindows>,
    /// Tenants that may be changed only inside a maintenance window, even when they have none (then
    /// they find no slot), with why: their rehearsal predicts blocking above the policy's limit for
    /// the release's tier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub window_required: BTreeMap<TenantId, String>,
    /// Each tenant's pool, for pool-scoped freezes.
    #[serde(default)]
    pub pools: BTreeMap<TenantId, String>,
    /// The freezes as written.
    #[serde(default)]
    pub freezes: Vec<FreezeSpec>,
    /// The release's break-glass exception, if any, and how many approvers policy requires.
    #[serde(default)]
    pub break_glass: Option<(BreakGlass, u32)>,
    /// Pacing limits.
    #[serde(default)]
    pub limits: Limits,
    /// How far ahead to look for a tenant's slot.
    pub horizon: Duration,
}

/// Why a [`GovernanceSpec`] cannot be compiled.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GovernanceError {
    /// A time zone name the tz database does not know.
    #[error("{owner}: unknown time zone {zone:?} ({reason}); use an IANA name such as Europe/Paris")]
    TimeZone {
        /// Whose zone.
        owner: String,
        /// The name.
        zone: String,
        /// What the resolver said.
        reason: String,
    },
    /// A window that does not build.
    #[error("tenant {tenant}: maintenance window: {source}")]
    Window {
        /// The tenant.
        tenant: TenantId,
        /// Why.
        source: CalendarError,
    },
    /// A freeze that does not build.
    #[error("freeze {name:?}: {source}")]
    Freeze {
        /// The freeze's name.
        name: String,
        /// Why.
        source: FreezeSpecError,
    },
    /// The release's break-glass exception is not approved well enough.
    #[error("the release's break-glass exception is refused: {0}")]
    BreakGlass(#[from] BreakGlassError),
}

impl GovernanceSpec {
    /// The rules `config` sets for its release (or for a release of tier `tier` when it has none),
    /// with every step expected to take the policy's `expectedStepDuration`.
    pub fn from_config(config: &Config, tier: Option<RiskTier>) -> Self {
        let fleet = &config.fleet;
        let policy = &config.policy;
        let mut windows = BTreeMap::new();
        let mut pools = BTreeMap::new();
        for t in &fleet.tenants {
            let specs = if t.maintenance_windows.is_empty() {
                fleet.pool(&t.pool).map(|p| p.maintenance_windows.clone()).unwrap_or_default()
            } else {
                t.maintenance_windows.clone()
            };
            if !specs.is_empty() {
                windows.insert(t.id.clone(), TenantWindows { timezone: t.timezone.clone(), windows: specs });
            }
            pools.insert(t.id.clone(), t.pool.clone());
        }
        let mut limits = Limits {
            per_cluster: fleet.clusters.iter().map(|c| (c.name.clone(), c.max_concurrent_migrations)).collect(),
            per_pool: fleet
                .pools
                .iter()
                .filter_map(|p| p.max_concurrent_migrations.map(|m| (p.name.clone(), m)))
                .collect(),
            in_flight: policy.concurrency.max_tenants_in_flight,
            unavailable_per_pool: BTreeMap::new(),
        };
        if let Some(percent) = policy.concurrency.max_unavailable_percent {
            let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
            for t in &fleet.tenants {
                *sizes.entry(t.pool.as_str()).or_default() += 1;
            }
            for (pool, size) in sizes {
                // Rounded down like Kubernetes' maxUnavailable, but never zero: a buffer that stops
                // a small pool from ever being released would be a freeze nobody wrote.
                let allowed = (size * u64::from(percent) / 100).max(1);
                limits.unavailable_per_pool.insert(pool.to_owned(), u32::try_from(allowed).unwrap_or(u32::MAX));
            }
        }
        let release = config.release.as_ref();
        GovernanceSpec {
            tier: tier.or_else(|| release.and_then(|r| r.risk)).unwrap_or(RiskTier::Medium),
            expected_step: policy.expected_step_duration,
            step_by_tenant: BTreeMap::new(),
            windows,
            window_required: BTreeMap::new(),
            pools,
            freezes: policy.freezes.clone(),
            break_glass: release.and_then(|r| r.break_glass.clone()).map(|b| (b, policy.break_glass_approvals)),
            limits,
            horizon: DEFAULT_HORIZON,
        }
    }

    /// Compiles the rules, reading time zones through `zone` (e.g. `jiff::tz::TimeZone::get`).
    pub fn compile<E: std::fmt::Display>(
        &self,
        zone: impl Fn(&str) -> Result<TimeZone, E>,
    ) -> Result<Governance, GovernanceError> {
        self.compile_with(zone, &mut WindowCache::default())
    }

    /// [`Self::compile`], reusing windows parsed before into `cache` (a simulator compiles thousands
    /// of scenarios drawn from the same windows).
    pub fn compile_with<E: std::fmt::Display>(
        &self,
        zone: impl Fn(&str) -> Result<TimeZone, E>,
        cache: &mut WindowCache,
    ) -> Result<Governance, GovernanceError> {
        let resolve = |owner: String, name: &str| {
            zone(name).map_err(|e| GovernanceError::TimeZone { owner, zone: name.to_owned(), reason: e.to_string() })
        };
        let mut windows = BTreeMap::new();
        // Tenants of a pool share its windows, and many tenants write the same ones: parse each
        // distinct (cron, duration, zone) once.
        let parsed = &mut cache.0;
        for (tenant, w) in &self.windows {
            let mut built = Vec::with_capacity(w.windows.len());
            for spec in &w.windows {
                let key = (spec.cron.clone(), spec.duration, w.timezone.clone());
                if let Some(window) = parsed.get(&key) {
                    built.push(window.clone());
                    continue;
                }
                let tz = resolve(format!("tenant {tenant}"), &w.timezone)?;
                let window =
                    spec.to_window(tz).map_err(|source| GovernanceError::Window { tenant: tenant.clone(), source })?;
                parsed.insert(key, window.clone());
                built.push(window);
            }
            windows.insert(tenant.clone(), built);
        }
        let mut freezes = Vec::new();
        for f in &self.freezes {
            let tz = resolve(format!("freeze {:?}", f.name), &f.timezone)?;
            freezes
                .extend(f.to_freezes(tz).map_err(|source| GovernanceError::Freeze { name: f.name.clone(), source })?);
        }
        let break_glass = match &self.break_glass {
            Some((exception, required)) => Some(exception.approve(*required as usize)?),
            None => None,
        };
        Ok(Governance {
            tier: self.tier,
            expected_step: self.expected_step,
            step_by_tenant: self.step_by_tenant.clone(),
            windows,
            window_required: self.window_required.clone(),
            pools: self.pools.clone(),
            calendar: Calendar::new(freezes),
            break_glass,
            limits: self.limits.clone(),
            horizon: self.horizon,
        })
    }
}

/// Maintenance windows already parsed, by cron expression, duration and zone name.
#[derive(Debug, Default)]
pub struct WindowCache(BTreeMap<(String, Duration, String), MaintenanceWindow>);

/// Compiled time governance and pacing: what the engine asks before it starts a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Governance {
    /// The release's risk tier.
    pub tier: RiskTier,
    /// Expected duration of a tenant's steps when no rehearsal measured it.
    pub expected_step: Duration,
    /// Measured step durations per tenant.
    pub step_by_tenant: BTreeMap<TenantId, Duration>,
    /// Windows per tenant; none means any time.
    pub windows: BTreeMap<TenantId, Vec<MaintenanceWindow>>,
    /// Tenants that may start only inside a window, with why (see [`GovernanceSpec::window_required`]).
    pub window_required: BTreeMap<TenantId, String>,
    /// Each tenant's pool.
    pub pools: BTreeMap<TenantId, String>,
    /// The freezes.
    pub calendar: Calendar,
    /// An approved break-glass exception, which opens freezes for this release.
    pub break_glass: Option<ApprovedBreakGlass>,
    /// Pacing limits.
    pub limits: Limits,
    /// How far ahead to look for a slot.
    pub horizon: Duration,
}

impl Default for Governance {
    /// No windows, no freezes, no limits: every tenant may start at once.
    fn default() -> Self {
        Governance {
            tier: RiskTier::Medium,
            expected_step: Duration::from_mins(30),
            step_by_tenant: BTreeMap::new(),
            windows: BTreeMap::new(),
            window_required: BTreeMap::new(),
            pools: BTreeMap::new(),
            calendar: Calendar::default(),
            break_glass: None,
            limits: Limits::default(),
            horizon: DEFAULT_HORIZON,
        }
    }
}

impl Governance {
    /// Why `tenant` finds no slot when it finds none: the reason it must wait for a window it lacks,
    /// or its windows never fitting its steps outside the freezes within the horizon.
    pub fn no_slot_reason(&self, tenant: &TenantId) -> String {
        match (self.window_required.get(tenant), self.windows.get(tenant).is_some_and(|w| !w.is_empty())) {
            (Some(why), false) => format!(
                "tenant {tenant} may be changed only inside a maintenance window ({why}), and it has none: \
                 give it (or its pool) maintenanceWindows"
            ),
            _ => format!(
                "tenant {tenant} finds no slot within {}: none of its windows fits {} outside the freezes",
                self.horizon,
                self.step_duration(tenant)
            ),
        }
    }

    /// How long `tenant`'s steps are expected to take: what must fit in its window.
    pub fn step_duration(&self, tenant: &TenantId) -> Duration {
        self.step_by_tenant.get(tenant).copied().unwrap_or(self.expected_step)
    }

    /// The earliest slot at or after `from` in which `tenant` (on `pool`) may take its steps: inside
    /// one of its windows with time to finish (any time when it has none) and outside the freezes
    /// that stop the release's tier, or inside them under the approved break-glass exception. `None`
    /// when nothing fits within the horizon.
    pub fn first_slot(&self, tenant: &TenantId, pool: &str, from: Timestamp) -> Option<Slot> {
        let mut base = SlotQuery::new(tenant, pool, self.tier).within(self.horizon);
        if let Some(exception) = &self.break_glass {
            base = base.with_break_glass(exception);
        }
        let step = self.step_duration(tenant);
        match self.windows.get(tenant).map(Vec::as_slice) {
            // Required to wait for a window it does not have: never, until an operator gives it one.
            None | Some([]) if self.window_required.contains_key(tenant) => None,
            None | Some([]) => self.calendar.next_unfrozen(from, step, &base),
            Some(windows) => windows
                .iter()
                .filter_map(|w| self.calendar.next_unfrozen(from, step, &base.clone().in_window(w)))
                .min_by_key(|slot| slot.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FreezeScopeSpec;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec() -> GovernanceSpec {
        GovernanceSpec {
            tier: RiskTier::Medium,
            expected_step: Duration::from_mins(30),
            step_by_tenant: BTreeMap::new(),
            windows: BTreeMap::from([(
                TenantId::from("big"),
                TenantWindows {
                    timezone: "America/New_York".into(),
                    windows: vec![WindowSpec { cron: "0 2 * * *".into(), duration: Duration::from_mins(120) }],
                },
            )]),
            window_required: BTreeMap::new(),
            pools: BTreeMap::from([(TenantId::from("big"), "dedicated-big".into())]),
            freezes: vec![FreezeSpec {
                name: "black-friday".into(),
                start: Some("2026-11-26T00:00".parse().unwrap()),
                end: Some("2026-12-01T00:00".parse().unwrap()),
                cron: None,
                duration: None,
                timezone: "America/New_York".into(),
                allow_tiers: vec![RiskTier::Low],
                scope: Some(FreezeScopeSpec::default()),
            }],
            break_glass: None,
            limits: Limits::default(),
            horizon: DEFAULT_HORIZON,
        }
    }

    #[test]
    fn a_tenant_starts_in_its_window_after_the_freeze() {
        let g = spec().compile(TimeZone::get).unwrap();
        let slot = g.first_slot(&"big".into(), "dedicated-big", at("2026-11-27T09:00:00Z")).unwrap();
        // 2026-12-01 02:00 in New York (EST, UTC-5).
        assert_eq!(slot.start, at("2026-12-01T07:00:00Z"));
        assert!(slot.break_glass.is_none());
    }

    #[test]
    fn a_low_risk_release_passes_the_freeze_that_allows_it() {
        let mut s = spec();
        s.tier = RiskTier::Low;
        let g = s.compile(TimeZone::get).unwrap();
        let slot = g.first_slot(&"big".into(), "dedicated-big", at("2026-11-27T09:00:00Z")).unwrap();
        assert_eq!(slot.start, at("2026-11-28T07:00:00Z"), "the next 02:00 in New York");
    }

    #[test]
    fn break_glass_opens_the_freeze_only_when_approved_enough() {
        let mut s = spec();
        let exception = BreakGlass { reason: "payment outage".into(), approvals: vec!["cto".into()] };
        s.break_glass = Some((exception.clone(), 2));
        assert!(matches!(
            s.compile(TimeZone::get),
            Err(GovernanceError::BreakGlass(BreakGlassError::NotEnoughApprovals { have: 1, required: 2 }))
        ));
        s.break_glass = Some((BreakGlass { approvals: vec!["cto".into(), "sre-lead".into()], ..exception }, 2));
        let g = s.compile(TimeZone::get).unwrap();
        let slot = g.first_slot(&"big".into(), "dedicated-big", at("2026-11-27T09:00:00Z")).unwrap();
        assert_eq!(slot.start, at("2026-11-28T07:00:00Z"), "in its window, inside the freeze");
        assert_eq!(slot.break_glass.unwrap().freezes, vec!["black-friday".to_owned()]);
    }

    #[test]
    fn a_tenant_required_to_wait_for_a_window_it_lacks_finds_no_slot_and_says_why() {
        let mut s = spec();
        s.pools.insert(TenantId::from("small"), "shared".into());
        let free = s.compile(TimeZone::get).unwrap();
        let now = at("2026-11-20T09:00:00Z");
        assert_eq!(free.first_slot(&"small".into(), "shared", now).unwrap().start, now, "no window: any time");
        let why = "its rehearsal blocks reads of orders for 40s, above 5s for medium";
        s.window_required.insert("small".into(), why.into());
        s.window_required.insert("big".into(), why.into());
        let g = s.compile(TimeZone::get).unwrap();
        assert!(g.first_slot(&"small".into(), "shared", now).is_none());
        assert!(g.no_slot_reason(&"small".into()).contains(why));
        // A tenant with windows goes on in them as before.
        let slot = g.first_slot(&"big".into(), "dedicated-big", now).unwrap();
        assert_eq!(slot.start, at("2026-11-21T07:00:00Z"), "02:00 in New York");
    }

    #[test]
    fn unknown_time_zones_are_named() {
        let mut s = spec();
        s.windows.get_mut(&TenantId::from("big")).unwrap().timezone = "Mars/Olympus".into();
        let err = s.compile(TimeZone::get).unwrap_err();
        assert!(err.to_string().contains("tenant big: unknown time zone \"Mars/Olympus\""), "{err}");
    }
}
