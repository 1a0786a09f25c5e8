//! The local process driver: tenants are app processes on loopback ports (the demo's `storefront`, or
//! any app with a serve and a maintenance command), their databases live on local PostgreSQL clusters.
//! It is the embedded default deployment target and the harness the demo and the end-to-end tests use.
//!
//! `supervisor` owns the processes, `metrics` reads `/metrics` and `/health`, `driver` implements the
//! runtime's [`ringfence_runtime::Driver`]. Decisions stay in the core: this crate only carries out
//! steps and reports what happened.

pub mod driver;
pub mod metrics;
pub mod supervisor;

use std::path::{Path, PathBuf};

pub use driver::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};

/// What went wrong carrying out a step locally.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A file or directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The error.
        source: std::io::Error,
    },
    /// An HTTP request to a tenant failed.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A started app never became healthy.
    #[error(
        "tenant {tenant}: {url} did not report healthy within {waited:?}; see its log under the work directory's apps/"
    )]
    Unhealthy {
        /// The tenant.
        tenant: String,
        /// The health URL.
        url: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// A started app exited.
    #[error(
        "tenant {tenant}: the app at version {version} exited ({status}); see its log under the work directory's apps/"
    )]
    AppDied {
        /// The tenant.
        tenant: String,
        /// The version.
        version: String,
        /// Its exit status.
        status: String,
    },
    /// The driver was asked about a tenant it does not know.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// The driver's configuration is unusable.
    #[error("{0}")]
    Config(String),
}

impl LocalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        LocalError::Io { path: path.to_owned(), source }
    }
}
