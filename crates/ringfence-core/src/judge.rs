//! The simple judge: turns metrics scraped from a treated tenant and from control tenants (still on the
//! previous version, over the same window) into a verdict, using each SLI's absolute limit (`max`) and
//! its limit relative to the control group (`maxRatioToControl`).
//!
//! Pure: it is given scrapes, it returns a [`Judgement`]. Scraping is an adapter's job, and deciding
//! when an observation ends is the engine's: the simple judge only ever fails a tenant or lets it keep
//! going ([`Verdict::Continue`]); the engine passes it when its observation time is over. A statistical
//! (anytime-valid) judge will replace this one behind the same shape.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engine::Verdict;
use crate::model::{MetricSelector, Sli};

/// One series of a scrape, as in the Prometheus text format: counters are cumulative; a histogram is
/// its `<name>_bucket{le="…"}` series plus `_sum` and `_count`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Metric name (for histograms, with the `_bucket` suffix).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Everything scraped from one tenant at one time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scrape {
    /// When it was taken.
    pub at: Option<Timestamp>,
    /// The series.
    pub series: Vec<Series>,
}

impl Scrape {
    /// Sum of the selected series.
    fn sum(&self, selector: &MetricSelector) -> f64 {
        self.series.iter().filter(|s| selector.matches(&s.name, &s.labels)).map(|s| s.value).sum()
    }

    /// Cumulative bucket counts of a histogram by upper bound, summed over the selected series.
    fn buckets(&self, histogram: &MetricSelector) -> BTreeMap<Bound, f64> {
        let bucket_name = format!("{}_bucket", histogram.name);
        let mut out = BTreeMap::new();
        for s in &self.series {
            if s.name != bucket_name || !histogram.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)) {
                continue;
            }
            let Some(le) = s.labels.get("le").and_then(|le| parse_bound(le)) else { continue };
            *out.entry(Bound(le)).or_insert(0.0) += s.value;
        }
        out
    }
}

/// A bucket's upper bound, ordered (`+Inf` last).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bound(f64);
impl Eq for Bound {}
impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        other => other.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

/// How much a counter grew between two scrapes. A counter that went down was reset (the process
/// restarted): what it counts now is all it counted since.
fn increase(start: f64, end: f64) -> f64 {
    if end >= start { end - start } else { end }
}

/// A tenant's observation window: the scrape at its start and the latest one.
#[derive(Clone, Copy, Debug)]
pub struct Window<'a> {
    /// The first scrape of the window.
    pub start: &'a Scrape,
    /// The latest scrape.
    pub end: &'a Scrape,
}

/// What one SLI measured over a window (or over a pooled group of windows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The SLI's value, when there was at least one event.
    pub value: Option<f64>,
    /// How many events it rests on (the ratio's total, or the histogram's count).
    pub events: f64,
    /// For ratios, the errors counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<f64>,
}

/// The judge's finding on one SLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliFinding {
    /// The SLI.
    pub sli: String,
    /// On the treated tenant.
    pub treated: Reading,
    /// On the control group, pooled.
    pub control: Reading,
    /// Treated value divided by control value, when both exist.
    pub ratio_to_control: Option<f64>,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// The verdict and the numbers behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Fail, or continue observing.
    pub verdict: Verdict,
    /// Per SLI.
    pub findings: Vec<SliFinding>,
}

/// What one SLI counted on one tenant over a window, for the comparative judges: a counter pair, or
/// a histogram's cumulative bucket counts by upper bound (`+Inf` last).
#[derive(Clone, Debug, PartialEq)]
pub enum Counted {
    /// Bad events among all events.
    Ratio {
        /// The errors counter's increase.
        errors: f64,
        /// The total counter's increase.
        total: f64,
    },
    /// Bucket increases, cumulative, by increasing upper bound.
    Histogram {
        /// Upper bounds, `+Inf` last.
        bounds: Vec<f64>,
        /// Cumulative counts per bound.
        cumulative: Vec<f64>,
    },
}

/// What `sli` counted over `window` (counter resets handled: a process that restarted counts from
/// zero). `None` when the SLI measures nothing.
pub fn counted(sli: &Sli, window: Window<'_>) -> Option<Counted> {
    if let Some(ratio) = &sli.ratio {
        return Some(Counted::Ratio {
            errors: increase(window.start.sum(&ratio.errors), window.end.sum(&ratio.errors)),
            total: increase(window.start.sum(&ratio.total), window.end.sum(&ratio.total)),
        });
    }
    let quantile = sli.quantile.as_ref()?;
    let start = window.start.buckets(&quantile.histogram);
    let end = window.end.buckets(&quantile.histogram);
    if end.is_empty() {
        return None; // Not exposed (yet): nothing to compare.
    }
    // A histogram restarts as a whole: when its total went down, every bucket counts from zero.
    let total = |b: &BTreeMap<Bound, f64>| b.last_key_value().map_or(0.0, |(_, v)| *v);
    let reset = total(&end) < total(&start);
    let (bounds, cumulative) = end
        .iter()
        .map(|(bound, v)| (bound.0, if reset { *v } else { (v - start.get(bound).copied().unwrap_or(0.0)).max(0.0) }))
        .unzip();
    Some(Counted::Histogram { bounds, cumulative })
}

/// Measures `sli` over the windows, pooling them (sums of counter increases and of bucket increases).
pub fn measure(sli: &Sli, windows: &[Window<'_>]) -> Reading {
    let counts = windows.iter().filter_map(|w| counted(sli, *w));
    if sli.ratio.is_some() {
        let (errors, total) = counts.fold((0.0, 0.0), |(e, t), c| match c {
            Counted::Ratio { errors, total } => (e + errors, t + total),
            Counted::Histogram { .. } => (e, t),
        });
        let value = (total > 0.0).then(|| (errors / total).min(1.0));
        return Reading { value, events: total, errors: Some(errors) };
    }
    if let Some(quantile) = &sli.quantile {
        let mut pooled: BTreeMap<Bound, f64> = BTreeMap::new();
        for c in counts {
            if let Counted::Histogram { bounds, cumulative } = c {
                for (bound, count) in bounds.into_iter().zip(cumulative) {
                    *pooled.entry(Bound(bound)).or_insert(0.0) += count;
                }
            }
        }
        let events = pooled.get(&Bound(f64::INFINITY)).copied().unwrap_or(0.0);
        return Reading { value: histogram_quantile(quantile.q, &pooled), events, errors: None };
    }
    Reading { value: None, events: 0.0, errors: None }
}

/// The `q` quantile of cumulative bucket counts, interpolating linearly inside the bucket it falls in
/// (as Prometheus's `histogram_quantile` does). Falls in the `+Inf` bucket: the highest finite bound.
fn histogram_quantile(q: f64, buckets: &BTreeMap<Bound, f64>) -> Option<f64> {
    let total = buckets.get(&Bound(f64::INFINITY)).copied()?;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for (&Bound(upper), &count) in buckets {
        if count >= rank {
            if upper.is_infinite() {
                return Some(lower_bound);
            }
            let in_bucket = count - lower_count;
            let fraction = if in_bucket > 0.0 { (rank - lower_count) / in_bucket } else { 1.0 };
            return Some(lower_bound + (upper - lower_bound) * fraction);
        }
        lower_bound = upper;
        lower_count = count;
    }
    Some(lower_bound)
}

/// Judges a treated tenant's window against the control tenants' windows over the same time.
///
/// An SLI fails the tenant when it has at least `minEvents` events and its value is above `max`, or when
/// both it and the pooled control group have `minEvents` events and its value is more than
/// `maxRatioToControl` times the control's. For error rates the control rate is smoothed (half an error
/// and one event added) so a clean control does not make one error infinitely worse, and the treated
/// errors must also exceed what the limit allows by more than the noise of a Poisson count (three
/// standard deviations, plus one): a handful of errors on a quiet tenant is not a regression.
pub fn judge(slis: &[Sli], treated: Window<'_>, controls: &[Window<'_>]) -> Judgement {
    let mut findings = Vec::with_capacity(slis.len());
    for sli in slis {
        let t = measure(sli, &[treated]);
        let c = measure(sli, controls);
        let min = sli.min_events as f64;
        let ratio_to_control = match (&sli.ratio, t.value, c.value) {
            (Some(_), Some(_), _) => {
                let smoothed = |r: &Reading| (r.errors.unwrap_or(0.0) + 0.5) / (r.events + 1.0);
                Some(smoothed(&t) / smoothed(&c))
            }
            (None, Some(tv), Some(cv)) if cv > 0.0 => Some(tv / cv),
            _ => None,
        };
        let mut failure = None;
        if let (Some(value), Some(max)) = (t.value, sli.max)
            && t.events >= min
            && value > max
        {
            failure = Some(format!("{} = {} > max {} (over {} events)", sli.name, fmt(value), fmt(max), t.events));
        }
        let beyond_noise = |limit: f64| match sli.ratio {
            Some(_) => {
                let control_rate = (c.errors.unwrap_or(0.0) + 0.5) / (c.events + 1.0);
                let allowed = control_rate * limit * t.events;
                t.errors.unwrap_or(0.0) > allowed + 3.0 * allowed.sqrt() + 1.0
            }
            None => true,
        };
        if failure.is_none()
            && let (Some(ratio), Some(limit)) = (ratio_to_control, sli.max_ratio_to_control)
            && t.events >= min
            && c.events >= min
            && ratio > limit
            && beyond_noise(limit)
        {
            failure = Some(format!(
                "{} = {} is {:.2}× the control's {} (limit {}×; {} vs {} events)",
                sli.name,
                fmt(t.value.unwrap_or(0.0)),
                ratio,
                fmt(c.value.unwrap_or(0.0)),
                limit,
                t.events,
                c.events
            ));
        }
        findings.push(SliFinding { sli: sli.name.clone(), treated: t, control: c, ratio_to_control, failure });
    }
    let failures: Vec<&str> = findings.iter().filter_map(|f| f.failure.as_deref()).collect();
    let verdict = if failures.is_empty() { Verdict::Continue } else { Verdict::Fail { reason: failures.join("; ") } };
    Judgement { verdict, findings }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() { format!("{v:.0}") } else { format!("{v:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{QuantileMeasure, RatioMeasure};

    fn series(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
        Series {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            value,
        }
    }

    fn checkout_sli(max: Option<f64>, ratio: Option<f64>) -> Sli {
        Sli {
            name: "checkout-error-rate".into(),
            ratio: Some(RatioMeasure {
                errors: "checkouts_failed_total".parse().unwrap(),
                total: "checkouts_started_total".parse().unwrap(),
            }),
            quantile: None,
            max,
            max_ratio_to_control: ratio,
            min_events: 20,
            harm: Default::default(),
            effect: 0.2,
        }
    }

    fn counters(failed: f64, started: f64) -> Scrape {
        Scrape {
            at: None,
            series: vec![
                series("checkouts_failed_total", &[], failed),
                series("checkouts_started_total", &[], started),
            ],
        }
    }

    fn latency(buckets: &[(&str, f64)]) -> Scrape {
        Scrape {
            at: None,
            series: buckets.iter().map(|(le, n)| series("order_seconds_bucket", &[("le", le)], *n)).collect(),
        }
    }

    #[test]
    fn fails_on_an_absolute_limit_only_with_enough_events() {
        let sli = checkout_sli(Some(0.02), None);
        let (start, few, many) = (counters(0.0, 0.0), counters(3.0, 10.0), counters(9.0, 30.0));
        let j = judge(std::slice::from_ref(&sli), Window { start: &start, end: &few }, &[]);
        assert_eq!(j.verdict, Verdict::Continue, "10 events are below minEvents 20");
        let j = judge(&[sli], Window { start: &start, end: &many }, &[]);
        let Verdict::Fail { reason } = j.verdict else { panic!("should fail") };
        assert!(reason.contains("0.3000 > max 0.02"), "{reason}");
        assert_eq!(j.findings[0].treated.value, Some(0.3));
    }

    #[test]
    fn compares_with_the_control_group_and_tolerates_a_clean_control() {
        let sli = checkout_sli(None, Some(2.0));
        let start = counters(0.0, 0.0);
        let control = counters(1.0, 100.0);
        let slightly_worse = counters(2.0, 100.0);
        let much_worse = counters(12.0, 100.0);
        let controls = [Window { start: &start, end: &control }];
        let j = judge(std::slice::from_ref(&sli), Window { start: &start, end: &slightly_worse }, &controls);
        assert_eq!(j.verdict, Verdict::Continue);
        let j = judge(std::slice::from_ref(&sli), Window { start: &start, end: &much_worse }, &controls);
        assert!(matches!(j.verdict, Verdict::Fail { .. }), "{j:?}");
        // One error against a control with none is not an infinite regression.
        let clean = counters(0.0, 100.0);
        let one = counters(1.0, 100.0);
        let j = judge(&[sli], Window { start: &start, end: &one }, &[Window { start: &start, end: &clean }]);
        assert_eq!(j.verdict, Verdict::Continue, "{j:?}");
    }

    #[test]
    fn counter_resets_count_from_zero() {
        let sli = checkout_sli(Some(0.02), None);
        // The process restarted between the scrapes: counters went down.
        let (start, end) = (counters(50.0, 1000.0), counters(10.0, 40.0));
        let j = judge(&[sli], Window { start: &start, end: &end }, &[]);
        assert_eq!(j.findings[0].treated.value, Some(0.25));
    }

    #[test]
    fn quantiles_interpolate_within_buckets_over_the_window_only() {
        let sli = Sli {
            name: "order-latency-p95".into(),
            ratio: None,
            quantile: Some(QuantileMeasure { histogram: "order_seconds".parse().unwrap(), q: 0.95 }),
            max: Some(0.5),
            max_ratio_to_control: Some(1.5),
            min_events: 20,
            harm: Default::default(),
            effect: 0.2,
        };
        // Before the window: 1000 fast orders, which must not dilute what happens in it.
        let start = latency(&[("0.1", 1000.0), ("0.25", 1000.0), ("1", 1000.0), ("+Inf", 1000.0)]);
        // In the window: 100 orders, 90 under 0.25 s, 10 between 0.25 s and 1 s.
        let end = latency(&[("0.1", 1000.0), ("0.25", 1090.0), ("1", 1100.0), ("+Inf", 1100.0)]);
        let reading = measure(&sli, &[Window { start: &start, end: &end }]);
        assert_eq!(reading.events, 100.0);
        let p95 = reading.value.unwrap();
        assert!((p95 - 0.625).abs() < 1e-9, "p95 {p95}");
        let j = judge(&[sli], Window { start: &start, end: &end }, &[]);
        assert!(matches!(j.verdict, Verdict::Fail { .. }), "0.625 > 0.5");
    }

    #[test]
    fn label_selectors_sum_only_matching_series() {
        let scrape = Scrape {
            at: None,
            series: vec![
                series("http_requests_total", &[("outcome", "server_error"), ("route", "/a")], 3.0),
                series("http_requests_total", &[("outcome", "server_error"), ("route", "/b")], 4.0),
                series("http_requests_total", &[("outcome", "ok"), ("route", "/a")], 100.0),
            ],
        };
        let selector: MetricSelector = r#"http_requests_total{outcome="server_error"}"#.parse().unwrap();
        assert_eq!(scrape.sum(&selector), 7.0);
    }
}
