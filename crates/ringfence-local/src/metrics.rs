//! Reading a tenant's `/metrics` (Prometheus text format) into the judge's [`Scrape`], and checking
//! `/health`. HTTP to loopback only; parsing by `ringfence-metrics`.

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
