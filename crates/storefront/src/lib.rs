//! Storefront: a small retail shop service that stands in for Odoo in Ringfence's demo and tests.
//!
//! One process serves one tenant over HTTP on loopback (`app`), with its data in the tenant's
//! PostgreSQL database; schema versions are applied by a separate command (`migrate`, the analogue
//! of `odoo -u`), and a switch in the database (`maintenance`) makes writes wait while the
//! controller migrates or restores. Four code versions (`version`) give the controller a good
//! release, a bad one and one whose migration fails. `shopper` generates the traffic the controller
//! observes. This crate knows nothing about rings, rollouts or the controller's state; the
//! controller drives it as a black box: processes, SQL and HTTP.

pub mod app;
pub mod db;
mod error;
pub mod maintenance;
pub mod metrics;
pub mod migrate;
pub mod seed;
pub mod shopper;
#[cfg(feature = "testing")]
pub mod testing;
pub mod version;

/// Command templates that run `bin` (the storefront binary) the way a controller drives a tenant,
/// with the placeholders Ringfence fills per tenant: `(serve, maintenance, migrate)`.
pub fn command_templates(bin: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let cmd = |args: &[&str]| std::iter::once(bin.to_owned()).chain(args.iter().map(|s| s.to_string())).collect();
    (
        cmd(&[
            "serve",
            "--database-url",
            "{database_url}",
            "--listen",
            "127.0.0.1:{app_port}",
            "--code-version",
            "{version}",
            "--tenant",
            "{tenant}",
            "--pool-size",
            "2",
        ]),
        cmd(&["maintenance", "--database-url", "{database_url}", "{state}"]),
        cmd(&["migrate", "--database-url", "{database_url}", "--to", "{version}"]),
    )
}

pub use error::StorefrontError;
pub use version::CodeVersion;
