//! The token endpoint: exchanging a code (with the PKCE verifier) and
//! refreshing, with client authentication `client_secret_basic`,
//! `client_secret_post`, `client_secret_jwt` or `private_key_jwt` (RFC 7523,
//! OpenID Connect Core §9).

use gatehouse_crypto::signing::EcKey;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::OidcError;
use crate::http::HttpClient;

/// How the client authenticates.
pub enum ClientAuth<'a> {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    Basic(&'a SecretString),
    /// `client_id` and `client_secret` in the body.
    Post(&'a SecretString),
    /// A JWT signed with the application's key.
    PrivateKeyJwt(&'a EcKey),
    /// A JWT signed (HS256) with the client secret.
    SecretJwt(&'a SecretString),
}

/// A token response.
#[derive(Debug)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: SecretString,
    /// The ID token (compact JWS).
    pub id_token: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<SecretString>,
    /// Seconds until the access token expires.
    pub expires_in: Option<u64>,
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A client assertion for `private_key_jwt`: iss = sub = client id, aud = the token endpoint.
pub fn client_assertion(
    key: &EcKey,
    client_id: &str,
    token_endpoint: &str,
    now: i64,
) -> Result<String, OidcError> {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": key.kid()}).to_string();
    let claims = assertion_claims(client_id, token_endpoint, now).to_string();
    key.sign_jws(&header, &claims)
        .map_err(|e| OidcError::Config(e.to_string()))
}

fn assertion_claims(client_id: &str, token_endpoint: &str, now: i64) -> Value {
    serde_json::json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A client assertion for `client_secret_jwt`: the same claims as for
/// `private_key_jwt`, signed HS256 with the client secret.
pub fn secret_assertion(
    secret: &SecretString,
    client_id: &str,
    token_endpoint: &str,
    now: i64,
) -> Result<String, OidcError> {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &assertion_claims(client_id, token_endpoint, now),
        &jsonwebtoken::EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
    .map_err(|e| OidcError::Config(format!("cannot sign the client assertion: {e}")))
}

fn push_assertion<'a>(form: &mut Vec<(&'a str, &'a str)>, client_id: &'a str, assertion: &'a str) {
    form.push(("client_id", client_id));
    form.push((
        "client_assertion_type",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    ));
    form.push(("client_assertion", assertion));
}

/// Call the token endpoint with `grant` parameters.
pub async fn request(
    http: &HttpClient,
    token_endpoint: &str,
    client_id: &str,
    auth: ClientAuth<'_>,
    grant: &[(&str, &str)],
    now: i64,
) -> Result<TokenResponse, OidcError> {
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    let assertion;
    let encoded_id;
    let encoded_secret;
    let basic = match &auth {
        ClientAuth::Basic(secret) => {
            encoded_id = form_encode(client_id);
            encoded_secret = form_encode(secret.expose_secret());
            Some((encoded_id.as_str(), encoded_secret.as_str()))
        }
        ClientAuth::Post(secret) => {
            form.push(("client_id", client_id));
            form.push(("client_secret", secret.expose_secret()));
            None
        }
        ClientAuth::PrivateKeyJwt(key) => {
            assertion = client_assertion(key, client_id, token_endpoint, now)?;
            push_assertion(&mut form, client_id, &assertion);
            None
        }
        ClientAuth::SecretJwt(secret) => {
            assertion = secret_assertion(secret, client_id, token_endpoint, now)?;
            push_assertion(&mut form, client_id, &assertion);
            None
        }
    };
    let body = http
        .post_form(token_endpoint, &form, basic, "token")
        .await?;
    if body.status != 200 {
        return Err(match body.oauth_error() {
            Some((error, description)) if body.status < 500 => {
                OidcError::TokenRefused { error, description }
            }
            other => OidcError::BadStatus {
                what: "token",
                status: body.status,
                detail: other.map(|(e, d)| d.map_or(e.clone(), |d| format!("{e}: {d}"))),
            },
        });
    }
    let json = body.json_object("token response")?;
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| OidcError::BadResponse {
            what: "token response",
            detail: "no access_token".into(),
        })?;
    if let Some(t) = json.get("token_type").and_then(Value::as_str)
        && !t.eq_ignore_ascii_case("bearer")
        && !t.eq_ignore_ascii_case("dpop")
    {
        return Err(OidcError::BadResponse {
            what: "token response",
            detail: format!("token_type {t:?} is not Bearer"),
        });
    }
    Ok(TokenResponse {
        access_token: SecretString::from(access_token.to_owned()),
        id_token: json
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned),
        refresh_token: json
            .get("refresh_token")
            .and_then(Value::as_str)
            .map(|s| SecretString::from(s.to_owned())),
        expires_in: json.get("expires_in").and_then(Value::as_u64),
    })
}
