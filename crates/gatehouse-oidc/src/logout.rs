//! Where `/auth/logout` sends the browser after the local session ended:
//! the IdP's `end_session_endpoint` (RP-Initiated Logout 1.0) with
//! `id_token_hint`, `post_logout_redirect_uri` and `state`; Cognito's and
//! Auth0's own logout URLs where they have no standard one; otherwise
//! nowhere (local logout only, which the signed-out page says).

use crate::ProviderMetadata;
use crate::providers::{ProviderKind, auth0, cognito};

/// Where to go after the local logout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutTarget {
    /// The IdP's logout.
    Idp(url::Url),
    /// Only the local session ended.
    LocalOnly,
}

/// The IdP logout URL for this provider.
pub fn target(
    kind: ProviderKind,
    issuer: &str,
    meta: &ProviderMetadata,
    client_id: &str,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: &str,
    state: &str,
) -> LogoutTarget {
    if let Some(endpoint) = &meta.end_session_endpoint
        && let Ok(mut u) = url::Url::parse(endpoint)
    {
        {
            let mut q = u.query_pairs_mut();
            if let Some(hint) = id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("client_id", client_id);
            q.append_pair("post_logout_redirect_uri", post_logout_redirect_uri);
            q.append_pair("state", state);
        }
        return LogoutTarget::Idp(u);
    }
    let special = match kind {
        ProviderKind::Cognito => cognito::logout_url(
            &meta.authorization_endpoint,
            client_id,
            post_logout_redirect_uri,
        ),
        ProviderKind::Auth0 => auth0::logout_url(issuer, client_id, post_logout_redirect_uri),
        _ => None,
    };
    special.map_or(LogoutTarget::LocalOnly, LogoutTarget::Idp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(end: Option<&str>, authz: &str) -> ProviderMetadata {
        ProviderMetadata {
            issuer: "https://x".into(),
            authorization_endpoint: authz.into(),
            token_endpoint: "https://x/token".into(),
            userinfo_endpoint: None,
            jwks_uri: "https://x/jwks".into(),
            end_session_endpoint: end.map(Into::into),
            id_token_signing_alg_values_supported: vec![],
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
            scopes_supported: None,
            backchannel_logout_supported: false,
        }
    }

    #[test]
    fn provider_specific_logout_urls() {
        let cog = target(
            ProviderKind::Cognito,
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc",
            &meta(
                None,
                "https://mydomain.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
            ),
            "cid",
            Some("tok"),
            "https://app/auth/logged-out",
            "st",
        );
        assert_eq!(
            cog,
            LogoutTarget::Idp(url::Url::parse("https://mydomain.auth.eu-west-1.amazoncognito.com/logout?client_id=cid&logout_uri=https%3A%2F%2Fapp%2Fauth%2Flogged-out").unwrap_or_else(|e| panic!("{e}")))
        );
        let a0 = target(
            ProviderKind::Auth0,
            "https://dev-x.us.auth0.com/",
            &meta(None, "https://dev-x.us.auth0.com/authorize"),
            "cid",
            None,
            "https://app/l",
            "s",
        );
        assert_eq!(a0, LogoutTarget::Idp(url::Url::parse("https://dev-x.us.auth0.com/v2/logout?client_id=cid&returnTo=https%3A%2F%2Fapp%2Fl").unwrap_or_else(|e| panic!("{e}"))));
        assert_eq!(
            target(
                ProviderKind::Generic,
                "https://x",
                &meta(None, "https://x/a"),
                "c",
                None,
                "u",
                "s"
            ),
            LogoutTarget::LocalOnly
        );
        let std = target(
            ProviderKind::Auth0,
            "https://x",
            &meta(Some("https://x/end"), "https://x/a"),
            "c",
            Some("h"),
            "https://app/l",
            "s",
        );
        assert_eq!(std, LogoutTarget::Idp(url::Url::parse("https://x/end?id_token_hint=h&client_id=c&post_logout_redirect_uri=https%3A%2F%2Fapp%2Fl&state=s").unwrap_or_else(|e| panic!("{e}"))));
    }
}
