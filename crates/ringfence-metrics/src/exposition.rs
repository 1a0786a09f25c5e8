//! The Prometheus text exposition format (version 0.0.4) and its OpenMetrics 1.0 variant, as far as a
//! release controller reads them: `# HELP`/`# TYPE`/`# UNIT` comments, samples with escaped label
//! values, optional timestamps, OpenMetrics exemplars (skipped) and `# EOF`.
//!
//! Turns text into [`Exposition`]; knows nothing of HTTP or of which series a judge wants (the
//! [`crate::scrape`] source does both).

use std::collections::BTreeMap;

use crate::{BucketSum, Kind, Query, Selector, Value, parse_float};

/// A metric family's declared type (`# TYPE name type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `gaugehistogram` (OpenMetrics).
    GaugeHistogram,
    /// `summary`.
    Summary,
    /// `info` (OpenMetrics).
    Info,
    /// `stateset` (OpenMetrics).
    StateSet,
    /// `untyped` or `unknown`.
    Unknown,
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpoSample {
    /// The series name as written, e.g. `http_requests_total` or `latency_seconds_bucket`.
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value (`NaN` and infinities included).
    pub value: f64,
    /// The timestamp as written, if any (milliseconds in the Prometheus format, seconds in OpenMetrics).
    pub timestamp: Option<f64>,
}

/// A parsed exposition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    /// Declared types by family name.
    pub types: BTreeMap<String, MetricType>,
    /// Samples in the order written.
    pub samples: Vec<ExpoSample>,
}

/// Where and why the text is not valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parses exposition text.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (index, line) in text.lines().enumerate() {
        let fail = |reason: String| ParseError { line: index + 1, reason };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                break;
            }
            let mut words = comment.splitn(3, [' ', '\t']);
            if words.next() == Some("TYPE") {
                let name = words.next().ok_or_else(|| fail("`# TYPE` without a metric name".into()))?;
                let kind = words.next().map(str::trim).unwrap_or("");
                out.types
                    .insert(name.to_owned(), metric_type(kind).ok_or_else(|| fail(format!("unknown type {kind:?}")))?);
            }
            // HELP, UNIT and free comments carry nothing the judges use.
            continue;
        }
        out.samples.push(sample(line).map_err(fail)?);
    }
    Ok(out)
}

fn metric_type(word: &str) -> Option<MetricType> {
    Some(match word {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "untyped" | "unknown" => MetricType::Unknown,
        _ => return None,
    })
}

/// A cursor over one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_blanks(&mut self) -> bool {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches([' ', '\t']);
        self.rest.len() < before
    }

    fn eat(&mut self, c: char) -> bool {
        if let Some(rest) = self.rest.strip_prefix(c) {
            self.rest = rest;
            true
        } else {
            false
        }
    }

    fn name(&mut self, first: fn(char) -> bool, more: fn(char) -> bool) -> Option<&'a str> {
        let mut chars = self.rest.char_indices();
        match chars.next() {
            Some((_, c)) if first(c) => {}
            _ => return None,
        }
        let end = chars.find(|&(_, c)| !more(c)).map_or(self.rest.len(), |(i, _)| i);
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(name)
    }

    fn token(&mut self) -> &'a str {
        let end = self.rest.find([' ', '\t']).unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }

    /// A double-quoted label value, unescaping `\\`, `\"` and `\n`.
    fn quoted(&mut self) -> Result<String, String> {
        if !self.eat('"') {
            return Err(format!("expected '\"' to open a label value at {:?}", self.rest));
        }
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => return Err(format!("invalid escape \\{other} in a label value")),
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err("unterminated label value".into())
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}
fn is_label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn sample(line: &str) -> Result<ExpoSample, String> {
    let mut cur = Cursor { rest: line };
    let name = cur.name(is_name_start, is_name_char).ok_or_else(|| format!("expected a metric name at {line:?}"))?;
    let blank_after_name = cur.skip_blanks();
    let mut labels = BTreeMap::new();
    if cur.eat('{') {
        loop {
            cur.skip_blanks();
            if cur.eat('}') {
                break;
            }
            let label = cur
                .name(is_label_start, is_label_char)
                .ok_or_else(|| format!("expected a label name or '}}' at {:?}", cur.rest))?;
            cur.skip_blanks();
            if !cur.eat('=') {
                return Err(format!("expected '=' after label {label}"));
            }
            cur.skip_blanks();
            let value = cur.quoted().map_err(|e| format!("label {label}: {e}"))?;
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} appears twice on {name}"));
            }
            cur.skip_blanks();
            if cur.eat('}') {
                break;
            }
            if !cur.eat(',') {
                return Err(format!("expected ',' or '}}' after label {label}"));
            }
        }
        if !cur.skip_blanks() && !cur.rest.is_empty() {
            return Err(format!("expected a space after the labels of {name}"));
        }
    } else if !blank_after_name && !cur.rest.is_empty() {
        return Err(format!("unexpected {:?} after the metric name {name}", cur.rest));
    }
    let raw = cur.token();
    let value = parse_float(raw).ok_or_else(|| format!("{raw:?} is not a sample value (of {name})"))?;
    cur.skip_blanks();
    let mut timestamp = None;
    if !cur.rest.is_empty() && !cur.rest.starts_with('#') {
        let raw = cur.token();
        timestamp = Some(
            parse_float(raw)
                .filter(|t| t.is_finite())
                .ok_or_else(|| format!("{raw:?} is not a timestamp (of {name})"))?,
        );
        cur.skip_blanks();
    }
    // What remains may only be an OpenMetrics exemplar: `# {labels} value [timestamp]`.
    if !cur.rest.is_empty() && !cur.rest.starts_with('#') {
        return Err(format!("unexpected {:?} after the value of {name}", cur.rest));
    }
    Ok(ExpoSample { name: name.to_owned(), labels, value, timestamp })
}

impl Exposition {
    /// Reads `query` from the samples: a counter's selected series summed, or a histogram's selected
    /// `_bucket` series summed per `le`. The PromQL template of a query is not used here.
    pub fn read(&self, query: &Query) -> Result<Value, String> {
        match query.kind {
            Kind::Counter => Ok(Value::Counter(
                self.samples.iter().filter(|s| query.selector.matches(&s.name, &s.labels)).map(|s| s.value).sum(),
            )),
            Kind::Histogram => self.histogram(&query.selector).map(Value::Histogram),
        }
    }

    fn histogram(&self, selector: &Selector) -> Result<ringfence_judge::Histogram, String> {
        let bucket = format!("{}_bucket", selector.metric);
        let mut sum = BucketSum::default();
        for s in &self.samples {
            if s.name != bucket || !selector.labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)) {
                continue;
            }
            let le = s.labels.get("le").ok_or_else(|| format!("{bucket} has a series without an `le` label"))?;
            let bound =
                parse_float(le).filter(|b| !b.is_nan()).ok_or_else(|| format!("{bucket}: le={le:?} is not a bound"))?;
            sum.add(bound, s.value);
        }
        Ok(sum.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the storefront serves (prometheus-client's OpenMetrics encoder), abridged.
    const STOREFRONT: &str = include_str!("../tests/data/storefront.openmetrics");

    #[test]
    fn reads_the_storefront_exposition() {
        let expo = parse(STOREFRONT).unwrap();
        assert_eq!(expo.types.get("storefront_http_requests"), Some(&MetricType::Counter));
        assert_eq!(expo.types.get("storefront_http_request_duration_seconds"), Some(&MetricType::Histogram));
        let requests = Query::counter(Selector::new("storefront_http_requests_total"));
        assert_eq!(expo.read(&requests), Ok(Value::Counter(131.0)));
        let errors = Query::counter(Selector::new("storefront_http_requests_total").with("outcome", "server_error"));
        assert_eq!(expo.read(&errors), Ok(Value::Counter(2.0)));
        let products = errors.selector.clone().with("route", "/products");
        assert_eq!(expo.read(&Query::counter(products)), Ok(Value::Counter(0.0)));
        let latency = Query::histogram(Selector::new("storefront_http_request_duration_seconds"));
        let Ok(Value::Histogram(h)) = expo.read(&latency) else { panic!() };
        assert_eq!(&*h.bounds, &[0.005, 0.05, 0.5, f64::INFINITY]);
        assert_eq!(h.cumulative, vec![70.0, 120.0, 129.0, 131.0]);
        let checkout = Query::histogram(latency.selector.clone().with("route", "/carts/{id}/checkout"));
        let Ok(Value::Histogram(h)) = expo.read(&checkout) else { panic!() };
        assert_eq!(h.cumulative, vec![0.0, 20.0, 29.0, 31.0]);
    }

    #[test]
    fn prometheus_text_with_escapes_timestamps_and_odd_spacing() {
        let text = "# HELP x_total Total of \"x\".\n\
            # TYPE x_total counter\n\
            x_total{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\",} 3 1700000000000\n\
            x_total { path = \"/b\" } 4\n\
            \n\
            # a free comment\n\
            y NaN\n\
            z +Inf\n\
            w -1.5e-3\n";
        let expo = parse(text).unwrap();
        assert_eq!(expo.samples.len(), 5);
        let first = &expo.samples[0];
        assert_eq!(first.labels["path"], "C:\\dir");
        assert_eq!(first.labels["msg"], "say \"hi\"\nbye");
        assert_eq!(first.timestamp, Some(1.7e12));
        assert_eq!(expo.samples[1].labels["path"], "/b");
        assert!(expo.samples[2].value.is_nan());
        assert_eq!(expo.samples[3].value, f64::INFINITY);
        assert_eq!(expo.samples[4].value, -0.0015);
        assert_eq!(expo.read(&Query::counter(Selector::new("x_total"))), Ok(Value::Counter(7.0)));
    }

    #[test]
    fn openmetrics_exemplars_are_skipped_and_eof_ends_the_text() {
        let text = "a_bucket{le=\"1\"} 3 # {trace_id=\"abc\"} 0.5 1.7e9\na_bucket{le=\"+Inf\"} 4\n# EOF\nnot parsed";
        let expo = parse(text).unwrap();
        assert_eq!(expo.samples.len(), 2);
        assert_eq!(expo.samples[0].value, 3.0);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            ("ok 1\nbad{le=\"1} 2\n", 2, "unterminated label value"),
            ("x{a=\"1\",a=\"2\"} 1", 1, "label a appears twice"),
            ("x{a=\"\\t\"} 1", 1, "invalid escape \\t"),
            ("x{a=1} 1", 1, "expected '\"'"),
            ("x one", 1, "\"one\" is not a sample value"),
            ("x 1 2 3", 1, "unexpected \"3\""),
            ("9x 1", 1, "expected a metric name"),
            ("# TYPE x countr", 1, "unknown type \"countr\""),
            ("x{a=\"1\" b=\"2\"} 1", 1, "expected ',' or '}'"),
            ("x", 1, "is not a sample value"),
        ];
        for (text, line, reason) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.reason.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_bucket_without_le_or_with_a_bad_le_is_an_error() {
        let expo = parse("h_bucket{route=\"/\"} 1\n").unwrap();
        let err = expo.read(&Query::histogram(Selector::new("h"))).unwrap_err();
        assert!(err.contains("without an `le` label"), "{err}");
        let expo = parse("h_bucket{le=\"fast\"} 1\n").unwrap();
        assert!(expo.read(&Query::histogram(Selector::new("h"))).unwrap_err().contains("le=\"fast\""));
    }
}
