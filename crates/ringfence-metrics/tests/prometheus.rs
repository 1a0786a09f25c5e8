//! Both sources against the real thing: three `storefront` tenants (real processes on loopback, on a
//! PostgreSQL cluster the test starts), shopper traffic on two of them, and a real Prometheus (Debian's
//! `prometheus`, installed by scripts/ensure-deps) started by the test on its own port, config and data
//! directory, scraping the tenants every second with a `tenant` label. The Prometheus source must read
//! what a direct scrape reads, tenant by tenant, and its templates must select the tenant they name.
//!
//! Fails (never skips) when prometheus is missing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use ringfence_metrics::{
    MetricSource, MetricsError, PrometheusConfig, PrometheusSource, Query, Reading, ScrapeSource, Selector, Template,
    Value,
};

/// A child process killed (and reaped) when dropped, so no server outlives the test.
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prometheus_binary() -> PathBuf {
    storefront::testing::prometheus_binary()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn run(bin: &Path, args: &[&str]) {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(out.status.success(), "{bin:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts `storefront serve` for `tenant` on a free port; returns it and its `host:port`.
fn serve(bin: &Path, database_url: &str, tenant: &str) -> (Running, String) {
    let mut child = Command::new(bin)
        .args(["serve", "--database-url", database_url, "--listen", "127.0.0.1:0", "--code-version", "v2"])
        .args(["--tenant", tenant, "--pool-size", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn storefront serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let running = Running { child };
    let line = rx.recv_timeout(Duration::from_secs(20)).expect("storefront serve prints its address");
    let addr =
        line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
    (running, addr)
}

/// Starts Prometheus scraping `targets` (tenant, host:port) every second; waits until it is ready.
fn start_prometheus(bin: &Path, dir: &Path, targets: &[(&str, String)]) -> (Running, String) {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: storefront\n    static_configs:\n",
    );
    for (tenant, addr) in targets {
        config.push_str(&format!("      - targets: ['{addr}']\n        labels:\n          tenant: '{tenant}'\n"));
    }
    let config_file = dir.join("prometheus.yml");
    std::fs::write(&config_file, config).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn prometheus");
    let running = Running { child };
    let url = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(2))).proxy(None).build().into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.get(&format!("{url}/-/ready")).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "prometheus did not become ready: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    (running, url)
}

fn counter(reading: &Reading, i: usize) -> f64 {
    reading.values[i].counter().expect("a counter")
}

fn queries() -> Vec<Query> {
    vec![
        Query::counter(Selector::new("storefront_checkouts_started_total")),
        Query::counter(Selector::new("storefront_orders_created_total")),
        Query::counter(Selector::new("storefront_http_requests_total").with("route", "/products")),
        Query::counter(
            Selector::new("storefront_http_requests_total").with("route", "/carts/{id}/checkout").with("outcome", "ok"),
        ),
        Query::histogram(Selector::new("storefront_order_creation_seconds")),
        Query::histogram(Selector::new("storefront_http_request_duration_seconds").with("route", "/products")),
    ]
}

/// Polls until `f` holds or `limit` passes; returns whether it held.
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_reads_what_a_direct_scrape_reads_tenant_by_tenant() {
    let prometheus = prometheus_binary();
    // Built by cargo on first use; not part of the test's time.
    let storefront = storefront::testing::binary();
    let began = Instant::now();
    let pg =
        ringfence_pg::EphemeralCluster::start_default().expect("PostgreSQL starts (scripts/ensure-deps installs it)");
    let tenants = ["shop-a", "shop-b", "shop-c"];
    // Actions per second; shop-c gets none (only Prometheus's and our scrapes reach it).
    let rates = [3.0, 12.0, 0.0];

    let mut apps = Vec::new();
    let mut scrape = ScrapeSource::new(Duration::from_secs(5));
    let mut targets = Vec::new();
    for tenant in tenants {
        let db = tenant.replace('-', "_");
        pg.create_database(&db).unwrap();
        let url = pg.url(&db);
        run(&storefront, &["migrate", "--database-url", &url, "--to", "v2"]);
        run(&storefront, &["seed", "--database-url", &url, "--products", "20"]);
        let (app, addr) = serve(&storefront, &url, tenant);
        scrape = scrape.with_target(tenant, format!("http://{addr}/metrics")).unwrap();
        targets.push((tenant, addr));
        apps.push(app);
    }
    let work = tempfile::tempdir().unwrap();
    let (_prometheus, prom_url) = start_prometheus(&prometheus, work.path(), &targets);
    let prom =
        PrometheusSource::new(PrometheusConfig { timeout: Duration::from_secs(5), ..PrometheusConfig::new(&prom_url) })
            .unwrap();
    let qs = queries();

    // Prometheus knows every tenant once it scraped each once.
    assert!(
        eventually(Duration::from_secs(15), || tenants.iter().all(|t| prom.latest(t, &qs).is_ok())),
        "Prometheus never had all tenants: {:?}",
        tenants.iter().map(|t| prom.latest(t, &qs).err().map(|e| e.to_string())).collect::<Vec<_>>()
    );

    let traffic_start = Timestamp::now();
    let shoppers: Vec<Running> = targets
        .iter()
        .zip(rates)
        .filter(|(_, rate)| *rate > 0.0)
        .enumerate()
        .map(|(i, ((tenant, addr), rate))| {
            let child = Command::new(&storefront)
                .args(["shop", "--base-url", &format!("http://{addr}"), "--rate", &rate.to_string()])
                .args(["--duration", "7s", "--tenant", tenant, "--seed", &(i + 1).to_string(), "--json"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn storefront shop");
            Running { child }
        })
        .collect();

    // While traffic flows, Prometheus lags a direct scrape by at most its scrape interval: it catches up
    // with a scrape taken before (within a few intervals, even on a busy machine) and never passes one
    // taken after.
    std::thread::sleep(Duration::from_secs(2));
    for tenant in tenants {
        let lo = scrape.latest(tenant, &qs).unwrap();
        let mut mid = prom.latest(tenant, &qs).unwrap();
        let caught_up = eventually(Duration::from_secs(5), || {
            mid = prom.latest(tenant, &qs).unwrap();
            (0..4).all(|i| counter(&mid, i) >= counter(&lo, i))
        });
        let hi = scrape.latest(tenant, &qs).unwrap();
        for i in 0..4 {
            let (lo, mid, hi) = (counter(&lo, i), counter(&mid, i), counter(&hi, i));
            assert!(caught_up && mid <= hi, "{tenant} query {i}: scrape {lo}, then Prometheus {mid}, then scrape {hi}");
        }
    }

    for mut shopper in shoppers {
        let status = shopper.child.wait().unwrap();
        assert!(status.success(), "storefront shop failed");
    }
    let traffic_end = Timestamp::now();

    // Quiet again: once Prometheus has scraped after the last request, both sources read the same.
    let finals: Vec<Reading> = tenants.iter().map(|t| scrape.latest(t, &qs).unwrap()).collect();
    let agree = |k: usize| -> Result<(), String> {
        let p = prom.latest(tenants[k], &qs).map_err(|e| e.to_string())?;
        (p.values == finals[k].values)
            .then_some(())
            .ok_or_else(|| format!("{:?}\nvs scrape\n{:?}", p.values, finals[k].values))
    };
    for (k, tenant) in tenants.iter().enumerate() {
        assert!(
            eventually(Duration::from_secs(6), || agree(k).is_ok()),
            "{tenant}: {}",
            agree(k).err().unwrap_or_default()
        );
    }
    let a = &finals[0];
    let b = &finals[1];
    let c = &finals[2];
    assert!(counter(a, 0) > 0.0 && counter(b, 0) > 0.0, "shoppers checked out on shop-a and shop-b");
    assert_eq!(counter(c, 0), 0.0, "nobody shopped on shop-c");
    assert_ne!(counter(a, 2), counter(b, 2), "shop-a and shop-b saw different traffic");
    let orders = b.values[4].histogram().unwrap();
    assert_eq!(orders.total(), counter(b, 1), "one order creation time per order");
    assert_eq!(c.values[4].histogram().unwrap().total(), 0.0);

    // Templates select the tenant they name, whatever the others do.
    let by_template = Query::counter(Selector::new("storefront_http_requests_total").with("route", "/products"))
        .with_promql(
            Template::parse(r#"sum(storefront_http_requests_total{route="/products",tenant="{tenant}"})"#).unwrap(),
        );
    let increase = Query::counter(Selector::new("storefront_checkouts_started_total")).with_promql(
        Template::parse(r#"sum(increase(storefront_checkouts_started_total{tenant="{tenant}"}[{window}]))"#).unwrap(),
    );
    let quantile = Query::counter(Selector::new("unused")).with_promql(
        Template::parse(r#"histogram_quantile(0.5, sum by (le) (storefront_http_request_duration_seconds_bucket{tenant=~"{tenant}"}))"#)
            .unwrap(),
    );
    for (k, tenant) in tenants.iter().enumerate() {
        let reading = prom.latest(tenant, std::slice::from_ref(&by_template)).unwrap();
        assert_eq!(counter(&reading, 0), counter(&finals[k], 2), "{tenant}");
        // increase() extrapolates to the window's edges, so it is near the count, not equal to it.
        let grown = counter(&prom.latest(tenant, std::slice::from_ref(&increase)).unwrap(), 0);
        let started = counter(&finals[k], 0);
        assert!(
            grown >= started * 0.7 && grown <= started * 1.6 + 0.5,
            "{tenant}: increase {grown}, counted {started}"
        );
        let median = counter(&prom.latest(tenant, std::slice::from_ref(&quantile)).unwrap(), 0);
        assert!(median > 0.0 && median < 5.0, "{tenant}: median latency {median}");
    }

    // History: a range read climbs to the final count.
    let steps = prom.range("shop-b", &qs[..1], traffic_start, traffic_end, Duration::from_secs(1)).unwrap();
    assert!(steps.len() >= 7, "{} steps", steps.len());
    let series: Vec<f64> = steps.iter().map(|r| counter(r, 0)).collect();
    assert!(series.windows(2).all(|w| w[0] <= w[1]), "a counter never falls: {series:?}");
    assert!(series[0] < counter(b, 0) && *series.last().unwrap() <= counter(b, 0), "{series:?}");
    let at_end = prom.at("shop-b", &qs[..1], traffic_end + jiff::SignedDuration::from_secs(3)).unwrap();
    assert_eq!(at_end.values[0], Value::Counter(counter(b, 0)));

    // Errors name the tenant and what to do.
    let err = prom.latest("shop-x", &qs).unwrap_err();
    assert!(matches!(err, MetricsError::NoData { .. }), "{err}");
    assert!(err.to_string().contains("tenant=\"shop-x\""), "{err}");
    let bad = Query::counter(Selector::new("unused"))
        .with_promql(Template::parse(r#"sum(rate(storefront_checkouts_started_total{tenant="{tenant}"}))"#).unwrap());
    let err = prom.latest("shop-a", &[bad]).unwrap_err();
    let MetricsError::Prometheus { ref error_type, .. } = err else { panic!("{err}") };
    assert_eq!(error_type, "bad_data", "{err}");
    assert!(err.to_string().starts_with("tenant shop-a: Prometheus at "), "{err}");
    let many = Query::counter(Selector::new("unused"))
        .with_promql(Template::parse(r#"storefront_http_requests_total{tenant="{tenant}"}"#).unwrap());
    let err = prom.latest("shop-b", &[many]).unwrap_err().to_string();
    assert!(err.contains("series came back where one was expected"), "{err}");

    // A tenant that stops: the scrape fails at once, and Prometheus reports it down after its next scrape.
    drop(apps.pop());
    let err = scrape.latest("shop-c", &qs).unwrap_err().to_string();
    assert!(err.starts_with(&format!("tenant shop-c: http://{}/metrics: ", targets[2].1)), "{err}");
    assert!(
        eventually(Duration::from_secs(5), || matches!(
            prom.latest("shop-c", &qs),
            Err(MetricsError::TargetDown { .. })
        )),
        "{:?}",
        prom.latest("shop-c", &qs).err().map(|e| e.to_string())
    );

    let took = began.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
