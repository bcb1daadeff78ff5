//! `POST /api/v1/apply` and `GET /api/v1/export`: applications as code
//! through a running instance, for CI runners that cannot reach the
//! database. The file travels as text; the client secrets it names travel
//! beside it, read by the client from its own environment and files (the
//! server never reads its own for a file it is sent).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Actor;
use gatehouse_service::Context;
use gatehouse_service::apply::{Options, SentSecrets};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ok;
use super::views::Problem;
use crate::error::HttpError;
use crate::extract::{Admin, ApiJson, Query};
use crate::state::AppState;

/// A file to apply.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The file's text (TOML: `[[app]]` tables; see docs/apps-as-code.md).
    pub file: String,
    /// The client secrets the file names, by reference: `"env:NAME"` for
    /// `client_secret_env = "NAME"`, `"file:PATH"` for `client_secret_file`.
    #[serde(default)]
    #[schema(value_type = HashMap<String, String>, write_only)]
    pub secrets: HashMap<String, SecretString>,
    /// Compute the plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// Delete applications that are not in the file.
    #[serde(default)]
    pub prune: bool,
}

/// What an apply did (or, in a dry run, would do).
#[derive(Serialize, ToSchema)]
pub struct ApplyResult {
    /// Whether anything was written.
    pub applied: bool,
    /// Whether the instance differs (differed) from the file.
    pub changed: bool,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The plan, one line per change: `+ app alpha`, `~ alpha.sso.client_id: "a" → "b"`,
    /// `- alpha.grant member→group:engineering`. Secrets show as `(set)`/`(changed)` only.
    pub plan: Vec<String>,
    /// Applications not in the file, left as they are (no `prune`).
    pub unmanaged: Vec<String>,
    /// How many applications the plan changes (creates, changes, deletes).
    pub applications_changed: usize,
}

/// Make the instance match a file: create, change and (with `prune`)
/// delete applications, their SSO settings, grants, access policy,
/// bearer-token access and provisioning settings, in one transaction.
/// A file with any error changes nothing; the problem names every place
/// at fault (`app[1] (beta): sso.issuer_url`).
#[utoipa::path(post, path = "/api/v1/apply", tag = "apps", request_body = ApplyRequest,
    responses((status = 200, body = ApplyResult), (status = 409, body = Problem, description = "The instance changed while the plan was made; nothing was changed"), (status = 422, body = Problem)),
    security(("admin_token" = [])))]
pub async fn apply(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    ApiJson(req): ApiJson<ApplyRequest>,
) -> Result<Response, HttpError> {
    let ctx = Context {
        actor: Actor::Apply {
            by: Some(ctx.actor.to_string()),
        },
        correlation_id: ctx.correlation_id,
    };
    let options = Options {
        dry_run: req.dry_run,
        prune: req.prune,
    };
    let outcome = s
        .gh()
        .apps_as_code()
        .apply(&req.file, &SentSecrets(req.secrets), options, &ctx)
        .await?;
    Ok(ok(ApplyResult {
        applied: outcome.applied,
        changed: !outcome.plan.is_empty(),
        dry_run: req.dry_run,
        plan: outcome.plan.lines(),
        applications_changed: outcome.plan.changed_apps(),
        unmanaged: outcome.plan.unmanaged,
    }))
}

/// Which applications to export.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Only the application with this slug.
    pub app: Option<String>,
}

/// The current state in the format `POST /api/v1/apply` takes (TOML),
/// client secrets named as `client_secret_env = "<SLUG>_CLIENT_SECRET"`.
#[utoipa::path(get, path = "/api/v1/export", tag = "apps", params(ExportQuery),
    responses((status = 200, content_type = "application/toml", body = String), (status = 404, body = Problem)),
    security(("admin_token" = [])))]
pub async fn export(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<ExportQuery>,
) -> Result<Response, HttpError> {
    let text = s.gh().apps_as_code().export(q.app.as_deref()).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/toml; charset=utf-8")],
        text,
    )
        .into_response())
}
