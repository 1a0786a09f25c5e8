//! PromQL templates: PromQL with `{tenant}` (the tenant id, inside a quoted label value) and
//! `{window}` (a duration, e.g. inside `[…]`) placeholders, checked when the configuration is read
//! and rendered with the tenant's id escaped for the string (and, after `=~`/`!~`, for the regex) it
//! sits in — so a tenant id never changes what a query selects.
//!
//! Also builds the PromQL that reads a [`Selector`] per tenant. Does not send anything.

use std::time::Duration;

use crate::{Kind, MetricsError, Selector};

/// A checked PromQL template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    text: String,
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    /// The tenant id, inside a string opened by `quote`; `regex` when the string is a regex matcher's.
    Tenant {
        quote: char,
        regex: bool,
    },
    Window,
}

/// Whether `s` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `s` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `value` escaped for a PromQL string opened by `quote` (`"` or `'`).
pub fn escape_string(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `value` escaped so that a regex (RE2, as Prometheus's `=~` uses, anchored) matches exactly it.
pub fn escape_regex(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A duration as PromQL writes it: whole seconds as `90s`, otherwise milliseconds.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// A placeholder `{name}` at the start of `rest`: its name and length.
fn placeholder(rest: &str) -> Option<(&str, usize)> {
    let inner = rest.strip_prefix('{')?;
    let end = inner.find('}')?;
    let name = &inner[..end];
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some((name, end + 2))
}

impl Template {
    /// Checks and compiles `text`. It must name the tenant (`{tenant}` inside a `"…"` or `'…'` label
    /// value), may use `{window}` outside strings, and must have balanced brackets and closed strings.
    pub fn parse(text: &str) -> Result<Template, MetricsError> {
        let fail = |reason: String| MetricsError::Template { template: text.to_owned(), reason };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut brackets: Vec<char> = Vec::new();
        let mut string: Option<(char, bool)> = None;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let c = rest.chars().next().expect("i is a char boundary");
            match string {
                Some((quote, regex)) => {
                    if c == '\\' && quote != '`' {
                        let escaped = rest[1..].chars().next().ok_or_else(|| fail("ends inside a string".into()))?;
                        literal.push(c);
                        literal.push(escaped);
                        i += 1 + escaped.len_utf8();
                        continue;
                    }
                    if c == quote {
                        string = None;
                    } else if let Some((name, len)) = placeholder(rest) {
                        match name {
                            "tenant" if quote == '`' => {
                                return Err(fail(
                                    "{tenant} cannot go inside a `raw` string (it cannot be escaped there); use \"…\""
                                        .into(),
                                ));
                            }
                            "tenant" => {
                                pieces.push(Piece::Text(std::mem::take(&mut literal)));
                                pieces.push(Piece::Tenant { quote, regex });
                                i += len;
                                continue;
                            }
                            "window" => {
                                return Err(fail(
                                    "{window} is a duration: put it outside quotes, as in [{window}]".into(),
                                ));
                            }
                            // Label values may hold braces (route templates like `/carts/{id}`): literal.
                            _ => {}
                        }
                    }
                    literal.push(c);
                    i += c.len_utf8();
                }
                None => {
                    if let Some((name, len)) = placeholder(rest) {
                        match name {
                            "window" => {
                                pieces.push(Piece::Text(std::mem::take(&mut literal)));
                                pieces.push(Piece::Window);
                                i += len;
                                continue;
                            }
                            "tenant" => {
                                return Err(fail(
                                    "{tenant} must be a quoted label value, as in tenant=\"{tenant}\"".into(),
                                ));
                            }
                            // `{job}` is no valid matcher list either: a misspelt placeholder.
                            other => {
                                return Err(fail(format!(
                                    "unknown placeholder {{{other}}}; known: {{tenant}}, {{window}}"
                                )));
                            }
                        }
                    }
                    match c {
                        '"' | '\'' | '`' => {
                            let before = literal.trim_end();
                            string = Some((c, before.ends_with("=~") || before.ends_with("!~")));
                        }
                        '(' | '[' | '{' => brackets.push(c),
                        ')' | ']' | '}' => {
                            let open = match c {
                                ')' => '(',
                                ']' => '[',
                                _ => '{',
                            };
                            if brackets.pop() != Some(open) {
                                return Err(fail(format!("unbalanced {c:?} at byte {i}")));
                            }
                        }
                        '#' => {
                            // A comment runs to the end of the line; nothing in it counts.
                            let end = rest.find('\n').unwrap_or(rest.len());
                            literal.push_str(&rest[..end]);
                            i += end;
                            continue;
                        }
                        _ => {}
                    }
                    literal.push(c);
                    i += c.len_utf8();
                }
            }
        }
        if string.is_some() {
            return Err(fail("a string is not closed".into()));
        }
        if let Some(open) = brackets.last() {
            return Err(fail(format!("{open:?} is not closed")));
        }
        pieces.push(Piece::Text(literal));
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        if !pieces.iter().any(|p| matches!(p, Piece::Tenant { .. })) {
            return Err(fail("it never selects the tenant: add a label matcher such as tenant=\"{tenant}\"".into()));
        }
        Ok(Template { text: text.to_owned(), pieces })
    }

    /// The PromQL that reads `selector` for one tenant (labelled `tenant_label`): a counter's series
    /// summed, or a histogram's `_bucket` series summed per `le`.
    pub fn for_selector(kind: Kind, selector: &Selector, tenant_label: &str) -> Template {
        let metric = match kind {
            Kind::Counter => selector.metric.clone(),
            Kind::Histogram => format!("{}_bucket", selector.metric),
        };
        let mut head = match kind {
            Kind::Counter => format!("sum({metric}{{"),
            Kind::Histogram => format!("sum by (le) ({metric}{{"),
        };
        for (k, v) in &selector.labels {
            head.push_str(&format!("{k}=\"{}\",", escape_string(v, '"')));
        }
        head.push_str(&format!("{tenant_label}=\""));
        let tail = "\"})".to_owned();
        let text = format!("{head}{{tenant}}{tail}");
        Template {
            text,
            pieces: vec![Piece::Text(head), Piece::Tenant { quote: '"', regex: false }, Piece::Text(tail)],
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it uses `{window}`.
    pub fn uses_window(&self) -> bool {
        self.pieces.contains(&Piece::Window)
    }

    /// The PromQL for `tenant`, with `window` in place of `{window}`.
    pub fn render(&self, tenant: &str, window: Duration) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Tenant { quote, regex: false } => out.push_str(&escape_string(tenant, *quote)),
                Piece::Tenant { quote, regex: true } => out.push_str(&escape_string(&escape_regex(tenant), *quote)),
                Piece::Window => out.push_str(&duration(window)),
            }
        }
        out
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Template {
    type Err = MetricsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn renders_the_tenant_and_the_window() {
        let t =
            Template::parse("sum(increase(http_requests_total{tenant=\"{tenant}\",code=~\"5..\"}[{window}]))").unwrap();
        assert!(t.uses_window());
        assert_eq!(
            t.render("shop-a", Duration::from_secs(300)),
            "sum(increase(http_requests_total{tenant=\"shop-a\",code=~\"5..\"}[300s]))"
        );
        assert_eq!(t.render("shop-a", Duration::from_millis(1500)).rsplit('[').next(), Some("1500ms]))"));
    }

    #[test]
    fn tenant_ids_are_escaped_for_their_string_and_regex() {
        let t = Template::parse(
            "up{tenant=\"{tenant}\"} + up{tenant='{tenant}'} + up{tenant=~\"{tenant}\"} + up{tenant!~ '{tenant}|x'}",
        )
        .unwrap();
        let rendered = t.render("a\"b'c\\d.e\nf", MIN);
        assert_eq!(
            rendered,
            "up{tenant=\"a\\\"b'c\\\\d.e\\nf\"} + up{tenant='a\"b\\'c\\\\d.e\\nf'} + \
             up{tenant=~\"a\\\"b'c\\\\\\\\d\\\\.e\\nf\"} + up{tenant!~ 'a\"b\\'c\\\\\\\\d\\\\.e\\nf|x'}"
        );
    }

    #[test]
    fn bad_templates_are_refused_with_advice() {
        let cases = [
            ("sum(http_requests_total)", "never selects the tenant"),
            ("sum(x{tenant={tenant}})", "must be a quoted label value"),
            ("sum(x{tenant=\"{tennant}\"})", "never selects the tenant"),
            ("sum(rate(x{tenant=\"{tenant}\"}[{windw}]))", "unknown placeholder {windw}"),
            ("sum(x{tenant=\"{tenant}\"}[\"{window}\"])", "{window} is a duration"),
            ("sum(x{tenant=`{tenant}`})", "raw"),
            ("sum(x{tenant=\"{tenant}\"}", "'(' is not closed"),
            ("sum(x{tenant=\"{tenant}\"}))", "unbalanced ')'"),
            ("sum(x{tenant=\"{tenant}})", "a string is not closed"),
        ];
        for (text, reason) in cases {
            let err = Template::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(err.starts_with(&format!("PromQL template `{text}`")), "{err}");
        }
    }

    #[test]
    fn braces_in_strings_comments_and_regex_repetitions_are_literal() {
        let text = "sum(x{route=\"/carts/{id}\",code=~\"5[0-9]{2}\",tenant=\"{tenant}\"}) # {note}";
        let t = Template::parse(text).unwrap();
        assert_eq!(t.render("a", MIN), "sum(x{route=\"/carts/{id}\",code=~\"5[0-9]{2}\",tenant=\"a\"}) # {note}");
        assert!(!t.uses_window());
    }

    #[test]
    fn selector_queries_sum_per_tenant() {
        let s = Selector::new("storefront_http_requests_total").with("outcome", "server_error").with("route", "/a\"b");
        let t = Template::for_selector(Kind::Counter, &s, "tenant");
        assert_eq!(
            t.render("shop-a", MIN),
            "sum(storefront_http_requests_total{outcome=\"server_error\",route=\"/a\\\"b\",tenant=\"shop-a\"})"
        );
        let t = Template::for_selector(Kind::Histogram, &Selector::new("lat_seconds"), "customer");
        assert_eq!(t.render("x", MIN), "sum by (le) (lat_seconds_bucket{customer=\"x\"})");
        assert_eq!(t.as_str(), "sum by (le) (lat_seconds_bucket{customer=\"{tenant}\"})");
    }

    #[test]
    fn names() {
        assert!(is_metric_name("a:b_c1") && !is_metric_name("1a") && !is_metric_name("") && !is_metric_name("a-b"));
        assert!(is_label_name("_le") && !is_label_name("a:b"));
    }
}
