//! Reading samples: a ratio's value, a histogram's quantile and exceedance (interpolating linearly inside
//! a bucket, as Prometheus's `histogram_quantile` does), increments between two cumulative samples, and
//! the reduction every judge shares — a tenant's SLI as "hits among trials" with a baseline rate.
//!
//! Not responsible for deciding anything: judges do.

use crate::{Histogram, Measure, Sample};

impl Histogram {
    /// Total observations.
    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The `q` quantile, interpolating linearly inside its bucket (the first bucket starts at 0). In the
    /// `+Inf` bucket: the highest finite bound. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for (&upper, &count) in self.bounds.iter().zip(&self.cumulative) {
            if count >= rank && count > below {
                if upper.is_infinite() {
                    return Some(lower);
                }
                return Some(lower + (upper - lower) * (rank - below) / (count - below));
            }
            if upper.is_finite() {
                lower = upper;
            }
            below = count;
        }
        Some(lower)
    }

    /// Observations above `value`, interpolating linearly inside its bucket: the inverse of
    /// [`Histogram::quantile`], so a histogram's own `q` quantile has `(1 − q) · total` above it.
    pub fn above(&self, value: f64) -> f64 {
        let total = self.total();
        let (mut lower, mut below) = (0.0, 0.0);
        for (&upper, &count) in self.bounds.iter().zip(&self.cumulative) {
            if value < upper {
                if upper.is_infinite() {
                    // Past the last finite bound: nothing known beyond; the +Inf bucket is all above.
                    return total - below;
                }
                let at_or_below = below + (count - below) * ((value - lower) / (upper - lower)).clamp(0.0, 1.0);
                return total - at_or_below;
            }
            lower = upper;
            below = count;
        }
        0.0
    }

    /// Bucket-wise difference `self − earlier` (both cumulative over the same bounds).
    pub fn minus(&self, earlier: &Histogram) -> Histogram {
        let cumulative = self
            .cumulative
            .iter()
            .zip(earlier.cumulative.iter().chain(std::iter::repeat(&0.0)))
            .map(|(a, b)| (a - b).max(0.0))
            .collect();
        Histogram { bounds: self.bounds.clone(), cumulative }
    }
}

impl Sample {
    /// Events behind the sample: the ratio's trials or the histogram's count.
    pub fn events(&self) -> f64 {
        match self {
            Sample::Ratio { trials, .. } => *trials,
            Sample::Histogram(h) => h.total(),
        }
    }

    /// The SLI's value: the ratio, or the histogram's quantile.
    pub fn value(&self, measure: Measure) -> Option<f64> {
        match (self, measure) {
            (Sample::Ratio { hits, trials }, Measure::Ratio) => (*trials > 0.0).then(|| hits / trials),
            (Sample::Histogram(h), Measure::Quantile { q }) => h.quantile(q),
            _ => None,
        }
    }

    /// What was counted between `earlier` and `self` (both cumulative).
    pub fn minus(&self, earlier: &Sample) -> Sample {
        match (self, earlier) {
            (Sample::Ratio { hits, trials }, Sample::Ratio { hits: h0, trials: t0 }) => {
                Sample::Ratio { hits: (hits - h0).max(0.0), trials: (trials - t0).max(0.0) }
            }
            (Sample::Histogram(h), Sample::Histogram(h0)) => Sample::Histogram(h.minus(h0)),
            _ => self.clone(),
        }
    }
}

/// A tenant's SLI reduced to hits among trials since the switch, with its baseline rate of hits.
///
/// For a ratio, hits are the ratio's numerator. For a quantile `q`, hits are the observations above the
/// tenant's own baseline `q` quantile (its *exceedances*), whose baseline rate is `1 − q` by
/// construction: a latency regression shows as more exceedances, whatever the tenant's usual latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reduced {
    /// Hits since the switch.
    pub hits: f64,
    /// Trials since the switch.
    pub trials: f64,
    /// Baseline rate of hits per trial (smoothed: half a hit and one trial added).
    pub rate: f64,
    /// Variance of `rate` as an estimate (binomial).
    pub rate_var: f64,
    /// For quantiles, the baseline quantile value the exceedances are counted above.
    pub reference: Option<f64>,
}

/// A tenant's baseline, read once: its rate of hits and, for quantiles, the reference value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BaselineRate {
    /// Rate of hits per trial (smoothed: half a hit and one trial added).
    pub rate: f64,
    /// Variance of `rate` as an estimate (binomial).
    pub rate_var: f64,
    /// For quantiles, the baseline quantile value exceedances are counted above.
    pub reference: Option<f64>,
}

/// The baseline half of [`reduce`]; `None` when the baseline is empty or does not fit `measure`.
pub fn baseline_rate(measure: Measure, baseline: &Sample) -> Option<BaselineRate> {
    let smoothed = |hits: f64, trials: f64, reference| {
        let rate = ((hits + 0.5) / (trials + 1.0)).min(1.0);
        Some(BaselineRate { rate, rate_var: rate * (1.0 - rate) / (trials + 1.0), reference })
    };
    match (measure, baseline) {
        (Measure::Ratio, Sample::Ratio { hits, trials }) if *trials > 0.0 => smoothed(*hits, *trials, None),
        (Measure::Quantile { q }, Sample::Histogram(base)) => {
            let reference = base.quantile(q)?;
            smoothed(base.above(reference), base.total(), Some(reference))
        }
        _ => None,
    }
}

/// The post-switch half of [`reduce`]: hits and trials, given the baseline's reference value.
pub fn since_switch(measure: Measure, post: &Sample, baseline: &BaselineRate) -> Option<(f64, f64)> {
    match (measure, post, baseline.reference) {
        (Measure::Ratio, Sample::Ratio { hits, trials }, _) => Some((*hits, *trials)),
        (Measure::Quantile { .. }, Sample::Histogram(h), Some(reference)) => Some((h.above(reference), h.total())),
        _ => None,
    }
}

/// Reduces one tenant's samples; `None` when its baseline is empty or the samples do not fit `measure`.
pub fn reduce(measure: Measure, baseline: &Sample, post: &Sample) -> Option<Reduced> {
    let base = baseline_rate(measure, baseline)?;
    let (hits, trials) = since_switch(measure, post, &base)?;
    Some(Reduced { hits, trials, rate: base.rate, rate_var: base.rate_var, reference: base.reference })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn hist(bounds: &[f64], cumulative: &[f64]) -> Histogram {
        Histogram { bounds: Arc::from(bounds), cumulative: cumulative.to_vec() }
    }

    #[test]
    fn quantile_and_above_are_inverse() {
        let h = hist(&[0.1, 0.25, 1.0, f64::INFINITY], &[10.0, 90.0, 100.0, 100.0]);
        let p95 = h.quantile(0.95).unwrap();
        assert!((p95 - 0.625).abs() < 1e-12, "{p95}");
        assert!((h.above(p95) - 5.0).abs() < 1e-9);
        let p50 = h.quantile(0.5).unwrap();
        assert!((h.above(p50) - 50.0).abs() < 1e-9);
        assert_eq!(h.above(2.0), 0.0);
        assert_eq!(h.above(0.0), 100.0);
    }

    #[test]
    fn the_inf_bucket_counts_as_above_the_last_bound() {
        let h = hist(&[1.0, f64::INFINITY], &[90.0, 100.0]);
        assert_eq!(h.quantile(0.95), Some(1.0));
        assert_eq!(h.above(1.0), 10.0);
        assert_eq!(h.above(5.0), 10.0);
    }

    #[test]
    fn increments_subtract_bucketwise() {
        let a = Sample::Histogram(hist(&[1.0, f64::INFINITY], &[5.0, 6.0]));
        let b = Sample::Histogram(hist(&[1.0, f64::INFINITY], &[8.0, 12.0]));
        assert_eq!(b.minus(&a).events(), 6.0);
        let r = Sample::Ratio { hits: 3.0, trials: 10.0 }.minus(&Sample::Ratio { hits: 1.0, trials: 4.0 });
        assert_eq!(r, Sample::Ratio { hits: 2.0, trials: 6.0 });
    }
}
