//! `TestApp`: one Gatehouse node started in-process for a test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse::{Application, Config};
use gatehouse_core::ManualClock;
use gatehouse_service::Gatehouse;
use tokio::sync::oneshot;

use crate::client::{ApiClient, AppClient};

/// The admin token every `TestApp` accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Options for [`TestApp`].
#[derive(Debug, Default)]
pub struct TestAppBuilder {
    idle: Option<Duration>,
    absolute: Option<Duration>,
    trusted_proxies: Option<Vec<gatehouse::config::TrustedProxy>>,
    http2_cleartext: bool,
    header_read_timeout: Option<Duration>,
    metrics_token: Option<String>,
    login_attempts_per_account: Option<u32>,
}

impl TestAppBuilder {
    /// Session idle timeout.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle = Some(d);
        self
    }

    /// Session absolute timeout.
    pub fn absolute_timeout(mut self, d: Duration) -> Self {
        self.absolute = Some(d);
        self
    }

    /// `trusted_proxies` (addresses or networks).
    pub fn trusted_proxies(mut self, list: &[&str]) -> Self {
        self.trusted_proxies = Some(
            list.iter()
                .map(|s| {
                    gatehouse::config::TrustedProxy::parse(s)
                        .unwrap_or_else(|| panic!("{s:?} is not an address or network"))
                })
                .collect(),
        );
        self
    }

    /// Accept cleartext HTTP/2 (prior knowledge).
    pub fn http2_cleartext(mut self) -> Self {
        self.http2_cleartext = true;
        self
    }

    /// `header_read_timeout`.
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.header_read_timeout = Some(d);
        self
    }

    /// `login_attempts_per_account`.
    pub fn login_attempts_per_account(mut self, n: u32) -> Self {
        self.login_attempts_per_account = Some(n);
        self
    }

    /// `metrics_token`.
    pub fn metrics_token(mut self, token: &str) -> Self {
        self.metrics_token = Some(token.to_owned());
        self
    }

    /// Start the node.
    pub async fn spawn(self) -> TestApp {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let defaults = Config::default();
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().join("data"),
            admin_token: Some(ADMIN_TOKEN.to_owned().into()),
            session_idle_timeout: self.idle.unwrap_or(defaults.session_idle_timeout),
            session_absolute_timeout: self.absolute.unwrap_or(defaults.session_absolute_timeout),
            upstream_timeout: Duration::from_secs(10),
            trusted_proxies: self
                .trusted_proxies
                .unwrap_or(defaults.trusted_proxies.clone()),
            http2_cleartext: self.http2_cleartext,
            header_read_timeout: self
                .header_read_timeout
                .unwrap_or(defaults.header_read_timeout),
            login_attempts_per_account: self
                .login_attempts_per_account
                .unwrap_or(defaults.login_attempts_per_account),
            metrics_token: self.metrics_token.map(Into::into),
            ..defaults
        };
        let clock = Arc::new(ManualClock::new());
        let app = Application::build(&config, clock.clone())
            .await
            .expect("Gatehouse starts");
        let addr = app.local_addr();
        let gh = app.gatehouse().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = app
                .run_until_stopped(async {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            addr,
            clock,
            gh,
            dir,
            _stop: tx,
            _handle: handle,
        }
    }
}

/// A running Gatehouse node for one test; stopped when dropped.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its clock: advance it instead of sleeping.
    pub clock: Arc<ManualClock>,
    /// Its service layer.
    pub gh: Gatehouse,
    /// Its data directory (SQLite file, master key).
    pub dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    _handle: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// A node with default settings.
    pub async fn spawn() -> Self {
        TestAppBuilder::default().spawn().await
    }

    /// Options.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// An admin API client (admin host `localhost`).
    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.addr, Some(ADMIN_TOKEN))
    }

    /// An admin API client with another token (or none).
    pub fn api_with_token(&self, token: Option<&str>) -> ApiClient {
        ApiClient::new(self.addr, token)
    }

    /// A browser-like client (cookies, no redirects followed) for `host`
    /// (a name that resolves to this node, e.g. `app1.localhost`).
    pub fn client(&self, host: &str) -> AppClient {
        AppClient::new(self.addr, host)
    }

    /// Create an application with one host `<slug>.localhost:<port>` and
    /// return its id. Access is deny-by-default; this helper gives every
    /// user the role `member` (default role), as most tests are not about
    /// access. Tests of access use [`TestApp::create_app_denying`].
    pub async fn create_app(&self, slug: &str, upstream: Option<&str>) -> String {
        let id = self.create_app_denying(slug, upstream).await;
        let r = self
            .api()
            .put(
                &format!("/api/v1/apps/{id}/access"),
                &serde_json::json!({"default_role": "member"}),
            )
            .await;
        assert_eq!(r.status, 200, "access policy: {}", r.text);
        id
    }

    /// Create an application that denies everyone until grants are made.
    pub async fn create_app_denying(&self, slug: &str, upstream: Option<&str>) -> String {
        let host = format!("{slug}.localhost:{}", self.port());
        let mut body =
            serde_json::json!({ "name": format!("App {slug}"), "slug": slug, "hosts": [host] });
        if let Some(u) = upstream {
            body["upstream_url"] = serde_json::json!(u);
        }
        let resp = self.api().post("/api/v1/apps", &body).await;
        assert_eq!(resp.status, 201, "create app: {}", resp.text);
        resp.json["id"].as_str().expect("id").to_owned()
    }

    /// Create a local user with a password; returns the user id.
    pub async fn create_user(&self, app_id: &str, email: &str, password: &str) -> String {
        let resp = self
            .api()
            .post(
                &format!("/api/v1/apps/{app_id}/users"),
                &serde_json::json!({ "email": email, "first_name": "Ana", "last_name": "Silva", "password": password }),
            )
            .await;
        assert_eq!(resp.status, 201, "create user: {}", resp.text);
        resp.json["id"].as_str().expect("id").to_owned()
    }

    /// Every byte of the data directory's files (database, WAL, key file).
    pub fn data_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path().join("data")).expect("data dir") {
            let entry = entry.expect("entry");
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap_or_default(),
            ));
        }
        out
    }
}

fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let level = std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".to_owned());
        gatehouse::telemetry::init(gatehouse::config::LogFormat::Text, &level);
    });
}
