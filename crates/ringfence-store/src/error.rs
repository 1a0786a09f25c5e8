//! The one error type of the store crate. Errors a caller can cause (an unknown run, a step started
//! twice) say what to do; database failures name the database file.

use std::path::PathBuf;

use crate::model::{RunId, StepKey};

/// What went wrong while reading or writing rollout state.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The directory meant to hold the database could not be created.
    #[error("cannot create directory {path} for the state database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What the operating system reported.
        source: std::io::Error,
    },

    /// SQLite failed on the database.
    #[error("state database {path}: {source}")]
    Sqlite {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },

    /// A stored value (timestamp, JSON) cannot be read back.
    #[error(
        "state database {path} holds a value ringfence cannot read ({source}); it was changed outside \
         ringfence — restore it from a backup or start a new run"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which value, and why it cannot be read.
        source: rusqlite::Error,
    },

    /// The database was written by a newer ringfence.
    #[error(
        "state database {path} has schema version {found}, but this ringfence understands up to version \
         {supported}; use the newer ringfence that wrote it (databases are never migrated backwards)"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },

    /// No run has this id.
    #[error("there is no rollout run {0} in the state database; `ringfence status` lists the runs")]
    UnknownRun(RunId),

    /// The step's intent was already recorded: starting it again could run it twice.
    #[error(
        "run {run}: step {key} was already started and must not run twice; check its recorded outcome, or \
         reconcile it if none was recorded, and retry as a new attempt"
    )]
    StepAlreadyStarted {
        /// The run.
        run: RunId,
        /// The step.
        key: StepKey,
    },

    /// A retry was recorded while an earlier attempt of the same step has no outcome.
    #[error(
        "run {run}: cannot start {key} while attempt {unfinished} of the same step has no recorded outcome; \
         find out what became of that attempt and record its outcome first"
    )]
    PreviousAttemptUnfinished {
        /// The run.
        run: RunId,
        /// The step being started.
        key: StepKey,
        /// The attempt without an outcome.
        unfinished: u32,
    },

    /// An outcome was given for a step whose intent was never recorded.
    #[error(
        "run {run}: step {key} has no recorded intent, so its outcome cannot be recorded; record the intent before acting"
    )]
    NoSuchStep {
        /// The run.
        run: RunId,
        /// The step.
        key: StepKey,
    },

    /// The step already has an outcome.
    #[error("run {run}: step {key} already has a recorded outcome; an outcome is recorded once")]
    OutcomeAlreadyRecorded {
        /// The run.
        run: RunId,
        /// The step.
        key: StepKey,
    },
}
