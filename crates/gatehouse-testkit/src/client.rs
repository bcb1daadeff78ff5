//! HTTP clients for tests: the admin API, and browser-like clients that keep
//! cookies, follow no redirects and resolve `*.localhost` to the node.

use std::net::SocketAddr;

use reqwest::header::{HeaderMap, HeaderValue};

/// A response read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text.
    pub text: String,
    /// Body as JSON (`Null` when it is not JSON).
    pub json: serde_json::Value,
}

impl Resp {
    /// A response from its parts.
    pub fn from_parts(status: u16, headers: HeaderMap, text: String) -> Self {
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    async fn read(r: reqwest::Response) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The admin API on `localhost:<port>`.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl ApiClient {
    /// A client for the admin API of the node at `addr`.
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("localhost", addr)
            .build()
            .expect("client");
        Self {
            base: format!("http://localhost:{}", addr.port()),
            token: token.map(str::to_owned),
            http,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Resp {
        Resp::read(
            self.req(reqwest::Method::GET, path)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Resp {
        Resp::read(
            self.req(reqwest::Method::DELETE, path)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Resp {
        Resp::read(
            self.req(reqwest::Method::POST, path)
                .json(body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// PUT JSON.
    pub async fn put(&self, path: &str, body: &serde_json::Value) -> Resp {
        Resp::read(
            self.req(reqwest::Method::PUT, path)
                .json(body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// PATCH JSON.
    pub async fn patch(&self, path: &str, body: &serde_json::Value) -> Resp {
        Resp::read(
            self.req(reqwest::Method::PATCH, path)
                .json(body)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// A raw request builder (for odd bodies and headers).
    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.req(method, path)
    }

    /// Send a raw request.
    pub async fn send(&self, r: reqwest::RequestBuilder) -> Resp {
        Resp::read(r.send().await.expect("send")).await
    }
}

/// A browser-like client for one application host.
#[derive(Debug, Clone)]
pub struct AppClient {
    /// `http://<host>:<port>`.
    pub base: String,
    /// The host name.
    pub host: String,
    http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl AppClient {
    /// A client for `host` whose requests go to `addr`.
    pub fn new(addr: SocketAddr, host: &str) -> Self {
        Self::build(addr, host, true)
    }

    /// The same, opening a new connection for every request (so a load
    /// balancer in front of several nodes chooses again each time).
    pub fn without_keepalive(addr: SocketAddr, host: &str) -> Self {
        Self::build(addr, host, false)
    }

    fn build(addr: SocketAddr, host: &str, keepalive: bool) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .resolve(host, addr);
        if !keepalive {
            b = b.pool_max_idle_per_host(0);
        }
        let http = b.build().expect("client");
        Self {
            base: format!("http://{host}:{}", addr.port()),
            host: host.to_owned(),
            http,
            jar,
        }
    }

    /// The underlying client (cookies included).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// GET a path as a browser would (Accept: text/html).
    pub async fn get(&self, path: &str) -> Resp {
        self.get_with(path, &[("accept", "text/html,application/xhtml+xml")])
            .await
    }

    /// GET with extra headers.
    pub async fn get_with(&self, path: &str, headers: &[(&'static str, &str)]) -> Resp {
        let mut r = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, HeaderValue::from_str(v).expect("header"));
        }
        Resp::read(r.send().await.expect("send")).await
    }

    /// POST a form as a same-origin browser page would.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Resp {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .header("sec-fetch-site", "same-origin")
            .form(form);
        Resp::read(r.send().await.expect("send")).await
    }

    /// Sign in with e-mail and password; panics unless it succeeds.
    pub async fn sign_in(&self, email: &str, password: &str) {
        let r = self
            .post_form(
                "/auth/login",
                &[("email", email), ("password", password), ("rd", "/")],
            )
            .await;
        assert_eq!(r.status, 303, "sign-in failed: {}", r.text);
    }

    /// The `Cookie` header this client sends to its host (e.g. `gatehouse_session=...`).
    pub fn cookie_header(&self) -> Option<String> {
        self.cookie_header_for("/")
    }

    /// The `Cookie` header this client sends for `path`.
    pub fn cookie_header_for(&self, path: &str) -> Option<String> {
        use reqwest::cookie::CookieStore as _;
        let url: url::Url = format!("{}{path}", self.base).parse().ok()?;
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    /// The session cookie's value, if the jar has one.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie_header()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| {
                k.trim_start_matches("__Host-")
                    .starts_with("gatehouse_session_")
            })
            .map(|(_, v)| v.to_owned())
    }
}
