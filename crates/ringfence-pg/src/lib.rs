//! PostgreSQL adapters for Ringfence.
//!
//! This crate is where Ringfence touches PostgreSQL as a program on this machine: [`binaries`]
//! finds the PostgreSQL programs, [`target`] says how to reach a tenant's cluster and starts client
//! programs against it, [`restore`] takes verified restore points (`pg_dump`) and restores from
//! them, and [`ephemeral`] starts throwaway clusters for integration tests and `ringfence demo`.
//! It knows nothing about tenants, rings or rollouts; the core hands it work through the runtime.
//! A real client library (queries, lock tracing) arrives later; until then `psql` runs the SQL.

pub mod binaries;
pub mod ephemeral;
mod error;
mod process;
mod quote;
pub mod restore;
pub mod target;

pub use binaries::PgBinaries;
pub use ephemeral::{EphemeralCluster, StartOptions};
pub use error::PgError;
pub use restore::{
    DatabaseProperties, RestoreFailureState, RestorePoint, RestoreReport, RestoreStage, database_exists, database_size,
    pg_lsn, restore, take_restore_point, verify_restore_point,
};
pub use target::{PgTarget, Secret};
