//! A deterministic fleet simulator, on the model of TigerBeetle's VOPR: the real planner and rollout
//! engine run against a simulated fleet with a simulated clock and seeded faults — failing and slow
//! migrations, failing health checks and rollbacks, releases that are bad for some tenants, late
//! observations, controller crashes mid-event and restarts after downtimes that jump the clock across
//! daylight-saving changes — while checkers assert the system's invariants on every run.
//!
//! One seed fixes everything a run does, so a failing run prints its seed and replays exactly.
//! Nothing here reads the clock or draws unseeded randomness; the only thing read from the machine is
//! the tz database, to place windows and freezes in their time zones.

mod check;
mod scenario;
mod sim;

pub use check::Violation;
pub use scenario::{Faults, Scenario};
pub use sim::{Bug, Report, Simulation, Unrunnable, run};

/// The result of many runs from consecutive seeds.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Runs carried out.
    pub runs: u64,
    /// Tenant steps over all runs.
    pub tenant_steps: u64,
    /// Runs by outcome (`completed`, `rolled-back`, `halted`).
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// Controller crashes over all runs.
    pub crashes: u64,
    /// The first failing runs (at most ten), with what the checkers found.
    pub failures: Vec<Report>,
    /// Scenarios that could not run, with why (a user's configuration that does not plan, say).
    pub unrunnable: Vec<(u64, String)>,
}

/// Runs `runs` scenarios from seed `first` on, each built by `scenario`, keeping the first failures.
pub fn run_many(first: u64, runs: u64, scenario: impl Fn(u64) -> Scenario, bug: Option<Bug>) -> Summary {
    let mut summary = Summary::default();
    let mut cache = ringfence_core::governance::WindowCache::default();
    for seed in first..first.saturating_add(runs) {
        match Simulation::with_cache(&scenario(seed), bug, &mut cache).map(Simulation::run) {
            Ok(report) => {
                summary.runs += 1;
                summary.tenant_steps += report.tenant_steps;
                summary.crashes += u64::from(report.crashes);
                let outcome = report.outcome.map(|o| o.as_str()).unwrap_or("paused");
                *summary.outcomes.entry(outcome.to_owned()).or_default() += 1;
                if !report.violations.is_empty() && summary.failures.len() < 10 {
                    summary.failures.push(report);
                }
            }
            Err(e) => summary.unrunnable.push((seed, e.0)),
        }
    }
    summary
}
