//! Which exit status an error ends a command with, decided by the error's type, not its message:
//! a usage or configuration error exits 2, a closed standard output 141, and everything else — a
//! database, process, file or network the command needed failed — 3.
//!
//! Configuration errors the library crates report with their own types (a plan, a calendar, a gate
//! policy that cannot be built) are recognised here; command code marks the usage errors it finds
//! itself with [`usage!`] or [`UsageResult::or_usage`].

use std::fmt;

use ringfence_core::calendar::{BreakGlassError, CalendarError};
use ringfence_core::governance::GovernanceError;
use ringfence_core::plan::PlanError;
use ringfence_core::schedule::Unschedulable;
use ringfence_store::StoreError;

use crate::Exit;
use crate::out::ClosedOutput;

/// A command was called wrongly or its configuration cannot work: exit 2. Displays as the error it
/// wraps, with that error's causes.
#[derive(Debug)]
pub struct UsageError(anyhow::Error);

impl UsageError {
    /// Marks `error` as a usage or configuration error.
    pub fn new(error: impl Into<anyhow::Error>) -> Self {
        UsageError(error.into())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Returns early with a [`UsageError`] made like `anyhow::bail!`'s.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err($crate::failure::UsageError::new(anyhow::anyhow!($($arg)*)).into())
    };
}

pub(crate) use usage;

/// Marks a result's error as a usage or configuration error.
pub trait UsageResult<T> {
    /// The result, its error a [`UsageError`].
    fn or_usage(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> UsageResult<T> for Result<T, E> {
    fn or_usage(self) -> anyhow::Result<T> {
        self.map_err(|e| UsageError::new(e).into())
    }
}

/// The exit status a command that failed with `error` ends with.
pub fn exit_for(error: &anyhow::Error) -> Exit {
    if error.chain().any(|e| e.is::<ClosedOutput>()) {
        return Exit::ClosedPipe;
    }
    let usage = |e: &(dyn std::error::Error + 'static)| {
        e.is::<UsageError>()
            || e.is::<PlanError>()
            || e.is::<GovernanceError>()
            || e.is::<CalendarError>()
            || e.is::<BreakGlassError>()
            || e.is::<Unschedulable>()
            || matches!(e.downcast_ref::<StoreError>(), Some(StoreError::UnknownRun(_)))
    };
    if error.chain().any(usage) { Exit::Usage } else { Exit::Environment }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn errors_exit_by_their_type_wherever_they_are_in_the_chain() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        assert_eq!(exit_for(&anyhow::Error::new(io()).context("cluster pg")), Exit::Environment);
        let marked: anyhow::Result<()> = Err(io()).or_usage();
        assert_eq!(exit_for(&marked.context("--config").unwrap_err()), Exit::Usage);
        let plan = PlanError::TenantInNoRing { tenant: ringfence_core::model::TenantId("a".into()) };
        assert_eq!(exit_for(&anyhow::Error::new(plan).context("cannot plan the rollout")), Exit::Usage);
        assert_eq!(exit_for(&anyhow::Error::new(ClosedOutput).context("printing")), Exit::ClosedPipe);
        let f = || -> anyhow::Result<()> { usage!("--modules goes with --strategy explicit") };
        let e = f().unwrap_err();
        assert_eq!((exit_for(&e), format!("{e:#}").as_str()), (Exit::Usage, "--modules goes with --strategy explicit"));
    }
}
