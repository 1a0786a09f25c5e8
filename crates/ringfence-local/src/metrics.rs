//! Reading a tenant's `/metrics` (Prometheus text format) into the judge's [`Scrape`], and checking
//! `/health`. HTTP to loopback only; parsing by the prometheus-parse crate.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use ringfence_core::judge::{Scrape, Series};

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

/// Scrapes `url` (a `/metrics` endpoint) at time `at`.
pub fn scrape(url: &str, at: Timestamp, timeout: Duration) -> Result<Scrape, LocalError> {
    let (status, body) = get(url, timeout)?;
    if status != 200 {
        return Err(LocalError::Http { url: url.to_owned(), reason: format!("status {status}") });
    }
    parse(&body, at).map_err(|reason| LocalError::Http { url: url.to_owned(), reason })
}

/// Parses Prometheus (or OpenMetrics) text into series; histograms become their `_bucket{le="…"}`
/// series, as the judge reads them.
pub fn parse(text: &str, at: Timestamp) -> Result<Scrape, String> {
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).map_err(|e| e.to_string())?;
    let mut series = Vec::with_capacity(parsed.samples.len());
    for sample in parsed.samples {
        let labels: BTreeMap<String, String> = sample.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => series.push(Series { name: sample.metric, labels, value: v }),
            prometheus_parse::Value::Histogram(buckets) => {
                for bucket in buckets {
                    let mut labels = labels.clone();
                    let le =
                        if bucket.less_than.is_infinite() { "+Inf".to_owned() } else { bucket.less_than.to_string() };
                    labels.insert("le".into(), le);
                    series.push(Series { name: format!("{}_bucket", sample.metric), labels, value: bucket.count });
                }
            }
            // Summaries carry precomputed quantiles that cannot be combined over a window; not used.
            prometheus_parse::Value::Summary(_) => {}
        }
    }
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
