//! The runtime around the pure engine: it feeds the engine events, carries out the actions it decides
//! through a [`Driver`], and makes every step durable so that a crash of the controller loses nothing
//! and repeats nothing.
//!
//! Ordering rules (what crash safety rests on):
//! - every event is appended to the store before the engine sees it, so replaying the stored events
//!   rebuilds the engine exactly;
//! - a step's intent is recorded before the driver is asked to start it, and its outcome is recorded
//!   before the engine hears of it;
//! - after all actions of an event are carried out, a snapshot marks that event applied; on resume, the
//!   actions of an event not marked applied are carried out again, skipping those already done (an
//!   audit record carries a `ref` naming the event and action; a step has its intent).
//!
//! After a crash, a step with an intent but no outcome is never simply re-run: the driver is asked to
//! [`Driver::reconcile`] it from the tenant's actual state.
//!
//! This crate knows nothing of PostgreSQL, processes or HTTP: drivers do.

mod driver;
mod runner;
pub mod simulate;

pub use driver::{Driver, DriverError, Reconciled};
pub use runner::{Gatekeeper, ResumeReport, Runner, RuntimeError, recorded_driver_settings, status_of};
