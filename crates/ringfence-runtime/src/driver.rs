//! The interface between the runtime and the world: a driver carries out steps on tenants and reports
//! what happened. One driver per deployment target (simulation, local processes, Kubernetes, …).

use jiff::Timestamp;
use ringfence_core::engine::{Action, Event};
use ringfence_core::model::TenantId;

/// A driver failed to talk to the world (not a step failure: those are [`Event::StepFailed`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DriverError(pub String);

/// What reconciling an interrupted step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Reconciled {
    /// It finished while the controller was down; here is its result.
    Finished(Event),
    /// It is still going; its result will come through [`Driver::wait`].
    Running,
    /// It never started (the controller died between recording the intent and starting it); the
    /// runtime starts it now.
    NotStarted,
}

/// Carries out the engine's actions on real (or simulated) tenants.
pub trait Driver {
    /// The current time. Real drivers read the clock; the simulator keeps a virtual one.
    fn now(&self) -> Timestamp;

    /// Begins a step action (restore point, migration, switch, health check, rollback). Must not block
    /// until the step ends: its result comes back through [`Driver::wait`]. A step may be started at most
    /// once per [`ringfence_core::engine::StepId`]; the runtime guarantees it.
    fn start_step(&mut self, action: &Action) -> Result<(), DriverError>;

    /// Begins judging a tenant's SLIs until `until`; verdicts come back through [`Driver::wait`].
    fn start_observation(&mut self, tenant: &TenantId, until: Timestamp) -> Result<(), DriverError>;

    /// Stops judging a tenant.
    fn stop_observation(&mut self, tenant: &TenantId) -> Result<(), DriverError>;

    /// Waits until something happens or `wake` passes, and returns what happened (empty when it was
    /// only time passing). The runtime calls it only while a step or observation is in flight or a
    /// wake is due; a driver that knows of nothing to wait for must say so with an error rather than
    /// return empty, or the runtime would spin.
    fn wait(&mut self, wake: Option<Timestamp>) -> Result<Vec<Event>, DriverError>;

    /// After a crash, finds out from the tenant's actual state what became of a step whose intent was
    /// recorded but whose outcome was not. Must never blindly re-run a database-changing step.
    fn reconcile(&mut self, action: &Action) -> Result<Reconciled, DriverError>;
}
