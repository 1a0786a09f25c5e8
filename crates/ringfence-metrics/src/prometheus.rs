//! The Prometheus source: tenants' counters and histogram buckets read through the Prometheus HTTP API
//! (`/api/v1/query`, `/api/v1/query_range`), for hosters whose Prometheus already scrapes every tenant
//! with a tenant label.
//!
//! Each [`Query`] runs as PromQL: its own [`Template`] when it has one, otherwise one built from its
//! selector (`sum(metric{…,tenant="T"})`, or `sum by (le) (metric_bucket{…})` for histograms), so
//! that, by default, it reads the same cumulative values a direct scrape does. Before reading, a
//! presence query (by default `up{tenant="T"}`) makes sure Prometheus knows the tenant and scraped it
//! last time: an unknown tenant is an error, never a row of zeros.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Deserialize;

use crate::promql::{self, Template};
use crate::{BucketSum, Kind, MetricSource, MetricsError, Query, Reading, Value, http, parse_float};

/// Where Prometheus is and how tenants are labelled in it.
#[derive(Clone, Debug)]
pub struct PrometheusConfig {
    /// The server, e.g. `http://127.0.0.1:9090` (the API paths are appended).
    pub url: String,
    /// The label that carries the tenant id on the tenants' series; `tenant` by default.
    pub tenant_label: String,
    /// What `{window}` stands for in templates; 5 minutes by default.
    pub window: Duration,
    /// Per request, both for the HTTP call and for Prometheus's evaluation; 10 s by default.
    pub timeout: Duration,
    /// Checks the tenant is known and up before a reading: empty means unknown, any 0 means down.
    /// `up{<tenant_label>="{tenant}"}` by default; `None` skips the check.
    pub presence: Option<Template>,
}

impl PrometheusConfig {
    /// The defaults for a Prometheus at `url` labelling tenants `tenant`.
    pub fn new(url: impl Into<String>) -> PrometheusConfig {
        PrometheusConfig {
            url: url.into(),
            tenant_label: "tenant".into(),
            window: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            presence: Some(Template::parse("up{tenant=\"{tenant}\"}").expect("a valid template")),
        }
    }

    /// Labels tenants with `label` instead (the default presence query follows).
    pub fn tenant_label(mut self, label: impl Into<String>) -> PrometheusConfig {
        self.tenant_label = label.into();
        if is_default_presence(self.presence.as_ref()) {
            self.presence = Some(Template::for_up(&self.tenant_label));
        }
        self
    }
}

fn is_default_presence(t: Option<&Template>) -> bool {
    t.is_some_and(|t| t.as_str() == "up{tenant=\"{tenant}\"}")
}

impl Template {
    fn for_up(label: &str) -> Template {
        Template::parse(&format!("up{{{label}=\"{{tenant}}\"}}")).expect("a label name makes a valid template")
    }
}

/// Reads tenants' metrics from Prometheus.
#[derive(Debug)]
pub struct PrometheusSource {
    config: PrometheusConfig,
    agent: ureq::Agent,
}

/// A Prometheus API answer (`data` is read once the status is known).
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The `data` of a query answer.
#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct InstantSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    /// Absent for native histograms (which carry `histogram` instead).
    value: Option<(f64, String)>,
}

#[derive(Debug, Deserialize)]
struct RangeSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    values: Vec<(f64, String)>,
}

/// Seconds as the API takes them, to the millisecond.
fn api_time(t: Timestamp) -> String {
    format!("{:.3}", t.as_millisecond() as f64 / 1000.0)
}

fn millis(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

impl PrometheusSource {
    /// Checks the configuration: URL, tenant label name, window and timeout.
    pub fn new(config: PrometheusConfig) -> Result<PrometheusSource, MetricsError> {
        http::check_url(&config.url)?;
        if !promql::is_label_name(&config.tenant_label) {
            return Err(MetricsError::Config(format!("{:?} is not a Prometheus label name", config.tenant_label)));
        }
        if config.window.is_zero() || config.timeout.is_zero() {
            return Err(MetricsError::Config("the Prometheus window and timeout must be longer than zero".into()));
        }
        let agent = http::agent(config.timeout);
        Ok(PrometheusSource { config, agent })
    }

    /// The configuration.
    pub fn config(&self) -> &PrometheusConfig {
        &self.config
    }

    /// The PromQL `query` runs for `tenant`.
    pub fn promql(&self, tenant: &str, query: &Query) -> String {
        match &query.promql {
            Some(t) => t.render(tenant, self.config.window),
            None => Template::for_selector(query.kind, &query.selector, &self.config.tenant_label)
                .render(tenant, self.config.window),
        }
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.config.url.trim_end_matches('/'))
    }

    /// Sends one API request and returns its `data`, mapping every failure to an error naming the
    /// tenant, the URL and the PromQL.
    fn call(
        &self,
        tenant: &str,
        path: &str,
        promql: &str,
        params: &[(&str, String)],
    ) -> Result<QueryData, MetricsError> {
        let url = self.api(path);
        let mut form = vec![("query", promql.to_owned()), ("timeout", promql::duration(self.config.timeout))];
        form.extend(params.iter().cloned());
        let fail = |reason| MetricsError::Http { tenant: tenant.to_owned(), url: url.clone(), reason };
        let answer = http::post_form(&self.agent, &url, &form, self.config.timeout, fail)?;
        let result_error = |reason: String| MetricsError::Result {
            tenant: tenant.to_owned(),
            url: url.clone(),
            query: promql.to_owned(),
            reason,
        };
        let envelope: Envelope = match serde_json::from_str(&answer.body) {
            Ok(envelope) => envelope,
            Err(_) if answer.status != 200 => {
                return Err(MetricsError::Status {
                    tenant: tenant.to_owned(),
                    url,
                    status: answer.status,
                    body: http::excerpt(&answer.body),
                });
            }
            Err(e) => {
                return Err(result_error(format!(
                    "not a Prometheus API answer ({e}): {}",
                    http::excerpt(&answer.body)
                )));
            }
        };
        if envelope.status != "success" {
            return Err(MetricsError::Prometheus {
                tenant: tenant.to_owned(),
                url,
                query: promql.to_owned(),
                error_type: envelope.error_type.unwrap_or_else(|| format!("status {}", envelope.status)),
                error: envelope.error.unwrap_or_default(),
            });
        }
        let data = envelope.data.ok_or_else(|| result_error("a successful answer without data".into()))?;
        serde_json::from_value(data).map_err(|e| result_error(format!("unexpected result ({e})")))
    }

    /// Runs an instant query at `at`.
    fn instant(&self, tenant: &str, promql: &str, at: Timestamp) -> Result<QueryData, MetricsError> {
        self.call(tenant, "query", promql, &[("time", api_time(at))])
    }

    /// Fails unless the presence query shows the tenant known and up at `at`.
    fn check_presence(&self, tenant: &str, at: Timestamp) -> Result<(), MetricsError> {
        let Some(presence) = &self.config.presence else { return Ok(()) };
        let promql = presence.render(tenant, self.config.window);
        let data = self.instant(tenant, &promql, at)?;
        let values: Vec<String> = match data {
            QueryData::Vector(series) => series.into_iter().filter_map(|s| s.value.map(|v| v.1)).collect(),
            QueryData::Scalar((_, v)) => vec![v],
            _ => vec![],
        };
        let url = self.api("query");
        if values.is_empty() {
            return Err(MetricsError::NoData {
                tenant: tenant.to_owned(),
                url,
                query: promql,
                label: self.config.tenant_label.clone(),
            });
        }
        if values.iter().any(|v| parse_float(v) == Some(0.0)) {
            return Err(MetricsError::TargetDown { tenant: tenant.to_owned(), url, query: promql });
        }
        Ok(())
    }

    fn read_instant(&self, tenant: &str, queries: &[Query], at: Timestamp) -> Result<Reading, MetricsError> {
        self.check_presence(tenant, at)?;
        let mut values = Vec::with_capacity(queries.len());
        for query in queries {
            query.selector.validate()?;
            let promql = self.promql(tenant, query);
            let data = self.instant(tenant, &promql, at)?;
            let value = instant_value(query.kind, data).map_err(|reason| MetricsError::Result {
                tenant: tenant.to_owned(),
                url: self.api("query"),
                query: promql,
                reason,
            })?;
            values.push(value);
        }
        Ok(Reading { tenant: tenant.to_owned(), at, values })
    }
}

/// A finite number from the API's string form. NaN and infinities are refused: a cumulative count is
/// never one, and a template that divides by zero is a mistake to report, not a value to judge.
fn number(raw: &str) -> Result<f64, String> {
    match parse_float(raw) {
        Some(v) if v.is_finite() => Ok(v),
        Some(v) => Err(format!("the value is {v}, not a count: does the query divide by zero?")),
        None => Err(format!("{raw:?} is not a number")),
    }
}

fn le(metric: &BTreeMap<String, String>) -> Result<f64, String> {
    let le = metric.get("le").ok_or_else(|| {
        "a histogram query must return one series per `le` bucket (aggregate with `sum by (le) (…)`)".to_owned()
    })?;
    parse_float(le).filter(|b| !b.is_nan()).ok_or_else(|| format!("le={le:?} is not a bucket bound"))
}

fn instant_value(kind: Kind, data: QueryData) -> Result<Value, String> {
    match (kind, data) {
        (Kind::Counter, QueryData::Scalar((_, v))) => Ok(Value::Counter(number(&v)?)),
        (Kind::Counter, QueryData::Vector(series)) => match series.as_slice() {
            [] => Ok(Value::Counter(0.0)),
            [one] => Ok(Value::Counter(number(&one.value.as_ref().ok_or_else(native)?.1)?)),
            more => {
                Err(format!("{} series came back where one was expected: aggregate them, e.g. with sum(…)", more.len()))
            }
        },
        (Kind::Histogram, QueryData::Vector(series)) => {
            let mut sum = BucketSum::default();
            for s in &series {
                sum.add(le(&s.metric)?, number(&s.value.as_ref().ok_or_else(native)?.1)?);
            }
            Ok(Value::Histogram(sum.finish()))
        }
        (_, QueryData::Matrix(_)) => Err(
            "a range vector came back from an instant query: wrap the `[…]` selector in a function such as increase(…)"
                .into(),
        ),
        (_, QueryData::String(_)) => Err("a string came back, not a number".into()),
        (Kind::Histogram, QueryData::Scalar(_)) => {
            Err("a scalar came back where histogram buckets were expected".into())
        }
    }
}

fn native() -> String {
    "a native histogram came back; query the classic `_bucket` series".into()
}

/// Per evaluation time (milliseconds), the value of one query over a range.
fn range_values(kind: Kind, data: QueryData) -> Result<BTreeMap<i64, Value>, String> {
    let QueryData::Matrix(series) = data else {
        return Err("a range query must return a matrix".into());
    };
    let mut out = BTreeMap::new();
    match kind {
        Kind::Counter => match series.as_slice() {
            [] => {}
            [one] => {
                for (t, v) in &one.values {
                    out.insert(millis(*t), Value::Counter(number(v)?));
                }
            }
            more => {
                return Err(format!(
                    "{} series came back where one was expected: aggregate them, e.g. with sum(…)",
                    more.len()
                ));
            }
        },
        Kind::Histogram => {
            let mut per_time: BTreeMap<i64, BucketSum> = BTreeMap::new();
            for s in &series {
                let bound = le(&s.metric)?;
                for (t, v) in &s.values {
                    per_time.entry(millis(*t)).or_default().add(bound, number(v)?);
                }
            }
            out.extend(per_time.into_iter().map(|(t, sum)| (t, Value::Histogram(sum.finish()))));
        }
    }
    Ok(out)
}

fn empty(kind: Kind) -> Value {
    match kind {
        Kind::Counter => Value::Counter(0.0),
        Kind::Histogram => Value::Histogram(BucketSum::default().finish()),
    }
}

impl MetricSource for PrometheusSource {
    fn latest(&self, tenant: &str, queries: &[Query]) -> Result<Reading, MetricsError> {
        self.read_instant(tenant, queries, Timestamp::now())
    }

    fn at(&self, tenant: &str, queries: &[Query], at: Timestamp) -> Result<Reading, MetricsError> {
        self.read_instant(tenant, queries, at)
    }

    fn range(
        &self,
        tenant: &str,
        queries: &[Query],
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<Vec<Reading>, MetricsError> {
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
        if step_ms <= 0 || end < start {
            return Err(MetricsError::Config(format!(
                "range {start}..{end} every {step:?}: needs start <= end and a step of at least 1 ms"
            )));
        }
        self.check_presence(tenant, end)?;
        let params =
            [("start", api_time(start)), ("end", api_time(end)), ("step", format!("{:.3}", step_ms as f64 / 1000.0))];
        let mut columns = Vec::with_capacity(queries.len());
        for query in queries {
            query.selector.validate()?;
            let promql = self.promql(tenant, query);
            let data = self.call(tenant, "query_range", &promql, &params)?;
            let values = range_values(query.kind, data).map_err(|reason| MetricsError::Result {
                tenant: tenant.to_owned(),
                url: self.api("query_range"),
                query: promql,
                reason,
            })?;
            columns.push(values);
        }
        // Prometheus evaluates at start, start + step, … up to end; a series absent at a step reads as
        // absent on a scrape: zero, or no buckets.
        let (first, last) = (start.as_millisecond(), end.as_millisecond());
        let mut readings = Vec::new();
        let mut t = first;
        while t <= last {
            let at = Timestamp::from_millisecond(t).map_err(|e| MetricsError::Config(e.to_string()))?;
            let values = queries
                .iter()
                .zip(&columns)
                .map(|(q, column)| column.get(&t).cloned().unwrap_or_else(|| empty(q.kind)))
                .collect();
            readings.push(Reading { tenant: tenant.to_owned(), at, values });
            t += step_ms;
        }
        Ok(readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(json: &str) -> QueryData {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn vectors_scalars_and_string_numbers() {
        let v = data(r#"{"resultType":"vector","result":[{"metric":{},"value":[1700000000.5,"42"]}]}"#);
        assert_eq!(instant_value(Kind::Counter, v), Ok(Value::Counter(42.0)));
        let v = data(r#"{"resultType":"vector","result":[]}"#);
        assert_eq!(instant_value(Kind::Counter, v), Ok(Value::Counter(0.0)));
        let v = data(r#"{"resultType":"scalar","result":[1700000000,"1e3"]}"#);
        assert_eq!(instant_value(Kind::Counter, v), Ok(Value::Counter(1000.0)));
        let v = data(
            r#"{"resultType":"vector","result":[
                {"metric":{"le":"+Inf"},"value":[1,"10"]},
                {"metric":{"le":"0.1"},"value":[1,"4"]},
                {"metric":{"le":"1"},"value":[1,"9"]}]}"#,
        );
        let Ok(Value::Histogram(h)) = instant_value(Kind::Histogram, v) else { panic!() };
        assert_eq!(&*h.bounds, &[0.1, 1.0, f64::INFINITY]);
        assert_eq!(h.cumulative, vec![4.0, 9.0, 10.0]);
    }

    #[test]
    fn results_that_are_not_counts_are_explained() {
        let cases = [
            (Kind::Counter, r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}"#, "NaN"),
            (Kind::Counter, r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]}]}"#, "inf"),
            (
                Kind::Counter,
                r#"{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"1"]}]}"#,
                "2 series came back",
            ),
            (Kind::Counter, r#"{"resultType":"matrix","result":[]}"#, "range vector"),
            (Kind::Counter, r#"{"resultType":"string","result":[1,"x"]}"#, "a string"),
            (Kind::Histogram, r#"{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}"#, "sum by (le)"),
            (
                Kind::Histogram,
                r#"{"resultType":"vector","result":[{"metric":{"le":"x"},"value":[1,"1"]}]}"#,
                "not a bucket bound",
            ),
            (
                Kind::Counter,
                r#"{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}"#,
                "native histogram",
            ),
        ];
        for (kind, json, reason) in cases {
            let err = instant_value(kind, data(json)).unwrap_err();
            assert!(err.contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn matrices_become_values_per_step() {
        let m = data(
            r#"{"resultType":"matrix","result":[
                {"metric":{"le":"1"},"values":[[10,"1"],[11,"2"]]},
                {"metric":{"le":"+Inf"},"values":[[10,"3"],[11,"5"]]}]}"#,
        );
        let values = range_values(Kind::Histogram, m).unwrap();
        assert_eq!(values[&11_000].histogram().unwrap().cumulative, vec![2.0, 5.0]);
        let m = data(r#"{"resultType":"matrix","result":[{"metric":{},"values":[[10.25,"7"]]}]}"#);
        assert_eq!(range_values(Kind::Counter, m).unwrap()[&10_250], Value::Counter(7.0));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(PrometheusSource::new(PrometheusConfig::new("http://127.0.0.1:9090")).is_ok());
        assert!(PrometheusSource::new(PrometheusConfig::new("127.0.0.1:9090")).is_err());
        let bad_label = PrometheusConfig::new("http://127.0.0.1:9090").tenant_label("tenant-id");
        assert!(PrometheusSource::new(bad_label).unwrap_err().to_string().contains("\"tenant-id\""));
        let relabelled = PrometheusConfig::new("http://127.0.0.1:9090").tenant_label("customer");
        assert_eq!(relabelled.presence.unwrap().render("x", Duration::from_secs(1)), "up{customer=\"x\"}");
    }

    #[test]
    fn queries_render_from_selectors_or_templates() {
        let source = PrometheusSource::new(PrometheusConfig::new("http://127.0.0.1:9090")).unwrap();
        let q = Query::counter(crate::Selector::new("c_total").with("outcome", "ok"));
        assert_eq!(source.promql("a", &q), "sum(c_total{outcome=\"ok\",tenant=\"a\"})");
        let q = q.with_promql(Template::parse("sum(increase(c_total{tenant=\"{tenant}\"}[{window}]))").unwrap());
        assert_eq!(source.promql("a", &q), "sum(increase(c_total{tenant=\"a\"}[300s]))");
    }
}
