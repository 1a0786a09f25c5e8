//! Ringfence's durable rollout state: the [`Store`] trait the runtime writes through, and
//! [`SqliteStore`], its embedded default.
//!
//! A store keeps, per rollout run: every event fed to the engine in order (so the engine can be rebuilt
//! by replaying them), each tenant step's intent before it is acted on and its outcome after (so that
//! after a crash the runtime knows which step last started and whether it finished, and a step is never
//! started twice), and a snapshot of the engine state with a short status for `ringfence status`.
//!
//! It knows nothing about the engine's types: events, plans, step details and snapshots are
//! `serde_json::Value`s, steps are named by strings. It decides nothing either — which step to run next is
//! the engine's business; the store only refuses to record what would break its invariants.

mod error;
mod model;
mod schema;
mod sqlite;
mod store;

pub use error::StoreError;
pub use model::{NewRun, RunId, RunSummary, Snapshot, StepKey, StepOutcome, StepRecord, StoredEvent};
pub use schema::SCHEMA_VERSION;
pub use sqlite::SqliteStore;
pub use store::{Change, Store};

/// Result type of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
