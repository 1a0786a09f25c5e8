//! The shopper generator against a real `storefront serve` process and PostgreSQL.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestDb, http, metric};
use storefront::shopper::{Shopper, ShopperConfig, ShopperStats, TrafficMix};

fn config(tenant: &str, base_url: &str, seed: u64) -> ShopperConfig {
    ShopperConfig {
        tenant: tenant.to_string(),
        base_url: base_url.to_string(),
        rate_per_sec: 40.0,
        mix: TrafficMix::default(),
        seed,
    }
}

/// Every acknowledged order is in the database, once.
fn assert_all_present(db: &TestDb, stats: &ShopperStats) {
    let ids: BTreeSet<i64> = stats.acknowledged_order_ids.iter().copied().collect();
    assert_eq!(ids.len() as u64, stats.orders_acknowledged, "an order id was acknowledged twice");
    assert_eq!(stats.acknowledged_order_ids.len() as u64, stats.orders_acknowledged);
    if ids.is_empty() {
        return;
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let present = db.sql(&format!("SELECT count(*) FROM orders WHERE id IN ({list})"));
    assert_eq!(present, ids.len().to_string(), "acknowledged orders missing from the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_are_all_in_the_database() {
    let db = TestDb::ready("shop_ack", "v2", 50);
    let served = db.serve("v2", "t-shop");
    let handle = Shopper::spawn(config("t-shop", &served.base, 7));
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let running = handle.stats();
    let stats = handle.stop().await;
    assert!(stats.orders_acknowledged >= running.orders_acknowledged);
    assert!(stats.orders_acknowledged >= 5, "{stats:?}");
    assert_eq!((stats.failed, stats.rejected), (0, 0), "{stats:?}");
    assert_all_present(&db, &stats);
    // Nobody else shops here, and no checkout went unanswered: the database has exactly those orders.
    assert_eq!(db.sql("SELECT count(*) FROM orders"), stats.orders_acknowledged.to_string());
    // Browse-heavy: about 100 actions at 70/20/10.
    let r = &stats.requests;
    assert!(r.browse > r.checkout && r.checkout > 0 && r.stock_update > 0 && r.cart >= 2 * r.checkout, "{r:?}");
    assert!(stats.latency.count > 50 && stats.latency.p50_ms <= stats.latency.p95_ms, "{:?}", stats.latency);
    let text = http().get(served.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, "storefront_orders_created_total"), stats.orders_acknowledged as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_for_maintenance_count_as_rejected_and_lose_nothing() {
    let db = TestDb::ready("shop_maint", "v1", 50);
    let served = db.serve("v1", "t-maint");
    let handle = Shopper::spawn(config("t-maint", &served.base, 11));
    tokio::time::sleep(Duration::from_millis(500)).await;
    db.ok(&["maintenance", "on"]);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let during = handle.stats();
    db.ok(&["maintenance", "off"]);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let stats = handle.stop().await;

    assert!(during.rejected > 0, "{during:?}");
    assert!(stats.retries > 0, "writes refused for maintenance are retried: {stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert!(stats.orders_acknowledged > during.orders_acknowledged, "orders resume after maintenance: {stats:?}");
    assert_all_present(&db, &stats);
    // Each 503 the shopper saw is one the server counted.
    let text = http().get(served.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let unavailable: f64 = text
        .lines()
        .filter(|line| line.starts_with("storefront_http_requests_total") && line.contains(r#"outcome="unavailable""#))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(unavailable, stats.rejected as f64);
}

#[test]
fn shop_command_prints_json_stats_and_refuses_other_hosts() {
    let db = TestDb::ready("shop_cli", "v2", 20);
    let served = db.serve("v2", "t-cli");
    let output = std::process::Command::new(common::BIN)
        .args(["shop", "--base-url", &served.base, "--rate", "20", "--duration", "1s", "--json", "--tenant", "t-cli"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stats: ShopperStats = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(stats.tenant, "t-cli");
    assert!(stats.requests.browse > 0, "{stats:?}");
    assert_all_present(&db, &stats);

    let refused = std::process::Command::new(common::BIN)
        .args(["shop", "--base-url", "http://192.0.2.1:80", "--duration", "1s"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("127.0.0.1"));
}
