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
pub mod version;

pub use error::StorefrontError;
pub use version::CodeVersion;
