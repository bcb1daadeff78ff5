//! Logging and rendering of error reports: one log line with the reason and
//! the correlation id, then the body the caller understands (an HTML page
//! for people, an RFC 9457 problem document for programs).

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Serialize;

use super::RequestId;
use crate::error::ErrorReport;
use crate::pages::{BRAND, ErrorPage, css, html};

/// Log a report once, at a level that matches its status.
pub fn log(report: &ErrorReport, id: &RequestId) {
    let status = report.status.as_u16();
    if status >= 500 {
        tracing::error!(correlation_id = %id, status, code = report.code, reason = %report.reason, "request failed");
    } else {
        tracing::warn!(correlation_id = %id, status, code = report.code, reason = %report.reason, "request refused");
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
