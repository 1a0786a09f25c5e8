//! Planning benchmark: 10,000 tenants in 8 rings over 50 clusters, then their schedule under windows
//! and freezes over a 30-day horizon (issue "Time governance": under 200 ms and 150 MB).
//!
//! Target (issue "Foundation"): under 100 ms and under 100 MB peak memory. Run with
//! `cargo bench -p ringfence-core --bench plan`; figures go to BENCHMARKS.md. Peak memory is the
//! high-water mark of live heap bytes, counted by a wrapping global allocator, including the fleet
//! itself; the process's peak RSS is printed too, from /proc/self/status.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ringfence_core::Duration;
use ringfence_core::calendar::{Calendar, Freeze, FreezeScope, MaintenanceWindow, RiskTier};
use ringfence_core::governance::{Governance, Limits};
use ringfence_core::model::{
    BatchSize, Cluster, Connection, Fleet, Policy, Ring, Selector, Tenant, TenantId, TenantTier,
};
use ringfence_core::plan::plan;
use ringfence_core::schedule::schedule;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TENANTS: usize = 10_000;
const CLUSTERS: usize = 50;
const RINGS: usize = 8;

/// A fleet shaped like a large hoster's: tiers and regions spread over the clusters, rings chosen by
/// explicit ids (internal), labels (canary) and tiers/regions (the rest).
fn fleet_and_policy() -> (Fleet, Policy) {
    let clusters = (0..CLUSTERS)
        .map(|i| Cluster {
            name: format!("pg-{i:02}"),
            connection: Connection {
                host: format!("pg-{i:02}.db.internal"),
                port: 5432,
                user: "odoo".into(),
                password_from: None,
                ssl_mode: None,
            },
            max_concurrent_migrations: 1 + (i % 4) as u32,
        })
        .collect();
    let regions = ["eu", "us", "apac", "latam"];
    let tenants = (0..TENANTS)
        .map(|i| {
            let tier = match i % 20 {
                0 => TenantTier::Enterprise,
                1..=3 => TenantTier::Premium,
                _ => TenantTier::Standard,
            };
            let mut labels = BTreeMap::new();
            labels.insert("region".to_string(), regions[i % regions.len()].to_string());
            if i % 50 == 7 {
                labels.insert("canary".to_string(), "true".to_string());
            }
            Tenant {
                id: TenantId(format!("tenant-{i:05}")),
                pool: format!("pool-{}", i % 200),
                cluster: format!("pg-{:02}", i % CLUSTERS),
                database: format!("db_{i:05}"),
                tier,
                labels,
                timezone: "Europe/Paris".into(),
                maintenance_windows: vec![],
            }
        })
        .collect::<Vec<_>>();
    let internal: Vec<TenantId> = tenants.iter().take(20).map(|t| t.id.clone()).collect();
    let mut rings = vec![Ring {
        name: "internal".into(),
        selector: Selector { tenants: internal, ..Default::default() },
        batch_size: BatchSize::Count(5),
        observation: Duration::from_mins(10),
        soak: Duration::from_mins(30),
    }];
    // Everything not internal is split by tier and region so each tenant lands in exactly one ring.
    let label = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
    let rest = |name: &str, tiers: Vec<TenantTier>, labels: BTreeMap<String, String>, batch: BatchSize| Ring {
        name: name.into(),
        selector: Selector { tenants: vec![], tiers, match_labels: labels },
        batch_size: batch,
        observation: Duration::from_mins(15),
        soak: Duration::from_mins(60),
    };
    rings.push(rest("standard-eu", vec![TenantTier::Standard], label("region", "eu"), BatchSize::Percent(5)));
    rings.push(rest("standard-us", vec![TenantTier::Standard], label("region", "us"), BatchSize::Percent(5)));
    rings.push(rest("standard-apac", vec![TenantTier::Standard], label("region", "apac"), BatchSize::Count(50)));
    rings.push(rest("standard-latam", vec![TenantTier::Standard], label("region", "latam"), BatchSize::Count(50)));
    rings.push(rest("premium", vec![TenantTier::Premium], BTreeMap::new(), BatchSize::Percent(10)));
    rings.push(rest("enterprise-eu-us", vec![TenantTier::Enterprise], BTreeMap::new(), BatchSize::Count(2)));
    // The eighth ring is selected by explicit ids too, taken out of the tier rings above.
    rings.push(Ring {
        name: "last".into(),
        selector: Selector::default(),
        batch_size: BatchSize::Count(1),
        observation: Duration::from_mins(30),
        soak: Duration::ZERO,
    });
    assert_eq!(rings.len(), RINGS);
    let mut fleet = Fleet { clusters, pools: vec![], tenants };
    // Make the internal tenants a tier of their own so they match only the internal ring.
    for t in fleet.tenants.iter_mut().take(20) {
        t.tier = TenantTier::Internal;
    }
    // Give the last ring the first 10 enterprise tenants, and take them out of the enterprise ring by tier.
    let last: Vec<TenantId> = fleet
        .tenants
        .iter_mut()
        .filter(|t| t.tier == TenantTier::Enterprise)
        .take(10)
        .map(|t| {
            t.tier = TenantTier::Internal;
            t.labels.insert("last".into(), "true".into());
            t.id.clone()
        })
        .collect();
    rings[0].selector.tiers = vec![];
    rings[RINGS - 1].selector.tenants = last;
    (fleet, Policy { rings, ..Default::default() })
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let (fleet, policy) = fleet_and_policy();
    let fleet_bytes = LIVE.load(Ordering::Relaxed);
    let first = plan(&fleet, &policy, "2026.11.2", "2026.11.1").expect("the benchmark fleet is valid");
    assert_eq!(first.tenant_count(), TENANTS, "every tenant planned exactly once");
    assert_eq!(first.rings.len(), RINGS);
    drop(first);

    let runs = 30;
    let mut times = Vec::with_capacity(runs);
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    for _ in 0..runs {
        let start = Instant::now();
        let p = plan(black_box(&fleet), black_box(&policy), "2026.11.2", "2026.11.1").unwrap();
        times.push(start.elapsed());
        black_box(&p);
    }
    times.sort();
    let peak = PEAK.load(Ordering::Relaxed);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!("plan: {TENANTS} tenants, {RINGS} rings, {CLUSTERS} clusters, {runs} runs");
    println!(
        "time: min {:.2} ms, median {:.2} ms, max {:.2} ms (target < 100 ms)",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs - 1])
    );
    println!(
        "heap: fleet+policy {:.1} MB, peak during planning {:.1} MB (target < 100 MB); peak RSS {} KiB",
        fleet_bytes as f64 / 1e6,
        peak as f64 / 1e6,
        peak_rss_kib().map_or("?".to_string(), |k| k.to_string())
    );
    let ok = times[runs / 2].as_millis() < 100 && peak < 100_000_000;
    println!("result: {}", if ok { "within target" } else { "OVER TARGET" });

    // The schedule over the same plan: every tenant gets a nightly window in its own zone (the
    // enterprise ones a weekly one), under a fleet-wide Black Friday freeze and a Friday-evening freeze.
    let plan = plan(&fleet, &policy, "2026.11.2", "2026.11.1").unwrap();
    let zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "America/Sao_Paulo"];
    let tz: Vec<jiff::tz::TimeZone> = zones.iter().map(|z| jiff::tz::TimeZone::get(z).unwrap()).collect();
    let mut windows = BTreeMap::new();
    let mut pools = BTreeMap::new();
    for (i, t) in fleet.tenants.iter().enumerate() {
        let cron = if t.tier == TenantTier::Enterprise { "0 2 * * 2" } else { "0 1 * * *" };
        let w = MaintenanceWindow::new(cron, Duration::from_mins(240), tz[i % tz.len()].clone()).unwrap();
        windows.insert(t.id.clone(), vec![w]);
        pools.insert(t.id.clone(), t.pool.clone());
    }
    // The pacing limits the engine enforces, which the schedule models within each batch.
    let limits = Limits {
        per_cluster: fleet.clusters.iter().map(|c| (c.name.clone(), c.max_concurrent_migrations)).collect(),
        per_pool: BTreeMap::new(),
        in_flight: Some(200),
        unavailable_per_pool: fleet.pools.iter().map(|p| (p.name.clone(), 50)).collect(),
    };
    let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
    let local = |s: &str| s.parse::<jiff::civil::DateTime>().unwrap().to_zoned_datetime(ny.clone()).unwrap();
    let calendar = Calendar::new(vec![
        Freeze::absolute("black-friday", &local("2026-11-26T00:00"), &local("2026-12-01T00:00"), FreezeScope::Global)
            .unwrap(),
        Freeze::recurring(
            "friday-evenings",
            "0 16 * * 5",
            Duration::from_mins(480),
            tz[0].clone(),
            FreezeScope::Global,
        )
        .unwrap(),
    ]);
    let from: jiff::Timestamp = "2026-11-27T09:00:00Z".parse().unwrap();
    let governance = Governance {
        tier: RiskTier::Medium,
        expected_step: Duration::from_mins(30),
        windows,
        pools,
        calendar,
        limits,
        horizon: Duration::from_mins(30 * 24 * 60),
        ..Governance::default()
    };
    let runs = 10;
    let mut times = Vec::with_capacity(runs);
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let mut scheduled = 0;
    for _ in 0..runs {
        let start = Instant::now();
        match schedule(black_box(&plan), from, black_box(&governance)) {
            Ok(s) => scheduled = s.len(),
            Err(e) => println!("schedule: {e}"),
        }
        times.push(start.elapsed());
    }
    times.sort();
    let schedule_peak = PEAK.load(Ordering::Relaxed);
    println!("schedule: {scheduled} tenants with windows in 4 zones, 2 freezes, 30-day horizon, {runs} runs");
    println!(
        "time: min {:.1} ms, median {:.1} ms, max {:.1} ms (target < 200 ms); peak heap {:.1} MB (target < 150 MB)",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs - 1]),
        schedule_peak as f64 / 1e6
    );
    let schedule_ok = times[runs / 2].as_millis() < 200 && schedule_peak < 150_000_000;
    println!("result: {}", if schedule_ok { "within target" } else { "OVER TARGET" });
    if !ok || !schedule_ok {
        std::process::exit(1);
    }
}
