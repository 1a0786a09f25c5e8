//! `storefront serve` as a process against a real PostgreSQL: checkout, idempotency, maintenance
//! mode, the bad release v3, and `/metrics`.

mod common;

use common::{TestDb, cart_with, checkout, http, metric};

#[tokio::test]
async fn checkout_creates_order_and_decrements_stock_in_one_transaction() {
    let db = TestDb::ready("checkout", "v2", 5);
    db.sql("UPDATE products SET stock = 10, price_cents = 250 WHERE sku = 'SKU-000001'");
    db.sql("UPDATE products SET stock = 10, price_cents = 1000 WHERE sku = 'SKU-000002'");
    db.sql("UPDATE products SET stock = 3 WHERE sku = 'SKU-000003'");
    let served = db.serve("v2", "t-checkout");
    let client = http();

    let cart = cart_with(&client, &served, &[("SKU-000001", 2), ("SKU-000002", 1)]).await;
    let response = client
        .post(served.url(&format!("/carts/{cart}/checkout")))
        .header("Idempotency-Key", "order-1")
        .header("X-Sales-Channel", "pos")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["total_cents"], 1500);
    let order_id = body["order_id"].as_i64().unwrap();
    assert_eq!(db.sql("SELECT stock FROM products WHERE sku IN ('SKU-000001', 'SKU-000002') ORDER BY sku"), "8\n9");
    assert_eq!(db.sql(&format!("SELECT total_cents || ' ' || channel FROM orders WHERE id = {order_id}")), "1500 pos");
    assert_eq!(
        db.sql(&format!(
            "SELECT string_agg(sku || 'x' || qty, ',' ORDER BY sku) FROM order_lines WHERE order_id = {order_id}"
        )),
        "SKU-000001x2,SKU-000002x1"
    );

    // SKU-000002 is decremented before SKU-000003 runs out: the whole checkout must roll back.
    let short = cart_with(&client, &served, &[("SKU-000002", 1), ("SKU-000003", 5)]).await;
    let (status, body) = checkout(&client, &served, short, "order-2").await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("insufficient stock for SKU-000003"));
    assert_eq!(db.sql("SELECT stock FROM products WHERE sku = 'SKU-000002'"), "9");
    assert_eq!(db.sql(&format!("SELECT count(*) FROM orders WHERE cart_id = {short}")), "0");
    assert_eq!(db.sql("SELECT count(*) FROM order_lines"), "2");

    // A checked-out cart cannot be checked out again under another key.
    let (status, _) = checkout(&client, &served, cart, "order-3").await;
    assert_eq!(status, 409);
    let (status, _) = checkout(&client, &served, 999_999, "order-4").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_retried_checkout_returns_the_same_order_and_never_a_second_one() {
    let db = TestDb::ready("idempotent", "v2", 5);
    let served = db.serve("v2", "t-idem");
    let client = http();
    let cart = cart_with(&client, &served, &[("SKU-000004", 3)]).await;
    // Two attempts at once (a client retrying after a timeout while the first is still running)...
    let (first, second) =
        tokio::join!(checkout(&client, &served, cart, "retry-me"), checkout(&client, &served, cart, "retry-me"));
    // ...and one later.
    let third = checkout(&client, &served, cart, "retry-me").await;
    for (status, body) in [&first, &second, &third] {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(body["order_id"], first.1["order_id"]);
        assert_eq!(body["total_cents"], first.1["total_cents"]);
    }
    assert_eq!(db.sql("SELECT count(*) FROM orders"), "1");
    assert_eq!(db.sql("SELECT stock FROM products WHERE sku = 'SKU-000004'"), "99997");
    // The same key for another cart is a client bug, not a replay.
    let other = cart_with(&client, &served, &[("SKU-000004", 1)]).await;
    let (status, body) = checkout(&client, &served, other, "retry-me").await;
    assert_eq!(status, 409, "{body}");
    let missing_key = client.post(served.url(&format!("/carts/{other}/checkout"))).send().await.unwrap();
    assert_eq!(missing_key.status(), 400);
    let text = client.get(served.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, "storefront_orders_created_total"), 1.0);
    assert_eq!(metric(&text, "storefront_checkouts_completed_total"), 3.0);
}

#[tokio::test]
async fn maintenance_refuses_writes_with_503_and_retry_after_while_reads_work() {
    let db = TestDb::ready("maintenance", "v1", 5);
    let served = db.serve("v1", "t-maint");
    let client = http();
    let cart = cart_with(&client, &served, &[("SKU-000001", 1)]).await;
    db.ok(&["maintenance", "on"]);
    assert_eq!(db.sql("SELECT value FROM storefront_settings WHERE key = 'maintenance'"), "on");

    let writes = [
        client.post(served.url("/carts")),
        client
            .post(served.url(&format!("/carts/{cart}/items")))
            .json(&serde_json::json!({"sku": "SKU-000002", "qty": 1})),
        client.post(served.url(&format!("/carts/{cart}/checkout"))).header("Idempotency-Key", "m1"),
        client
            .post(served.url("/stock"))
            .json(&serde_json::json!({"sku": "SKU-000001", "quantity": 7, "source": "erp"})),
    ];
    for request in writes {
        let response = request.send().await.unwrap();
        let url = response.url().to_string();
        assert_eq!(response.status(), 503, "{url}");
        assert_eq!(response.headers()["retry-after"], "5", "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"error": "maintenance"}), "{url}");
    }
    assert_eq!(client.get(served.url("/products")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(served.url("/products/SKU-000001")).send().await.unwrap().status(), 200);
    let health: serde_json::Value = client.get(served.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["maintenance"], true);
    // Nothing was written while refusing.
    assert_eq!(db.sql("SELECT count(*) FROM orders"), "0");
    assert_eq!(db.sql("SELECT stock FROM products WHERE sku = 'SKU-000001'"), "100000");

    // The controller may flip it with plain SQL too (the statement documented in `maintenance`).
    db.sql("INSERT INTO storefront_settings (key, value) VALUES ('maintenance', 'off') ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    let (status, body) = checkout(&client, &served, cart, "m1").await;
    assert_eq!(status, 201, "{body}");
    let stock = client
        .post(served.url("/stock"))
        .json(&serde_json::json!({"sku": "SKU-000001", "quantity": 7, "source": "erp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stock.status(), 200);
    assert_eq!(db.sql("SELECT stock FROM products WHERE sku = 'SKU-000001'"), "7");
    let text = client.get(served.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, r#"storefront_http_requests_total{route="/carts",outcome="unavailable"}"#), 1.0);
    assert_eq!(
        metric(&text, r#"storefront_http_requests_total{route="/carts/{id}/checkout",outcome="unavailable"}"#),
        1.0
    );
    // A refusal for maintenance is not a failed stock update: the integration retries.
    assert_eq!(metric(&text, "storefront_stock_updates_failed_total"), 0.0);
    assert_eq!(metric(&text, "storefront_stock_updates_applied_total"), 1.0);
    assert_eq!(metric(&text, "storefront_checkouts_started_total"), 1.0);
}

/// Runs `n` checkouts of one item each, four at a time; returns the statuses in order.
async fn checkouts(served: &common::Served, n: usize, key_prefix: &str) -> Vec<u16> {
    let client = http();
    let mut statuses = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(4) {
        let mut round = tokio::task::JoinSet::new();
        for &i in chunk {
            let cart = cart_with(&client, served, &[("SKU-000001", 1)]).await;
            let (client, key_prefix) = (client.clone(), key_prefix.to_string());
            let url = served.url(&format!("/carts/{cart}/checkout"));
            round.spawn(async move {
                let response =
                    client.post(url).header("Idempotency-Key", format!("{key_prefix}{i}")).send().await.unwrap();
                (i, response.status().as_u16(), response.json::<serde_json::Value>().await.unwrap())
            });
        }
        let mut done = round.join_all().await;
        done.sort_by_key(|(i, ..)| *i);
        for (_, status, body) in done {
            if status == 500 {
                assert_eq!(body, serde_json::json!({"error": "payment provider timeout"}));
            }
            statuses.push(status);
        }
    }
    statuses
}

#[tokio::test]
async fn v3_fails_a_share_of_checkouts_and_slows_order_creation() {
    let db = TestDb::ready("v3", "v3", 3);
    let good = db.serve("v2", "t-v3");
    let bad = db.serve("v3", "t-v3");
    let good_statuses = checkouts(&good, 20, "good-").await;
    let bad_statuses = checkouts(&bad, 30, "bad-").await;
    assert!(good_statuses.iter().all(|&s| s == 201), "{good_statuses:?}");
    let failed = bad_statuses.iter().filter(|&&s| s == 500).count();
    let ok = bad_statuses.iter().filter(|&&s| s == 201).count();
    assert_eq!(failed + ok, 30, "{bad_statuses:?}");
    // 30% of 30 is 9; the seeded RNG makes the exact count reproducible, the range keeps it honest.
    assert!((4..=15).contains(&failed), "{failed} of 30 failed: {bad_statuses:?}");

    let client = http();
    let good_text = client.get(good.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let bad_text = client.get(bad.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&bad_text, "storefront_checkouts_failed_total"), failed as f64);
    assert_eq!(metric(&bad_text, "storefront_checkouts_completed_total"), ok as f64);
    assert_eq!(metric(&bad_text, "storefront_checkouts_started_total"), 30.0);
    assert_eq!(
        metric(&bad_text, r#"storefront_http_requests_total{route="/carts/{id}/checkout",outcome="server_error"}"#),
        failed as f64
    );
    assert_eq!(metric(&good_text, "storefront_checkouts_failed_total"), 0.0);
    let mean = |text: &str| {
        metric(text, "storefront_order_creation_seconds_sum") / metric(text, "storefront_order_creation_seconds_count")
    };
    assert!(mean(&bad_text) >= 0.25, "v3 mean order creation {}", mean(&bad_text));
    assert!(mean(&good_text) < 0.2, "v2 mean order creation {}", mean(&good_text));
    // Under 250 ms for every v2 order, over it for none of v3's.
    assert_eq!(metric(&good_text, r#"storefront_order_creation_seconds_bucket{le="0.2"}"#), 20.0);
    assert_eq!(metric(&bad_text, r#"storefront_order_creation_seconds_bucket{le="0.2"}"#), 0.0);
    assert_eq!(db.sql("SELECT count(*) FROM orders"), (20 + ok).to_string());
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_outcome() {
    let db = TestDb::ready("metrics", "v2", 3);
    let served = db.serve("v2", "t-metrics");
    let client = http();
    for _ in 0..3 {
        assert_eq!(client.get(served.url("/products?limit=2")).send().await.unwrap().status(), 200);
    }
    assert_eq!(client.get(served.url("/products/SKU-000002")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(served.url("/products/NOPE")).send().await.unwrap().status(), 404);
    let cart = cart_with(&client, &served, &[("SKU-000002", 2)]).await;
    assert_eq!(checkout(&client, &served, cart, "m-1").await.0, 201);
    let unknown = serde_json::json!({"sku": "NOPE", "quantity": 1, "source": "marketplace"});
    assert_eq!(client.post(served.url("/stock")).json(&unknown).send().await.unwrap().status(), 404);
    let known = serde_json::json!({"sku": "SKU-000003", "quantity": 5, "source": "marketplace"});
    assert_eq!(client.post(served.url("/stock")).json(&known).send().await.unwrap().status(), 200);

    let response = client.get(served.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let expect = [
        (r#"storefront_http_requests_total{route="/products",outcome="ok"}"#, 3.0),
        (r#"storefront_http_requests_total{route="/products/{sku}",outcome="ok"}"#, 1.0),
        (r#"storefront_http_requests_total{route="/products/{sku}",outcome="client_error"}"#, 1.0),
        (r#"storefront_http_requests_total{route="/carts",outcome="ok"}"#, 1.0),
        (r#"storefront_http_requests_total{route="/carts/{id}/items",outcome="ok"}"#, 1.0),
        (r#"storefront_http_requests_total{route="/carts/{id}/checkout",outcome="ok"}"#, 1.0),
        (r#"storefront_http_requests_total{route="/stock",outcome="client_error"}"#, 1.0),
        (r#"storefront_http_request_duration_seconds_count{route="/products"}"#, 3.0),
        ("storefront_checkouts_started_total", 1.0),
        ("storefront_checkouts_completed_total", 1.0),
        ("storefront_checkouts_failed_total", 0.0),
        ("storefront_orders_created_total", 1.0),
        ("storefront_order_creation_seconds_count", 1.0),
        ("storefront_stock_updates_applied_total", 1.0),
        ("storefront_stock_updates_failed_total", 1.0),
        (r#"storefront_build_info{tenant="t-metrics",code_version="v2",schema_version="2"}"#, 1.0),
    ];
    for (series, value) in expect {
        assert_eq!(metric(&text, series), value, "{series} in\n{text}");
    }
    assert!(!text.contains("/products/SKU-000002"), "raw paths must not become labels");
    let health: serde_json::Value = client.get(served.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        health,
        serde_json::json!({"tenant": "t-metrics", "code_version": "v2", "schema_version": 2, "maintenance": false})
    );
    assert!(served.terminate(), "SIGTERM is a clean shutdown");
}

#[tokio::test]
async fn health_and_requests_answer_503_when_the_database_is_gone() {
    let db = TestDb::ready("gone", "v1", 1);
    let served = db.serve("v1", "t-gone");
    let client = http();
    assert_eq!(client.get(served.url("/health")).send().await.unwrap().status(), 200);
    db.cluster.psql("postgres", &format!("DROP DATABASE {} WITH (FORCE)", db.name)).unwrap();
    let health = client.get(served.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["tenant"], "t-gone");
    let products = client.get(served.url("/products")).send().await.unwrap();
    assert_eq!(products.status(), 503);
    assert_eq!(products.headers()["retry-after"], "5");
    let text = client.get(served.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert_eq!(metric(&text, r#"storefront_http_requests_total{route="/products",outcome="unavailable"}"#), 1.0);
}
