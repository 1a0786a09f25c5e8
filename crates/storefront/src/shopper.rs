//! Shopper traffic: a generator that drives one tenant's storefront at a steady rate.
//!
//! Open loop: every `1 / rate_per_sec` one action starts, whether or not earlier ones finished (at
//! most [`MAX_IN_FLIGHT`] at once; ticks beyond that are counted as `dropped_ticks`). An action is a
//! browse (`GET /products`, sometimes followed by one product), a purchase (create a cart, add 1–3
//! items, check out with an idempotency key) or an integration's stock update, drawn by the
//! [`TrafficMix`] weights from an RNG seeded with `seed`. A write that gets 503 is tried again, up
//! to [`WRITE_ATTEMPTS`] times, waiting what `Retry-After` says but at most [`MAX_RETRY_WAIT`] so
//! tests stay fast; a checkout is also retried after a timeout or connection error, always with the
//! same idempotency key, so a shopper never pays twice. Stock updates are not retried (an
//! integration resends its next level anyway).
//!
//! Accounting ([`ShopperStats`]): `orders_acknowledged` counts checkouts answered 201 and keeps their
//! order ids, so a caller can prove each one is in the database; `rejected` counts every 503 answer
//! (maintenance or database down), retried or not; `failed` counts other 5xx answers, network
//! errors, and checkouts still unanswered after their retries. `conflicts` counts 4xx answers (out of
//! stock and the like): the shop said no, nothing was lost.
//!
//! Not responsible for choosing the tenant's URL or duration (the caller stops it), and it only
//! talks to the URL it is given, directly (proxy settings of the environment are ignored).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The most actions in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// How many times one write is attempted (a checkout always with the same idempotency key).
pub const WRITE_ATTEMPTS: u32 = 4;
/// The longest wait between checkout attempts, whatever `Retry-After` says.
pub const MAX_RETRY_WAIT: Duration = Duration::from_millis(1_000);
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How many products the catalogue sample holds.
const CATALOGUE_SAMPLE: usize = 100;
/// Latency histogram resolution: one bucket per millisecond up to this many.
const LATENCY_BUCKETS_MS: usize = 10_000;

/// Relative weights of the three kinds of action.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrafficMix {
    /// Browsing the catalogue.
    pub browse: u32,
    /// Cart, items and checkout.
    pub checkout: u32,
    /// An integration setting a stock level.
    pub stock_update: u32,
}

impl Default for TrafficMix {
    /// 70% browse, 20% checkout, 10% stock updates.
    fn default() -> Self {
        TrafficMix { browse: 70, checkout: 20, stock_update: 10 }
    }
}

/// What to drive and how hard.
#[derive(Debug, Clone)]
pub struct ShopperConfig {
    /// The tenant id, for the stats and idempotency keys.
    pub tenant: String,
    /// The storefront, e.g. `http://127.0.0.1:8101`.
    pub base_url: String,
    /// Actions started per second.
    pub rate_per_sec: f64,
    /// Which actions, in which proportions.
    pub mix: TrafficMix,
    /// Seeds every random choice.
    pub seed: u64,
}

/// Requests sent, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// `GET /products` and `GET /products/{sku}`.
    pub browse: u64,
    /// `POST /carts` and `POST /carts/{id}/items`.
    pub cart: u64,
    /// `POST /carts/{id}/checkout`, retries included.
    pub checkout: u64,
    /// `POST /stock`.
    pub stock_update: u64,
}

/// Latency over all answered requests, in milliseconds (1 ms resolution).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: u64,
    /// 95th percentile.
    pub p95_ms: u64,
    /// 99th percentile.
    pub p99_ms: u64,
    /// Slowest.
    pub max_ms: u64,
}

/// A snapshot of one shopper's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopperStats {
    /// The tenant driven.
    pub tenant: String,
    /// Checkouts answered 201.
    pub orders_acknowledged: u64,
    /// The order ids of those checkouts, in acknowledgement order.
    pub acknowledged_order_ids: Vec<i64>,
    /// 503 answers (maintenance or database unavailable), one per request.
    pub rejected: u64,
    /// Other 5xx answers, network errors and checkouts unanswered after their retries.
    pub failed: u64,
    /// 4xx answers (out of stock, unknown cart...).
    pub conflicts: u64,
    /// Write attempts that were retries (after a 503, or a checkout without an answer).
    pub retries: u64,
    /// Ticks skipped because [`MAX_IN_FLIGHT`] actions were still running.
    pub dropped_ticks: u64,
    /// Requests by kind.
    pub requests: RequestCounts,
    /// Latency of all answered requests.
    pub latency: LatencySummary,
}

/// Starts shopper tasks.
pub struct Shopper;

impl Shopper {
    /// Starts driving traffic on the current tokio runtime until the handle is stopped.
    pub fn spawn(config: ShopperConfig) -> ShopperHandle {
        let shared = Arc::new(Shared {
            stats: Mutex::new(Counters {
                stats: ShopperStats { tenant: config.tenant.clone(), ..ShopperStats::default() },
                latency_ms: vec![0; LATENCY_BUCKETS_MS + 1],
                latency_sum_ms: 0.0,
            }),
            catalogue: Mutex::new(Vec::new()),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(config, shared.clone(), stop_rx));
        ShopperHandle { shared, stop: stop_tx, task }
    }
}

/// A running shopper.
pub struct ShopperHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ShopperHandle {
    /// The counters so far.
    pub fn stats(&self) -> ShopperStats {
        self.shared.snapshot()
    }

    /// Stops starting actions, waits for those in flight (bounded by their timeouts and retries),
    /// and returns the final counters.
    pub async fn stop(self) -> ShopperStats {
        let _ = self.stop.send(true);
        // A panicked task still leaves its counters behind.
        let _ = self.task.await;
        self.shared.snapshot()
    }
}

struct Shared {
    stats: Mutex<Counters>,
    catalogue: Mutex<Vec<String>>,
}

struct Counters {
    stats: ShopperStats,
    /// Count per whole millisecond; the last bucket holds everything slower.
    latency_ms: Vec<u64>,
    latency_sum_ms: f64,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut ShopperStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner).stats);
    }

    fn record_latency(&self, elapsed: Duration) {
        let mut counters = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = elapsed.as_secs_f64() * 1_000.0;
        counters.latency_sum_ms += ms;
        let bucket = (ms as usize).min(LATENCY_BUCKETS_MS);
        counters.latency_ms[bucket] += 1;
        let latency = &mut counters.stats.latency;
        latency.count += 1;
        latency.max_ms = latency.max_ms.max(ms.ceil() as u64);
    }

    fn snapshot(&self) -> ShopperStats {
        let counters = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stats = counters.stats.clone();
        let count = stats.latency.count;
        if count > 0 {
            stats.latency.mean_ms = counters.latency_sum_ms / count as f64;
            let quantile = |q: f64| {
                let rank = ((q * count as f64).ceil() as u64).max(1);
                let mut seen = 0;
                for (ms, &n) in counters.latency_ms.iter().enumerate() {
                    seen += n;
                    if seen >= rank {
                        // The bucket's upper edge, never above the slowest seen.
                        return (ms as u64 + 1).min(stats.latency.max_ms);
                    }
                }
                stats.latency.max_ms
            };
            stats.latency.p50_ms = quantile(0.50);
            stats.latency.p95_ms = quantile(0.95);
            stats.latency.p99_ms = quantile(0.99);
        }
        stats
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Browse,
    Purchase,
    StockUpdate,
}

fn pick(mix: &TrafficMix, rng: &mut SmallRng) -> Option<Action> {
    let total = mix.browse + mix.checkout + mix.stock_update;
    if total == 0 {
        return None;
    }
    let roll = rng.random_range(0..total);
    Some(if roll < mix.browse {
        Action::Browse
    } else if roll < mix.browse + mix.checkout {
        Action::Purchase
    } else {
        Action::StockUpdate
    })
}

/// What one action needs, shared by all of a shopper's actions.
struct Context {
    client: reqwest::Client,
    base: String,
    tenant: String,
    shared: Arc<Shared>,
}

async fn run(config: ShopperConfig, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let client = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).no_proxy().build() {
        Ok(client) => client,
        Err(_) => {
            // Without a client nothing can be sent; every tick would fail the same way.
            shared.update(|s| s.failed += 1);
            return;
        }
    };
    let context = Arc::new(Context {
        client,
        base: config.base_url.trim_end_matches('/').to_string(),
        tenant: config.tenant.clone(),
        shared,
    });
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let mut actions = JoinSet::new();
    if config.rate_per_sec > 0.0 && config.rate_per_sec.is_finite() {
        let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / config.rate_per_sec));
        // After a stall, keep the steady rate rather than bursting to catch up.
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = ticker.tick() => {
                    while actions.try_join_next().is_some() {}
                    let Some(action) = pick(&config.mix, &mut rng) else { continue };
                    if actions.len() >= MAX_IN_FLIGHT {
                        context.shared.update(|s| s.dropped_ticks += 1);
                        continue;
                    }
                    // Each action gets its own RNG, so its choices do not depend on task timing.
                    let action_rng = SmallRng::seed_from_u64(rng.random());
                    actions.spawn(perform(context.clone(), action, action_rng));
                }
            }
        }
    } else {
        let _ = stop.changed().await;
    }
    while actions.join_next().await.is_some() {}
}

async fn perform(context: Arc<Context>, action: Action, mut rng: SmallRng) {
    match action {
        Action::Browse => browse(&context, &mut rng).await,
        Action::Purchase => purchase(&context, &mut rng).await,
        Action::StockUpdate => stock_update(&context, &mut rng).await,
    }
}

/// How one request ended.
enum Answer {
    /// Any HTTP status, with the body as JSON when it parsed and `Retry-After` in seconds.
    Status(StatusCode, Option<serde_json::Value>, Option<u64>),
    /// No answer: timeout, refused or reset connection.
    NoAnswer,
}

impl Context {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let began = Instant::now();
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let body = response.json::<serde_json::Value>().await.ok();
                self.shared.record_latency(began.elapsed());
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    self.shared.update(|s| s.rejected += 1);
                }
                Answer::Status(status, body, retry_after)
            }
            Err(_) => Answer::NoAnswer,
        }
    }

    /// Books an answer that ends an action without success (503s were booked when they arrived).
    fn book_failure(&self, answer: &Answer) {
        match answer {
            Answer::Status(status, ..) if *status == StatusCode::SERVICE_UNAVAILABLE => {}
            Answer::Status(status, ..) if status.is_client_error() => self.shared.update(|s| s.conflicts += 1),
            Answer::Status(status, ..) if status.is_success() => {}
            _ => self.shared.update(|s| s.failed += 1),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A SKU from the catalogue sample, loading the sample first if needed.
    async fn some_sku(&self, rng: &mut SmallRng) -> Option<String> {
        let known = self.shared.catalogue.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if !known.is_empty() {
            return Some(known[rng.random_range(0..known.len())].clone());
        }
        self.shared.update(|s| s.requests.browse += 1);
        let answer = self.send(self.client.get(self.url(&format!("/products?limit={CATALOGUE_SAMPLE}")))).await;
        let Answer::Status(status, Some(body), _) = &answer else {
            self.book_failure(&answer);
            return None;
        };
        if !status.is_success() {
            self.book_failure(&answer);
            return None;
        }
        let skus: Vec<String> = body["products"]
            .as_array()
            .map(|products| products.iter().filter_map(|p| p["sku"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if skus.is_empty() {
            return None;
        }
        let sku = skus[rng.random_range(0..skus.len())].clone();
        *self.shared.catalogue.lock().unwrap_or_else(PoisonError::into_inner) = skus;
        Some(sku)
    }
}

async fn browse(context: &Context, rng: &mut SmallRng) {
    let offset = rng.random_range(0..5) * 20;
    context.shared.update(|s| s.requests.browse += 1);
    let answer = context.send(context.client.get(context.url(&format!("/products?limit=20&offset={offset}")))).await;
    if !matches!(answer, Answer::Status(status, ..) if status.is_success()) {
        context.book_failure(&answer);
        return;
    }
    // Half of the visitors open a product page.
    if rng.random_bool(0.5)
        && let Some(sku) = context.some_sku(rng).await
    {
        context.shared.update(|s| s.requests.browse += 1);
        let answer = context.send(context.client.get(context.url(&format!("/products/{sku}")))).await;
        context.book_failure(&answer);
    }
}

async fn stock_update(context: &Context, rng: &mut SmallRng) {
    let Some(sku) = context.some_sku(rng).await else { return };
    let quantity = rng.random_range(50_000..150_000_i64);
    context.shared.update(|s| s.requests.stock_update += 1);
    let body = serde_json::json!({ "sku": sku, "quantity": quantity, "source": "erp-sync" });
    let answer = context.send(context.client.post(context.url("/stock")).json(&body)).await;
    context.book_failure(&answer);
}

async fn purchase(context: &Context, rng: &mut SmallRng) {
    let answer = context.write(Kind::Cart, || context.client.post(context.url("/carts")), false).await;
    let cart_id = match &answer {
        Answer::Status(status, Some(body), _) if status.is_success() => body["cart_id"].as_i64(),
        _ => None,
    };
    let Some(cart_id) = cart_id else {
        context.book_failure(&answer);
        return;
    };
    let mut wanted = BTreeMap::new();
    for _ in 0..rng.random_range(1..=3) {
        let Some(sku) = context.some_sku(rng).await else { return };
        *wanted.entry(sku).or_insert(0) += rng.random_range(1..=2);
    }
    let items_url = context.url(&format!("/carts/{cart_id}/items"));
    for (sku, qty) in wanted {
        let body = serde_json::json!({ "sku": sku, "qty": qty });
        // Not retried without an answer: the item may have been added, and adding it again doubles it.
        let answer = context.write(Kind::Cart, || context.client.post(&items_url).json(&body), false).await;
        if !matches!(answer, Answer::Status(status, ..) if status.is_success()) {
            context.book_failure(&answer);
            return;
        }
    }
    // Unique per cart (cart ids never repeat in one database) and reproducible from the seed.
    let key = format!("{}-cart{cart_id}-{:016x}", context.tenant, rng.random::<u64>());
    let url = context.url(&format!("/carts/{cart_id}/checkout"));
    // The same key on every attempt: a retry after a lost answer returns the order, never a second one.
    let answer =
        context.write(Kind::Checkout, || context.client.post(&url).header("Idempotency-Key", &key), true).await;
    match &answer {
        Answer::Status(status, body, _) if *status == StatusCode::CREATED => {
            let order_id = body.as_ref().and_then(|b| b["order_id"].as_i64());
            context.shared.update(|s| match order_id {
                Some(id) => {
                    s.orders_acknowledged += 1;
                    s.acknowledged_order_ids.push(id);
                }
                // A 201 without an order id is a broken server, not an order.
                None => s.failed += 1,
            });
        }
        other => context.book_failure(other),
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Cart,
    Checkout,
}

impl Context {
    /// Sends a write, retrying on 503 (nothing was written) and, when `retry_without_answer`, on a
    /// timeout or connection error; returns the last answer.
    async fn write(
        &self,
        kind: Kind,
        request: impl Fn() -> reqwest::RequestBuilder,
        retry_without_answer: bool,
    ) -> Answer {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            self.shared.update(|s| {
                match kind {
                    Kind::Cart => s.requests.cart += 1,
                    Kind::Checkout => s.requests.checkout += 1,
                }
                if attempt > 1 {
                    s.retries += 1;
                }
            });
            let answer = self.send(request()).await;
            let wait = match &answer {
                Answer::Status(status, _, retry_after) if *status == StatusCode::SERVICE_UNAVAILABLE => {
                    retry_after.map_or(backoff, Duration::from_secs)
                }
                Answer::NoAnswer if retry_without_answer => backoff,
                _ => return answer,
            };
            if attempt == WRITE_ATTEMPTS {
                return answer;
            }
            tokio::time::sleep(wait.min(MAX_RETRY_WAIT)).await;
            backoff *= 2;
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The retry rules need answers at exact moments, which a real storefront cannot be made to give;
    //! these tests use a scripted HTTP server on loopback (named as such) for that one purpose.

    use std::sync::Arc;

    use axum::Router;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{get, post};

    use super::*;

    /// Answers like a storefront, except that the first `refusals` checkouts get 503.
    async fn scripted_server(refusals: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        let keys = Arc::new(Mutex::new(Vec::new()));
        let seen = keys.clone();
        let app = Router::new()
            .route("/products", get(|| async { axum::Json(serde_json::json!({"products": [{"sku": "SKU-1"}]})) }))
            .route("/carts", post(|| async { (StatusCode::CREATED, axum::Json(serde_json::json!({"cart_id": 7}))) }))
            .route("/carts/{id}/items", post(|| async { axum::Json(serde_json::json!({})) }))
            .route(
                "/carts/{id}/checkout",
                post(move |headers: HeaderMap| {
                    let seen = seen.clone();
                    async move {
                        let key = headers["idempotency-key"].to_str().unwrap().to_string();
                        let mut seen = seen.lock().unwrap();
                        seen.push(key);
                        if seen.len() <= refusals {
                            let headers = [("retry-after", "5")];
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                headers,
                                axum::Json(serde_json::json!({"error": "maintenance"})),
                            )
                        } else {
                            let headers = [("retry-after", "0")];
                            (
                                StatusCode::CREATED,
                                headers,
                                axum::Json(serde_json::json!({"order_id": 42, "total_cents": 199})),
                            )
                        }
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, keys)
    }

    fn checkout_only(base: String) -> ShopperConfig {
        ShopperConfig {
            tenant: "t".into(),
            base_url: base,
            // One purchase at the first tick, the next one far beyond the test.
            rate_per_sec: 0.05,
            mix: TrafficMix { browse: 0, checkout: 1, stock_update: 0 },
            seed: 3,
        }
    }

    async fn until_settled(handle: ShopperHandle) -> ShopperStats {
        for _ in 0..100 {
            let stats = handle.stats();
            if stats.orders_acknowledged + stats.failed + stats.rejected >= 4 || stats.orders_acknowledged > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        handle.stop().await
    }

    #[tokio::test]
    async fn a_refused_checkout_is_retried_with_the_same_key_and_a_capped_wait() {
        let (base, keys) = scripted_server(2).await;
        let began = Instant::now();
        let stats = until_settled(Shopper::spawn(checkout_only(base))).await;
        assert_eq!(stats.orders_acknowledged, 1, "{stats:?}");
        assert_eq!(stats.acknowledged_order_ids, vec![42]);
        assert_eq!((stats.rejected, stats.retries, stats.failed), (2, 2, 0), "{stats:?}");
        let keys = keys.lock().unwrap().clone();
        assert_eq!(keys.len(), 3);
        assert!(keys.iter().all(|k| k == &keys[0] && k.starts_with("t-cart7-")), "{keys:?}");
        // Retry-After said 5 s twice; the cap keeps the whole purchase near 2 x MAX_RETRY_WAIT.
        assert!(began.elapsed() < Duration::from_secs(4), "{:?}", began.elapsed());
    }

    #[tokio::test]
    async fn a_checkout_refused_on_every_attempt_is_rejected_not_failed_nor_acknowledged() {
        let (base, keys) = scripted_server(usize::MAX).await;
        let stats = until_settled(Shopper::spawn(checkout_only(base))).await;
        assert_eq!(keys.lock().unwrap().len(), WRITE_ATTEMPTS as usize);
        assert_eq!(
            (stats.orders_acknowledged, stats.rejected, stats.failed),
            (0, u64::from(WRITE_ATTEMPTS), 0),
            "{stats:?}"
        );
    }

    #[test]
    fn latency_quantiles_come_from_the_histogram() {
        let shared = Shared {
            stats: Mutex::new(Counters {
                stats: ShopperStats::default(),
                latency_ms: vec![0; LATENCY_BUCKETS_MS + 1],
                latency_sum_ms: 0.0,
            }),
            catalogue: Mutex::new(Vec::new()),
        };
        for ms in 1..=100 {
            shared.record_latency(Duration::from_micros(ms * 1_000 - 500));
        }
        let latency = shared.snapshot().latency;
        assert_eq!(
            (latency.count, latency.p50_ms, latency.p95_ms, latency.p99_ms, latency.max_ms),
            (100, 50, 95, 99, 100)
        );
        assert!((latency.mean_ms - 50.0).abs() < 0.01, "{}", latency.mean_ms);
    }
}
