//! The statistics the judges rest on: the normal distribution, normal-mixture e-values and confidence
//! sequences, and the Mann-Whitney U test. Each function states its formula and where it comes from;
//! `tests/reference.rs` checks them against values computed independently with scipy.

use statrs::function::erf::erfc;

/// Standard normal CDF Φ(x).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal survival function 1 − Φ(x), accurate in the upper tail.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile Φ⁻¹(p), for p in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    -std::f64::consts::SQRT_2 * statrs::function::erf::erfc_inv(2.0 * p)
}

/// Natural log of the one-sided normal-mixture e-value for H₀: θ ≤ 0 against θ > 0, given an estimate
/// `theta` of θ with variance `var`, mixing θ over a half-normal prior of scale `tau` (`tau2` = τ²).
///
/// With θ̂ ~ N(θ, V), the likelihood ratio of θ against 0 is exp((θθ̂ − θ²/2)/V); integrating it against
/// the density 2φ(θ/τ)/τ on θ ≥ 0 gives, with a = 1/τ² + 1/V and b = θ̂/V,
///
/// Λ = 2 · √(V / (V + τ²)) · exp(b² / 2a) · Φ(b / √a),   b²/2a = θ̂²τ² / (2V(V + τ²)).
///
/// This is the mixture sequential probability ratio test (mSPRT) of Robbins (1970), "Statistical
/// methods related to the law of the iterated logarithm", as used for continuously monitored A/B tests by
/// Johari, Pekelis & Walsh, "Always valid inference: continuous monitoring of A/B tests" (Operations
/// Research, 2022), restricted to one side. When θ̂ is a Gaussian process with independent increments in
/// information time 1/V, Λ is a nonnegative supermartingale under every θ ≤ 0, so by Ville's inequality
/// P(sup Λ ≥ 1/α) ≤ α: the test can be stopped at any look. With a plug-in variance it holds
/// asymptotically (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas, "Time-uniform central limit theory and
/// asymptotic confidence sequences", Annals of Statistics, 2024).
pub fn log_mixture_e_value(theta: f64, var: f64, tau2: f64) -> f64 {
    if !(var > 0.0 && var.is_finite()) {
        return 0.0;
    }
    let shrink = var + tau2;
    let b_over_sqrt_a = theta * tau2.sqrt() / (var * shrink).sqrt();
    let log_phi = normal_cdf(b_over_sqrt_a).max(f64::MIN_POSITIVE).ln();
    std::f64::consts::LN_2 + 0.5 * (var / shrink).ln() + theta * theta * tau2 / (2.0 * var * shrink) + log_phi
}

/// Half-width of the two-sided normal-mixture confidence sequence for θ at level `alpha`, given the
/// variance `var` of the estimate and the mixing variance `tau2`:
///
/// |θ̂ − θ| ≤ √( V(V + τ²)/τ² · (ln((V + τ²)/V) + 2 ln(1/α)) ).
///
/// It is where the two-sided mixture √(V/(V+τ²)) · exp(τ²(θ̂ − θ)²/(2V(V+τ²))) reaches 1/α: Robbins'
/// normal-mixture boundary, in the form given by Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform,
/// nonparametric, nonasymptotic confidence sequences" (Annals of Statistics, 2021), eq. (14). It covers θ
/// at every look simultaneously with probability ≥ 1 − α.
pub fn mixture_cs_radius(var: f64, tau2: f64, alpha: f64) -> f64 {
    if !(var > 0.0 && var.is_finite()) {
        return f64::INFINITY;
    }
    let shrink = var + tau2;
    (var * shrink / tau2 * ((shrink / var).ln() + 2.0 * (1.0 / alpha).ln())).sqrt()
}

/// Which side the Mann-Whitney alternative is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alternative {
    /// `x` tends to be larger than `y`.
    Greater,
    /// `x` tends to be smaller than `y`.
    Less,
}

/// The Mann-Whitney U statistic of `x` and the one-sided p-value of the normal approximation, with the
/// tie correction and a continuity correction of ½ (as scipy's `mannwhitneyu(method="asymptotic")`).
///
/// U₁ = R₁ − n₁(n₁+1)/2 with R₁ the sum of `x`'s mid-ranks in the pooled sample (Mann & Whitney, "On a
/// test of whether one of two random variables is stochastically larger than the other", Annals of
/// Mathematical Statistics, 1947). Under H₀, E U = n₁n₂/2 and
/// Var U = n₁n₂/12 · ((n+1) − Σ(t³ − t)/(n(n−1))) over tie groups of size t. `None` when either
/// sample is empty.
pub fn mann_whitney_u(x: &[f64], y: &[f64], alternative: Alternative) -> Option<(f64, f64)> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut pooled: Vec<(f64, bool)> = x.iter().map(|&v| (v, true)).chain(y.iter().map(|&v| (v, false))).collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pooled.len();
    let (mut rank_sum_x, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        // Positions i..j (0-based) share the mid-rank of ranks i+1..=j.
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        let in_x = pooled[i..j].iter().filter(|p| p.1).count() as f64;
        rank_sum_x += mid_rank * in_x;
        let t = (j - i) as f64;
        ties += t * t * t - t;
        i = j;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = rank_sum_x - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)));
    let u = match alternative {
        Alternative::Greater => u1,
        Alternative::Less => n1f * n2f - u1,
    };
    let p = if var > 0.0 { normal_sf((u - mean - 0.5) / var.sqrt()).min(1.0) } else { 1.0 };
    Some((u1, p))
}

/// The Hodges-Lehmann estimate of the shift `x − y` (median of all pairwise differences) and its
/// approximate `1 − alpha` two-sided interval from the order statistics of those differences
/// (Hodges & Lehmann, "Estimates of location based on rank tests", Annals of Mathematical Statistics,
/// 1963; the interval is Moses' distribution-free one with the normal approximation).
pub fn hodges_lehmann(x: &[f64], y: &[f64], alpha: f64) -> Option<(f64, f64, f64)> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mut diffs: Vec<f64> = x.iter().flat_map(|a| y.iter().map(move |b| a - b)).collect();
    diffs.sort_by(f64::total_cmp);
    let m = diffs.len();
    let median = if m % 2 == 1 { diffs[m / 2] } else { (diffs[m / 2 - 1] + diffs[m / 2]) / 2.0 };
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let z = normal_quantile(1.0 - alpha / 2.0);
    let k = (n1 * n2 / 2.0 - z * (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()).floor().max(0.0) as usize;
    let k = k.min(m - 1);
    Some((median, diffs[k], diffs[m - 1 - k]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e_value_grows_with_the_estimate_and_shrinks_with_the_variance() {
        let e = |t, v| log_mixture_e_value(t, v, 0.04);
        assert!(e(0.5, 0.01) > e(0.3, 0.01));
        assert!(e(0.5, 0.01) > e(0.5, 0.02));
        // A negative estimate is no evidence of harm.
        assert!(e(-0.5, 0.01) < 0.0);
    }

    #[test]
    fn the_confidence_sequence_narrows_with_information() {
        assert!(mixture_cs_radius(0.001, 0.04, 0.05) < mixture_cs_radius(0.01, 0.04, 0.05));
        // Wider than the fixed-sample interval: the price of looking at every interval.
        assert!(mixture_cs_radius(0.01, 0.04, 0.05) > 1.96 * 0.1);
    }
}
