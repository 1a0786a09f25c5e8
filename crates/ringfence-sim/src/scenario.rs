//! Scenarios: a fleet configuration, a start time and fault rates, all drawn from one seed — or a
//! user's own configuration with seeded faults, to rehearse a release calendar.
//!
//! Generated fleets are small (a few clusters and pools, up to 30 tenants) but dense in what breaks
//! schedulers: tenants in many time zones, nightly windows at 02:30 (which does not exist on a
//! spring-forward night), windows across midnight, absolute and recurring freezes with pool and tenant
//! scopes, freezes that let only `low` through, break-glass exceptions, tight cluster, pool and
//! release-wide limits, and start times a day or two before a daylight-saving change.

use std::collections::BTreeMap;

use jiff::Timestamp;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use ringfence_core::Duration;
use ringfence_core::calendar::{BreakGlass, RiskTier};
use ringfence_core::fixtures;
use ringfence_core::model::{
    BatchSize, Change, Cluster, Concurrency, Config, Fleet, FreezeScopeSpec, FreezeSpec, Migration, Policy, Pool,
    PoolKind, Release, Ring, Selector, Tenant, TenantId, TenantTier, WindowSpec,
};

/// How often each fault strikes, and how long steps take in the simulated fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// A restore point fails.
    pub restore_point: f64,
    /// A migration fails (its database may be left half-changed).
    pub migrate: f64,
    /// A migration is slow: it takes 3–10 times as long, which can carry a tenant past its window.
    pub slow: f64,
    /// A switch fails.
    pub switch: f64,
    /// A health check fails.
    pub health: f64,
    /// A rollback fails (the tenant then needs an operator).
    pub rollback: f64,
    /// The release is bad for a tenant: one of its looks returns a failing verdict.
    pub bad_tenant: f64,
    /// A look at an observed tenant arrives late, by up to five minutes.
    pub late_look: f64,
    /// The controller crashes right after recording an event, with some of its actions carried out.
    pub crash_mid_event: f64,
    /// Number of crashes at random moments, each followed by a downtime of up to six hours (a clock
    /// jump for the restarted controller, across a daylight-saving change when the scenario sits
    /// on one).
    pub idle_crashes: u32,
}

impl Faults {
    /// No faults at all: every step succeeds on time.
    pub fn none() -> Self {
        Faults {
            restore_point: 0.0,
            migrate: 0.0,
            slow: 0.0,
            switch: 0.0,
            health: 0.0,
            rollback: 0.0,
            bad_tenant: 0.0,
            late_look: 0.0,
            crash_mid_event: 0.0,
            idle_crashes: 0,
        }
    }

    /// Rates drawn from `rng`: most runs see a few faults, some see many, some none.
    pub fn random(rng: &mut SmallRng) -> Self {
        let mut rate = |max: f64| if rng.random_bool(0.3) { 0.0 } else { rng.random_range(0.0..max) };
        Faults {
            restore_point: rate(0.01),
            migrate: rate(0.02),
            slow: rate(0.2),
            switch: rate(0.01),
            health: rate(0.02),
            rollback: rate(0.05),
            bad_tenant: rate(0.04),
            late_look: rate(0.3),
            crash_mid_event: rate(0.002),
            idle_crashes: rng.random_range(0..4),
        }
    }
}

/// One simulated release: what the fleet and policy are, when it starts and what goes wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The seed everything was drawn from; the same seed replays the same run.
    pub seed: u64,
    /// Fleet, policy and release.
    pub config: Config,
    /// When the release is started.
    pub start: Timestamp,
    /// The faults.
    pub faults: Faults,
}

/// Time zones tenants and freezes are drawn from: both hemispheres' daylight-saving rules, zones
/// without any, and a half-hour offset.
const ZONES: [&str; 7] = [
    "Europe/Paris",
    "America/New_York",
    "UTC",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Asia/Kolkata",
];

/// Daylight-saving changes (and Black Friday) the start is placed just before, so windows and
/// downtimes cross them.
const EDGES: [&str; 9] = [
    "2026-03-08T07:00:00Z", // United States spring forward
    "2026-03-29T01:00:00Z", // European Union spring forward
    "2026-04-05T16:00:00Z", // Sydney falls back
    "2026-10-04T16:00:00Z", // Sydney springs forward
    "2026-10-25T01:00:00Z", // European Union falls back
    "2026-11-01T06:00:00Z", // United States falls back
    "2026-11-27T05:00:00Z", // Black Friday in New York
    "2027-03-14T07:00:00Z", // United States spring forward
    "2027-03-28T01:00:00Z", // European Union spring forward
];

impl Scenario {
    /// A scenario drawn entirely from `seed`.
    pub fn generate(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let edge: Timestamp = EDGES[rng.random_range(0..EDGES.len())].parse().expect("valid instant");
        let start = edge - jiff::SignedDuration::from_mins(rng.random_range(0..48 * 60));
        let config = generate_config(&mut rng, start);
        let faults = Faults::random(&mut rng);
        Scenario { seed, config, start, faults }
    }

    /// The user's own configuration started at `start`, with faults drawn from `seed`.
    pub fn from_config(config: Config, start: Timestamp, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        Scenario { seed, config, start, faults: Faults::random(&mut rng) }
    }
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn window(rng: &mut SmallRng, at_least: u64) -> WindowSpec {
    // 02:30 exists on no spring-forward night; 22:00 for hours crosses midnight; weekday-only
    // windows leave whole days without a slot.
    let (minute, hour) = *pick(rng, &[(30, 2), (0, 22), (0, 1), (0, 3), (15, 13), (0, 0)]);
    let days = *pick(rng, &["*", "*", "1-5", "6,0"]);
    WindowSpec {
        cron: format!("{minute} {hour} * * {days}"),
        duration: Duration::from_mins(at_least + rng.random_range(0..5) * 30),
    }
}

fn generate_config(rng: &mut SmallRng, start: Timestamp) -> Config {
    let expected_step = Duration::from_mins(rng.random_range(2..7) * 10);
    let fit = expected_step.as_millis() / 60_000 + 30;
    let clusters: Vec<Cluster> =
        (0..rng.random_range(1..4)).map(|i| fixtures::cluster(&format!("pg-{i}"), rng.random_range(1..5))).collect();
    let pools: Vec<Pool> = (0..rng.random_range(1..4))
        .map(|i| Pool {
            name: format!("pool-{i}"),
            kind: if i == 0 { PoolKind::MultiTenant } else { PoolKind::Dedicated },
            cluster: clusters[i % clusters.len()].name.clone(),
            maintenance_windows: if rng.random_bool(0.3) { vec![window(rng, fit)] } else { vec![] },
            max_concurrent_migrations: rng.random_bool(0.3).then(|| rng.random_range(1..3)),
        })
        .collect();
    let tenants: Vec<Tenant> = (0..rng.random_range(3..31))
        .map(|i| {
            let pool = pick(rng, &pools).clone();
            Tenant {
                id: TenantId(format!("t{i:02}")),
                pool: pool.name.clone(),
                cluster: pool.cluster.clone(),
                database: format!("t{i:02}"),
                tier: *pick(
                    rng,
                    &[TenantTier::Internal, TenantTier::Standard, TenantTier::Premium, TenantTier::Enterprise],
                ),
                labels: BTreeMap::new(),
                timezone: pick(rng, &ZONES).to_string(),
                maintenance_windows: if rng.random_bool(0.4) {
                    (0..rng.random_range(1..3)).map(|_| window(rng, fit)).collect()
                } else {
                    vec![]
                },
            }
        })
        .collect();

    let ring_count = rng.random_range(1..5).min(tenants.len());
    let mut rings: Vec<Ring> = (0..ring_count)
        .map(|i| Ring {
            name: format!("ring-{i}"),
            selector: Selector::default(),
            batch_size: BatchSize::Count(rng.random_range(1..6)),
            observation: Duration::from_mins(rng.random_range(0..7) * 10),
            soak: Duration::from_mins(rng.random_range(0..5) * 30),
        })
        .collect();
    for t in &tenants {
        let r = rng.random_range(0..ring_count);
        rings[r].selector.tenants.push(t.id.clone());
    }
    // Every ring holds at least one tenant, so no ring is trivially empty (the planner skips those).
    rings.retain(|r| !r.selector.tenants.is_empty());

    let mut freezes = Vec::new();
    for n in 0..rng.random_range(0..4) {
        let zone = pick(rng, &ZONES).to_string();
        let scope = match rng.random_range(0..3) {
            0 => None,
            1 => Some(FreezeScopeSpec { pools: vec![pick(rng, &pools).name.clone()], tenants: vec![] }),
            _ => Some(FreezeScopeSpec { pools: vec![], tenants: vec![pick(rng, &tenants).id.clone()] }),
        };
        let allow_tiers = if rng.random_bool(0.3) { vec![RiskTier::Low] } else { vec![] };
        let freeze = if rng.random_bool(0.6) {
            let tz = jiff::tz::TimeZone::get(&zone).expect("a zone from the list");
            let begin = start + jiff::SignedDuration::from_hours(rng.random_range(-24..72));
            let local = begin.to_zoned_datetime(tz).datetime();
            FreezeSpec {
                name: format!("freeze-{n}"),
                start: Some(local),
                end: Some(local + jiff::Span::new().hours(rng.random_range(2..120))),
                cron: None,
                duration: None,
                timezone: zone,
                allow_tiers,
                scope,
            }
        } else {
            // Friday promotions: from 16:00 for a day or so, every week.
            FreezeSpec {
                name: format!("promo-{n}"),
                start: None,
                end: None,
                cron: Some(format!("0 16 * * {}", rng.random_range(0..7))),
                duration: Some(Duration::from_mins(rng.random_range(2..30) * 60)),
                timezone: zone,
                allow_tiers,
                scope,
            }
        };
        freezes.push(freeze);
    }

    let policy = Policy {
        allow_image_tags: true,
        rings,
        slis: vec![],
        judge: Default::default(),
        freezes,
        expected_step_duration: expected_step,
        concurrency: Concurrency {
            max_tenants_in_flight: rng.random_bool(0.3).then(|| rng.random_range(1..6)),
            max_unavailable_percent: rng.random_bool(0.3).then(|| rng.random_range(10..60)),
        },
        break_glass_approvals: 2,
        migration: Default::default(),
        supply_chain: Default::default(),
        metrics: Default::default(),
    };
    let break_glass = rng.random_bool(0.1).then(|| BreakGlass {
        reason: "payment provider outage: the fix cannot wait for the freeze".into(),
        approvals: vec!["cto@example.com".into(), "head-of-ops@example.com".into()],
    });
    let release = Release {
        version: "v2".into(),
        replaces: "v1".into(),
        image: "registry.example.com/odoo:v2".into(),
        migration: Migration { command: vec!["migrate".into()] },
        change: Change { description: "simulated".into(), author: "sim@example.com".into() },
        schema_backward_compatible: rng.random_bool(0.3),
        risk: Some(*pick(rng, &[RiskTier::Low, RiskTier::Medium, RiskTier::High, RiskTier::Critical])),
        break_glass,
        evidence: Default::default(),
    };
    Config {
        fleet: Fleet { clusters, pools, tenants },
        policy,
        release: Some(release),
        local_target: None,
        users: vec![],
    }
}
