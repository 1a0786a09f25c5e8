//! `storefront serve`: the HTTP shop for one tenant, and what each code version does differently.
//!
//! Routes (JSON): `GET /products?limit=&offset=&q=`, `GET /products/{sku}`, `POST /carts`,
//! `POST /carts/{id}/items {sku, qty}`, `POST /carts/{id}/checkout` (header `Idempotency-Key`,
//! optional `X-Sales-Channel`), `POST /stock {sku, quantity, source}`, `GET /health`, `GET /metrics`.
//!
//! Checkout creates the order, its lines and the stock decrements in one transaction, with the cart
//! row locked so that a retry with the same idempotency key waits for the first attempt and then
//! gets its order back (201, same `order_id`) instead of a duplicate. Every write checks maintenance
//! mode inside its transaction (`crate::maintenance`). Version differences: v1 never writes
//! `orders.channel` and searches `lower(name)`; v2 and later write `channel` and search
//! `search_name`; v3 additionally waits [`V3_PAYMENT_DELAY`] in every new checkout and fails
//! [`V3_FAILURE_RATE`] of them with 500 `{"error":"payment provider timeout"}`, drawn from an RNG
//! seeded with the tenant id, so a run replays the same way.
//!
//! Not responsible for schema changes (`crate::migrate`) or for deciding which version runs (the
//! controller starts one process per tenant and version).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_postgres::error::SqlState;

use crate::db::{self, Pool};
use crate::metrics::Metrics;
use crate::{CodeVersion, StorefrontError, maintenance, migrate};

/// Extra time v3 spends in every new checkout (a slow payment provider).
pub const V3_PAYMENT_DELAY: Duration = Duration::from_millis(250);
/// Share of new checkouts v3 fails with 500.
pub const V3_FAILURE_RATE: f64 = 0.3;
/// Seconds a client should wait before retrying a write refused for maintenance.
pub const RETRY_AFTER_SECS: u32 = 5;
/// How often the schema version is re-read for `/metrics`.
const SCHEMA_REFRESH: Duration = Duration::from_secs(5);
/// How long `/health` waits for the database.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest accepted idempotency key.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// What `storefront serve` needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The tenant database.
    pub database_url: String,
    /// Where to listen; port 0 picks a free port (see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// Which release's behaviour to run.
    pub code_version: CodeVersion,
    /// The tenant id (labels, logs, the v3 fault seed).
    pub tenant: String,
    /// How many database connections the process may open.
    pub pool_size: usize,
}

/// A bound, not yet serving storefront.
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

struct AppState {
    tenant: String,
    code: CodeVersion,
    pool: Pool,
    metrics: Arc<Metrics>,
    faults: Mutex<SmallRng>,
    schema_version: AtomicI32,
}

/// Checks that the code can run on the database's schema, then binds the listener.
pub async fn bind(config: ServeConfig) -> Result<Server, StorefrontError> {
    let pool = Pool::new(db::parse_url(&config.database_url)?, config.pool_size);
    let schema = {
        let client = pool.get().await?;
        migrate::schema_version(&client).await?.unwrap_or(0)
    };
    if schema == 0 {
        return Err(StorefrontError::NotMigrated);
    }
    config.code_version.check_schema(schema)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StorefrontError::Io { context: format!("bind {}", config.listen), source })?;
    let metrics = Metrics::new(&config.tenant, &config.code_version.to_string(), schema);
    let state = Arc::new(AppState {
        faults: Mutex::new(SmallRng::seed_from_u64(fault_seed(&config.tenant))),
        tenant: config.tenant,
        code: config.code_version,
        pool,
        metrics,
        schema_version: AtomicI32::new(schema),
    });
    Ok(Server { listener, state })
}

impl Server {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The schema version found at start.
    pub fn schema_version(&self) -> i32 {
        self.state.schema_version.load(Ordering::Relaxed)
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StorefrontError> {
        let refresher = tokio::spawn(refresh_schema_version(self.state.clone()));
        let result = axum::serve(self.listener, router(self.state)).with_graceful_shutdown(shutdown).await;
        refresher.abort();
        result.map_err(|source| StorefrontError::Io { context: "serve HTTP".to_string(), source })
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/products", get(list_products))
        .route("/products/{sku}", get(get_product))
        .route("/carts", post(create_cart))
        .route("/carts/{id}/items", post(add_item))
        .route("/carts/{id}/checkout", post(checkout))
        .route("/stock", post(update_stock))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        // route_layer: runs only on matched routes, so the route template is always known.
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

/// FNV-1a of the tenant id: stable across Rust versions, unlike `DefaultHasher`.
fn fault_seed(tenant: &str) -> u64 {
    tenant.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

async fn refresh_schema_version(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(SCHEMA_REFRESH);
    loop {
        ticker.tick().await;
        let _ = read_status(&state).await;
    }
}

/// Reads schema version and maintenance mode, updating the cached version and the build info.
async fn read_status(state: &AppState) -> Result<(i32, bool), StorefrontError> {
    let client = state.pool.get().await?;
    let schema = migrate::schema_version(&client).await?.unwrap_or(0);
    let maintenance = maintenance::is_on(&client).await?;
    state.schema_version.store(schema, Ordering::Relaxed);
    state.metrics.set_schema_version(schema);
    Ok((schema, maintenance))
}

async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_string();
    let began = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe_request(&route, response.status().as_u16(), began.elapsed().as_secs_f64());
    response
}

impl StorefrontError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            StorefrontError::Maintenance | StorefrontError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StorefrontError::NotFound { .. } => StatusCode::NOT_FOUND,
            StorefrontError::BadRequest(_) => StatusCode::BAD_REQUEST,
            StorefrontError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for StorefrontError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            StorefrontError::Unavailable(_) => "database unavailable".to_string(),
            other => other.to_string(),
        };
        let mut response = (status, Json(json!({ "error": message }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

type ApiResult<T> = Result<T, StorefrontError>;

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Product {
    /// Stock keeping unit, the product's key.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Unit price in cents.
    pub price_cents: i64,
    /// Units in stock.
    pub stock: i64,
}

impl From<&tokio_postgres::Row> for Product {
    fn from(row: &tokio_postgres::Row) -> Self {
        Product {
            sku: row.get("sku"),
            name: row.get("name"),
            price_cents: row.get("price_cents"),
            stock: row.get("stock"),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    q: Option<String>,
}

async fn list_products(
    State(state): State<Arc<AppState>>,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let offset = query.offset.unwrap_or(0).max(0);
    let pattern = format!("{}%", query.q.unwrap_or_default().to_lowercase().replace(['%', '_'], ""));
    // v2 searches the column its migration backfilled; v1 predates it.
    let column = if state.code >= CodeVersion::V2 { "search_name" } else { "lower(name)" };
    let sql = format!(
        "SELECT sku, name, price_cents, stock FROM products WHERE {column} LIKE $1 ORDER BY sku LIMIT $2 OFFSET $3"
    );
    let client = state.pool.get().await?;
    let rows = client.query(&sql, &[&pattern, &limit, &offset]).await.map_err(StorefrontError::db("list products"))?;
    let products: Vec<Product> = rows.iter().map(Product::from).collect();
    Ok(Json(json!({ "products": products, "limit": limit, "offset": offset })))
}

async fn get_product(State(state): State<Arc<AppState>>, Path(sku): Path<String>) -> ApiResult<Json<Product>> {
    let client = state.pool.get().await?;
    let row = client
        .query_opt("SELECT sku, name, price_cents, stock FROM products WHERE sku = $1", &[&sku])
        .await
        .map_err(StorefrontError::db("get product"))?
        .ok_or_else(|| StorefrontError::NotFound { what: format!("product {sku}") })?;
    Ok(Json(Product::from(&row)))
}

async fn create_cart(State(state): State<Arc<AppState>>) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await.map_err(StorefrontError::db("create cart: begin"))?;
    maintenance::guard_write(&tx).await?;
    let id: i64 = tx
        .query_one("INSERT INTO carts DEFAULT VALUES RETURNING id", &[])
        .await
        .map_err(StorefrontError::db("create cart"))?
        .get(0);
    tx.commit().await.map_err(StorefrontError::db("create cart: commit"))?;
    Ok((StatusCode::CREATED, Json(json!({ "cart_id": id }))))
}

#[derive(Debug, Deserialize)]
struct AddItem {
    sku: String,
    qty: i32,
}

async fn add_item(
    State(state): State<Arc<AppState>>,
    Path(cart_id): Path<i64>,
    Json(item): Json<AddItem>,
) -> ApiResult<Json<serde_json::Value>> {
    if !(1..=1_000).contains(&item.qty) {
        return Err(StorefrontError::BadRequest(format!("qty must be between 1 and 1000, got {}", item.qty)));
    }
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await.map_err(StorefrontError::db("add item: begin"))?;
    maintenance::guard_write(&tx).await?;
    lock_open_cart(&tx, cart_id).await?;
    let exists = tx
        .query_opt("SELECT 1 FROM products WHERE sku = $1", &[&item.sku])
        .await
        .map_err(StorefrontError::db("add item: find product"))?;
    if exists.is_none() {
        return Err(StorefrontError::NotFound { what: format!("product {}", item.sku) });
    }
    let qty: i32 = tx
        .query_one(
            "INSERT INTO cart_items (cart_id, sku, qty) VALUES ($1, $2, $3) \
             ON CONFLICT (cart_id, sku) DO UPDATE SET qty = cart_items.qty + excluded.qty RETURNING qty",
            &[&cart_id, &item.sku, &item.qty],
        )
        .await
        .map_err(StorefrontError::db("add item"))?
        .get(0);
    tx.commit().await.map_err(StorefrontError::db("add item: commit"))?;
    Ok(Json(json!({ "cart_id": cart_id, "sku": item.sku, "qty": qty })))
}

/// Locks the cart row; fails if the cart does not exist or already became an order.
async fn lock_open_cart(tx: &tokio_postgres::Transaction<'_>, cart_id: i64) -> ApiResult<()> {
    let cart = tx
        .query_opt("SELECT id FROM carts WHERE id = $1 FOR UPDATE", &[&cart_id])
        .await
        .map_err(StorefrontError::db("lock cart"))?;
    if cart.is_none() {
        return Err(StorefrontError::NotFound { what: format!("cart {cart_id}") });
    }
    let order = tx
        .query_opt("SELECT id FROM orders WHERE cart_id = $1", &[&cart_id])
        .await
        .map_err(StorefrontError::db("find the cart's order"))?;
    if let Some(order) = order {
        let order_id: i64 = order.get(0);
        return Err(StorefrontError::Conflict(format!("cart {cart_id} is already checked out as order {order_id}")));
    }
    Ok(())
}

/// The answer to a successful checkout.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderReceipt {
    /// The order's id in `orders`.
    pub order_id: i64,
    /// What the shopper pays.
    pub total_cents: i64,
}

async fn checkout(
    State(state): State<Arc<AppState>>,
    Path(cart_id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<OrderReceipt>)> {
    let began = Instant::now();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
        .ok_or_else(|| {
            StorefrontError::BadRequest(format!(
                "checkout needs an Idempotency-Key header (1 to {MAX_IDEMPOTENCY_KEY} characters)"
            ))
        })?
        .to_string();
    let channel = headers
        .get("x-sales-channel")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("web")
        .chars()
        .take(32)
        .collect::<String>();

    let mut client = state.pool.get().await?;
    let tx = client.transaction().await.map_err(StorefrontError::db("checkout: begin"))?;
    maintenance::guard_write(&tx).await?;
    state.metrics.checkouts_started.inc();
    let result = place_order(&state, tx, cart_id, &key, &channel).await;
    match &result {
        Ok((_, created)) => {
            state.metrics.checkouts_completed.inc();
            if *created {
                state.metrics.orders_created.inc();
                state.metrics.order_creation.observe(began.elapsed().as_secs_f64());
            }
        }
        Err(err) if err.status().is_server_error() => {
            state.metrics.checkouts_failed.inc();
        }
        Err(_) => {}
    }
    result.map(|(receipt, _)| (StatusCode::CREATED, Json(receipt)))
}

/// The checkout's transaction after the maintenance check; returns the receipt and whether the
/// order is new (false for an idempotent replay).
async fn place_order(
    state: &AppState,
    tx: tokio_postgres::Transaction<'_>,
    cart_id: i64,
    key: &str,
    channel: &str,
) -> ApiResult<(OrderReceipt, bool)> {
    // The cart lock serialises attempts on one cart, so a retry sees the first attempt's order.
    let cart = tx
        .query_opt("SELECT id FROM carts WHERE id = $1 FOR UPDATE", &[&cart_id])
        .await
        .map_err(StorefrontError::db("checkout: lock cart"))?;
    if cart.is_none() {
        return Err(StorefrontError::NotFound { what: format!("cart {cart_id}") });
    }
    let previous = tx
        .query_opt("SELECT id, cart_id, total_cents FROM orders WHERE idempotency_key = $1", &[&key])
        .await
        .map_err(StorefrontError::db("checkout: look up idempotency key"))?;
    if let Some(row) = previous {
        let (order_id, order_cart, total_cents): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if order_cart != cart_id {
            return Err(StorefrontError::Conflict(format!(
                "idempotency key {key:?} was already used for cart {order_cart} (order {order_id})"
            )));
        }
        return Ok((OrderReceipt { order_id, total_cents }, false));
    }
    lock_open_cart(&tx, cart_id).await?;

    if state.code == CodeVersion::V3 {
        let fail = state.faults.lock().unwrap_or_else(PoisonError::into_inner).random_bool(V3_FAILURE_RATE);
        tokio::time::sleep(V3_PAYMENT_DELAY).await;
        if fail {
            return Err(StorefrontError::PaymentTimeout);
        }
    }

    let items = tx
        .query("SELECT sku, qty FROM cart_items WHERE cart_id = $1 ORDER BY sku", &[&cart_id])
        .await
        .map_err(StorefrontError::db("checkout: read cart items"))?;
    if items.is_empty() {
        return Err(StorefrontError::BadRequest(format!("cart {cart_id} is empty")));
    }
    let (mut skus, mut qtys, mut prices) = (Vec::new(), Vec::new(), Vec::new());
    let mut total_cents = 0_i64;
    // Items come sorted by SKU, so concurrent checkouts lock products in one order (no deadlock).
    for item in &items {
        let (sku, qty): (String, i32) = (item.get(0), item.get(1));
        let row = tx
            .query_opt(
                "UPDATE products SET stock = stock - $2 WHERE sku = $1 AND stock >= $2 RETURNING price_cents",
                &[&sku, &i64::from(qty)],
            )
            .await
            .map_err(StorefrontError::db("checkout: decrement stock"))?;
        let Some(row) = row else {
            return Err(StorefrontError::Conflict(format!("insufficient stock for {sku}")));
        };
        let price: i64 = row.get(0);
        total_cents += price * i64::from(qty);
        skus.push(sku);
        qtys.push(qty);
        prices.push(price);
    }
    // v1 predates orders.channel (schema 2) and must not name it; its default fills it in.
    let insert = if state.code >= CodeVersion::V2 {
        tx.query_one(
            "INSERT INTO orders (cart_id, idempotency_key, total_cents, channel) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&cart_id, &key, &total_cents, &channel],
        )
        .await
    } else {
        tx.query_one(
            "INSERT INTO orders (cart_id, idempotency_key, total_cents) VALUES ($1, $2, $3) RETURNING id",
            &[&cart_id, &key, &total_cents],
        )
        .await
    };
    let order_id: i64 = match insert {
        Ok(row) => row.get(0),
        Err(err) if err.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            return Err(StorefrontError::Conflict(format!(
                "idempotency key {key:?} was used by a concurrent checkout of another cart"
            )));
        }
        Err(err) => return Err(StorefrontError::db("checkout: insert order")(err)),
    };
    tx.execute(
        "INSERT INTO order_lines (order_id, sku, qty, price_cents) \
         SELECT $1, sku, qty, price FROM unnest($2::text[], $3::int[], $4::bigint[]) AS t(sku, qty, price)",
        &[&order_id, &skus, &qtys, &prices],
    )
    .await
    .map_err(StorefrontError::db("checkout: insert order lines"))?;
    tx.commit().await.map_err(StorefrontError::db("checkout: commit"))?;
    Ok((OrderReceipt { order_id, total_cents }, true))
}

#[derive(Debug, Deserialize)]
struct StockUpdate {
    sku: String,
    quantity: i64,
    source: String,
}

async fn update_stock(
    State(state): State<Arc<AppState>>,
    Json(update): Json<StockUpdate>,
) -> ApiResult<Json<serde_json::Value>> {
    let result = apply_stock(&state, &update).await;
    match &result {
        Ok(_) => {
            state.metrics.stock_applied.inc();
        }
        // Maintenance defers the update (the integration retries); anything else lost it.
        Err(StorefrontError::Maintenance) => {}
        Err(_) => {
            state.metrics.stock_failed.inc();
        }
    }
    result
}

async fn apply_stock(state: &AppState, update: &StockUpdate) -> ApiResult<Json<serde_json::Value>> {
    if update.quantity < 0 {
        return Err(StorefrontError::BadRequest(format!("quantity must not be negative, got {}", update.quantity)));
    }
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await.map_err(StorefrontError::db("stock update: begin"))?;
    maintenance::guard_write(&tx).await?;
    let updated = tx
        .execute("UPDATE products SET stock = $2 WHERE sku = $1", &[&update.sku, &update.quantity])
        .await
        .map_err(StorefrontError::db("stock update"))?;
    if updated == 0 {
        return Err(StorefrontError::NotFound { what: format!("product {}", update.sku) });
    }
    tx.commit().await.map_err(StorefrontError::db("stock update: commit"))?;
    Ok(Json(json!({ "sku": update.sku, "stock": update.quantity, "source": update.source })))
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let status = tokio::time::timeout(HEALTH_TIMEOUT, read_status(&state)).await;
    let base = json!({ "tenant": state.tenant, "code_version": state.code });
    match status {
        Ok(Ok((schema_version, maintenance))) => {
            let mut body = base;
            body["schema_version"] = json!(schema_version);
            body["maintenance"] = json!(maintenance);
            (StatusCode::OK, Json(body)).into_response()
        }
        failed => {
            let error = match failed {
                Ok(Err(err)) => err.to_string(),
                _ => format!("no answer from the database within {HEALTH_TIMEOUT:?}"),
            };
            let mut body = base;
            body["error"] = json!(error);
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let content_type = HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8");
    ([(header::CONTENT_TYPE, content_type)], state.metrics.encode()).into_response()
}
