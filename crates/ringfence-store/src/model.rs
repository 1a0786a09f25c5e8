//! The plain data a store takes and gives back. No behaviour lives here: the rules about what may be
//! recorded are in [`crate::Store`], and how rows are laid out is the SQLite module's business.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Identifies a rollout run; ids are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<i64> for RunId {
    fn from(id: i64) -> Self {
        RunId(id)
    }
}

impl FromStr for RunId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(RunId)
    }
}

/// What it takes to start recording a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    /// The release being rolled out.
    pub release_version: String,
    /// The release it replaces (what tenants run now).
    pub replaces: String,
    /// The rollout plan, as the engine serialises it.
    pub plan: Value,
    /// When the run was created.
    pub created_at: Timestamp,
}

/// A run as listed by `ringfence status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: RunId,
    /// The release being rolled out.
    pub release_version: String,
    /// The release it replaces (what tenants run now).
    pub replaces: String,
    /// The rollout plan given at creation.
    pub plan: Value,
    /// The status of the latest snapshot, or `created` before the first one.
    pub status: String,
    /// When the run was created.
    pub created_at: Timestamp,
    /// The time given with the latest change recorded for the run.
    pub updated_at: Timestamp,
}

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// 1-based position within the run.
    pub seq: u64,
    /// The time given with the event.
    pub at: Timestamp,
    /// The event, as the engine serialises it.
    pub event: Value,
}

/// Names one attempt of one step for one tenant, e.g. tenant `acme`, step `migrate`, attempt 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StepKey {
    /// The tenant the step acts on.
    pub tenant: String,
    /// The kind of step, e.g. `restore-point`, `migrate`, `switch`.
    pub step: String,
    /// 1 for the first try, counting up for retries.
    pub attempt: u32,
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.tenant, self.step, self.attempt)
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// Whether it did what it was meant to.
    pub succeeded: bool,
    /// What the runtime wants to keep about it (error, durations, restore point id…).
    pub detail: Value,
}

/// A step as recorded: its intent, and its outcome once there is one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Which step.
    pub key: StepKey,
    /// When the intent was recorded.
    pub started_at: Timestamp,
    /// What the runtime was about to do, recorded with the intent.
    pub detail: Value,
    /// When the outcome was recorded; `None` while the step has not finished.
    pub finished_at: Option<Timestamp>,
    /// The outcome; `None` while the step has not finished (or a crash interrupted it).
    pub outcome: Option<StepOutcome>,
}

impl StepRecord {
    /// Whether an outcome has been recorded.
    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }
}

/// The latest saved engine state of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The time given with the snapshot.
    pub at: Timestamp,
    /// A short status for people, e.g. `rolling out ring canary`.
    pub status: String,
    /// The engine state, as the engine serialises it.
    pub state: Value,
    /// The seq of the last event stored when the snapshot was saved (0 if none): events after it are not
    /// reflected in `state`.
    pub last_event_seq: u64,
}
