//! The blocking HTTP both sources share: one agent per source, a global timeout, no proxy from the
//! environment (targets are named explicitly), statuses returned rather than raised.

use std::time::Duration;

use crate::MetricsError;

/// An HTTP answer.
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
}

/// Validates a base URL: plain `http://` (no TLS in this build), no query or fragment.
pub(crate) fn check_url(url: &str) -> Result<(), MetricsError> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(MetricsError::Config(format!("{url:?}: only http:// URLs are supported")));
    };
    if rest.is_empty() || rest.starts_with('/') || url.contains(['?', '#', ' ']) {
        return Err(MetricsError::Config(format!("{url:?} is not a usable http:// URL (host, port and path only)")));
    }
    Ok(())
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(false).proxy(None).build().into()
}

/// Why a request got no answer, in words; timeouts say how long was waited.
fn reason(err: ureq::Error, timeout: Duration) -> String {
    match err {
        ureq::Error::Timeout(_) => format!("no answer within {timeout:?} (timed out)"),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    timeout: Duration,
    fail: impl Fn(String) -> MetricsError,
) -> Result<Answer, MetricsError> {
    let mut response = result.map_err(|e| fail(reason(e, timeout)))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| fail(reason(e, timeout)))?;
    Ok(Answer { status, body })
}

/// GETs `url`; `fail` wraps a transport failure's reason with the caller's context.
pub(crate) fn get(
    agent: &ureq::Agent,
    url: &str,
    timeout: Duration,
    fail: impl Fn(String) -> MetricsError,
) -> Result<Answer, MetricsError> {
    read(agent.get(url).call(), timeout, fail)
}

/// POSTs `form` to `url` as `application/x-www-form-urlencoded` (long PromQL does not fit a URL).
pub(crate) fn post_form(
    agent: &ureq::Agent,
    url: &str,
    form: &[(&str, String)],
    timeout: Duration,
    fail: impl Fn(String) -> MetricsError,
) -> Result<Answer, MetricsError> {
    read(agent.post(url).send_form(form.iter().map(|(k, v)| (*k, v.as_str()))), timeout, fail)
}

/// The first characters of a body, for error messages.
pub(crate) fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    match body.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &body[..i]),
        None => body.to_owned(),
    }
}
