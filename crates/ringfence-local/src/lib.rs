//! The local process driver: tenants are app processes on loopback ports (the demo's `storefront`, or
//! any app with a serve and a maintenance command), their databases live on local PostgreSQL clusters.
//! It is the embedded default deployment target and the harness the demo and the end-to-end tests use.
//!
//! `supervisor` owns the processes, `metrics` reads `/metrics` and `/health`, `driver` implements the
//! runtime's [`ringfence_runtime::Driver`]. Decisions stay in the core: this crate only carries out
//! steps and reports what happened.

mod compare;
pub mod driver;
pub mod metrics;
pub mod supervisor;

use std::path::{Path, PathBuf};

pub use driver::{AppCommands, LocalDriver, LocalFleet, LocalRelease, LocalTenant};

/// `n` distinct loopback ports that are free now, for tenants' apps. They are taken below the kernel's
/// ephemeral range (32768 and up on Linux), where outgoing connections — shoppers, scrapers — get their
/// local ports: an app restarted during a switch must find its port free. The search starts at a
/// point derived from the process id so that parallel runs rarely probe the same ports.
pub fn free_ports(n: usize) -> Result<Vec<u16>, LocalError> {
    const LOW: u32 = 20_000;
    const HIGH: u32 = 32_000;
    // Where the next call starts looking: spread by process id across processes, and moved past the
    // ports already handed out within this one, so two callers in one process (tests on threads)
    // never get the same port before either has bound it.
    static CURSOR: std::sync::Mutex<Option<u32>> = std::sync::Mutex::new(None);
    let span = HIGH - LOW;
    let mut cursor = CURSOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let start = *cursor.get_or_insert_with(|| std::process::id().wrapping_mul(7919) % span);
    let mut ports = Vec::with_capacity(n);
    let mut next = start;
    for k in 0..span {
        if ports.len() == n {
            break;
        }
        let port = (LOW + (start + k) % span) as u16;
        next = (start + k + 1) % span;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    *cursor = Some(next);
    if ports.len() < n {
        return Err(LocalError::Config(format!("only {} free loopback ports between {LOW} and {HIGH}", ports.len())));
    }
    Ok(ports)
}

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
