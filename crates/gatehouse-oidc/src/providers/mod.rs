//! Quirks of particular providers, one file each (oauth2-proxy's lesson):
//! only what a standard OpenID Provider would not need.

pub mod auth0;
pub mod cognito;
pub mod entra;
pub mod google;

use serde::{Deserialize, Serialize};

use crate::ProviderMetadata;

/// Which provider an issuer is, for its quirks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any standard OpenID Provider.
    Generic,
    /// Auth0.
    Auth0,
    /// Amazon Cognito user pools.
    Cognito,
    /// Microsoft Entra ID.
    Entra,
    /// Google Workspace.
    Google,
}

impl ProviderKind {
    /// Recognise a provider from its issuer and endpoints.
    pub fn detect(issuer: &str, meta: Option<&ProviderMetadata>) -> Self {
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host.ends_with(".auth0.com") {
            Self::Auth0
        } else if host.starts_with("cognito-idp.") && host.ends_with(".amazonaws.com") {
            Self::Cognito
        } else if host == "login.microsoftonline.com" || host.ends_with(".ciamlogin.com") {
            Self::Entra
        } else if host == "accounts.google.com" {
            Self::Google
        } else if meta.is_some_and(|m| {
            m.token_endpoint.ends_with("/oauth/token")
                && m.authorization_endpoint.ends_with("/authorize")
        }) {
            // Auth0 on a custom domain.
            Self::Auth0
        } else {
            Self::Generic
        }
    }
}
