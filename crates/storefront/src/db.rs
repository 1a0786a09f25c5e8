//! Connections to the tenant database: parsing the URL, opening a connection, and a tiny pool.
//!
//! The pool is a fixed number of lazily opened `tokio_postgres` clients behind a semaphore: enough
//! for one light process per tenant (12 of them share a 2-core machine), and a client whose
//! connection died is replaced on the next checkout, so the server survives a database restart or
//! a restore. Not responsible for schema or queries (`crate::migrate`, `crate::app`). No TLS: the
//! storefront only talks to PostgreSQL on loopback or a Unix socket.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::{Client, Config, NoTls};

use crate::StorefrontError;

/// How long opening a connection may take before the request fails as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Parses a `postgres://` URL or a `host=... dbname=...` connection string.
///
/// Like libpq (and so like Odoo through psycopg2), `PGAPPNAME` and `PGOPTIONS` from the environment
/// apply when the URL does not set them: Ringfence runs migrations with its `lock_timeout`,
/// `statement_timeout` and an application name of its own that way, and its watchdog finds the
/// migration's sessions by that name.
pub fn parse_url(url: &str) -> Result<Config, StorefrontError> {
    let mut config: Config = url.parse().map_err(StorefrontError::DatabaseUrl)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        match std::env::var("PGAPPNAME") {
            Ok(name) if !name.is_empty() => config.application_name(&name),
            _ => config.application_name("storefront"),
        };
    }
    if config.get_options().is_none()
        && let Ok(options) = std::env::var("PGOPTIONS")
        && !options.is_empty()
    {
        config.options(&options);
    }
    Ok(config)
}

/// Opens one connection; its driver runs on a spawned task until the client is dropped.
pub async fn connect(config: &Config) -> Result<Client, StorefrontError> {
    let (client, connection) = config.connect(NoTls).await.map_err(StorefrontError::Unavailable)?;
    tokio::spawn(async move {
        // The error also reaches the client's next query, which reports it; nothing to do here.
        let _ = connection.await;
    });
    Ok(client)
}

/// A fixed-size pool of connections to one database.
#[derive(Clone)]
pub struct Pool {
    config: Arc<Config>,
    idle: Arc<Mutex<Vec<Client>>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    /// A pool of at most `size` connections, opened on first use.
    pub fn new(config: Config, size: usize) -> Self {
        Pool {
            config: Arc::new(config),
            idle: Arc::new(Mutex::new(Vec::with_capacity(size))),
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Waits for a free slot and returns a live connection, opening one if needed.
    pub async fn get(&self) -> Result<PooledClient, StorefrontError> {
        let permit = self.permits.clone().acquire_owned().await.expect("the pool's semaphore is never closed");
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            // Drop clients whose connection ended (server restart, restore, idle kill).
            idle.retain(|client| !client.is_closed());
            idle.pop()
        };
        let client = match reused {
            Some(client) => client,
            None => connect(&self.config).await?,
        };
        Ok(PooledClient { client: Some(client), idle: self.idle.clone(), _permit: permit })
    }
}

/// A connection borrowed from a [`Pool`]; goes back to it on drop.
pub struct PooledClient {
    client: Option<Client>,
    idle: Arc<Mutex<Vec<Client>>>,
    _permit: OwnedSemaphorePermit,
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
        {
            self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(client);
        }
    }
}
