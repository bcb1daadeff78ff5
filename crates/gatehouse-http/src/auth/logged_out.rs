//! `GET <prefix>/logged-out`: the Logout Redirect URL, a signed-out page.

use crate::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;

use super::labelled;
use crate::extract::AppRoute;
use crate::pages::{BRAND, LoggedOutPage, css, html};

/// Query of the signed-out page.
#[derive(serde::Deserialize)]
pub struct LoggedOutQuery {
    /// Set when the IdP session may still be active.
    idp: Option<String>,
}

/// The signed-out page.
pub async fn page(route: AppRoute, Query(q): Query<LoggedOutQuery>) -> Response {
    let app = &route.rt.app;
    labelled(
        "auth_logged_out",
        html(
            StatusCode::OK,
            &LoggedOutPage {
                brand: BRAND,
                css: css(),
                app_name: &app.name,
                login_url: format!("{}/login", app.auth_prefix),
                note: q.idp.is_some().then_some(
                    "Your identity provider has no standard sign-out, so you may still be signed in there. \
                     On a shared computer, sign out there too.",
                ),
            },
        ),
    )
}
