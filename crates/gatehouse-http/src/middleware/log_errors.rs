//! Logging and rendering of error reports: one log line with the reason and
//! the correlation id, then the body the caller understands (an HTML page
//! for people, an RFC 9457 problem document for programs).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Serialize;

use super::RequestId;
use crate::error::ErrorReport;
use crate::pages::{BRAND, ErrorPage, css, html};

/// Refusals (4xx) logged per second at most; beyond that they are counted,
/// and the next logged one says how many were left out. Anyone can send
/// refused requests, so their log lines are bounded like any other volume.
const REFUSALS_LOGGED_PER_SECOND: u32 = 100;

/// The second refusals are being counted in, how many were logged in it,
/// and how many were left out since the last logged one.
static REFUSAL_SECOND: AtomicU64 = AtomicU64::new(0);
static REFUSALS_LOGGED: AtomicU32 = AtomicU32::new(0);
static REFUSALS_LEFT_OUT: AtomicU64 = AtomicU64::new(0);

/// Whether to log a refusal now; `Some(n)`: yes, with `n` left out before it.
fn refusal_budget() -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if REFUSAL_SECOND.swap(now, Ordering::Relaxed) != now {
        REFUSALS_LOGGED.store(0, Ordering::Relaxed);
    }
    if REFUSALS_LOGGED.fetch_add(1, Ordering::Relaxed) < REFUSALS_LOGGED_PER_SECOND {
        Some(REFUSALS_LEFT_OUT.swap(0, Ordering::Relaxed))
    } else {
        REFUSALS_LEFT_OUT.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Log a report once, at a level that matches its status (refusals within
/// a budget per second; failures always).
pub fn log(report: &ErrorReport, id: &RequestId) {
    let status = report.status.as_u16();
    // The reason as logged: at most 512 bytes.
    let reason = gatehouse_core::audit::prefix(&report.reason, 512);
    if status >= 500 {
        tracing::error!(correlation_id = %id, status, code = report.code, reason, "request failed");
    } else if let Some(left_out) = refusal_budget() {
        if left_out > 0 {
            tracing::warn!(correlation_id = %id, status, code = report.code, reason, refusals_not_logged = left_out, "request refused");
        } else {
            tracing::warn!(correlation_id = %id, status, code = report.code, reason, "request refused");
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [gatehouse_core::FieldError],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    reasons: &'a [String],
    correlation_id: &'a str,
}

/// Replace the body of `resp` with the rendered report, keeping its status and headers.
pub fn render(resp: Response, report: &ErrorReport, id: &RequestId, json: bool) -> Response {
    let (mut parts, _) = resp.into_parts();
    if let Some(body) = &report.protocol_body {
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(report.protocol_type.unwrap_or("application/json")),
        );
        parts
            .headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(body.to_string()));
    }
    if json {
        let problem = Problem {
            kind: format!("urn:gatehouse:problem:{}", report.code),
            title: report.title,
            status: report.status.as_u16(),
            detail: &report.detail,
            field: report.fields.first().map(|f| f.field.as_str()),
            errors: &report.fields,
            reasons: &report.reasons,
            correlation_id: id.as_str(),
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        parts.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(body));
    }
    let page = ErrorPage {
        brand: BRAND,
        css: css(),
        title: report.title,
        detail: &report.detail,
        fields: &report.fields,
        reasons: &report.reasons,
        link: report.link.clone(),
        correlation_id: id.as_str(),
    };
    let rendered = html(report.status, &page);
    let (rparts, body) = rendered.into_parts();
    for (k, v) in &rparts.headers {
        parts.headers.insert(k.clone(), v.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_within_a_budget_and_the_rest_counted() {
        // Whatever earlier tests spent, a burst past the budget is cut.
        let logged = (0..3 * REFUSALS_LOGGED_PER_SECOND)
            .filter(|_| refusal_budget().is_some())
            .count();
        assert!(
            logged <= 2 * REFUSALS_LOGGED_PER_SECOND as usize,
            "{logged}"
        );
        assert!(logged >= 1);
        assert_eq!(
            gatehouse_core::audit::prefix(&"é".repeat(1000), 512).len(),
            512
        );
    }
}
