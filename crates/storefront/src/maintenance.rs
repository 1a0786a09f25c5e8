//! Maintenance mode: the switch the release controller flips while it migrates or restores a tenant.
//!
//! The switch is the row `key = 'maintenance'` of `storefront_settings`, value `on` or `off`. Every
//! write of the app reads it with `FOR SHARE` inside its own transaction and answers `503` with
//! `Retry-After: 5` and `{"error":"maintenance"}` when it is `on`; reads keep working. Because writes
//! hold a share lock on the row until they commit, switching maintenance on waits for writes in
//! flight, and once it has committed no write can start: a restore point taken afterwards holds
//! every acknowledged order. Not responsible for what happens during maintenance (the controller's).
//!
//! The controller may flip it with plain SQL instead of [`set_maintenance`]; the exact statement is
//!
//! ```sql
//! INSERT INTO storefront_settings (key, value) VALUES ('maintenance', 'on')
//!     ON CONFLICT (key) DO UPDATE SET value = excluded.value;
//! ```
//!
//! (with `'off'` to switch it off). The table exists from schema 1 on.

use crate::{StorefrontError, db};

/// The statement that sets maintenance mode; `$1` is `on` or `off`.
pub const SET_MAINTENANCE_SQL: &str = "INSERT INTO storefront_settings (key, value) VALUES ('maintenance', $1) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Switches maintenance mode on or off for the database at `url`.
pub async fn set_maintenance(url: &str, on: bool) -> Result<(), StorefrontError> {
    let client = db::connect(&db::parse_url(url)?).await?;
    let value = if on { "on" } else { "off" };
    client.execute(SET_MAINTENANCE_SQL, &[&value]).await.map_err(|err| match err.code() {
        Some(code) if *code == tokio_postgres::error::SqlState::UNDEFINED_TABLE => StorefrontError::NotMigrated,
        _ => StorefrontError::db("set maintenance mode")(err),
    })?;
    Ok(())
}

/// Whether maintenance mode is on, read without locking (for `/health`).
pub async fn is_on(client: &tokio_postgres::Client) -> Result<bool, StorefrontError> {
    let row = client
        .query_opt("SELECT value FROM storefront_settings WHERE key = 'maintenance'", &[])
        .await
        .map_err(StorefrontError::db("read maintenance mode"))?;
    Ok(row.is_some_and(|r| r.get::<_, &str>(0) == "on"))
}

/// Inside a write's transaction: fails with [`StorefrontError::Maintenance`] when the switch is on,
/// and otherwise keeps a share lock on it until the transaction ends.
pub async fn guard_write(tx: &tokio_postgres::Transaction<'_>) -> Result<(), StorefrontError> {
    let row = tx
        .query_opt("SELECT value FROM storefront_settings WHERE key = 'maintenance' FOR SHARE", &[])
        .await
        .map_err(StorefrontError::db("check maintenance mode"))?;
    if row.is_some_and(|r| r.get::<_, &str>(0) == "on") {
        return Err(StorefrontError::Maintenance);
    }
    Ok(())
}
