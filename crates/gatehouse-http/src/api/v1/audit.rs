//! `/api/v1/apps/{id}/audit`: the audit log, newest first, paged.

use crate::extract::Query;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use gatehouse_store::AuditQuery;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::IntoParams;

use super::ok;
use super::views::{AuditEventView, Problem};
use crate::error::HttpError;
use crate::extract::Admin;
use crate::extract::AppPath;
use crate::state::AppState;

/// Query of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditParams {
    /// Page size (1-500, default 50).
    pub limit: Option<u32>,
    /// Only events older than this id (the `id` of the last event of the previous page).
    pub before: Option<i64>,
    /// Only actions starting with this, e.g. `signin` or `signin.failed`.
    pub action: Option<String>,
    /// Only events whose target or actor contains this (an e-mail, an id).
    pub subject: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    pub until: Option<String>,
}

fn time_param(raw: Option<&str>, field: &str) -> Result<Option<OffsetDateTime>, HttpError> {
    raw.map(|r| {
        OffsetDateTime::parse(r, &Rfc3339).map_err(|_| {
            HttpError::invalid_field(
                field,
                "must be an RFC 3339 time such as 2026-11-23T10:00:00Z",
            )
        })
    })
    .transpose()
}

/// The largest page of audit events, in bytes of JSON.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Audit events of an application, newest first. When more follow, a
/// `Link: <…>; rel="next"` header points to the next page. A page is cut
/// short at 1 MiB of JSON.
#[utoipa::path(get, path = "/api/v1/apps/{id}/audit", tag = "audit",
    params(("id" = String, Path, description = "Application id"), AuditParams),
    responses((status = 200, body = [AuditEventView]), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Admin(_): Admin,
    AppPath(app): AppPath,
    Query(p): Query<AuditParams>,
) -> Result<Response, HttpError> {
    let limit = p.limit.unwrap_or(50).clamp(1, 500);
    let query = AuditQuery {
        app_id: Some(app),
        action_prefix: p.action.clone(),
        subject: p.subject.clone(),
        since: time_param(p.since.as_deref(), "since")?,
        until: time_param(p.until.as_deref(), "until")?,
        before_id: p.before,
        limit,
    };
    let events = s.gh().admin().audit(app, query).await?;
    let full = events.len() as u32 == limit;
    // A page holds `limit` events, and at most MAX_PAGE_BYTES of them: the
    // page ends early (with its `next` link) rather than growing.
    let mut views = Vec::with_capacity(events.len());
    let mut bytes = 0usize;
    let mut cut = false;
    for e in events {
        let view = AuditEventView::from(e);
        let size = serde_json::to_vec(&view).map_or(0, |v| v.len());
        if !views.is_empty() && bytes + size > MAX_PAGE_BYTES {
            cut = true;
            break;
        }
        bytes += size;
        views.push(view);
    }
    let next = (full || cut).then(|| views.last().map(|e| e.id)).flatten();
    let mut resp = ok(views);
    if let Some(last) = next {
        let mut url = format!("/api/v1/apps/{app}/audit?limit={limit}&before={last}");
        for (k, v) in [
            ("action", &p.action),
            ("subject", &p.subject),
            ("since", &p.since),
            ("until", &p.until),
        ] {
            if let Some(v) = v {
                url.push_str(&format!("&{k}="));
                url.extend(form_urlencoded::byte_serialize(v.as_bytes()));
            }
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}
