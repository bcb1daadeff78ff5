//! `TestIdp`: the repository's test OpenID Provider (`tests/idp/idp.mjs`,
//! npm `oidc-provider`) started for one test, with its misbehaviour
//! switches, and a browser-like client that signs in through its form.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::client::{AppClient, Resp};

/// Where the IdP script lives.
pub fn idp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/idp")
}

/// A running test IdP, stopped when dropped.
pub struct TestIdp {
    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub issuer: String,
    http: reqwest::Client,
    _child: Child,
}

/// A client registered at the test IdP for an application of a `TestApp`.
pub fn client_for(client_id: &str, secret: &str, app_base: &str, auth_method: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [format!("{app_base}/auth/callback")],
        "post_logout_redirect_uris": [format!("{app_base}/auth/logged-out")],
        "backchannel_logout_uri": format!("{app_base}/auth/backchannel-logout"),
        "backchannel_logout_session_required": true,
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": auth_method,
    })
}

impl TestIdp {
    /// Start with `config` (see `tests/idp/idp.mjs`: `clients`, `accounts`, `keys`, ...).
    pub async fn start(config: Value) -> Self {
        let dir = idp_dir();
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test IdP's packages are missing: run `npm ci --prefix tests/idp` (./scripts/test does it)"
        );
        let mut child = crate::process::dies_with_us(&mut Command::new("node"))
            .arg(dir.join("idp.mjs"))
            .env("IDP_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts (is Node.js installed?)");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the test IdP starts within 30 s")
            .expect("read the IdP's stdout")
            .expect("the IdP prints `listening <issuer>`");
        let issuer = line
            .strip_prefix("listening ")
            .expect("`listening <issuer>`")
            .trim()
            .to_owned();
        // Keep reading stdout so the IdP never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            issuer,
            http,
            _child: child,
        }
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/__test/{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("IdP control");
        r.json().await.unwrap_or(Value::Null)
    }

    /// Tamper with the next response(s) (`mode` as in `idp.mjs`).
    pub async fn misbehave(&self, mode: &str, client_id: Option<&str>) {
        self.control("misbehave", json!({"mode": mode, "client_id": client_id}))
            .await;
    }

    /// Sign ID tokens with a new key, published in the JWKS (optionally alone).
    pub async fn rotate(&self, drop_old: bool) -> String {
        self.control("rotate", json!({"drop_old": drop_old})).await["kid"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Sign every token response's ID token with a new key (kid
    /// `rotated-N`), each published in the JWKS beside the old ones.
    pub async fn rotate_every_login(&self) {
        self.control("rotate", json!({"every_login": true})).await;
    }

    /// Answer requests to `path` with `status` after `delay` (a hanging
    /// endpoint), `times` times.
    pub async fn fail_slowly(
        &self,
        path: &str,
        status: u16,
        times: u32,
        delay: std::time::Duration,
    ) {
        self.control(
            "fail",
            json!({"path": path, "status": status, "times": times, "delay_ms": delay.as_millis() as u64}),
        )
        .await;
    }

    /// When requests to `path` arrived and were answered, in ms since the
    /// epoch (`done` null while in progress).
    pub async fn hits(&self, path: &str) -> Vec<(u64, Option<u64>)> {
        let r = self
            .http
            .get(format!("{}/__test/hits?path={path}", self.issuer))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|h| (h["at"].as_u64().unwrap_or(0), h["done"].as_u64()))
            .collect()
    }

    /// Make userinfo for `account` point to aggregated and distributed
    /// claims (see `idp.mjs`: `aggregated`, `distributed`, `host`, `as_json`).
    pub async fn claim_sources(&self, account: &str, mut body: Value) {
        body["account"] = json!(account);
        self.control("claim_sources", body).await;
    }

    /// Answer requests to `path` with `status`, `times` times.
    pub async fn fail(&self, path: &str, status: u16, times: u32) {
        self.control(
            "fail",
            json!({"path": path, "status": status, "times": times}),
        )
        .await;
    }

    /// Replace an account's claims.
    pub async fn set_claims(&self, account: &str, claims: Value) {
        self.control(
            "userinfo_claims",
            json!({"account": account, "claims": claims}),
        )
        .await;
    }

    /// A back-channel logout token for `client_id` (see `idp.mjs` for `tamper`).
    pub async fn logout_token(&self, body: Value) -> String {
        self.control("logout_token", body).await["logout_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A JWT signed by the IdP (see `/__test/sign` in `idp.mjs`): `claims`
    /// over the defaults `iss`, `iat`, `exp`; `tamper` spoils it.
    pub async fn sign_token(&self, claims: Value, tamper: Option<&str>) -> String {
        self.control("sign", json!({"claims": claims, "tamper": tamper}))
            .await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A JWT signed with the IdP's extra key that is not in its JWKS.
    pub async fn sign_token_with_pem_key(&self, claims: Value) -> String {
        self.control("sign", json!({"claims": claims, "key": "pem"}))
            .await["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The public half of that extra key, as PEM.
    pub async fn pem_key(&self) -> String {
        let r = self
            .http
            .get(format!("{}/__test/pem", self.issuer))
            .send()
            .await
            .expect("pem");
        r.json::<Value>().await.unwrap_or(Value::Null)["pem"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// A JWT access token for `resource` from the client-credentials grant.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        resource: &str,
    ) -> String {
        let r = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("scope", "api"),
            ])
            .send()
            .await
            .expect("token request");
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "client_credentials: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// The authorization and end-session requests the IdP saw.
    pub async fn requests(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/__test/requests", self.issuer))
            .send()
            .await
            .expect("requests");
        r.json::<Vec<Value>>().await.unwrap_or_default()
    }

    /// A browser-like client for the IdP (its own cookies).
    pub fn browser(&self) -> IdpBrowser {
        IdpBrowser::new(&self.issuer)
    }
}

/// A user's browser at the IdP.
#[derive(Clone)]
pub struct IdpBrowser {
    issuer: String,
    http: reqwest::Client,
}

impl IdpBrowser {
    /// A fresh browser (no cookies) for the IdP at `issuer`.
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .expect("client"),
        }
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with('/') {
            format!("{}{location}", self.issuer)
        } else {
            location.to_owned()
        }
    }

    /// Follow the IdP from `url` (an authorization URL), signing in as
    /// `account` when the form appears (or pressing Cancel when `account`
    /// is `None`), until it redirects back out of the IdP. Returns that URL.
    pub async fn authorize(&self, url: &str, account: Option<&str>) -> String {
        let mut next = url.to_owned();
        for _ in 0..20 {
            let r = self.http.get(&next).send().await.expect("IdP request");
            let status = r.status().as_u16();
            if (300..400).contains(&status) {
                let location = r.headers()["location"]
                    .to_str()
                    .expect("location")
                    .to_owned();
                let abs = self.absolute(&location);
                if !abs.starts_with(&self.issuer) {
                    return abs;
                }
                next = abs;
                continue;
            }
            let html = r.text().await.unwrap_or_default();
            let action = regex_lite::Regex::new(r#"action="(/interaction/[^"]+)/login""#)
                .expect("regex")
                .captures(&html)
                .map(|c| c[1].to_owned())
                .unwrap_or_else(|| panic!("expected the IdP's sign-in form, got {status}: {html}"));
            let resp = match account {
                Some(a) => self
                    .http
                    .post(format!("{}{action}/login", self.issuer))
                    .form(&[("login", a), ("password", "any")])
                    .send()
                    .await
                    .expect("login"),
                None => self
                    .http
                    .post(format!("{}{action}/abort", self.issuer))
                    .send()
                    .await
                    .expect("abort"),
            };
            let location = resp.headers()["location"]
                .to_str()
                .expect("location after login")
                .to_owned();
            next = self.absolute(&location);
        }
        panic!("the IdP redirected more than 20 times");
    }

    /// Confirm a logout at the IdP's end-session endpoint (the form its page would submit).
    pub async fn end_session(&self, url: &str) -> Resp {
        let r = self.http.get(url).send().await.expect("end session");
        let status = r.status().as_u16();
        let html = r.text().await.unwrap_or_default();
        let Some(caps) =
            regex_lite::Regex::new(r#"<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)</form>"#)
                .expect("regex")
                .captures(&html)
        else {
            return Resp::from_parts(status, reqwest::header::HeaderMap::new(), html);
        };
        let action = self.absolute(&caps[1]);
        let inputs: Vec<(String, String)> =
            regex_lite::Regex::new(r#"<input[^>]*name="([^"]+)"[^>]*value="([^"]*)""#)
                .expect("regex")
                .captures_iter(&caps[2])
                .map(|c| (c[1].to_owned(), c[2].to_owned()))
                .collect();
        let r = self
            .http
            .post(action)
            .form(&inputs)
            .send()
            .await
            .expect("confirm logout");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Resp::from_parts(status, headers, r.text().await.unwrap_or_default())
    }
}

/// Sign in to the application at `client`'s host through the IdP as
/// `account`: `GET /auth/login<query>`, the IdP's form, back to the
/// callback. Returns the callback's response, or for a refused sign-in
/// (which the callback shows on a clean URL) that page's.
pub async fn sign_in(
    client: &AppClient,
    idp: &IdpBrowser,
    query: &str,
    account: Option<&str>,
) -> Resp {
    let start = client.get(&format!("/auth/login{query}")).await;
    assert_eq!(
        start.status, 303,
        "/auth/login should redirect to the IdP: {}",
        start.text
    );
    let authorize = start.header("location").expect("location").to_owned();
    let back = idp.authorize(&authorize, account).await;
    let path = back
        .strip_prefix(&client.base)
        .unwrap_or_else(|| panic!("the IdP sent the browser to {back}"));
    let r = client.get(path).await;
    match r.header("location") {
        Some(to) if r.status == 303 && to.ends_with("/refused") => client.get(to).await,
        _ => r,
    }
}
