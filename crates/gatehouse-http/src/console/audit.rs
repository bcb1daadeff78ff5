//! The audit log: filter by type, user and time; paged, newest first.

use crate::extract::Query;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_store::AuditQuery;
use serde::Deserialize;
use time::PrimitiveDateTime;

use super::{Chrome, ConsoleAdmin, render, when};
use crate::error::HttpError;
use crate::extract::AppPath;
use crate::state::AppState;

const PAGE: u32 = 50;

struct EventRow {
    at: String,
    action: String,
    actor: String,
    target: String,
    details: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    chrome: Chrome,
    app_name: String,
    action: String,
    subject: String,
    since: String,
    until: String,
    action_choices: Vec<(&'static str, &'static str)>,
    events: Vec<EventRow>,
    next: Option<String>,
    error: Option<String>,
}

/// Query of the audit page.
#[derive(Deserialize)]
pub struct AuditFilter {
    action: Option<String>,
    subject: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<i64>,
}

const CHOICES: &[(&str, &str)] = &[
    ("signin", "Sign-ins (all)"),
    ("signin.succeeded", "Sign-ins that succeeded"),
    ("signin.failed", "Sign-ins that failed"),
    ("signout", "Sign-outs"),
    ("session", "Sessions"),
    ("user", "Users"),
    ("sso", "SSO settings"),
    ("app", "Application settings"),
];

fn local_time(raw: Option<&str>) -> Result<Option<time::OffsetDateTime>, String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
            PrimitiveDateTime::parse(s, f)
                .map(|t| Some(t.assume_utc()))
                .map_err(|_| format!("\"{s}\" is not a date and time"))
        }
    }
}

/// `GET /admin/apps/{id}/audit`.
pub async fn list(
    State(s): State<AppState>,
    admin: ConsoleAdmin,
    AppPath(id): AppPath,
    Query(f): Query<AuditFilter>,
) -> Result<Response, HttpError> {
    let app = s.gh().apps().get(id).await?;
    let (since, until) = match (
        local_time(f.since.as_deref()),
        local_time(f.until.as_deref()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Ok(render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &AuditPage {
                    chrome: Chrome::app(&admin, &app, "audit"),
                    app_name: app.name.clone(),
                    action: f.action.clone().unwrap_or_default(),
                    subject: f.subject.clone().unwrap_or_default(),
                    since: f.since.clone().unwrap_or_default(),
                    until: f.until.clone().unwrap_or_default(),
                    action_choices: CHOICES.to_vec(),
                    events: Vec::new(),
                    next: None,
                    error: Some(e),
                },
            ));
        }
    };
    let query = AuditQuery {
        app_id: Some(id),
        action_prefix: f.action.clone().filter(|a| !a.is_empty()),
        subject: f.subject.clone().filter(|a| !a.is_empty()),
        since,
        until,
        before_id: f.before,
        limit: PAGE,
    };
    let events = s.gh().admin().audit(id, query).await?;
    let next = (events.len() as u32 == PAGE)
        .then(|| events.last().map(|e| e.id))
        .flatten()
        .map(|last| {
            let enc = |v: &Option<String>| -> String {
                form_urlencoded::byte_serialize(v.as_deref().unwrap_or("").as_bytes()).collect()
            };
            format!(
                "?action={}&subject={}&since={}&until={}&before={last}",
                enc(&f.action),
                enc(&f.subject),
                enc(&f.since),
                enc(&f.until)
            )
        });
    let rows = events
        .into_iter()
        .map(|e| EventRow {
            at: when(&e.at),
            action: e.action.clone(),
            actor: e.actor.to_string(),
            target: e.target.clone().unwrap_or_default(),
            details: match &e.details {
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}: {s}"),
                        other => format!("{k}: {other}"),
                    })
                    .collect(),
                _ => Vec::new(),
            },
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            chrome: Chrome::app(&admin, &app, "audit"),
            app_name: app.name.clone(),
            action: f.action.unwrap_or_default(),
            subject: f.subject.unwrap_or_default(),
            since: f.since.unwrap_or_default(),
            until: f.until.unwrap_or_default(),
            action_choices: CHOICES.to_vec(),
            events: rows,
            next,
            error: None,
        },
    ))
}
