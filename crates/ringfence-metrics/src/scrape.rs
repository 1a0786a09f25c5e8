//! The direct source: GET a tenant's `/metrics`, parse the exposition, read the queries from it.
//! The embedded default (no Prometheus needed); it only knows the present, so whoever wants a
//! baseline keeps the readings it took.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::{MetricSource, MetricsError, Query, Reading, exposition, http};

/// Scrapes each tenant's `/metrics` URL over HTTP.
#[derive(Debug)]
pub struct ScrapeSource {
    targets: BTreeMap<String, String>,
    timeout: Duration,
    agent: ureq::Agent,
}

impl ScrapeSource {
    /// A source with no tenants yet, giving each scrape `timeout` in all.
    pub fn new(timeout: Duration) -> ScrapeSource {
        ScrapeSource { targets: BTreeMap::new(), timeout, agent: http::agent(timeout) }
    }

    /// Reads `tenant` from `url` (e.g. `http://127.0.0.1:8101/metrics`).
    pub fn with_target(
        mut self,
        tenant: impl Into<String>,
        url: impl Into<String>,
    ) -> Result<ScrapeSource, MetricsError> {
        let url = url.into();
        http::check_url(&url)?;
        self.targets.insert(tenant.into(), url);
        Ok(self)
    }

    /// The tenant's URL, if configured.
    pub fn url(&self, tenant: &str) -> Option<&str> {
        self.targets.get(tenant).map(String::as_str)
    }

    /// GETs and parses the tenant's `/metrics`; `at` is when the request started.
    pub fn scrape(&self, tenant: &str) -> Result<(Timestamp, exposition::Exposition), MetricsError> {
        let url = self.url(tenant).ok_or_else(|| MetricsError::UnknownTenant { tenant: tenant.to_owned() })?;
        let at = Timestamp::now();
        let fail = |reason| MetricsError::Http { tenant: tenant.to_owned(), url: url.to_owned(), reason };
        let answer = http::get(&self.agent, url, self.timeout, fail)?;
        if answer.status != 200 {
            return Err(MetricsError::Status {
                tenant: tenant.to_owned(),
                url: url.to_owned(),
                status: answer.status,
                body: http::excerpt(&answer.body),
            });
        }
        let expo = exposition::parse(&answer.body).map_err(|e| MetricsError::Exposition {
            tenant: tenant.to_owned(),
            url: url.to_owned(),
            line: e.line,
            reason: e.reason,
        })?;
        Ok((at, expo))
    }
}

impl MetricSource for ScrapeSource {
    fn latest(&self, tenant: &str, queries: &[Query]) -> Result<Reading, MetricsError> {
        let (at, expo) = self.scrape(tenant)?;
        let url = self.url(tenant).unwrap_or_default();
        let values = queries
            .iter()
            .map(|q| {
                expo.read(q).map_err(|reason| MetricsError::Series {
                    tenant: tenant.to_owned(),
                    url: url.to_owned(),
                    reason,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Reading { tenant: tenant.to_owned(), at, values })
    }

    fn at(&self, tenant: &str, _: &[Query], _: Timestamp) -> Result<Reading, MetricsError> {
        Err(MetricsError::NoHistory { tenant: tenant.to_owned() })
    }

    fn range(
        &self,
        tenant: &str,
        _: &[Query],
        _: Timestamp,
        _: Timestamp,
        _: Duration,
    ) -> Result<Vec<Reading>, MetricsError> {
        Err(MetricsError::NoHistory { tenant: tenant.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::{Selector, Value};

    /// A loopback server answering every connection with `response` (raw HTTP), or never when `None`.
    fn serve(response: Option<String>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            match response {
                Some(r) => stream.write_all(r.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_millis(800)),
            }
        });
        (url, handle)
    }

    #[test]
    fn reads_counters_and_histograms_over_http() {
        let body =
            "# TYPE c counter\nc_total{k=\"a\"} 2\nc_total{k=\"b\"} 3\nh_bucket{le=\"1\"} 4\nh_bucket{le=\"+Inf\"} 5\n";
        let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let (url, server) = serve(Some(response));
        let source = ScrapeSource::new(Duration::from_secs(5)).with_target("shop-a", url).unwrap();
        let queries = [
            Query::counter(Selector::new("c_total")),
            Query::counter(Selector::new("c_total").with("k", "b")),
            Query::histogram(Selector::new("h")),
        ];
        let reading = source.latest("shop-a", &queries).unwrap();
        server.join().unwrap();
        assert_eq!(reading.values[0], Value::Counter(5.0));
        assert_eq!(reading.values[1], Value::Counter(3.0));
        assert_eq!(reading.values[2].histogram().unwrap().cumulative, vec![4.0, 5.0]);
    }

    #[test]
    fn a_silent_tenant_times_out_with_its_name_and_url() {
        let (url, server) = serve(None);
        let source = ScrapeSource::new(Duration::from_millis(200)).with_target("shop-slow", url.clone()).unwrap();
        let err = source.latest("shop-slow", &[]).unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.contains("tenant shop-slow") && err.contains(&url) && err.contains("timed out"), "{err}");
    }

    #[test]
    fn refused_connections_bad_statuses_and_bad_text_say_where() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/metrics");
        let source = ScrapeSource::new(Duration::from_secs(2)).with_target("shop-gone", url.clone()).unwrap();
        let err = source.latest("shop-gone", &[]).unwrap_err().to_string();
        assert!(err.starts_with(&format!("tenant shop-gone: {url}: ")), "{err}");

        let (url, server) = serve(Some("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy".into()));
        let source = ScrapeSource::new(Duration::from_secs(5)).with_target("shop-b", url.clone()).unwrap();
        let err = source.latest("shop-b", &[]).unwrap_err().to_string();
        server.join().unwrap();
        assert_eq!(err, format!("tenant shop-b: {url} answered HTTP 503: busy"));

        let (url, server) = serve(Some("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok 1\nx y\n\n".into()));
        let source = ScrapeSource::new(Duration::from_secs(5)).with_target("shop-c", url.clone()).unwrap();
        let err = source.latest("shop-c", &[]).unwrap_err().to_string();
        server.join().unwrap();
        assert!(err.starts_with(&format!("tenant shop-c: {url}: line 2: ")), "{err}");

        assert!(matches!(source.latest("shop-x", &[]), Err(MetricsError::UnknownTenant { .. })));
        assert!(matches!(source.at("shop-c", &[], Timestamp::now()), Err(MetricsError::NoHistory { .. })));
        assert!(ScrapeSource::new(Duration::from_secs(1)).with_target("a", "https://x/metrics").is_err());
    }
}
