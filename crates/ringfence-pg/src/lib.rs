//! PostgreSQL adapters for Ringfence.
//!
//! This crate is where Ringfence touches PostgreSQL as a program on this machine: [`binaries`]
//! finds the PostgreSQL programs, [`target`] says how to reach a tenant's cluster and starts client
//! programs against it, [`restore`] takes verified restore points (`pg_dump`) and restores from
//! them, [`guard`] holds the guardrails of a real migration (preflight, timeouts, retry budget,
//! one migration per database, watchdog), [`trace`] samples a database's locks while a migration
//! runs, and [`ephemeral`] starts throwaway clusters for integration tests and `ringfence demo`.
//! It knows nothing about tenants, rings or rollouts; the core hands it work through the runtime.
//! There is no client library: `psql` runs the SQL, one program per call or, for sessions that
//! must live on (a lock holder, a sampler), one long-lived `psql` fed statement by statement.

pub mod binaries;
pub mod ephemeral;
mod error;
pub mod guard;
mod process;
mod quote;
pub mod restore;
pub mod target;
pub mod trace;

pub use binaries::PgBinaries;
pub use ephemeral::{EphemeralCluster, StartOptions};
pub use error::PgError;
pub use guard::{
    AttemptOutcome, BlockingSession, MigrationLock, MigrationTimeouts, PreflightLimits, PreflightReport, RetryBudget,
    RetryDecision, Watchdog, WatchdogPolicy, WatchdogReport, is_lock_timeout, migration_application_name, preflight,
};
pub use restore::{
    DatabaseProperties, RestoreFailureState, RestorePoint, RestoreReport, RestoreStage, database_exists, database_size,
    pg_lsn, restore, take_restore_point, verify_restore_point,
};
pub use target::{PgTarget, Secret};
pub use trace::{LockMode, Trace, TraceOptions, Tracer};
