//! Outbound HTTP to identity providers: TLS verified (rustls, the
//! platform's roots), short timeouts, at most 3 redirects, and bodies
//! limited to 1 MiB, so a slow or hostile IdP cannot hold or flood Gatehouse.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use crate::OidcError;

/// The largest response body read from an IdP.
pub const MAX_BODY: usize = 1024 * 1024;

/// A response body.
#[derive(Debug)]
pub struct Body {
    /// Status code.
    pub status: u16,
    /// The `Content-Type` (lowercase, without parameters).
    pub content_type: String,
    /// `Cache-Control: max-age`, if given.
    pub max_age: Option<Duration>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Body {
    /// The body as a JSON object.
    pub fn json_object(
        &self,
        what: &'static str,
    ) -> Result<serde_json::Map<String, Value>, OidcError> {
        match serde_json::from_slice::<Value>(&self.bytes) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(OidcError::BadResponse {
                what,
                detail: "not a JSON object".into(),
            }),
            Err(e) => Err(OidcError::BadResponse {
                what,
                detail: format!("not JSON ({e})"),
            }),
        }
    }

    /// An OAuth error from the body (`error`, `error_description`), for messages.
    pub fn oauth_error(&self) -> Option<(String, Option<String>)> {
        let v: Value = serde_json::from_slice(&self.bytes).ok()?;
        let error = v.get("error")?.as_str()?.chars().take(100).collect();
        let desc = v
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| d.chars().take(300).collect());
        Some((error, desc))
    }
}

/// The outbound client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    /// A client with Gatehouse's limits.
    pub fn new() -> Result<Self, OidcError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// GET a document.
    pub async fn get(
        &self,
        url: &str,
        what: &'static str,
        accept: &'static str,
    ) -> Result<Body, OidcError> {
        let req = self
            .client
            .get(url)
            .header(ACCEPT, HeaderValue::from_static(accept));
        self.send(req, what).await
    }

    /// GET with a bearer token (userinfo).
    pub async fn get_bearer(
        &self,
        url: &str,
        token: &str,
        what: &'static str,
    ) -> Result<Body, OidcError> {
        let req = self.client.get(url).bearer_auth(token).header(
            ACCEPT,
            HeaderValue::from_static("application/json, application/jwt"),
        );
        self.send(req, what).await
    }

    /// POST a form, optionally with HTTP Basic client credentials.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
        what: &'static str,
    ) -> Result<Body, OidcError> {
        let mut req = self
            .client
            .post(url)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .form(form);
        if let Some((user, pass)) = basic {
            req = req.basic_auth(user, Some(pass));
        }
        self.send(req, what).await
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<Body, OidcError> {
        let mut resp = req.send().await.map_err(|e| OidcError::Unreachable {
            what,
            detail: error_chain(&e),
        })?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .filter_map(|d| d.trim().strip_prefix("max-age="))
                    .find_map(|s| s.parse::<u64>().ok())
            })
            .map(Duration::from_secs);
        if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
            return Err(OidcError::BadResponse {
                what,
                detail: "the response is larger than 1 MiB".into(),
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| OidcError::Unreachable {
            what,
            detail: error_chain(&e),
        })? {
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err(OidcError::BadResponse {
                    what,
                    detail: "the response is larger than 1 MiB".into(),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Body {
            status,
            content_type,
            max_age,
            bytes,
        })
    }
}

/// An error with its causes, for logs and messages.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
