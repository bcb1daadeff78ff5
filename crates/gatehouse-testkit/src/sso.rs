//! A ready SSO setup for tests: a `TestApp` with an application `shop`
//! proxied to an echo upstream, a `TestIdp` with a client for it, and the
//! application's SSO OIDC settings pointing at the IdP.

use serde_json::{Value, json};

use crate::idp::{IdpBrowser, client_for};
use crate::{AppClient, EchoUpstream, TestApp, TestIdp};

/// The test client's secret (32+ bytes, so it also works as an HS256 key).
pub const SECRET: &str = "shop-client-secret-0123456789abcdef";

/// Everything an SSO test needs.
pub struct Sso {
    /// Gatehouse.
    pub app: TestApp,
    /// The upstream.
    pub up: EchoUpstream,
    /// The IdP.
    pub idp: TestIdp,
    /// The application's id.
    pub app_id: String,
    /// `http://shop.localhost:<port>`.
    pub base: String,
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        for (k, v) in b {
            match (a.get_mut(&k), v) {
                (Some(existing @ Value::Object(_)), v @ Value::Object(_)) => merge(existing, v),
                (_, v) => {
                    a.insert(k, v);
                }
            }
        }
    }
}

impl Sso {
    /// The default setup.
    pub async fn start() -> Self {
        Self::with(json!({}), json!({}), json!({})).await
    }

    /// With changes: `idp` merged into the IdP config, `client` into its
    /// client, `settings` into the SSO OIDC settings.
    pub async fn with(idp: Value, client: Value, settings: Value) -> Self {
        let app = TestApp::spawn().await;
        Self::with_app(app, idp, client, settings).await
    }

    /// The same on an existing `TestApp`.
    pub async fn with_app(app: TestApp, idp_cfg: Value, client: Value, settings: Value) -> Self {
        let up = EchoUpstream::start().await;
        let app_id = app.create_app("shop", Some(&up.url())).await;
        let base = format!("http://shop.localhost:{}", app.port());
        let method = client
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            .unwrap_or("client_secret_basic")
            .to_owned();
        let mut c = client_for("shop", SECRET, &base, &method);
        merge(&mut c, client);
        let mut cfg = json!({ "clients": [c] });
        merge(&mut cfg, idp_cfg);
        let idp = TestIdp::start(cfg).await;
        let mut body = json!({
            "enabled": true,
            "issuer_url": idp.issuer,
            "client_id": "shop",
            "client_secret": SECRET,
            "scopes": "openid profile email groups custom",
            "token_endpoint_auth_method": method,
            "claim_mappings": {"other": [
                {"claim": "department", "tag": "dept"},
                {"claim": "level", "tag": "level"},
                {"claim": "projects", "tag": "project"},
                {"claim": "address.locality", "tag": "city"},
                {"claim": "is_admin", "tag": "admin"},
            ]},
            "groups_claim": "groups",
        });
        merge(&mut body, settings);
        let r = app
            .api()
            .put(&format!("/api/v1/apps/{app_id}/sso/oidc"), &body)
            .await;
        assert_eq!(r.status, 200, "SSO settings: {}", r.text);
        Self {
            app,
            up,
            idp,
            app_id,
            base,
        }
    }

    /// A fresh browser for the application's host.
    pub fn client(&self) -> AppClient {
        self.app.client("shop.localhost")
    }

    /// A fresh browser at the IdP.
    pub fn idp_browser(&self) -> IdpBrowser {
        self.idp.browser()
    }

    /// Sign in as `account` with fresh browsers; returns the app client and the callback's response.
    pub async fn sign_in(&self, account: &str) -> (AppClient, crate::client::Resp) {
        let c = self.client();
        let r = crate::idp::sign_in(&c, &self.idp_browser(), "?rd=/home", Some(account)).await;
        (c, r)
    }

    /// POST a back-channel logout token to the application, as the IdP does.
    pub async fn post_logout_token(&self, token: &str) -> reqwest::Response {
        let c = self.client();
        c.http()
            .post(format!("{}/auth/backchannel-logout", c.base))
            .form(&[("logout_token", token)])
            .send()
            .await
            .expect("back-channel logout request")
    }

    /// The application's users.
    pub async fn users(&self) -> Vec<Value> {
        let r = self
            .app
            .api()
            .get(&format!("/api/v1/apps/{}/users", self.app_id))
            .await;
        r.json.as_array().cloned().unwrap_or_default()
    }

    /// The application's audit events with an action prefix, newest first.
    pub async fn audit(&self, action: &str) -> Vec<Value> {
        let r = self
            .app
            .api()
            .get(&format!(
                "/api/v1/apps/{}/audit?action={action}",
                self.app_id
            ))
            .await;
        r.json.as_array().cloned().unwrap_or_default()
    }
}
