//! `ringfence simulate`: the deterministic simulator over a user's configuration (or generated
//! scenarios), with its checkers' verdict as the exit code.

use ringfence_sim::{Scenario, Summary, run_many};
use serde_json::json;

use crate::Exit;
use crate::cli::SimulateArgs;
use crate::config_cmd::load_or_report;
use crate::out::{errln, outln};

/// `ringfence simulate [DIR | --generated] --seed N --runs M`.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<Exit> {
    let started = std::time::Instant::now();
    // Fixed once, so a failing seed's replay command names the same start.
    let from = args.from.unwrap_or_else(jiff::Timestamp::now);
    let (summary, what) = match &args.dir {
        Some(dir) => {
            let loaded = match load_or_report(dir, args.json) {
                Ok(loaded) => loaded,
                Err(exit) => return Ok(exit),
            };
            if loaded.config.release.is_none() {
                errln!("{}: no Release document: add one (kind: Release) to simulate its rollout", dir.display());
                return Ok(Exit::Usage);
            }
            let config = loaded.config;
            let summary =
                run_many(args.seed, args.runs, |seed| Scenario::from_config(config.clone(), from, seed), None);
            (summary, format!("{} from {from}", dir.display()))
        }
        None => (run_many(args.seed, args.runs, Scenario::generate, None), "generated scenarios".to_owned()),
    };
    let elapsed = started.elapsed();
    if let Some((seed, why)) = summary.unrunnable.first() {
        errln!("seed {seed}: cannot simulate: {why}");
        return Ok(Exit::Usage);
    }
    let replay = |seed: u64| match &args.dir {
        Some(dir) => format!("ringfence simulate {} --seed {seed} --runs 1 --from {from}", dir.display()),
        None => format!("ringfence simulate --generated --seed {seed} --runs 1"),
    };
    if args.json {
        let failures: Vec<_> = summary
            .failures
            .iter()
            .map(|r| json!({ "seed": r.seed, "replay": replay(r.seed), "violations": r.violations }))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "runs": summary.runs,
                "first_seed": args.seed,
                "tenant_steps": summary.tenant_steps,
                "crashes": summary.crashes,
                "outcomes": summary.outcomes,
                "passed": summary.failures.is_empty(),
                "failures": failures,
                "seconds": elapsed.as_secs_f64(),
            }))
            .expect("json")
        )?;
    } else {
        print_summary(&summary, &what, elapsed)?;
        for r in &summary.failures {
            outln!("\nseed {} FAILED — replay: {}", r.seed, replay(r.seed))?;
            for v in &r.violations {
                outln!("  {v}")?;
            }
        }
    }
    Ok(if summary.failures.is_empty() { Exit::Success } else { Exit::Failed })
}

fn print_summary(summary: &Summary, what: &str, elapsed: std::time::Duration) -> anyhow::Result<()> {
    let outcomes: Vec<String> = summary.outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
    outln!(
        "{} runs of {what}: {}; {} tenant steps, {} controller crashes, {:.1} s",
        summary.runs,
        outcomes.join(", "),
        summary.tenant_steps,
        summary.crashes,
        elapsed.as_secs_f64()
    )?;
    if summary.failures.is_empty() {
        outln!("every checker passed on every run")?;
    }
    Ok(())
}
