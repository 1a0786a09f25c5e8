//! The simulator's acceptance: thousands of seeded scenarios pass every checker, planted bugs are
//! caught, and a failing seed replays the same failure.

use ringfence_sim::{Bug, Scenario, run, run_many};

/// How many scenarios the main test runs: 10,000 in CI; `RINGFENCE_SIM_RUNS` changes it locally.
fn runs() -> u64 {
    std::env::var("RINGFENCE_SIM_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

#[test]
fn every_checker_passes_on_ten_thousand_seeded_scenarios() {
    let runs = runs();
    let summary = run_many(0, runs, Scenario::generate, None);
    assert!(summary.unrunnable.is_empty(), "scenarios that did not run: {:?}", summary.unrunnable);
    if let Some(failure) = summary.failures.first() {
        panic!(
            "seed {} broke an invariant (replay: cargo run -p ringfence -- simulate --generated --seed {} --runs 1):\n{}",
            failure.seed,
            failure.seed,
            failure.violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        );
    }
    assert_eq!(summary.runs, runs);
    // The scenarios must exercise what the checkers guard, or passing says little.
    let completed = summary.outcomes.get("completed").copied().unwrap_or(0);
    let halted = summary.outcomes.get("halted").copied().unwrap_or(0)
        + summary.outcomes.get("rolled-back").copied().unwrap_or(0);
    assert!(completed > runs / 4, "too few releases complete: {:?}", summary.outcomes);
    assert!(halted > runs / 20, "too few releases halt: {:?}", summary.outcomes);
    assert!(summary.crashes > runs / 2, "too few controller crashes: {}", summary.crashes);
}

/// Plants `bug`, expects some seed among the first thousand to break `checker`, and replays that
/// seed to the same violations.
fn caught_and_replayed(bug: Bug, checker: &str) {
    let summary = run_many(0, 1_000, Scenario::generate, Some(bug));
    let failure = summary
        .failures
        .iter()
        .find(|r| r.violations.iter().any(|v| v.checker == checker))
        .unwrap_or_else(|| panic!("{bug:?} went unnoticed by the {checker} checker in 1,000 runs"));
    let again = run(&Scenario::generate(failure.seed), Some(bug)).expect("the scenario runs");
    assert_eq!(again.violations, failure.violations, "seed {} did not replay exactly", failure.seed);
    assert_eq!(again.tenant_steps, failure.tenant_steps);
    // And without the bug, the same seed is clean: the checker blamed the bug, not the scenario.
    let clean = run(&Scenario::generate(failure.seed), None).expect("the scenario runs");
    assert!(clean.violations.is_empty(), "seed {} fails without the bug: {:?}", failure.seed, clean.violations);
}

#[test]
fn an_engine_that_ignores_the_calendar_is_caught() {
    caught_and_replayed(Bug::IgnoreCalendar, "window");
    caught_and_replayed(Bug::IgnoreCalendar, "freeze");
}

#[test]
fn an_engine_that_ignores_pacing_limits_is_caught() {
    caught_and_replayed(Bug::IgnoreLimits, "limits");
}

#[test]
fn a_migration_run_again_after_a_crash_is_caught() {
    caught_and_replayed(Bug::RerunMigrationAfterCrash, "migrate-once");
}

#[test]
fn a_fault_free_release_completes_with_every_tenant_done() {
    let mut clean = 0;
    for seed in 0..200 {
        let mut scenario = Scenario::generate(seed);
        scenario.faults = ringfence_sim::Faults::none();
        let report = run(&scenario, None).expect("the scenario runs");
        assert!(report.violations.is_empty(), "seed {seed}: {:?}", report.violations);
        if report.outcome == Some(ringfence_core::engine::Outcome::Completed) {
            clean += 1;
        }
    }
    // The few that pause are tenants whose windows never fit outside the freezes drawn for them.
    assert!(clean >= 190, "only {clean} of 200 fault-free releases completed");
}
