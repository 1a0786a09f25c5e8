//! The local driver reading SLIs through a real Prometheus (Debian's `prometheus`, installed by
//! scripts/ensure-deps) instead of scraping the tenants: three `storefront` shops on a PostgreSQL
//! cluster the test starts, shopper traffic on each, Prometheus scraping them every second with a
//! `tenant` label. A bad release (v3 fails 30% of checkouts) is halted on the canary by the
//! checkout-error-rate limit, judged on what Prometheus answered — and Prometheus did answer the
//! driver's queries. Fails (never skips) when prometheus is missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringfence_core::Duration as Span;
use ringfence_core::engine::{EngineOptions, Outcome, TenantPhase};
use ringfence_core::fixtures::{cluster, ring, tenant};
use ringfence_core::model::{Fleet, JudgeMethod, JudgeSpec, MetricsSpec, Policy, PrometheusSpec, Sli, TenantId};
use ringfence_local::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};
use ringfence_pg::EphemeralCluster;
use ringfence_runtime::Runner;
use ringfence_store::SqliteStore;
use storefront::shopper::{Shopper, ShopperConfig, TrafficMix};

/// A child process killed (and reaped) when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).proxy(None).build().into();
    agent.get(url).call().ok()?.body_mut().read_to_string().ok()
}

fn start_prometheus(dir: &Path, tenants: &[LocalTenant]) -> (Running, String) {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: shops\n    static_configs:\n",
    );
    for t in tenants {
        config.push_str(&format!(
            "      - targets: ['127.0.0.1:{}']\n        labels:\n          tenant: '{}'\n",
            t.port, t.id
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = ringfence_local::free_ports(1).unwrap()[0];
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(storefront::testing::prometheus_binary())
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("prometheus starts");
    let running = Running(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("{url}/-/ready")).is_none() {
        assert!(
            Instant::now() < deadline,
            "prometheus not ready: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (running, url)
}

#[test]
fn a_bad_release_is_halted_on_slis_read_through_prometheus() {
    let pg = EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    let bin = storefront::testing::binary();
    let ids = ["shop-a", "shop-b", "shop-c"];
    let mut ports = ringfence_local::free_ports(ids.len()).unwrap().into_iter();
    let mut tenants = Vec::new();
    for id in ids {
        let database = id.replace('-', "_");
        pg.create_database(&database).unwrap();
        for args in [vec!["migrate", "--to", "v2"], vec!["seed", "--products", "50"]] {
            let out = Command::new(&bin)
                .args(&args[..1])
                .args(["--database-url", &pg.url(&database)])
                .args(&args[1..])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        tenants.push(LocalTenant {
            id: id.into(),
            cluster: "pg-1".into(),
            target: pg.target(),
            database,
            port: ports.next().unwrap(),
        });
    }
    let work = tempfile::tempdir().unwrap();
    let (_prometheus, url) = start_prometheus(work.path(), &tenants);

    let slis: Vec<Sli> = serde_json::from_value(serde_json::json!([{
        "name": "checkout-error-rate",
        "ratio": { "errors": "storefront_checkouts_failed_total", "total": "storefront_checkouts_started_total" },
        "max": 0.1,
        "minEvents": 10
    }]))
    .unwrap();
    let metrics = MetricsSpec { prometheus: Some(PrometheusSpec { url: url.clone(), tenant_label: "tenant".into() }) };
    let (serve, maintenance, migration) = storefront::command_templates(&bin.display().to_string());
    let local = LocalFleet {
        work_dir: work.path().join("work"),
        app: AppCommands { serve, maintenance, dir: None },
        tenants: tenants.clone(),
        slis: slis.clone(),
        judge: JudgeSpec { method: JudgeMethod::LimitsOnly, ..JudgeSpec::default() },
        scrape_interval: Duration::from_secs(1),
        health_timeout: Duration::from_secs(20),
        pg: ringfence_pg::PgBinaries::locate(None).unwrap(),
        migration: Default::default(),
        metrics,
    };
    let driver =
        LocalDriver::new(local, LocalRelease { version: "v3".into(), previous: "v2".into(), migration, dir: None })
            .unwrap();
    driver.start_fleet("v2").unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let shoppers: Vec<_> = {
        let _guard = runtime.enter();
        tenants
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Shopper::spawn(ShopperConfig {
                    tenant: t.id.to_string(),
                    base_url: format!("http://127.0.0.1:{}", t.port),
                    rate_per_sec: 10.0,
                    mix: TrafficMix::default(),
                    seed: 7 + i as u64,
                })
            })
            .collect()
    };
    // Prometheus has seen every shop on v2 before anything changes.
    std::thread::sleep(Duration::from_secs(4));

    let fleet = Fleet {
        clusters: vec![cluster("pg-1", 1)],
        pools: vec![],
        tenants: ids.iter().map(|id| tenant(id, "pg-1")).collect(),
    };
    let policy = Policy {
        rings: vec![
            ring("canary", &ids[..1], 1, Span::from_secs(60), Span::ZERO),
            ring("rest", &ids[1..], 2, Span::from_secs(5), Span::ZERO),
        ],
        slis,
        ..Default::default()
    };
    let plan = ringfence_core::plan::plan(&fleet, &policy, "v3", "v2").unwrap();
    let store = SqliteStore::open(work.path().join("state.sqlite")).unwrap();
    let audit = work.path().join("audit.jsonl");
    let mut runner =
        Runner::start(store, &audit, driver, plan, EngineOptions { schema_backward_compatible: true }, "test").unwrap();
    let outcome = runner.run_to_end(|_, _| {}).unwrap();
    runtime.block_on(async {
        for s in shoppers {
            s.stop().await;
        }
    });

    let trail = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(outcome, Outcome::RolledBack, "{trail}");
    assert_eq!(runner.engine().tenants()[&TenantId::from("shop-a")].phase, TenantPhase::RolledBack);
    assert_eq!(runner.engine().tenants()[&TenantId::from("shop-b")].phase, TenantPhase::Pending);
    assert!(trail.contains("checkout-error-rate"), "halted on the error rate: {trail}");
    // The driver asked Prometheus (instant queries), rather than scraping the shops itself.
    let own = get(&format!("{url}/metrics")).unwrap();
    let queries: f64 = own
        .lines()
        .filter(|l| l.starts_with("prometheus_http_requests_total") && l.contains("handler=\"/api/v1/query\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(queries >= 10.0, "Prometheus answered {queries} instant queries");
}
