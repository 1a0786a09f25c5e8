//! The storefront's Prometheus metrics, as the release controller scrapes them from `/metrics`.
//!
//! Names (OpenMetrics text; counters carry the `_total` suffix):
//! - `storefront_http_requests_total{route,outcome}` — `route` is the route template
//!   (`/products/{sku}`, not the raw path), `outcome` is `ok` (1xx–3xx), `client_error` (4xx),
//!   `server_error` (5xx but 503) or `unavailable` (503: maintenance or database down);
//! - `storefront_http_request_duration_seconds{route}` — histogram;
//! - `storefront_checkouts_started_total`, `storefront_checkouts_completed_total`,
//!   `storefront_checkouts_failed_total` — a checkout is started once it passed the maintenance
//!   check, completed when it answered 201 (an idempotent replay included), failed on a server-side
//!   error; the rest (out of stock, empty cart) were refused for business reasons;
//! - `storefront_orders_created_total` and `storefront_order_creation_seconds` (histogram) — new
//!   orders only, timed from the start of the checkout to its commit;
//! - `storefront_stock_updates_applied_total`, `storefront_stock_updates_failed_total` — `POST /stock`
//!   (a refusal for maintenance is neither: the integration is told to retry);
//! - `storefront_build_info{tenant,code_version,schema_version}` — always 1; the schema label follows
//!   the database (refreshed every few seconds and on `/health`).
//!
//! Not responsible for serving them (`crate::app`) or for judging them (the controller).

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Latency buckets in seconds, fine enough to tell ~10 ms from ~260 ms orders.
const LATENCY_BUCKETS: [f64; 12] = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0];

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template.
    pub route: String,
    /// `ok`, `client_error`, `server_error` or `unavailable`.
    pub outcome: String,
}

/// Labels of the request duration histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template.
    pub route: String,
}

/// Labels of the build info gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// The tenant id.
    pub tenant: String,
    /// e.g. `v2`.
    pub code_version: String,
    /// The schema version last read from the database.
    pub schema_version: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// All metrics of one storefront process.
pub struct Metrics {
    registry: Registry,
    /// Requests by route and outcome.
    pub http_requests: Family<RequestLabels, Counter>,
    /// Request durations by route.
    pub http_duration: HistogramFamily<RouteLabels>,
    /// Checkouts that passed the maintenance check.
    pub checkouts_started: Counter,
    /// Checkouts answered with 201.
    pub checkouts_completed: Counter,
    /// Checkouts that ended in a server-side error.
    pub checkouts_failed: Counter,
    /// New orders committed.
    pub orders_created: Counter,
    /// Time from checkout start to commit of a new order.
    pub order_creation: Histogram,
    /// Stock updates applied.
    pub stock_applied: Counter,
    /// Stock updates that failed (unknown SKU, bad quantity, database error).
    pub stock_failed: Counter,
    build: Family<BuildLabels, Gauge>,
    build_current: Mutex<BuildLabels>,
}

impl Metrics {
    /// Registers every metric; `schema_version` is the version read at start.
    pub fn new(tenant: &str, code_version: &str, schema_version: i32) -> Arc<Self> {
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        let http_duration: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        let checkouts_started = Counter::default();
        let checkouts_completed = Counter::default();
        let checkouts_failed = Counter::default();
        let orders_created = Counter::default();
        let order_creation = latency_histogram();
        let stock_applied = Counter::default();
        let stock_failed = Counter::default();
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "storefront_http_requests",
            "HTTP requests by route template and outcome",
            http_requests.clone(),
        );
        registry.register(
            "storefront_http_request_duration_seconds",
            "HTTP request duration by route template",
            http_duration.clone(),
        );
        registry.register(
            "storefront_checkouts_started",
            "Checkouts that passed the maintenance check",
            checkouts_started.clone(),
        );
        registry.register("storefront_checkouts_completed", "Checkouts answered with 201", checkouts_completed.clone());
        registry.register(
            "storefront_checkouts_failed",
            "Checkouts that ended in a server-side error",
            checkouts_failed.clone(),
        );
        registry.register("storefront_orders_created", "New orders committed", orders_created.clone());
        registry.register(
            "storefront_order_creation_seconds",
            "Time from checkout start to the commit of a new order",
            order_creation.clone(),
        );
        registry.register("storefront_stock_updates_applied", "Stock updates applied", stock_applied.clone());
        registry.register("storefront_stock_updates_failed", "Stock updates that failed", stock_failed.clone());
        registry.register(
            "storefront_build_info",
            "Tenant, code version and schema version of this process",
            build.clone(),
        );
        let labels = BuildLabels {
            tenant: tenant.to_string(),
            code_version: code_version.to_string(),
            schema_version: schema_version.to_string(),
        };
        build.get_or_create(&labels).set(1);
        Arc::new(Metrics {
            registry,
            http_requests,
            http_duration,
            checkouts_started,
            checkouts_completed,
            checkouts_failed,
            orders_created,
            order_creation,
            stock_applied,
            stock_failed,
            build,
            build_current: Mutex::new(labels),
        })
    }

    /// Counts one finished request.
    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&RequestLabels { route: route.to_string(), outcome: outcome(status).to_string() })
            .inc();
        self.http_duration.get_or_create(&RouteLabels { route: route.to_string() }).observe(seconds);
    }

    /// Moves the build info to a new schema version (after a migration under a running process).
    pub fn set_schema_version(&self, schema_version: i32) {
        let mut current = self.build_current.lock().unwrap_or_else(PoisonError::into_inner);
        let value = schema_version.to_string();
        if current.schema_version == value {
            return;
        }
        self.build.remove(&current);
        current.schema_version = value;
        self.build.get_or_create(&current).set(1);
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The `outcome` label for an HTTP status.
pub fn outcome(status: u16) -> &'static str {
    match status {
        503 => "unavailable",
        500..=599 => "server_error",
        400..=499 => "client_error",
        _ => "ok",
    }
}
