//! PostgreSQL adapters for Ringfence.
//!
//! This crate is where Ringfence touches PostgreSQL as a program on this machine: [`binaries`]
//! finds the PostgreSQL programs, [`target`] says how to reach a tenant's cluster and starts client
//! programs against it, [`restore`] takes verified restore points (`pg_dump`) and restores from
//! them, [`guard`] holds the guardrails of a real migration (preflight, timeouts, retry budget,
//! one migration per database, watchdog), [`trace`] samples a database's locks while a migration
//! runs, [`clone`] makes the always-dropped copies a migration is rehearsed on, [`probe`] times
//! light reads and writes on such a copy, [`rehearse`] runs a migration on a clone under the tracer
//! and probes and predicts the blocking production would see, and [`ephemeral`] starts throwaway
//! clusters for integration tests and `ringfence demo`.
//! It knows nothing about tenants, rings or rollouts; the core hands it work through the runtime.
//! There is no client library: `psql` runs the SQL, one program per call or, for sessions that
//! must live on (a lock holder, a sampler), one long-lived `psql` fed statement by statement.

pub mod binaries;
pub mod clone;
pub mod ephemeral;
mod error;
pub mod guard;
pub mod probe;
mod process;
mod quote;
pub mod rehearse;
pub mod restore;
pub mod target;
pub mod trace;

pub use binaries::PgBinaries;
pub use clone::{
    CloneInfo, CloneKind, CloneMarker, CloneMethod, CloneOptions, DatabaseClone, RestoreDrill, StaleClone,
    drop_stale_clones, list_clones,
};
pub use ephemeral::{EphemeralCluster, StartOptions};
pub use error::PgError;
pub use guard::{
    AttemptOutcome, BlockingSession, MigrationLock, MigrationTimeouts, PreflightLimits, PreflightReport, RetryBudget,
    RetryDecision, Watchdog, WatchdogPolicy, WatchdogReport, is_lock_timeout, migration_application_name, preflight,
};
pub use probe::{ProbeOptions, ProbeReport, Probes};
pub use rehearse::{MigrationCommand, RehearsalOptions, RehearsalReport, rehearse};
pub use restore::{
    DatabaseProperties, RestoreFailureState, RestorePoint, RestoreReport, RestoreStage, database_exists, database_size,
    pg_lsn, restore, take_restore_point, verify_restore_point,
};
pub use target::{PgTarget, Secret};
pub use trace::{LockMode, Trace, TraceOptions, Tracer};
