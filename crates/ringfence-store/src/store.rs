//! The [`Store`] trait: what the runtime needs from durable state, independent of the database behind it,
//! and the rules every implementation enforces (a step intent is recorded once, an outcome only after its
//! intent and only once). Implementations live in their own modules.

use jiff::Timestamp;
use serde_json::Value;

use crate::Result;
use crate::model::{NewRun, RunId, RunSummary, Snapshot, StepKey, StepOutcome, StepRecord, StoredEvent};

/// One change to a run's state, for [`Store::commit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<'a> {
    /// Append an event; it gets the next seq of the run.
    Event {
        /// The time given with the event.
        at: Timestamp,
        /// The event.
        event: &'a Value,
    },
    /// Record that a step is about to be carried out.
    Intent {
        /// Which step.
        step: &'a StepKey,
        /// When.
        at: Timestamp,
        /// What is about to be done.
        detail: &'a Value,
    },
    /// Record how a started step ended.
    Outcome {
        /// Which step.
        step: &'a StepKey,
        /// When.
        at: Timestamp,
        /// How it ended.
        outcome: &'a StepOutcome,
    },
    /// Replace the run's snapshot and status.
    Snapshot {
        /// When.
        at: Timestamp,
        /// A short status for people.
        status: &'a str,
        /// The engine state.
        state: &'a Value,
    },
}

/// Durable state of rollout runs. Every write is durable when it returns.
///
/// Rules every implementation enforces, whatever the caller does:
/// - a step intent is recorded at most once per [`StepKey`] ([`crate::StoreError::StepAlreadyStarted`]):
///   this is what stops a migration from being run twice;
/// - a new attempt of a step is refused while an earlier attempt of the same step for the same tenant
///   has no outcome ([`crate::StoreError::PreviousAttemptUnfinished`]): what a crash interrupted must be
///   looked at and its outcome recorded before retrying;
/// - an outcome needs an intent and is recorded at most once.
pub trait Store {
    /// Starts recording a new run, with status `created`.
    fn create_run(&mut self, run: &NewRun) -> Result<RunId>;

    /// All runs, most recently created first.
    fn runs(&self) -> Result<Vec<RunSummary>>;

    /// One run.
    fn run(&self, id: RunId) -> Result<RunSummary>;

    /// The most recently created run, if any.
    fn latest_run(&self) -> Result<Option<RunSummary>>;

    /// Applies `changes` in order, all or nothing, and returns the seq given to each `Event` change, in
    /// order. Use it to make an event, the intents it leads to and the new snapshot land together.
    fn commit(&mut self, run: RunId, changes: &[Change<'_>]) -> Result<Vec<u64>>;

    /// Appends one event and returns its seq (1-based per run).
    fn append_event(&mut self, run: RunId, at: Timestamp, event: &Value) -> Result<u64> {
        let seqs = self.commit(run, &[Change::Event { at, event }])?;
        Ok(seqs[0])
    }

    /// All events of a run, in seq order.
    fn events(&self, run: RunId) -> Result<Vec<StoredEvent>>;

    /// Records that `step` is about to be carried out. Call it before acting.
    fn record_intent(&mut self, run: RunId, step: &StepKey, at: Timestamp, detail: &Value) -> Result<()> {
        self.commit(run, &[Change::Intent { step, at, detail }]).map(drop)
    }

    /// Records how `step` ended. Call it after acting.
    fn record_outcome(&mut self, run: RunId, step: &StepKey, at: Timestamp, outcome: &StepOutcome) -> Result<()> {
        self.commit(run, &[Change::Outcome { step, at, outcome }]).map(drop)
    }

    /// One step's record, if its intent was recorded.
    fn step(&self, run: RunId, step: &StepKey) -> Result<Option<StepRecord>>;

    /// All steps of a run, in the order their intents were recorded.
    fn steps(&self, run: RunId) -> Result<Vec<StepRecord>>;

    /// Steps with an intent but no outcome: after a crash, what was interrupted.
    fn unfinished_steps(&self, run: RunId) -> Result<Vec<StepRecord>> {
        Ok(self.steps(run)?.into_iter().filter(|step| !step.is_finished()).collect())
    }

    /// Replaces the run's snapshot and sets its status.
    fn save_snapshot(&mut self, run: RunId, at: Timestamp, status: &str, state: &Value) -> Result<()> {
        self.commit(run, &[Change::Snapshot { at, status, state }]).map(drop)
    }

    /// The run's latest snapshot, if one was saved.
    fn snapshot(&self, run: RunId) -> Result<Option<Snapshot>>;
}
