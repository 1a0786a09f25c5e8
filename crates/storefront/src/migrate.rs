//! `storefront migrate`: the analogue of `odoo -u` — brings a tenant database to a release's schema.
//!
//! Responsible for the schema steps, their order, the guard against two migrations at once, and the
//! record of every run. Not responsible for deciding when to migrate, taking restore points or
//! maintenance mode: the release controller does those around this command.
//!
//! **Bookkeeping tables** (created by every run before anything else, so even the first run is
//! recorded):
//! - `storefront_schema(version int)` — exactly one row; 0 until schema step 1 commits.
//! - `storefront_migration_runs(id serial, from_version int, to_version int, started_at timestamptz,
//!   finished_at timestamptz, outcome text, detail text)` — one row per run, inserted and committed
//!   when the run starts (`outcome = 'running'`), updated when it ends to `ok`, `noop` or `failed`.
//!   A row left at `running` is a run that crashed. `from_version` is the schema version found,
//!   `to_version` the code version asked for (so `--to v3` is visible even though it changes nothing).
//!
//! **Exclusion.** A run holds `pg_try_advisory_lock(`[`MIGRATION_LOCK_KEY`]`)` on its own session
//! for its whole duration; if not granted it fails with [`StorefrontError::MigrationLocked`]
//! without touching anything. The lock is released when the session ends, also when the process dies.
//!
//! **Steps** run from the current schema + 1 up to the target's schema, each committing on its own
//! (as Odoo commits per module), and each safe to run again after a crash:
//! 1. the shop's tables (products, carts, cart_items, orders, order_lines, storefront_settings);
//! 2. `orders.channel text NOT NULL DEFAULT 'web'`, an index on `orders(created_at)`, and
//!    `products.search_name` backfilled in batches of [`BACKFILL_BATCH`] rows, one transaction per
//!    batch, a progress line per batch on stderr — v1 code still runs on the result;
//! 3. (none: v3 is a code-only release, so `--to v3` ends on schema 2);
//! 4. the `pos_loyalty` step: its first part commits (table `loyalty_cards`, column
//!    `orders.loyalty_card_id`), its second part always fails with
//!    `module pos_loyalty: column "card_no" does not exist`, leaving the schema row at 2 and the
//!    database changed — a half-upgraded database, as when an Odoo upgrade dies on one module.
//!
//! Migrating to a version whose schema is not above the current one changes nothing and records a
//! run with outcome `noop`.

use tokio_postgres::Client;

use crate::db;
use crate::{CodeVersion, StorefrontError};

/// The advisory lock key a migration holds (`pg_try_advisory_lock(7_140_113)`).
pub const MIGRATION_LOCK_KEY: i64 = 7_140_113;

/// How many rows one backfill transaction updates.
pub const BACKFILL_BATCH: i64 = 500;

/// What a finished migration run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationReport {
    /// The row id in `storefront_migration_runs`.
    pub run_id: i32,
    /// The schema version before the run.
    pub from_schema: i32,
    /// The schema version after the run.
    pub to_schema: i32,
    /// `ok` or `noop` (a failure is an error, recorded as `failed`).
    pub outcome: String,
    /// The schema steps applied, in order.
    pub steps: Vec<i32>,
}

/// Migrates the database at `url` to the schema of code version `to`; progress lines go to `progress`.
pub async fn migrate(
    url: &str,
    to: CodeVersion,
    progress: &mut dyn FnMut(&str),
) -> Result<MigrationReport, StorefrontError> {
    let config = db::parse_url(url)?;
    // A dedicated session: the advisory lock lives exactly as long as this connection.
    let mut client = db::connect(&config).await?;
    let granted: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
        .await
        .map_err(StorefrontError::db("migrate: take the advisory lock"))?
        .get(0);
    if !granted {
        return Err(StorefrontError::MigrationLocked { key: MIGRATION_LOCK_KEY });
    }
    let result = migrate_locked(&mut client, to, progress).await;
    // Release the lock before returning rather than by disconnecting: the server drops a closed
    // session's locks a moment after the client is gone, and a migration started right after this one
    // must not be refused meanwhile. If this process dies instead, the disconnect still releases it.
    let _ = client.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY]).await;
    result
}

/// The migration proper, run while holding the advisory lock on `client`'s session.
async fn migrate_locked(
    client: &mut tokio_postgres::Client,
    to: CodeVersion,
    progress: &mut dyn FnMut(&str),
) -> Result<MigrationReport, StorefrontError> {
    client.batch_execute(BOOKKEEPING_SQL).await.map_err(StorefrontError::db("migrate: create bookkeeping tables"))?;
    let from_schema = schema_version_of(client).await?.unwrap_or(0);
    let run_id: i32 = client
        .query_one(
            "INSERT INTO storefront_migration_runs (from_version, to_version, outcome) \
             VALUES ($1, $2, 'running') RETURNING id",
            &[&from_schema, &to.number()],
        )
        .await
        .map_err(StorefrontError::db("migrate: record the run"))?
        .get(0);

    let steps: Vec<i32> =
        SCHEMA_STEPS.iter().copied().filter(|&s| s > from_schema && s <= to.target_schema()).collect();
    let mut applied = Vec::new();
    let mut result = Ok(());
    for &step in &steps {
        progress(&format!("schema step {step}: {}", step_title(step)));
        if let Err(err) = run_step(client, step, progress).await {
            result = Err((step, err));
            break;
        }
        applied.push(step);
    }
    let to_schema = schema_version_of(client).await?.unwrap_or(0);

    match result {
        Ok(()) => {
            let (outcome, detail) = if steps.is_empty() {
                let why = if to.target_schema() == from_schema && to.number() != to.target_schema() {
                    format!("{to} is a code-only release: schema stays {from_schema}")
                } else {
                    format!("schema is {from_schema}; {to} needs schema {}: nothing to do", to.target_schema())
                };
                ("noop", why)
            } else {
                ("ok", format!("applied schema steps {applied:?}; schema is now {to_schema}"))
            };
            finish_run(client, run_id, outcome, &detail).await?;
            Ok(MigrationReport { run_id, from_schema, to_schema, outcome: outcome.to_string(), steps: applied })
        }
        Err((step, err)) => {
            let detail = match &err {
                StorefrontError::MigrationFailed { detail, .. } => detail.clone(),
                other => other.to_string(),
            };
            // Recording the failure is best effort: the step's own error is the one to report.
            let _ = finish_run(client, run_id, "failed", &detail).await;
            Err(StorefrontError::MigrationFailed { to, step, detail })
        }
    }
}

/// Reads the schema version, `None` when the database has no storefront bookkeeping table.
pub async fn schema_version(client: &Client) -> Result<Option<i32>, StorefrontError> {
    schema_version_of(client).await
}

async fn schema_version_of(client: &Client) -> Result<Option<i32>, StorefrontError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('storefront_schema') IS NOT NULL", &[])
        .await
        .map_err(StorefrontError::db("read schema version"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version FROM storefront_schema LIMIT 1", &[])
        .await
        .map_err(StorefrontError::db("read schema version"))?;
    Ok(row.map(|r| r.get(0)))
}

async fn finish_run(client: &Client, run_id: i32, outcome: &str, detail: &str) -> Result<(), StorefrontError> {
    client
        .execute(
            "UPDATE storefront_migration_runs SET finished_at = now(), outcome = $2, detail = $3 WHERE id = $1",
            &[&run_id, &outcome, &detail],
        )
        .await
        .map_err(StorefrontError::db("migrate: record the run's outcome"))?;
    Ok(())
}

/// Schema versions that have a step; 3 has none (v3 is code-only).
const SCHEMA_STEPS: [i32; 3] = [1, 2, 4];

fn step_title(step: i32) -> &'static str {
    match step {
        1 => "create the shop's tables",
        2 => "orders.channel, orders(created_at) index, products.search_name backfill",
        4 => "module pos_loyalty: loyalty cards",
        _ => "unknown",
    }
}

async fn run_step(client: &mut Client, step: i32, progress: &mut dyn FnMut(&str)) -> Result<(), StorefrontError> {
    match step {
        1 => {
            let tx = client.transaction().await.map_err(StorefrontError::db("schema step 1: begin"))?;
            tx.batch_execute(SCHEMA_1_SQL).await.map_err(StorefrontError::db("schema step 1"))?;
            set_version(&tx, 1).await?;
            tx.commit().await.map_err(StorefrontError::db("schema step 1: commit"))
        }
        2 => {
            client.batch_execute(SCHEMA_2_DDL).await.map_err(StorefrontError::db("schema step 2: DDL"))?;
            let mut batch = 0;
            let mut total = 0;
            loop {
                // Each statement is its own transaction: short locks, progress survives a crash.
                let updated = client
                    .execute(
                        "UPDATE products SET search_name = lower(name) WHERE sku IN \
                         (SELECT sku FROM products WHERE search_name IS NULL ORDER BY sku LIMIT $1)",
                        &[&BACKFILL_BATCH],
                    )
                    .await
                    .map_err(StorefrontError::db("schema step 2: backfill products.search_name"))?;
                if updated == 0 {
                    break;
                }
                batch += 1;
                total += updated;
                progress(&format!("  backfill products.search_name: batch {batch}, {updated} rows ({total} so far)"));
            }
            let tx = client.transaction().await.map_err(StorefrontError::db("schema step 2: begin"))?;
            set_version(&tx, 2).await?;
            tx.commit().await.map_err(StorefrontError::db("schema step 2: commit"))
        }
        4 => {
            // Part one commits on its own, like a module Odoo finished before the one that dies.
            client.batch_execute(SCHEMA_4_PART_1).await.map_err(StorefrontError::db("schema step 4: loyalty_cards"))?;
            let tx = client.transaction().await.map_err(StorefrontError::db("schema step 4: begin"))?;
            // A real statement against a column that was never created: the failure is PostgreSQL's own.
            match tx.batch_execute("UPDATE loyalty_cards SET points = 0 WHERE card_no IS NULL").await {
                Ok(()) => {
                    set_version(&tx, 4).await?;
                    tx.commit().await.map_err(StorefrontError::db("schema step 4: commit"))
                }
                Err(err) => {
                    let message = err.as_db_error().map_or_else(|| err.to_string(), |db| db.message().to_string());
                    Err(StorefrontError::MigrationFailed {
                        to: CodeVersion::V4,
                        step: 4,
                        detail: format!("module pos_loyalty: {message}"),
                    })
                }
            }
        }
        other => unreachable!("no schema step {other}"),
    }
}

async fn set_version(tx: &tokio_postgres::Transaction<'_>, version: i32) -> Result<(), StorefrontError> {
    tx.execute("UPDATE storefront_schema SET version = $1", &[&version])
        .await
        .map_err(StorefrontError::db(format!("record schema version {version}")))?;
    Ok(())
}

const BOOKKEEPING_SQL: &str = "
CREATE TABLE IF NOT EXISTS storefront_schema (
    version int NOT NULL,
    -- Allows exactly one row.
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton)
);
INSERT INTO storefront_schema (version) VALUES (0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS storefront_migration_runs (
    id serial PRIMARY KEY,
    from_version int NOT NULL,
    to_version int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    outcome text NOT NULL,
    detail text
);
";

const SCHEMA_1_SQL: &str = "
CREATE TABLE IF NOT EXISTS products (
    sku text PRIMARY KEY,
    name text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock bigint NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS carts (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS cart_items (
    cart_id bigint NOT NULL REFERENCES carts (id),
    sku text NOT NULL REFERENCES products (sku),
    qty int NOT NULL CHECK (qty > 0),
    PRIMARY KEY (cart_id, sku)
);
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    cart_id bigint NOT NULL UNIQUE REFERENCES carts (id),
    idempotency_key text NOT NULL UNIQUE,
    total_cents bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id bigint NOT NULL REFERENCES orders (id),
    sku text NOT NULL REFERENCES products (sku),
    qty int NOT NULL,
    price_cents bigint NOT NULL,
    PRIMARY KEY (order_id, sku)
);
CREATE TABLE IF NOT EXISTS storefront_settings (
    key text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO storefront_settings (key, value) VALUES ('maintenance', 'off') ON CONFLICT DO NOTHING;
";

const SCHEMA_2_DDL: &str = "
ALTER TABLE orders ADD COLUMN IF NOT EXISTS channel text NOT NULL DEFAULT 'web';
CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at);
ALTER TABLE products ADD COLUMN IF NOT EXISTS search_name text;
";

const SCHEMA_4_PART_1: &str = "
CREATE TABLE IF NOT EXISTS loyalty_cards (
    id bigserial PRIMARY KEY,
    customer_email text NOT NULL,
    points int NOT NULL DEFAULT 0
);
ALTER TABLE orders ADD COLUMN IF NOT EXISTS loyalty_card_id bigint REFERENCES loyalty_cards (id);
";
