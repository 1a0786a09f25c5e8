//! The statistics against reference values computed independently with scipy/numpy
//! (`tests/fixtures/reference.py` wrote `tests/fixtures/reference.json`; re-run it to regenerate).

use std::sync::Arc;
use std::time::Duration;

use ringfence_judge::stats::{self, Alternative};
use ringfence_judge::{
    Arm, Harm, Histogram, Judge, JudgeConfig, Look, Measure, Sample, SequentialJudge, SliObservations, SliSpec,
    TenantObservation,
};
use serde_json::Value;

fn fixtures() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json"))
        .expect("tests/fixtures/reference.json: run tests/fixtures/reference.py to create it");
    serde_json::from_str(&text).expect("valid JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(f).collect()
}

#[track_caller]
fn close(actual: f64, expected: f64, relative: f64, what: &str) {
    let tolerance = relative * expected.abs().max(1e-300);
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual} vs scipy's {expected} (relative {relative})");
}

#[test]
fn normal_distribution_matches_scipy() {
    let fx = fixtures();
    for row in fx["normal"]["cdf"].as_array().unwrap() {
        close(stats::normal_cdf(f(&row[0])), f(&row[1]), 1e-10, &format!("Φ({})", row[0]));
    }
    for row in fx["normal"]["sf"].as_array().unwrap() {
        close(stats::normal_sf(f(&row[0])), f(&row[1]), 1e-10, &format!("1 − Φ({})", row[0]));
    }
    for row in fx["normal"]["quantile"].as_array().unwrap() {
        close(stats::normal_quantile(f(&row[0])), f(&row[1]), 1e-9, &format!("Φ⁻¹({})", row[0]));
    }
}

#[test]
fn mixture_e_values_match_numerical_integration() {
    let fx = fixtures();
    for row in fx["mixture"]["log_e_one_sided"].as_array().unwrap() {
        let (theta, var, tau2, expected) = (f(&row[0]), f(&row[1]), f(&row[2]), f(&row[3]));
        let actual = stats::log_mixture_e_value(theta, var, tau2);
        assert!((actual - expected).abs() < 1e-8, "log Λ(θ̂={theta}, V={var}, τ²={tau2}): {actual} vs {expected}");
    }
}

#[test]
fn confidence_sequence_radii_match_the_root_of_the_mixture() {
    let fx = fixtures();
    for row in fx["mixture"]["cs_radius"].as_array().unwrap() {
        let (var, tau2, alpha, expected) = (f(&row[0]), f(&row[1]), f(&row[2]), f(&row[3]));
        close(
            stats::mixture_cs_radius(var, tau2, alpha),
            expected,
            1e-9,
            &format!("radius(V={var}, τ²={tau2}, α={alpha})"),
        );
    }
}

#[test]
fn mann_whitney_matches_scipy_asymptotic_with_ties() {
    let fx = fixtures();
    for case in fx["mann_whitney"]["cases"].as_array().unwrap() {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let alternative = match case["alternative"].as_str().unwrap() {
            "greater" => Alternative::Greater,
            _ => Alternative::Less,
        };
        let (u, p) = stats::mann_whitney_u(&x, &y, alternative).unwrap();
        close(u, f(&case["u"]), 1e-12, "U");
        close(p, f(&case["p"]), 1e-9, &format!("p ({:?}, n = {}, {})", alternative, x.len(), y.len()));
    }
    for case in fx["mann_whitney"]["hodges_lehmann"].as_array().unwrap() {
        let (shift, lower, upper) = stats::hodges_lehmann(&floats(&case["x"]), &floats(&case["y"]), 0.05).unwrap();
        close(shift, f(&case["shift"]), 1e-12, "Hodges-Lehmann shift");
        assert!(lower <= shift && shift <= upper);
    }
}

#[test]
fn histogram_quantiles_and_exceedances_match_numpy_interpolation() {
    let fx = fixtures();
    for case in fx["histograms"].as_array().unwrap() {
        let mut bounds = floats(&case["bounds"]);
        bounds.push(f64::INFINITY);
        let h = Histogram { bounds: Arc::from(bounds), cumulative: floats(&case["cumulative"]) };
        for row in case["quantiles"].as_array().unwrap() {
            close(h.quantile(f(&row[0])).unwrap(), f(&row[1]), 1e-12, &format!("quantile {}", row[0]));
        }
        for row in case["above"].as_array().unwrap() {
            close(h.above(f(&row[0])), f(&row[1]), 1e-9, &format!("above {}", row[0]));
        }
    }
}

#[test]
fn sequential_judge_matches_the_reference_on_one_treated_and_one_control_tenant() {
    let fx = fixtures();
    for case in fx["sequential_one_vs_one"].as_array().unwrap() {
        let ratio = |v: &Value| Sample::Ratio { hits: f(&v[0]), trials: f(&v[1]) };
        let tenant = |name: &str, arm, v: &Value| TenantObservation {
            tenant: name.into(),
            arm,
            baseline: ratio(&v["baseline"]),
            post: ratio(&v["post"]),
        };
        let sli = SliSpec {
            name: "errors".into(),
            measure: Measure::Ratio,
            harm: Harm::Increase,
            effect: f(&case["effect"]),
            limit: None,
        };
        let config = JudgeConfig { alpha: f(&case["alpha"]), horizon: Duration::from_secs(3600) };
        let mut judge = SequentialJudge::new(vec![sli], config).unwrap();
        let look = Look {
            elapsed: Duration::from_secs(60),
            slis: vec![SliObservations {
                sli: "errors".into(),
                tenants: vec![tenant("a", Arm::Treated, &case["treated"]), tenant("b", Arm::Control, &case["control"])],
            }],
        };
        let finding = &judge.look(&look).findings[0];
        let effect = finding.effect.unwrap();
        close(effect.estimate, f(&case["estimate"]), 1e-12, "estimate");
        close(effect.lower.unwrap(), f(&case["lower"]), 1e-8, "lower");
        close(effect.upper.unwrap(), f(&case["upper"]), 1e-8, "upper");
        assert!((finding.statistic.ln() - f(&case["log_e_value"])).abs() < 1e-8, "{finding:?} vs {case}");
    }
}
