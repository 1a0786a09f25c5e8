//! Metric sources: where the judges' numbers come from. One question, two answers: "what were the
//! cumulative values of these counters and histogram buckets for tenant T (now, at time t, or every
//! step over a range)?", answered by
//! - [`ScrapeSource`]: a direct scrape of each tenant's `/metrics` (Prometheus or OpenMetrics text,
//!   parsed by [`exposition`]); it only knows the present;
//! - [`PrometheusSource`]: the Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`), with
//!   PromQL built from the same [`Selector`]s or written by hand as [`promql::Template`]s that name the
//!   tenant.
//!
//! Both return the same [`Reading`]: one [`Value`] per [`Query`], counters summed over the selected
//! series and histograms summed bucket by bucket, ready to become the judges' `Sample`s.
//!
//! An adapter: it opens sockets and reads the clock. It does not decide anything (the judges do), does
//! not subtract baselines or handle counter resets (the caller keeps the readings it needs), and knows
//! nothing of the engine or the fleet model.

pub mod exposition;
mod http;
pub mod prometheus;
pub mod promql;
pub mod scrape;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use ringfence_judge::{Histogram, Sample};
use serde::{Deserialize, Serialize};

pub use prometheus::{PrometheusConfig, PrometheusSource};
pub use promql::Template;
pub use scrape::ScrapeSource;

/// A metric name with label equality matchers, e.g. `storefront_http_requests_total{outcome="server_error"}`.
/// Series match when they have the name and every listed label with its value (other labels are summed
/// over).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// Metric name as the series carry it (counters with their `_total`; histograms without `_bucket`).
    pub metric: String,
    /// Labels the series must have, with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Selector {
    /// All series of `metric`.
    pub fn new(metric: impl Into<String>) -> Selector {
        Selector { metric: metric.into(), labels: BTreeMap::new() }
    }

    /// Also requires label `name` to equal `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Selector {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// Whether the series `name{labels}` is selected.
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        name == self.metric && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Checks that the metric and label names are valid Prometheus names.
    pub fn validate(&self) -> Result<(), MetricsError> {
        if !promql::is_metric_name(&self.metric) {
            return Err(MetricsError::Config(format!("{:?} is not a Prometheus metric name", self.metric)));
        }
        if let Some(bad) = self.labels.keys().find(|k| !promql::is_label_name(k)) {
            return Err(MetricsError::Config(format!("{bad:?} (on {}) is not a Prometheus label name", self.metric)));
        }
        Ok(())
    }
}

/// Whether a query reads a counter or a histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The sum of the selected series.
    Counter,
    /// The selected histogram's `<metric>_bucket` series, summed per `le`.
    Histogram,
}

/// One cumulative quantity to read for a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// Counter or histogram.
    pub kind: Kind,
    /// Which series, for both sources.
    pub selector: Selector,
    /// For [`PrometheusSource`] only: PromQL to run instead of the one built from `selector`.
    pub promql: Option<Template>,
}

impl Query {
    /// The sum of the series `selector` selects.
    pub fn counter(selector: Selector) -> Query {
        Query { kind: Kind::Counter, selector, promql: None }
    }

    /// The histogram `selector` names (without `_bucket`), summed per bucket.
    pub fn histogram(selector: Selector) -> Query {
        Query { kind: Kind::Histogram, selector, promql: None }
    }

    /// Runs `template` on Prometheus instead of the PromQL built from the selector.
    pub fn with_promql(mut self, template: Template) -> Query {
        self.promql = Some(template);
        self
    }
}

/// What a query read.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A counter's value (summed over the selected series; 0 when none exists yet).
    Counter(f64),
    /// Cumulative bucket counts (no buckets when the histogram has no series yet).
    Histogram(Histogram),
}

impl Value {
    /// The counter's value, if this is one.
    pub fn counter(&self) -> Option<f64> {
        match self {
            Value::Counter(v) => Some(*v),
            Value::Histogram(_) => None,
        }
    }

    /// The histogram, if this is one.
    pub fn histogram(&self) -> Option<&Histogram> {
        match self {
            Value::Histogram(h) => Some(h),
            Value::Counter(_) => None,
        }
    }
}

/// One tenant's values at one time, in the order of the queries asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The tenant.
    pub tenant: String,
    /// When the values held: the scrape's start, or Prometheus's evaluation time.
    pub at: Timestamp,
    /// One per query.
    pub values: Vec<Value>,
}

impl Reading {
    /// The judges' ratio sample from two counters of this reading (by query index): `hits` among `trials`.
    pub fn ratio(&self, hits: usize, trials: usize) -> Option<Sample> {
        Some(Sample::Ratio { hits: self.values.get(hits)?.counter()?, trials: self.values.get(trials)?.counter()? })
    }

    /// The judges' histogram sample from a histogram query of this reading.
    pub fn histogram(&self, index: usize) -> Option<Sample> {
        self.values.get(index)?.histogram().cloned().map(Sample::Histogram)
    }
}

/// Where a tenant's cumulative counters and histogram buckets are read from.
pub trait MetricSource {
    /// The values now.
    fn latest(&self, tenant: &str, queries: &[Query]) -> Result<Reading, MetricsError>;

    /// The values as they were at `at` (the latest sample at or before it).
    fn at(&self, tenant: &str, queries: &[Query], at: Timestamp) -> Result<Reading, MetricsError>;

    /// The values every `step` from `start` to `end` inclusive.
    fn range(
        &self,
        tenant: &str,
        queries: &[Query],
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<Reading>, MetricsError>;
}

/// Cumulative bucket counts per upper bound, summed as series arrive, turned into a [`Histogram`].
#[derive(Default)]
pub(crate) struct BucketSum(BTreeMap<Bound, f64>);

impl BucketSum {
    pub(crate) fn add(&mut self, le: f64, count: f64) {
        *self.0.entry(Bound(le)).or_insert(0.0) += count;
    }

    pub(crate) fn finish(self) -> Histogram {
        let (bounds, cumulative): (Vec<f64>, Vec<f64>) = self.0.into_iter().map(|(Bound(b), c)| (b, c)).unzip();
        Histogram { bounds: Arc::from(bounds), cumulative }
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

/// Parses a sample value or `le` bound as both formats write them: decimals, exponents, `NaN`,
/// `+Inf`, `-Inf` (Prometheus's JSON writes values as such strings too).
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ if s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) => s.parse().ok(),
        _ => None,
    }
}

/// What went wrong reading metrics. Every variant names the tenant and the URL or query involved.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The request did not get an answer (connection refused, timeout, reset).
    #[error("tenant {tenant}: {url}: {reason}")]
    Http {
        /// The tenant.
        tenant: String,
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The answer had an unexpected HTTP status.
    #[error("tenant {tenant}: {url} answered HTTP {status}: {body}")]
    Status {
        /// The tenant.
        tenant: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A `/metrics` page that is not valid exposition text.
    #[error("tenant {tenant}: {url}: line {line}: {reason}")]
    Exposition {
        /// The tenant.
        tenant: String,
        /// The URL.
        url: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// Valid exposition text whose selected series cannot be read as asked (a bucket without `le`).
    #[error("tenant {tenant}: {url}: {reason}")]
    Series {
        /// The tenant.
        tenant: String,
        /// The URL.
        url: String,
        /// What is wrong with the series.
        reason: String,
    },
    /// Prometheus refused the query (`"status": "error"`).
    #[error("tenant {tenant}: Prometheus at {url} refused `{query}`: {error_type}: {error}")]
    Prometheus {
        /// The tenant.
        tenant: String,
        /// The API URL.
        url: String,
        /// The PromQL sent.
        query: String,
        /// Prometheus's `errorType`, e.g. `bad_data`, `timeout`.
        error_type: String,
        /// Prometheus's `error`.
        error: String,
    },
    /// Prometheus (or the template) answered something that cannot be read as the query's kind.
    #[error("tenant {tenant}: Prometheus at {url}: `{query}`: {reason}")]
    Result {
        /// The tenant.
        tenant: String,
        /// The API URL.
        url: String,
        /// The PromQL sent.
        query: String,
        /// What is wrong with the result.
        reason: String,
    },
    /// Prometheus knows no target for the tenant: its scrape configuration lacks the tenant label.
    #[error(
        "tenant {tenant}: Prometheus at {url} has no data for it (`{query}` is empty); check that its scrape configuration labels the tenant's target {label}=\"{tenant}\""
    )]
    NoData {
        /// The tenant.
        tenant: String,
        /// The API URL.
        url: String,
        /// The presence query.
        query: String,
        /// The tenant label name.
        label: String,
    },
    /// Prometheus's last scrape of the tenant failed.
    #[error("tenant {tenant}: Prometheus at {url} reports its target down (`{query}` is 0): its values are stale")]
    TargetDown {
        /// The tenant.
        tenant: String,
        /// The API URL.
        url: String,
        /// The presence query.
        query: String,
    },
    /// The scrape source has no URL for the tenant.
    #[error("tenant {tenant}: no /metrics URL configured for it")]
    UnknownTenant {
        /// The tenant.
        tenant: String,
    },
    /// A direct scrape only reads the present.
    #[error(
        "tenant {tenant}: a direct scrape of /metrics only reads the present; keep earlier readings, or use the Prometheus source for history"
    )]
    NoHistory {
        /// The tenant.
        tenant: String,
    },
    /// A PromQL template that cannot be used.
    #[error("PromQL template `{template}`: {reason}")]
    Template {
        /// The template as written.
        template: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Other configuration errors (URLs, names, durations).
    #[error("{0}")]
    Config(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_both_formats_write_them() {
        assert_eq!(parse_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_float("-Inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float("NaN").unwrap().is_nan());
        assert_eq!(parse_float("1.5e+06"), Some(1_500_000.0));
        assert_eq!(parse_float("0.005"), Some(0.005));
        assert_eq!(parse_float("infinity"), None);
        assert_eq!(parse_float("1_000"), None);
        assert_eq!(parse_float(""), None);
    }

    #[test]
    fn buckets_sum_per_bound_with_inf_last() {
        let mut sum = BucketSum::default();
        sum.add(f64::INFINITY, 10.0);
        sum.add(0.5, 7.0);
        sum.add(0.1, 3.0);
        sum.add(0.5, 1.0);
        sum.add(f64::INFINITY, 2.0);
        let h = sum.finish();
        assert_eq!(&*h.bounds, &[0.1, 0.5, f64::INFINITY]);
        assert_eq!(h.cumulative, vec![3.0, 8.0, 12.0]);
    }

    #[test]
    fn readings_become_judge_samples() {
        let reading = Reading {
            tenant: "a".into(),
            at: Timestamp::UNIX_EPOCH,
            values: vec![Value::Counter(2.0), Value::Counter(50.0)],
        };
        assert_eq!(reading.ratio(0, 1), Some(Sample::Ratio { hits: 2.0, trials: 50.0 }));
        assert_eq!(reading.histogram(0), None);
        assert_eq!(reading.ratio(0, 2), None);
    }
}
