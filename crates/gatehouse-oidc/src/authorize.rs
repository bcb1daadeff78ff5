//! The authorization request: code flow with PKCE (S256), `state` and
//! `nonce`, the operator's extra parameters and the parameters forwarded from
//! `/auth/login`, never overriding the protocol's own.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::sso::is_forwardable_param;
use secrecy::{ExposeSecret, SecretString};

use crate::OidcError;

/// The secrets of one sign-in attempt, kept (sealed) in the browser's flow cookie.
#[derive(Debug)]
pub struct FlowSecrets {
    /// `state`: binds the callback to this attempt.
    pub state: SecretString,
    /// `nonce`: binds the ID token to this attempt.
    pub nonce: SecretString,
    /// The PKCE code verifier.
    pub pkce_verifier: SecretString,
}

impl FlowSecrets {
    /// Fresh random values (256 bits each).
    pub fn generate() -> Self {
        Self {
            state: gatehouse_crypto::token::random_token(32),
            nonce: gatehouse_crypto::token::random_token(32),
            pkce_verifier: gatehouse_crypto::token::random_token(32),
        }
    }
}

/// The S256 code challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(gatehouse_crypto::signing::sha256(verifier.as_bytes()))
}

/// What goes into an authorization request.
#[derive(Debug)]
pub struct AuthRequest<'a> {
    /// The IdP's authorization endpoint.
    pub endpoint: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// Where the IdP sends the browser back.
    pub redirect_uri: &'a str,
    /// Space-separated scopes.
    pub scope: &'a str,
    /// Operator-set extra parameters (already validated).
    pub extra: Vec<(&'a str, &'a str)>,
    /// Parameters from the `/auth/login` URL, forwarded unless protected.
    pub forwarded: Vec<(&'a str, &'a str)>,
}

/// Build the URL the browser is sent to.
pub fn url(req: &AuthRequest<'_>, secrets: &FlowSecrets) -> Result<url::Url, OidcError> {
    let mut url = url::Url::parse(req.endpoint).map_err(|e| OidcError::BadResponse {
        what: "discovery document",
        detail: format!("authorization_endpoint: {e}"),
    })?;
    // Parameters already in the endpoint (e.g. a B2C policy) stay, except protocol ones.
    let existing: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| is_forwardable_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let challenge = pkce_challenge(secrets.pkce_verifier.expose_secret());
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &existing {
            q.append_pair(k, v);
        }
        q.append_pair("response_type", "code");
        q.append_pair("client_id", req.client_id);
        q.append_pair("redirect_uri", req.redirect_uri);
        q.append_pair("scope", req.scope);
        q.append_pair("state", secrets.state.expose_secret());
        q.append_pair("nonce", secrets.nonce.expose_secret());
        q.append_pair("code_challenge", &challenge);
        q.append_pair("code_challenge_method", "S256");
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in req.extra.iter().chain(req.forwarded.iter()) {
            if is_forwardable_param(k) && !seen.contains(k) && !existing.iter().any(|(e, _)| e == k)
            {
                seen.push(k);
                q.append_pair(k, v);
            }
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_parameters_cannot_be_overridden() {
        let secrets = FlowSecrets::generate();
        let req = AuthRequest {
            endpoint: "https://idp.example/authorize?p=b2c_1_signin&state=evil",
            client_id: "c",
            redirect_uri: "https://app/auth/callback",
            scope: "openid email",
            extra: vec![("prompt", "login")],
            forwarded: vec![
                ("invite", "XYZ"),
                ("redirect_uri", "https://evil"),
                ("client_id", "evil"),
                ("scope", "admin"),
                ("state", "s"),
                ("nonce", "n"),
                ("code_challenge", "x"),
                ("code_challenge_method", "plain"),
                ("response_type", "token"),
                ("response_mode", "form_post"),
                ("request", "jwt"),
                ("request_uri", "urn:x"),
                ("rd", "/x"),
                ("prompt", "none"),
                ("REDIRECT_URI", "https://evil"),
                ("Client_Id", "evil"),
                ("Response_Type", "token"),
                ("STATE", "s"),
                ("Rd", "/x"),
                (" scope", "admin"),
            ],
        };
        let u = url(&req, &secrets).unwrap_or_else(|e| panic!("{e}"));
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| {
            pairs
                .iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("redirect_uri"), vec!["https://app/auth/callback"]);
        assert_eq!(get("client_id"), vec!["c"]);
        assert_eq!(get("scope"), vec!["openid email"]);
        assert_eq!(get("state"), vec![secrets.state.expose_secret()]);
        assert_eq!(get("code_challenge_method"), vec!["S256"]);
        assert_eq!(get("response_type"), vec!["code"]);
        assert!(
            get("response_mode").is_empty()
                && get("request").is_empty()
                && get("request_uri").is_empty()
                && get("rd").is_empty()
        );
        assert!(
            pairs.iter().all(|(k, _)| k.trim() == k.as_str()
                && (k == "p" || k == "invite" || k == "prompt" || *k == k.to_ascii_lowercase())),
            "no protocol parameter in another letter case: {pairs:?}"
        );
        assert_eq!(get("invite"), vec!["XYZ"]);
        assert_eq!(get("p"), vec!["b2c_1_signin"]);
        assert_eq!(
            get("prompt"),
            vec!["login"],
            "the operator's extra parameter wins over a forwarded one"
        );
        assert_eq!(
            get("code_challenge"),
            vec![pkce_challenge(secrets.pkce_verifier.expose_secret())]
        );
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
