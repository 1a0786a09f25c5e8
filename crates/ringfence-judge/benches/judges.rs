//! Benchmark of the release judges on synthetic tenant traffic (issue 8):
//!
//! `cargo bench -p ringfence-judge --bench judges [-- --quick] [--seed N] [--threads N] [--aa RUNS]
//! [--runs RUNS] [--treated 1|3|6]` — the full run exits 1 when a target is missed; `--quick` (CI
//! smoke) only reports, its samples being too small to hold targets to.
//!
//! Twelve tenants of different sizes (5–150 requests/s on average over a day, daily traffic shape),
//! each with its own error rate around 0.5%, latency level and checkout completion around 70%, and a
//! 24-hour pre-release baseline. The release switches the first 1, 3 or 6 tenants and is watched for
//! 3 hours with a look every minute. Errors are over-dispersed (gamma-Poisson per tenant-minute), latency
//! is a heavy-tailed mixture of two log-normals in 65 exponential buckets (factor 2^¼, like Prometheus
//! native histograms of schema 2), and load raises error rates and latency for every tenant alike (what
//! the controls cancel). Regressions hit the treated tenants from the switch.
//!
//! For each judge: the A/A false-alarm rate, and per regression the median and p90 detection delay
//! (misses counted at the 180-minute horizon), the share detected and the median treated requests
//! served before the halt. The threshold judge's limits are tuned on the A/A runs so that its false-alarm
//! rate matches the sequential judge's. Then a timing of the sequential judge on 12 SLIs × 1,000
//! tenants per look. Every run is seeded from (seed, design, scenario, run): results do not depend on
//! the number of threads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma, Normal, Poisson};
use ringfence_judge::mann_whitney::Schedule;
use ringfence_judge::stats::normal_cdf;
use ringfence_judge::threshold::ThresholdOptions;
use ringfence_judge::{
    Arm, Harm, Histogram, Judge, JudgeConfig, Look, MannWhitneyJudge, Measure, Sample, SequentialJudge,
    SliObservations, SliSpec, TenantObservation, ThresholdJudge, Verdict,
};

const LOOKS: usize = 180;
/// Average requests/s over a day; the first tenants are the treated ones.
const SIZES: [f64; 12] = [20.0, 8.0, 35.0, 12.0, 60.0, 5.0, 25.0, 15.0, 90.0, 10.0, 40.0, 150.0];
const BASE_ERROR_RATE: f64 = 0.005;
/// Gamma shape of the per-tenant-minute error-rate multiplier: variance μ + μ²/k per minute.
const ERROR_DISPERSION_SHAPE: f64 = 10.0;
const CHECKOUT_SHARE: f64 = 0.02;
const COMPLETION: f64 = 0.7;
const FAST_MEDIAN: f64 = 0.12;
const FAST_SIGMA: f64 = 0.45;
const SLOW_WEIGHT: f64 = 0.08;
const SLOW_MEDIAN: f64 = 0.6;
const SLOW_SIGMA: f64 = 0.6;
const ALPHA: f64 = 0.05;
const JUDGES: [&str; 4] = ["sequential", "threshold", "mann-whitney", "mann-whitney-peeked"];
const THRESHOLD_CONSECUTIVE: u32 = 3;

#[derive(Clone, Copy, Debug)]
enum Regression {
    None,
    Errors(f64),
    Latency(f64),
    /// Multiplier of the slow mode's latency (chosen so that p95 rises by the named amount).
    SlowTail(f64),
    Completion(f64),
}

struct Scenario {
    name: String,
    regression: Regression,
}

fn slis(limits: Option<&[Option<f64>]>) -> Vec<SliSpec> {
    let limit = |i: usize| limits.and_then(|l| l[i]);
    vec![
        SliSpec {
            name: "http-error-rate".into(),
            measure: Measure::Ratio,
            harm: Harm::Increase,
            effect: 0.2,
            limit: limit(0),
        },
        SliSpec {
            name: "latency-p50".into(),
            measure: Measure::Quantile { q: 0.5 },
            harm: Harm::Increase,
            effect: 0.1,
            limit: limit(1),
        },
        SliSpec {
            name: "latency-p95".into(),
            measure: Measure::Quantile { q: 0.95 },
            harm: Harm::Increase,
            effect: 0.2,
            limit: limit(2),
        },
        SliSpec {
            name: "checkout-completion".into(),
            measure: Measure::Ratio,
            harm: Harm::Decrease,
            effect: 0.02,
            limit: limit(3),
        },
    ]
}

fn bounds() -> Arc<[f64]> {
    let mut b: Vec<f64> = (0..64).map(|i| 0.001 * 2f64.powf(i as f64 / 4.0)).collect();
    b.push(f64::INFINITY);
    Arc::from(b)
}

/// Daily traffic shape: 0.5× at 02:00, 1.5× at 14:00.
fn load(hour: f64) -> f64 {
    1.0 + 0.5 * (2.0 * std::f64::consts::PI * (hour - 14.0) / 24.0).cos()
}

/// Fleet-wide effects of load: every tenant's error rate and latency rise with it.
fn error_load(hour: f64) -> f64 {
    1.0 + 0.3 * (load(hour) - 1.0)
}
fn latency_load(hour: f64) -> f64 {
    1.0 + 0.1 * (load(hour) - 1.0)
}

fn latency_cdf(x: f64, scale: f64, slow: f64) -> f64 {
    let ln = x.ln();
    (1.0 - SLOW_WEIGHT) * normal_cdf((ln - (FAST_MEDIAN * scale).ln()) / FAST_SIGMA)
        + SLOW_WEIGHT * normal_cdf((ln - (SLOW_MEDIAN * scale * slow).ln()) / SLOW_SIGMA)
}

fn latency_quantile(q: f64, slow: f64) -> f64 {
    let (mut lo, mut hi) = (1e-4f64, 1e3f64);
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if latency_cdf(mid, 1.0, slow) < q { lo = mid } else { hi = mid }
    }
    lo
}

/// The slow-mode multiplier that raises p95 by `rise` (e.g. 0.2).
fn slow_multiplier_for_p95(rise: f64) -> f64 {
    let target = latency_quantile(0.95, 1.0) * (1.0 + rise);
    let (mut lo, mut hi) = (1.0, 3.0);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if latency_quantile(0.95, mid) < target { lo = mid } else { hi = mid }
    }
    lo
}

fn bucket_masses(bounds: &[f64], scale: f64, slow: f64, out: &mut Vec<f64>) {
    out.clear();
    let mut below = 0.0;
    for &b in bounds {
        let cdf = if b.is_infinite() { 1.0 } else { latency_cdf(b, scale, slow) };
        out.push((cdf - below).max(0.0));
        below = cdf;
    }
}

fn poisson(rng: &mut SmallRng, lambda: f64) -> f64 {
    if lambda <= 0.0 { 0.0 } else { Poisson::new(lambda).expect("finite λ").sample(rng) }
}

fn binomial(rng: &mut SmallRng, n: f64, p: f64) -> f64 {
    if n < 1.0 || p <= 0.0 {
        return 0.0;
    }
    Binomial::new(n as u64, p.min(1.0)).expect("p in [0,1]").sample(rng) as f64
}

/// Adds a multinomial draw of `n` over `masses` to the per-bucket (not cumulative) counts `out`.
fn multinomial(rng: &mut SmallRng, n: f64, masses: &[f64], out: &mut [f64]) {
    let (mut left, mut mass_left) = (n, 1.0);
    for (m, o) in masses.iter().zip(out.iter_mut()) {
        if left < 1.0 {
            break;
        }
        let k = if *m >= mass_left { left } else { binomial(rng, left, m / mass_left) };
        *o += k;
        left -= k;
        mass_left -= m;
    }
}

fn cumulative(per_bucket: &[f64]) -> Vec<f64> {
    per_bucket
        .iter()
        .scan(0.0, |acc, v| {
            *acc += v;
            Some(*acc)
        })
        .collect()
}

#[derive(Clone, Default)]
struct Counts {
    requests: f64,
    errors: f64,
    buckets: Vec<f64>,
    starts: f64,
    completions: f64,
}

struct Tenant {
    size: f64,
    error_rate: f64,
    latency_scale: f64,
    completion: f64,
    treated: bool,
    baseline: Counts,
    post: Counts,
}

/// What one run gives each judge: the minute it failed (if it did) and treated requests served by then.
#[derive(Clone, Debug, Default)]
struct Outcome {
    failed_at: Option<usize>,
    exposed: f64,
    sli: Option<String>,
}

struct RunResult {
    outcomes: Vec<Outcome>,
    /// Per look, the threshold judge's per-SLI interval values (A/A runs only).
    threshold_values: Vec<Vec<Option<f64>>>,
}

fn simulate(
    seed: u64,
    treated: usize,
    regression: Regression,
    limits: Option<&[Option<f64>]>,
    bounds: &Arc<[f64]>,
) -> RunResult {
    let mut rng = SmallRng::seed_from_u64(seed);
    let tenant_noise: Normal<f64> = Normal::new(0.0, 1.0).expect("σ > 0");
    let mut tenants: Vec<Tenant> = SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| Tenant {
            size,
            error_rate: BASE_ERROR_RATE * (0.25 * tenant_noise.sample(&mut rng)).exp(),
            latency_scale: (0.2 * tenant_noise.sample(&mut rng)).exp(),
            completion: (COMPLETION * (0.05 * tenant_noise.sample(&mut rng)).exp()).min(0.95),
            treated: i < treated,
            baseline: Counts { buckets: vec![0.0; bounds.len()], ..Counts::default() },
            post: Counts { buckets: vec![0.0; bounds.len()], ..Counts::default() },
        })
        .collect();
    let start_hour: f64 = rng.random_range(8.0..20.0);
    let jitter = Normal::new(0.0, 0.02).expect("σ > 0");
    let mut masses = Vec::with_capacity(bounds.len());

    // The 24-hour baseline, hour by hour (a day of per-minute gamma multipliers averages to Gamma(60k)/60k).
    let hourly_gamma = Gamma::new(60.0 * ERROR_DISPERSION_SHAPE, 1.0 / (60.0 * ERROR_DISPERSION_SHAPE)).expect("ok");
    for t in &mut tenants {
        for h in 0..24 {
            let hour = start_hour - 24.0 + h as f64 + 0.5;
            let n = poisson(&mut rng, t.size * 3600.0 * load(hour));
            let b = &mut t.baseline;
            b.requests += n;
            let burst = hourly_gamma.sample(&mut rng);
            b.errors += poisson(&mut rng, n * t.error_rate * error_load(hour) * burst);
            bucket_masses(bounds, t.latency_scale * latency_load(hour), 1.0, &mut masses);
            multinomial(&mut rng, n, &masses, &mut b.buckets);
            let starts = binomial(&mut rng, n, CHECKOUT_SHARE);
            b.starts += starts;
            let wobble = 1.0 + jitter.sample(&mut rng) * 0.2;
            b.completions += binomial(&mut rng, starts, t.completion * wobble);
        }
    }

    let config = JudgeConfig { alpha: ALPHA, horizon: Duration::from_secs(LOOKS as u64 * 60) };
    let mut judges: Vec<Box<dyn Judge>> = vec![
        Box::new(SequentialJudge::new(slis(None), config.clone()).expect("valid")),
        Box::new(
            ThresholdJudge::with_options(
                slis(limits),
                config.clone(),
                ThresholdOptions { consecutive: THRESHOLD_CONSECUTIVE, ..ThresholdOptions::default() },
            )
            .expect("valid"),
        ),
        Box::new(MannWhitneyJudge::new(slis(None), config.clone(), Schedule::fixed_default()).expect("valid")),
        Box::new(MannWhitneyJudge::new(slis(None), config, Schedule::Peeked).expect("valid")),
    ];
    let mut outcomes = vec![Outcome::default(); judges.len()];
    let mut decided = vec![false; judges.len()];
    let mut threshold_values = Vec::new();
    let minute_gamma = Gamma::new(ERROR_DISPERSION_SHAPE, 1.0 / ERROR_DISPERSION_SHAPE).expect("ok");
    let mut tenant_masses: Vec<Vec<f64>> = vec![Vec::new(); tenants.len()];
    let names: Vec<String> = (0..tenants.len()).map(|i| format!("tenant-{i:02}")).collect();
    let specs = slis(None);

    for minute in 0..LOOKS {
        let hour = start_hour + (minute as f64 + 0.5) / 60.0;
        let mut treated_requests = 0.0;
        for (i, t) in tenants.iter_mut().enumerate() {
            let hit = t.treated;
            let (error_mult, latency_mult, slow, completion_mult) = match (hit, regression) {
                (true, Regression::Errors(m)) => (m, 1.0, 1.0, 1.0),
                (true, Regression::Latency(m)) => (1.0, m, 1.0, 1.0),
                (true, Regression::SlowTail(m)) => (1.0, 1.0, m, 1.0),
                (true, Regression::Completion(m)) => (1.0, 1.0, 1.0, m),
                _ => (1.0, 1.0, 1.0, 1.0),
            };
            let n = poisson(&mut rng, t.size * 60.0 * load(hour));
            let p = &mut t.post;
            p.requests += n;
            let burst = minute_gamma.sample(&mut rng);
            p.errors += poisson(&mut rng, n * t.error_rate * error_load(hour) * error_mult * burst);
            if minute % 10 == 0 {
                bucket_masses(bounds, t.latency_scale * latency_load(hour) * latency_mult, slow, &mut tenant_masses[i]);
            }
            multinomial(&mut rng, n, &tenant_masses[i], &mut p.buckets);
            let starts = binomial(&mut rng, n, CHECKOUT_SHARE);
            p.starts += starts;
            let wobble = 1.0 + jitter.sample(&mut rng);
            p.completions += binomial(&mut rng, starts, t.completion * completion_mult * wobble);
            if hit {
                treated_requests += p.requests;
            }
        }
        let look = build_look(&tenants, &names, &specs, bounds, minute + 1);
        for (j, judge) in judges.iter_mut().enumerate() {
            if decided[j] {
                continue;
            }
            let judgement = judge.look(&look);
            match judgement.verdict {
                Verdict::Fail { sli, .. } => {
                    decided[j] = true;
                    outcomes[j] = Outcome { failed_at: Some(minute + 1), exposed: treated_requests, sli: Some(sli) };
                }
                Verdict::Pass { .. } => {
                    decided[j] = true;
                    outcomes[j] = Outcome { failed_at: None, exposed: treated_requests, sli: None };
                }
                Verdict::Continue => outcomes[j].exposed = treated_requests,
            }
            if j == 1 && limits.is_none() {
                threshold_values.push(judgement.findings.iter().map(|f| f.statistic).map(finite).collect());
            }
        }
        if decided.iter().all(|d| *d) && limits.is_some() {
            break;
        }
    }
    RunResult { outcomes, threshold_values }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn build_look(tenants: &[Tenant], names: &[String], specs: &[SliSpec], bounds: &Arc<[f64]>, minute: usize) -> Look {
    let hist = |c: &Counts| Sample::Histogram(Histogram { bounds: bounds.clone(), cumulative: cumulative(&c.buckets) });
    let slis = specs
        .iter()
        .enumerate()
        .map(|(s, spec)| SliObservations {
            sli: spec.name.clone(),
            tenants: tenants
                .iter()
                .zip(names)
                .map(|(t, name)| {
                    let sample = |c: &Counts| match s {
                        0 => Sample::Ratio { hits: c.errors, trials: c.requests },
                        3 => Sample::Ratio { hits: c.completions, trials: c.starts },
                        _ => hist(c),
                    };
                    TenantObservation {
                        tenant: name.clone(),
                        arm: if t.treated { Arm::Treated } else { Arm::Control },
                        baseline: sample(&t.baseline),
                        post: sample(&t.post),
                    }
                })
                .collect(),
        })
        .collect();
    Look { elapsed: Duration::from_secs(minute as u64 * 60), slis }
}

fn run_many(
    seeds: Vec<u64>,
    threads: usize,
    treated: usize,
    regression: Regression,
    limits: Option<&[Option<f64>]>,
    bounds: &Arc<[f64]>,
) -> Vec<RunResult> {
    let mut results: Vec<(usize, RunResult)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|tid| {
                let seeds = &seeds;
                scope.spawn(move || {
                    (tid..seeds.len())
                        .step_by(threads)
                        .map(|i| (i, simulate(seeds[i], treated, regression, limits, bounds)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// The threshold judge's alarm statistic of one A/A run per SLI: the largest value v such that
/// `consecutive` judged intervals in a row were all past v (signed so that larger is worse).
fn alarm_statistics(run: &RunResult, harms: &[Harm]) -> Vec<f64> {
    let n = THRESHOLD_CONSECUTIVE as usize;
    harms
        .iter()
        .enumerate()
        .map(|(s, harm)| {
            let sign = if *harm == Harm::Increase { 1.0 } else { -1.0 };
            let values: Vec<f64> = run.threshold_values.iter().filter_map(|look| look[s]).map(|v| sign * v).collect();
            values.windows(n).map(|w| w.iter().copied().fold(f64::INFINITY, f64::min)).fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Limits per SLI such that the share of A/A runs with any SLI past its limit is as close to `target` as
/// possible without exceeding it; each SLI gets the same number of exceeding runs.
fn tune_limits(stats: &[Vec<f64>], harms: &[Harm], target: f64) -> (Vec<Option<f64>>, f64) {
    let runs = stats.len();
    let sorted: Vec<Vec<f64>> = (0..harms.len())
        .map(|s| {
            let mut v: Vec<f64> = stats.iter().map(|r| r[s]).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            v
        })
        .collect();
    let rate_for =
        |limits: &[f64]| stats.iter().filter(|r| r.iter().zip(limits).any(|(v, l)| v > l)).count() as f64 / runs as f64;
    let mut best = (sorted.iter().map(|v| v[0]).collect::<Vec<_>>(), 0.0);
    for j in 1..runs {
        let limits: Vec<f64> = sorted.iter().map(|v| v[j]).collect();
        let rate = rate_for(&limits);
        if rate > target + 1e-12 {
            break;
        }
        best = (limits, rate);
    }
    let limits = best.0.iter().zip(harms).map(|(l, h)| Some(if *h == Harm::Increase { *l } else { -*l })).collect();
    (limits, best.1)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// This thread's CPU time in ns, to time a look apart from preemption by other jobs on the machine.
fn thread_cpu_ns() -> Option<f64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(t.tv_sec() as f64 * 1e9 + t.tv_nsec() as f64)
}

/// Per-look times in ms: median of later looks, median of first looks (which also read every
/// baseline), max of all.
struct LookTimes {
    median: f64,
    first: f64,
    max: f64,
}

impl LookTimes {
    fn of(first: Vec<f64>, later: Vec<f64>) -> LookTimes {
        let max = first.iter().chain(&later).copied().fold(0.0, f64::max);
        LookTimes { median: percentile(later, 0.5), first: percentile(first, 0.5), max }
    }
}

/// Times the sequential judge on 12 SLIs × 1,000 tenants: five releases of 30 looks each, each with a
/// fresh judge. Returns wall-clock times and, where Linux tells, this thread's CPU times.
fn timing() -> (LookTimes, Option<LookTimes>) {
    let bounds = bounds();
    let tenants = 1000;
    let mut rng = SmallRng::seed_from_u64(7);
    let specs: Vec<SliSpec> = (0..12)
        .map(|i| SliSpec {
            name: format!("sli-{i}"),
            measure: if i < 6 { Measure::Ratio } else { Measure::Quantile { q: if i < 9 { 0.5 } else { 0.95 } } },
            harm: Harm::Increase,
            effect: 0.2,
            limit: None,
        })
        .collect();
    let mut masses = Vec::new();
    bucket_masses(&bounds, 1.0, 1.0, &mut masses);
    let per_bucket_base: Vec<f64> = masses.iter().map(|m| m * 100_000.0).collect();
    let base_hist = cumulative(&per_bucket_base);
    let names: Vec<String> = (0..tenants).map(|i| format!("tenant-{i:04}")).collect();
    let (mut first, mut later) = (Vec::new(), Vec::new());
    let (mut first_cpu, mut later_cpu) = (Vec::new(), Vec::new());
    for _release in 0..5 {
        let mut posts: Vec<(f64, f64, Vec<f64>)> = vec![(0.0, 0.0, vec![0.0; bounds.len()]); tenants];
        let mut judge = SequentialJudge::new(specs.clone(), JudgeConfig::default()).expect("valid");
        for minute in 1..=30 {
            for p in posts.iter_mut() {
                let n = poisson(&mut rng, 600.0);
                p.0 += poisson(&mut rng, n * 0.005);
                p.1 += n;
                multinomial(&mut rng, n, &masses, &mut p.2);
            }
            let slis = specs
                .iter()
                .enumerate()
                .map(|(s, spec)| SliObservations {
                    sli: spec.name.clone(),
                    tenants: (0..tenants)
                        .map(|i| {
                            let (baseline, post) = if s < 6 {
                                (
                                    Sample::Ratio { hits: 500.0, trials: 100_000.0 },
                                    Sample::Ratio { hits: posts[i].0, trials: posts[i].1 },
                                )
                            } else {
                                (
                                    Sample::Histogram(Histogram {
                                        bounds: bounds.clone(),
                                        cumulative: base_hist.clone(),
                                    }),
                                    Sample::Histogram(Histogram {
                                        bounds: bounds.clone(),
                                        cumulative: cumulative(&posts[i].2),
                                    }),
                                )
                            };
                            TenantObservation {
                                tenant: names[i].clone(),
                                arm: if i % 10 < 3 { Arm::Treated } else { Arm::Control },
                                baseline,
                                post,
                            }
                        })
                        .collect(),
                })
                .collect();
            let look = Look { elapsed: Duration::from_secs(minute * 60), slis };
            let cpu_before = thread_cpu_ns();
            let started = Instant::now();
            let judgement = judge.look(&look);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let cpu_ms = cpu_before.zip(thread_cpu_ns()).map(|(a, b)| (b - a) / 1e6);
            let (wall, cpu) = if minute == 1 { (&mut first, &mut first_cpu) } else { (&mut later, &mut later_cpu) };
            wall.push(ms);
            cpu.extend(cpu_ms);
            assert_eq!(judgement.findings.len(), 12);
        }
    }
    let cpu = (!first_cpu.is_empty() && !later_cpu.is_empty()).then(|| LookTimes::of(first_cpu, later_cpu));
    (LookTimes::of(first, later), cpu)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let arg = |name: &str| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<u64>().ok())
    };
    let seed = arg("--seed").unwrap_or(20261127);
    let threads = arg("--threads")
        .map(|t| t as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let (aa_runs, regression_runs) = if quick { (60, 8) } else { (2000, 200) };
    let aa_runs = arg("--aa").map_or(aa_runs, |n| n as usize);
    let regression_runs = arg("--runs").map_or(regression_runs, |n| n as usize);
    let started = Instant::now();
    let bounds = bounds();
    let harms: Vec<Harm> = slis(None).iter().map(|s| s.harm).collect();
    let scenarios = [
        Scenario { name: "errors ×1.5".into(), regression: Regression::Errors(1.5) },
        Scenario { name: "errors ×2".into(), regression: Regression::Errors(2.0) },
        Scenario { name: "errors ×5".into(), regression: Regression::Errors(5.0) },
        Scenario { name: "median latency +5%".into(), regression: Regression::Latency(1.05) },
        Scenario { name: "median latency +20%".into(), regression: Regression::Latency(1.2) },
        Scenario { name: "p95-only +20%".into(), regression: Regression::SlowTail(slow_multiplier_for_p95(0.2)) },
        Scenario { name: "checkout completion −2%".into(), regression: Regression::Completion(0.98) },
        Scenario { name: "checkout completion −5%".into(), regression: Regression::Completion(0.95) },
    ];
    println!(
        "judges: α = {ALPHA}, 4 SLIs (error rate, p50, p95, checkout completion), look every minute for {LOOKS} min, \
         {aa_runs} A/A runs and {regression_runs} runs per regression per design, seed {seed}, {threads} threads"
    );
    println!();
    println!(
        "| treated | scenario | sequential | seq. exposed | threshold (tuned) | thr. exposed | mann-whitney (60 min) | mann-whitney peeked |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut checks: Vec<String> = Vec::new();
    let only = arg("--treated").map(|n| n as usize);
    for (d, treated) in [1usize, 3, 6].into_iter().enumerate() {
        if only.is_some_and(|o| o != treated) {
            continue;
        }
        let seeds = |scenario: u64, runs: usize| -> Vec<u64> {
            (0..runs as u64).map(|r| seed ^ ((d as u64 + 1) << 48) ^ (scenario << 32) ^ r).collect()
        };
        let aa = run_many(seeds(0, aa_runs), threads, treated, Regression::None, None, &bounds);
        let fa = |j: usize| aa.iter().filter(|r| r.outcomes[j].failed_at.is_some()).count() as f64 / aa.len() as f64;
        let sequential_fa = fa(0);
        for (j, name) in JUDGES.iter().enumerate() {
            let mut by_sli: Vec<(String, usize, Vec<usize>)> = Vec::new();
            for o in aa.iter().map(|r| &r.outcomes[j]) {
                if let (Some(sli), Some(at)) = (&o.sli, o.failed_at) {
                    match by_sli.iter_mut().find(|(s, _, _)| s == sli) {
                        Some(entry) => {
                            entry.1 += 1;
                            entry.2.push(at)
                        }
                        None => by_sli.push((sli.clone(), 1, vec![at])),
                    }
                }
            }
            eprintln!("{treated} of 12, {name}: A/A false alarms by SLI (count, minutes): {by_sli:?}");
        }
        let stats: Vec<Vec<f64>> = aa.iter().map(|r| alarm_statistics(r, &harms)).collect();
        let (limits, threshold_fa) = tune_limits(&stats, &harms, sequential_fa);
        println!(
            "| {treated} of 12 | A/A false alarms | {:.1}% | | {:.1}% (tuned) | | {:.1}% | {:.1}% |",
            100.0 * sequential_fa,
            100.0 * threshold_fa,
            100.0 * fa(2),
            100.0 * fa(3)
        );
        checks.push(format!(
            "{treated} of 12: sequential A/A {:.2}% (target ≤ 5%): {}; peeked Mann-Whitney A/A {:.1}% (must be well above 5%): {}",
            100.0 * sequential_fa,
            if sequential_fa <= 0.05 { "met" } else { "MISSED" },
            100.0 * fa(3),
            if fa(3) > 0.10 { "shown" } else { "NOT shown" }
        ));
        eprintln!(
            "[{:>5.0}s] {treated} of 12: A/A done; threshold limits {:?}",
            started.elapsed().as_secs_f64(),
            limits
        );
        for (s, scenario) in scenarios.iter().enumerate() {
            let runs = run_many(
                seeds(s as u64 + 1, regression_runs),
                threads,
                treated,
                scenario.regression,
                Some(&limits),
                &bounds,
            );
            let cell = |j: usize| {
                let delays: Vec<f64> = runs.iter().map(|r| r.outcomes[j].failed_at.unwrap_or(LOOKS) as f64).collect();
                let detected =
                    runs.iter().filter(|r| r.outcomes[j].failed_at.is_some()).count() as f64 / runs.len() as f64;
                let exposed = percentile(runs.iter().map(|r| r.outcomes[j].exposed).collect(), 0.5);
                let (median, p90) = (percentile(delays.clone(), 0.5), percentile(delays, 0.9));
                (format!("{median:.0} / {p90:.0} min ({:.0}%)", 100.0 * detected), exposed, median)
            };
            let cells: Vec<_> = (0..JUDGES.len()).map(cell).collect();
            println!(
                "| {treated} of 12 | {} | {} | {} | {} | {} | {} | {} |",
                scenario.name,
                cells[0].0,
                human(cells[0].1),
                cells[1].0,
                human(cells[1].1),
                cells[2].0,
                cells[3].0
            );
            if cells[0].2 > cells[1].2 {
                checks.push(format!(
                    "{treated} of 12, {}: sequential median {:.0} min is SLOWER than threshold's {:.0} min",
                    scenario.name, cells[0].2, cells[1].2
                ));
            }
            if treated == 1 && matches!(scenario.regression, Regression::Errors(m) if m == 2.0) {
                checks.push(format!(
                    "1 of 12, errors ×2 at 20 req/s: sequential median delay {:.0} min (target ≤ 5): {}",
                    cells[0].2,
                    if cells[0].2 <= 5.0 { "met" } else { "MISSED" }
                ));
            }
            eprintln!("[{:>5.0}s] {treated} of 12: {} done", started.elapsed().as_secs_f64(), scenario.name);
        }
    }
    let (wall, cpu) = timing();
    println!();
    println!(
        "Cells: median / p90 detection delay (misses counted at {LOOKS} min) and share of runs detected; exposed: median treated requests served before the halt (or the horizon)."
    );
    println!();
    let line = |t: &LookTimes| {
        format!(
            "median {:.2} ms, first look (reads every baseline) median {:.2} ms, max {:.2} ms",
            t.median, t.first, t.max
        )
    };
    println!("sequential judge, 12 SLIs × 1,000 tenants, 150 looks (target < 10 ms per look):");
    println!("  wall clock: {}", line(&wall));
    let verdict = match &cpu {
        Some(cpu) => {
            println!("  thread CPU: {}", line(cpu));
            if cpu.max < 10.0 && wall.max < 10.0 {
                "met"
            } else if cpu.max < 10.0 {
                "met in CPU time; wall-clock max over (preempted by other jobs)"
            } else {
                "MISSED"
            }
        }
        None if wall.max < 10.0 => "met",
        None => "MISSED (wall-clock max)",
    };
    println!("  {verdict}");
    for c in &checks {
        println!("check: {c}");
    }
    println!("total time: {:.0} s", started.elapsed().as_secs_f64());
    // The quick mode's samples are too small to hold the targets to; the full run is the evidence.
    let missed = checks.iter().any(|c| c.contains("MISSED") || c.contains("SLOWER") || c.contains("NOT shown"))
        || verdict.starts_with("MISSED");
    if missed && !quick {
        eprintln!("a target is missed: see the check lines");
        std::process::exit(1);
    }
}

fn human(requests: f64) -> String {
    if requests >= 1e6 {
        format!("{:.1}M", requests / 1e6)
    } else if requests >= 1e3 {
        format!("{:.0}k", requests / 1e3)
    } else {
        format!("{requests:.0}")
    }
}
