//! PostgreSQL adapters for Ringfence.
//!
//! This crate is where Ringfence touches PostgreSQL as a program on this machine. Today that is
//! [`ephemeral`]: throwaway clusters for integration tests and `ringfence demo`, and [`binaries`]:
//! finding the PostgreSQL programs. It knows nothing about tenants, rings or rollouts; the core hands
//! it work through the runtime. A real client library (queries, lock tracing) arrives later; until
//! then [`EphemeralCluster::psql`] is the way to run SQL.

pub mod binaries;
pub mod ephemeral;
mod error;

pub use binaries::PgBinaries;
pub use ephemeral::{EphemeralCluster, StartOptions};
pub use error::PgError;
