//! Simulation throughput: tenant steps per second on one core, over generated scenarios.
//!
//! `cargo bench -p ringfence-sim --bench simulate [-- RUNS]` (default 2,000 runs). The target is at
//! least 100,000 tenant steps per second; the figure includes planning, compiling each scenario's
//! calendar, the checkers, and the replays after simulated crashes.

use std::time::Instant;

use ringfence_sim::{Scenario, run_many};

fn main() {
    let runs: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2_000);
    let started = Instant::now();
    let summary = run_many(0, runs, Scenario::generate, None);
    let elapsed = started.elapsed().as_secs_f64();
    let rate = summary.tenant_steps as f64 / elapsed;
    println!(
        "{} runs, {} tenant steps, {} crashes in {:.2} s: {:.0} tenant steps/s, {:.0} runs/s; outcomes {:?}",
        summary.runs,
        summary.tenant_steps,
        summary.crashes,
        elapsed,
        rate,
        summary.runs as f64 / elapsed,
        summary.outcomes
    );
    if !summary.failures.is_empty() || !summary.unrunnable.is_empty() {
        eprintln!("checker failures: {:?}; unrunnable: {:?}", summary.failures.first(), summary.unrunnable.first());
        std::process::exit(1);
    }
}
