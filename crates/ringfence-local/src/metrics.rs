//! Reading a tenant's metrics into the judge's [`Scrape`] — by scraping its `/metrics` (Prometheus
//! text format; the default), or through a Prometheus server's HTTP API ([`Reader::Prometheus`],
//! the policy's `metrics.prometheus`) — and checking `/health`. Parsing and PromQL by
//! `ringfence-metrics`.

use std::time::Duration;

use jiff::Timestamp;
use ringfence_core::judge::{Scrape, Series};
use ringfence_core::model::{MetricSelector, MetricsSpec, Sli};

use crate::LocalError;

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).build().into()
}

/// GETs `url` and returns the status and body.
pub fn get(url: &str, timeout: Duration) -> Result<(u16, String), LocalError> {
    let mut response =
        agent(timeout).get(url).call().map_err(|e| LocalError::Http { url: url.to_owned(), reason: e.to_string() })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| LocalError::Http { url: url.to_owned(), reason: e.to_string() })?;
    Ok((status, body))
}

/// How the driver reads a tenant's SLIs.
pub enum Reader {
    /// GET each tenant's own `/metrics` on its loopback port.
    Scrape,
    /// Ask Prometheus for the series the SLIs name, summed per tenant (the tenant label selects it).
    Prometheus {
        /// The source.
        source: ringfence_metrics::PrometheusSource,
        /// The series the SLIs read, as queries.
        queries: Vec<ringfence_metrics::Query>,
    },
}

impl Reader {
    /// The reader `spec` asks for, reading what `slis` need.
    pub fn new(spec: &MetricsSpec, slis: &[Sli]) -> Result<Reader, LocalError> {
        let Some(prometheus) = &spec.prometheus else { return Ok(Reader::Scrape) };
        let config = ringfence_metrics::PrometheusConfig::new(prometheus.url.clone())
            .tenant_label(prometheus.tenant_label.clone());
        let source = ringfence_metrics::PrometheusSource::new(config)
            .map_err(|e| LocalError::Config(format!("metrics.prometheus: {e}")))?;
        let selector = |m: &MetricSelector| {
            m.labels
                .iter()
                .fold(ringfence_metrics::Selector::new(m.name.clone()), |s, (k, v)| s.with(k.clone(), v.clone()))
        };
        let mut queries = Vec::new();
        for sli in slis {
            if let Some(ratio) = &sli.ratio {
                queries.push(ringfence_metrics::Query::counter(selector(&ratio.errors)));
                queries.push(ringfence_metrics::Query::counter(selector(&ratio.total)));
            }
            if let Some(quantile) = &sli.quantile {
                queries.push(ringfence_metrics::Query::histogram(selector(&quantile.histogram)));
            }
        }
        Ok(Reader::Prometheus { source, queries })
    }

    /// What `tenant` (serving on `port`) has counted, now.
    pub fn read(&self, tenant: &str, port: u16, timeout: Duration) -> Result<Scrape, LocalError> {
        match self {
            Reader::Scrape => scrape(&format!("http://127.0.0.1:{port}/metrics"), Timestamp::now(), timeout),
            Reader::Prometheus { source, queries } => {
                use ringfence_metrics::MetricSource;
                let reading = source
                    .latest(tenant, queries)
                    .map_err(|e| LocalError::Http { url: "prometheus".into(), reason: e.to_string() })?;
                Ok(from_reading(queries, &reading))
            }
        }
    }
}

/// A Prometheus reading as the series a scrape of the tenant would have summed to: a counter as one
/// series with the selector's labels, a histogram as its cumulative `_bucket{le=…}` series.
fn from_reading(queries: &[ringfence_metrics::Query], reading: &ringfence_metrics::Reading) -> Scrape {
    let mut series = Vec::new();
    for (query, value) in queries.iter().zip(&reading.values) {
        let labels = query.selector.labels.clone();
        match value {
            ringfence_metrics::Value::Counter(v) => {
                series.push(Series { name: query.selector.metric.clone(), labels, value: *v })
            }
            ringfence_metrics::Value::Histogram(h) => {
                for (bound, count) in h.bounds.iter().zip(&h.cumulative) {
                    let mut labels = labels.clone();
                    let le = if bound.is_infinite() { "+Inf".to_owned() } else { bound.to_string() };
                    labels.insert("le".into(), le);
                    series.push(Series { name: format!("{}_bucket", query.selector.metric), labels, value: *count });
                }
            }
        }
    }
    Scrape { at: Some(reading.at), series }
}

/// Scrapes `url` (a `/metrics` endpoint) at time `at`.
pub fn scrape(url: &str, at: Timestamp, timeout: Duration) -> Result<Scrape, LocalError> {
    let (status, body) = get(url, timeout)?;
    if status != 200 {
        return Err(LocalError::Http { url: url.to_owned(), reason: format!("status {status}") });
    }
    parse(&body, at).map_err(|reason| LocalError::Http { url: url.to_owned(), reason })
}

/// Parses Prometheus (or OpenMetrics) text into series, with `ringfence-metrics`' exposition parser;
/// histograms are their `_bucket{le="…"}` series, as the judge reads them.
pub fn parse(text: &str, at: Timestamp) -> Result<Scrape, String> {
    let parsed = ringfence_metrics::exposition::parse(text).map_err(|e| e.to_string())?;
    let series = parsed
        .samples
        .into_iter()
        .map(|sample| Series { name: sample.name, labels: sample.labels, value: sample.value })
        .collect();
    Ok(Scrape { at: Some(at), series })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters_and_histograms_in_openmetrics_text() {
        let text = "\
# HELP shop_checkouts_started Checkouts started.
# TYPE shop_checkouts_started counter
shop_checkouts_started_total 42
# TYPE shop_order_seconds histogram
shop_order_seconds_sum 3.5
shop_order_seconds_count 40
shop_order_seconds_bucket{le=\"0.1\"} 30
shop_order_seconds_bucket{le=\"0.5\"} 38
shop_order_seconds_bucket{le=\"+Inf\"} 40
# TYPE http_requests counter
http_requests_total{route=\"/carts\",outcome=\"ok\"} 7
# EOF
";
        let scrape = parse(text, Timestamp::UNIX_EPOCH).unwrap();
        let find = |name: &str, label: Option<(&str, &str)>| {
            scrape
                .series
                .iter()
                .find(|s| s.name == name && label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v)))
                .map(|s| s.value)
        };
        assert_eq!(find("shop_checkouts_started_total", None), Some(42.0));
        assert_eq!(find("shop_order_seconds_bucket", Some(("le", "0.5"))), Some(38.0));
        assert_eq!(find("shop_order_seconds_bucket", Some(("le", "+Inf"))), Some(40.0));
        assert_eq!(find("http_requests_total", Some(("route", "/carts"))), Some(7.0));
    }
}
