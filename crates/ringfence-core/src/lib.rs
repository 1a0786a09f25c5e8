//! Ringfence's functional core: the domain model (fleet, policy, release), the planner that orders
//! tenants into rings and batches, and the rollout state machine.
//!
//! Nothing here performs I/O, reads the clock or draws randomness: time arrives as a `now` argument and
//! the outside world arrives as [`engine::Event`]s; decisions leave as [`engine::Action`]s that adapters
//! carry out. That is what makes the core replayable and testable under simulation.

pub mod calendar;
pub mod duration;
pub mod engine;
pub mod fixtures;
pub mod governance;
pub mod judge;
pub mod model;
pub mod plan;
pub mod schedule;

pub use duration::Duration;
pub use model::{
    BatchSize, Cluster, Config, Connection, Fleet, LocalTarget, Policy, Pool, PoolKind, Release, Ring, SecretRef,
    Selector, Sli, Tenant, TenantId, TenantTier,
};
