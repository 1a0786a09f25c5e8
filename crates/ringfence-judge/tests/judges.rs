//! What each judge decides on small, hand-made fleets, and the shape of what it records.

use std::sync::Arc;
use std::time::Duration;

use ringfence_judge::mann_whitney::Schedule;
use ringfence_judge::{
    Arm, Error, Harm, Histogram, Judge, JudgeConfig, Look, MannWhitneyJudge, Measure, Sample, SequentialJudge,
    SliObservations, SliSpec, Standing, TenantObservation, Verdict, by_name,
};

fn error_rate() -> SliSpec {
    SliSpec { name: "errors".into(), measure: Measure::Ratio, harm: Harm::Increase, effect: 0.2, limit: Some(0.01) }
}

/// Twelve tenants (two treated) with a 0.5% baseline error rate; per minute each serves 1,200 requests,
/// and treated tenants fail `treated_rate` of them, controls 0.5%. Counts are exact expectations, so
/// the outcome does not hang on noise.
fn look(minute: u64, treated_rate: f64) -> Look {
    let tenants = (0..12)
        .map(|i| {
            let treated = i < 2;
            let requests = 1200.0 * minute as f64;
            let rate = if treated { treated_rate } else { 0.005 };
            TenantObservation {
                tenant: format!("t{i}"),
                arm: if treated { Arm::Treated } else { Arm::Control },
                baseline: Sample::Ratio { hits: 500.0, trials: 100_000.0 },
                post: Sample::Ratio { hits: (rate * requests).round(), trials: requests },
            }
        })
        .collect();
    Look { elapsed: Duration::from_secs(60 * minute), slis: vec![SliObservations { sli: "errors".into(), tenants }] }
}

fn config() -> JudgeConfig {
    JudgeConfig { alpha: 0.05, horizon: Duration::from_secs(30 * 60) }
}

#[test]
fn sequential_fails_a_doubled_error_rate_within_minutes_with_its_numbers() {
    let mut judge = SequentialJudge::new(vec![error_rate()], config()).unwrap();
    let failed_at = (1..=30).find_map(|m| match judge.look(&look(m, 0.01)).verdict {
        Verdict::Fail { sli, effect, why } => Some((m, sli, effect, why)),
        _ => None,
    });
    let (minute, sli, effect, why) = failed_at.expect("a doubled error rate must fail");
    assert!(minute <= 5, "failed only at minute {minute}");
    assert_eq!(sli, "errors");
    assert!((effect.estimate - 2.0).abs() < 0.3, "{effect:?}");
    assert!(effect.lower.unwrap() < effect.estimate && effect.estimate < effect.upper.unwrap());
    assert!(why.contains("rate ratio (DiD)"), "{why}");
}

#[test]
fn sequential_keeps_watching_an_unchanged_release_and_passes_at_the_horizon() {
    let mut judge = SequentialJudge::new(vec![error_rate()], config()).unwrap();
    for m in 1..30 {
        let j = judge.look(&look(m, 0.005));
        assert!(!matches!(j.verdict, Verdict::Fail { .. }), "minute {m}: {:?}", j.verdict);
    }
    let j = judge.look(&look(30, 0.005));
    assert!(matches!(j.verdict, Verdict::Pass { .. }), "{:?}", j.verdict);
}

#[test]
fn sequential_passes_early_once_harm_of_practical_size_is_ruled_out() {
    // Busy tenants: 100× the traffic, unchanged error rate; the confidence sequence closes in.
    let mut judge = SequentialJudge::new(vec![error_rate()], config()).unwrap();
    let busy = |minute: u64| {
        let mut l = look(minute, 0.005);
        for t in &mut l.slis[0].tenants {
            if let Sample::Ratio { hits, trials } = &mut t.post {
                *hits *= 100.0;
                *trials *= 100.0;
            }
            t.baseline = Sample::Ratio { hits: 50_000.0, trials: 10_000_000.0 };
        }
        l
    };
    let passed = (1..30).find(|m| matches!(judge.look(&busy(*m)).verdict, Verdict::Pass { .. }));
    assert!(passed.is_some(), "no early pass");
    let j = judge.look(&busy(29));
    assert_eq!(j.findings[0].standing, Standing::NoHarm);
    assert!(j.findings[0].effect.unwrap().upper.unwrap() < 1.2);
}

#[test]
fn a_lower_is_worse_sli_fails_on_a_drop_only() {
    let completion =
        SliSpec { name: "errors".into(), measure: Measure::Ratio, harm: Harm::Decrease, effect: 0.05, limit: None };
    let mut judge = SequentialJudge::new(vec![completion.clone()], config()).unwrap();
    // "hits" here are completions: treated 0.004 vs 0.005 baseline is a 20% drop.
    assert!((1..=30).any(|m| matches!(judge.look(&look(m, 0.004)).verdict, Verdict::Fail { .. })));
    let mut judge = SequentialJudge::new(vec![completion], config()).unwrap();
    assert!(!(1..=30).any(|m| matches!(judge.look(&look(m, 0.01)).verdict, Verdict::Fail { .. })));
}

#[test]
fn threshold_needs_consecutive_looks_past_its_limit() {
    let mut judge = by_name("threshold", vec![error_rate()], config()).unwrap();
    // 2% > 1% limit every minute: fails at the third look (default: three in a row).
    let verdicts: Vec<bool> =
        (1..=3).map(|m| matches!(judge.look(&look(m, 0.02)).verdict, Verdict::Fail { .. })).collect();
    assert_eq!(verdicts, [false, false, true]);
}

#[test]
fn fixed_mann_whitney_decides_once_at_its_horizon() {
    let mut judge =
        MannWhitneyJudge::new(vec![error_rate()], config(), Schedule::Fixed(Duration::from_secs(600))).unwrap();
    for m in 1..10 {
        assert_eq!(judge.look(&look(m, 0.005)).verdict, Verdict::Continue);
    }
    assert!(matches!(judge.look(&look(10, 0.005)).verdict, Verdict::Pass { .. }));
    let mut judge =
        MannWhitneyJudge::new(vec![error_rate()], config(), Schedule::Fixed(Duration::from_secs(600))).unwrap();
    let verdicts: Vec<Verdict> = (1..=10).map(|m| judge.look(&look(m, 0.02)).verdict).collect();
    assert!(verdicts[..9].iter().all(|v| *v == Verdict::Continue));
    let Verdict::Fail { effect, .. } = &verdicts[9] else { panic!("{:?}", verdicts[9]) };
    assert!(effect.estimate > 2.0, "{effect:?}");
}

#[test]
fn latency_regressions_show_as_exceedances_of_each_tenants_own_baseline_quantile() {
    let bounds: Arc<[f64]> = Arc::from(vec![0.1, 0.2, 0.4, 0.8, 1.6, f64::INFINITY]);
    let histogram = |per_bucket: [f64; 6], scale: f64| {
        let mut acc = 0.0;
        let cumulative = per_bucket
            .iter()
            .map(|c| {
                acc += c * scale;
                acc
            })
            .collect();
        Sample::Histogram(Histogram { bounds: bounds.clone(), cumulative })
    };
    let normal = [100.0, 500.0, 300.0, 80.0, 15.0, 5.0];
    let slower = [50.0, 350.0, 350.0, 180.0, 50.0, 20.0];
    let p95 = SliSpec {
        name: "latency".into(),
        measure: Measure::Quantile { q: 0.95 },
        harm: Harm::Increase,
        effect: 0.2,
        limit: None,
    };
    let mut judge = SequentialJudge::new(vec![p95], config()).unwrap();
    let look = |minute: u64| Look {
        elapsed: Duration::from_secs(60 * minute),
        slis: vec![SliObservations {
            sli: "latency".into(),
            tenants: (0..6)
                .map(|i| TenantObservation {
                    tenant: format!("t{i}"),
                    arm: if i == 0 { Arm::Treated } else { Arm::Control },
                    baseline: histogram(normal, 100.0),
                    post: histogram(if i == 0 { slower } else { normal }, minute as f64),
                })
                .collect(),
        }],
    };
    let j = (1..=10).map(|m| judge.look(&look(m))).find(|j| matches!(j.verdict, Verdict::Fail { .. }));
    let j = j.expect("a slower tail must fail");
    assert_eq!(j.findings[0].scale, "exceedance ratio (DiD)");
    assert!(j.findings[0].effect.unwrap().estimate > 2.0, "{:?}", j.findings[0]);
}

#[test]
fn configuration_errors_read_like_advice() {
    let e = by_name("bayes", vec![error_rate()], config()).err().unwrap();
    assert_eq!(e, Error::UnknownJudge("bayes".into()));
    assert!(e.to_string().contains("use sequential"));
    let e = by_name("sequential", vec![error_rate()], JudgeConfig { alpha: 1.5, ..config() }).err().unwrap();
    assert!(e.to_string().contains("between 0 and 1"), "{e}");
    let mut bad = error_rate();
    bad.effect = 0.0;
    let e = by_name("sequential", vec![bad], config()).err().unwrap();
    assert!(e.to_string().contains("SLI \"errors\": effect must be a positive fraction"), "{e}");
}

#[test]
fn verdicts_serialise_with_their_numbers() {
    let mut judge = SequentialJudge::new(vec![error_rate()], config()).unwrap();
    let j = (1..=10).map(|m| judge.look(&look(m, 0.02))).last().unwrap();
    let json = serde_json::to_value(&j).unwrap();
    assert_eq!(json["verdict"]["verdict"], "fail");
    assert_eq!(json["verdict"]["sli"], "errors");
    assert!(json["verdict"]["effect"]["lower"].is_number());
    assert_eq!(json["findings"][0]["standing"], "harm");
    assert!(json["findings"][0]["treatedEvents"].is_number());
}

/// The demo's bad release in miniature: twelve shops that failed no checkout before the release, each
/// starting three checkouts per look. A clean baseline says little about a shop's own failure rate;
/// pooled over the fleet it says enough for 30% failures on the treated shop to fail the release
/// within 14 looks (each shop's own baseline alone needs 20) — but not before ten failures are
/// counted, and never when nothing changed.
#[test]
fn failures_from_a_clean_baseline_are_caught_once_enough_are_counted() {
    let sli =
        SliSpec { name: "errors".into(), measure: Measure::Ratio, harm: Harm::Increase, effect: 1.0, limit: None };
    let look = |n: u64, treated_rate: f64| Look {
        elapsed: Duration::from_secs(2 * n),
        slis: vec![SliObservations {
            sli: "errors".into(),
            tenants: (0..12)
                .map(|i| {
                    let trials = 3.0 * n as f64;
                    let rate = if i == 0 { treated_rate } else { 0.0 };
                    TenantObservation {
                        tenant: format!("t{i}"),
                        arm: if i == 0 { Arm::Treated } else { Arm::Control },
                        baseline: Sample::Ratio { hits: 0.0, trials: 150.0 },
                        post: Sample::Ratio { hits: (rate * trials).floor(), trials },
                    }
                })
                .collect(),
        }],
    };
    let mut judge = SequentialJudge::new(vec![sli.clone()], config()).unwrap();
    let failed = (1..=30).find_map(|n| match judge.look(&look(n, 0.3)).verdict {
        Verdict::Fail { why, .. } => Some((n, why)),
        _ => None,
    });
    let (n, why) = failed.expect("30% failures against clean baselines must fail");
    assert!(n <= 14, "failed only at look {n}: {why}");
    assert!((0.3 * 3.0 * n as f64).floor() >= 10.0, "failed on fewer than ten failures: look {n}, {why}");

    let mut unchanged = SequentialJudge::new(vec![sli], config()).unwrap();
    for n in 1..=30 {
        let j = unchanged.look(&look(n, 0.0));
        assert!(!matches!(j.verdict, Verdict::Fail { .. }), "look {n}: {:?}", j.verdict);
    }
}
