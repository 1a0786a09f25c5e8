//! Invariants of the judges, with random fleets: the order in which tenants arrive changes nothing, and
//! more harm never weakens the evidence.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use ringfence_judge::{
    Arm, Harm, Histogram, JudgeConfig, Look, Measure, Sample, SliObservations, SliSpec, Standing, TenantObservation,
    Verdict, by_name,
};

/// One tenant: arm, baseline (errors, requests), per-look increments (errors, requests), latency scale.
#[derive(Clone, Debug)]
struct Tenant {
    treated: bool,
    baseline: (f64, f64),
    increments: Vec<(f64, f64)>,
    slow: f64,
}

fn tenant(looks: usize) -> impl Strategy<Value = Tenant> {
    (
        any::<bool>(),
        1_000.0..200_000.0f64,
        0.001..0.02f64,
        prop::collection::vec((0.0..80.0f64, 500.0..20_000.0f64), looks),
        0.5..2.0f64,
    )
        .prop_map(|(treated, requests, rate, increments, slow)| Tenant {
            treated,
            baseline: ((requests * rate).round(), requests),
            increments: increments.into_iter().map(|(e, n)| (e.round(), n.round())).collect(),
            slow,
        })
}

fn fleet(looks: usize) -> impl Strategy<Value = Vec<Tenant>> {
    prop::collection::vec(tenant(looks), 2..10).prop_map(|mut tenants| {
        // At least one tenant on each side.
        tenants[0].treated = true;
        tenants[1].treated = false;
        tenants
    })
}

fn slis() -> Vec<SliSpec> {
    vec![
        SliSpec {
            name: "errors".into(),
            measure: Measure::Ratio,
            harm: Harm::Increase,
            effect: 0.2,
            limit: Some(0.01),
        },
        SliSpec {
            name: "p95".into(),
            measure: Measure::Quantile { q: 0.95 },
            harm: Harm::Increase,
            effect: 0.2,
            limit: Some(0.4),
        },
    ]
}

fn histogram(requests: f64, slow: f64) -> Sample {
    // A fixed latency shape scaled by `slow`, over shared bounds.
    let bounds: Arc<[f64]> = Arc::from(vec![0.05, 0.1, 0.2, 0.4, 0.8, 1.6, f64::INFINITY]);
    let shares = [0.05, 0.3, 0.7, 0.9, 0.97, 0.995, 1.0];
    let shift = |s: f64| if slow > 1.0 { s.powf(slow) } else { s };
    Sample::Histogram(Histogram { bounds, cumulative: shares.iter().map(|s| (shift(*s) * requests).round()).collect() })
}

/// The looks of a release for `tenants`, in the given order.
fn looks(tenants: &[(String, Tenant)], count: usize) -> Vec<Look> {
    (1..=count)
        .map(|look| {
            let observations = |sli: &str, histogram_sli: bool| SliObservations {
                sli: sli.into(),
                tenants: tenants
                    .iter()
                    .map(|(name, t)| {
                        let (errors, requests) =
                            t.increments[..look].iter().fold((0.0, 0.0), |(e, n), (de, dn)| (e + de, n + dn));
                        let (baseline, post) = if histogram_sli {
                            (histogram(t.baseline.1, 1.0), histogram(requests, t.slow))
                        } else {
                            (
                                Sample::Ratio { hits: t.baseline.0, trials: t.baseline.1 },
                                Sample::Ratio { hits: errors, trials: requests },
                            )
                        };
                        TenantObservation {
                            tenant: name.clone(),
                            arm: if t.treated { Arm::Treated } else { Arm::Control },
                            baseline,
                            post,
                        }
                    })
                    .collect(),
            };
            Look {
                elapsed: Duration::from_secs(60 * look as u64),
                slis: vec![observations("errors", false), observations("p95", true)],
            }
        })
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tenant_order_changes_nothing(tenants in fleet(4), seed in any::<u64>()) {
        let named: Vec<(String, Tenant)> =
            tenants.into_iter().enumerate().map(|(i, t)| (format!("tenant-{i}"), t)).collect();
        // A deterministic shuffle from `seed`.
        let mut shuffled = named.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for judge in ["sequential", "threshold", "mann-whitney-peeked"] {
            let config = JudgeConfig { alpha: 0.05, horizon: Duration::from_secs(3600) };
            let mut a = by_name(judge, slis(), config.clone()).unwrap();
            let mut b = by_name(judge, slis(), config).unwrap();
            for (la, lb) in looks(&named, 4).iter().zip(&looks(&shuffled, 4)) {
                let (ja, jb) = (a.look(la), b.look(lb));
                prop_assert_eq!(std::mem::discriminant(&ja.verdict), std::mem::discriminant(&jb.verdict), "{}", judge);
                for (fa, fb) in ja.findings.iter().zip(&jb.findings) {
                    prop_assert!(same(fa.statistic, fb.statistic), "{}: {:?} vs {:?}", judge, fa, fb);
                    prop_assert_eq!(fa.standing, fb.standing);
                    prop_assert_eq!(fa.effect.is_some(), fb.effect.is_some());
                    if let (Some(ea), Some(eb)) = (fa.effect, fb.effect) {
                        prop_assert!(same(ea.estimate, eb.estimate), "{}: {:?} vs {:?}", judge, ea, eb);
                    }
                }
            }
        }
    }

    #[test]
    fn more_treated_errors_never_weaken_the_evidence(
        controls in prop::collection::vec(tenant(1), 1..8),
        treated in tenant(1),
        lift in 1.0..4.0f64,
        more in 1.0..3.0f64,
    ) {
        let run = |factor: f64| {
            let mut t = treated.clone();
            t.treated = true;
            t.increments[0].0 = (t.increments[0].0 * factor).round();
            let mut tenants = vec![("treated".to_string(), t)];
            for (i, mut c) in controls.iter().cloned().enumerate() {
                c.treated = false;
                tenants.push((format!("control-{i}"), c));
            }
            let mut judge = by_name("sequential", slis(), JudgeConfig::default()).unwrap();
            judge.look(&looks(&tenants, 1)[0]).findings.remove(0)
        };
        let (weaker, stronger) = (run(lift), run(lift * more));
        let (ew, es) = (weaker.effect.unwrap(), stronger.effect.unwrap());
        prop_assert!(es.estimate >= ew.estimate - 1e-12, "{:?} then {:?}", ew, es);
        prop_assert!(es.lower.unwrap() >= ew.lower.unwrap() - 1e-12, "{:?} then {:?}", ew, es);
        if ew.estimate >= 1.0 {
            prop_assert!(stronger.statistic >= weaker.statistic * (1.0 - 1e-12), "{:?} then {:?}", weaker, stronger);
        }
        if weaker.standing == Standing::Harm {
            prop_assert_eq!(stronger.standing, Standing::Harm);
        }
    }

    #[test]
    fn threshold_fails_only_past_its_limit_for_consecutive_looks(values in prop::collection::vec(0.0..0.02f64, 1..12)) {
        let mut judge = by_name("threshold", slis()[..1].to_vec(), JudgeConfig::default()).unwrap();
        let (mut errors, mut requests, mut streak) = (0.0, 0.0, 0);
        for (i, v) in values.iter().enumerate() {
            errors += (v * 10_000.0).round();
            requests += 10_000.0;
            let look = Look {
                elapsed: Duration::from_secs(60 * (i as u64 + 1)),
                slis: vec![SliObservations {
                    sli: "errors".into(),
                    tenants: vec![TenantObservation {
                        tenant: "t".into(),
                        arm: Arm::Treated,
                        baseline: Sample::Ratio { hits: 50.0, trials: 10_000.0 },
                        post: Sample::Ratio { hits: errors, trials: requests },
                    }],
                }],
            };
            streak = if (v * 10_000.0).round() / 10_000.0 > 0.01 { streak + 1 } else { 0 };
            let failed = matches!(judge.look(&look).verdict, Verdict::Fail { .. });
            prop_assert_eq!(failed, streak >= 3, "look {} values {:?}", i, values);
            if failed {
                break;
            }
        }
    }
}
