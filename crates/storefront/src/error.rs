//! The library's one error type.
//!
//! Every fallible function of the crate returns [`StorefrontError`]. HTTP handlers turn it into a
//! status code and a JSON body (`crate::app`); the binary turns it into an exit code (`main.rs`).
//! Variants name what failed and on what, and errors a caller can cause say what to do.

use crate::version::CodeVersion;

/// Everything that can go wrong in the storefront library.
#[derive(Debug, thiserror::Error)]
pub enum StorefrontError {
    /// The database URL or connection string does not parse.
    #[error(
        "invalid database URL: {0} (expected e.g. postgres://postgres@127.0.0.1:5432/shop or host=/tmp port=5432 dbname=shop)"
    )]
    DatabaseUrl(#[source] tokio_postgres::Error),

    /// A connection to the tenant database could not be opened or was lost.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] tokio_postgres::Error),

    /// A statement failed; `context` says which step of which operation.
    #[error("{context}: {source}")]
    Db {
        /// What was being done, e.g. "checkout: decrement stock".
        context: String,
        /// The PostgreSQL error.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A version string is not one of v1..v4.
    #[error("unknown version {0:?}: expected one of v1, v2, v3, v4")]
    UnknownVersion(String),

    /// The database has no storefront schema yet.
    #[error("the database has no storefront schema: run `storefront migrate --database-url URL --to v1` first")]
    NotMigrated,

    /// This code version cannot run on the database's schema version.
    #[error(
        "code {code} cannot run on schema {schema}: it needs schema {needs}; \
         run `storefront migrate --to {code}` (or start a code version that supports schema {schema})"
    )]
    IncompatibleSchema {
        /// The code version asked to serve.
        code: CodeVersion,
        /// The schema version found in the database.
        schema: i32,
        /// The schema versions this code supports, for the message.
        needs: String,
    },

    /// `pg_try_advisory_lock` was not granted: another `storefront migrate` holds it.
    #[error("another migration is running on this database (advisory lock {key} is held); wait for it to finish")]
    MigrationLocked {
        /// The advisory lock key.
        key: i64,
    },

    /// A migration step failed after earlier steps committed; the database is half-migrated.
    #[error("migration to {to} failed at schema step {step}: {detail}")]
    MigrationFailed {
        /// The target code version.
        to: CodeVersion,
        /// The schema step that failed.
        step: i32,
        /// What failed, like Odoo's message for the module that died.
        detail: String,
    },

    /// The tenant is in maintenance mode: writes are refused until it is switched off.
    #[error("maintenance")]
    Maintenance,

    /// A product, cart or order does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up, e.g. "product SKU-000001".
        what: String,
    },

    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),

    /// The request conflicts with the current state (insufficient stock, cart already checked out).
    #[error("{0}")]
    Conflict(String),

    /// The payment provider did not answer in time (the bad release v3 injects this).
    #[error("payment provider timeout")]
    PaymentTimeout,

    /// Building the HTTP client, binding a socket or another local I/O step failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StorefrontError {
    /// Wraps a PostgreSQL error with the step it happened in; a lost connection becomes `Unavailable`.
    pub fn db(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Self {
        let context = context.into();
        move |source| {
            if source.is_closed() || source.as_db_error().is_none() && source.code().is_none() {
                // No SQLSTATE: the server never answered (socket closed, connect refused).
                StorefrontError::Unavailable(source)
            } else {
                StorefrontError::Db { context, source }
            }
        }
    }
}
