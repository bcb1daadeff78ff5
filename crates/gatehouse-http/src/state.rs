//! The state every handler shares: one cheap clone.

use std::sync::Arc;

use gatehouse_service::Gatehouse;

use crate::metrics::Metrics;
use crate::proxy::ProxyClient;

/// Settings of the web layer, from the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Name of the session cookie on application hosts.
    pub session_cookie: String,
    /// How long to wait for an upstream's response head.
    pub upstream_timeout: std::time::Duration,
    /// The scheme the console is reached with (the `Secure` flag of its cookie).
    pub admin_scheme: gatehouse_core::Scheme,
    /// Load balancers and proxies in front of Gatehouse: from these peers,
    /// the client's address is taken from `X-Forwarded-For`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When set, `/metrics` needs `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<secrecy::SecretString>,
}

/// The default `trusted_proxies`: loopback, where a reverse proxy on the
/// same machine connects from.
pub fn loopback() -> Vec<ipnet::IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            session_cookie: "gatehouse_session".to_owned(),
            upstream_timeout: std::time::Duration::from_secs(60),
            admin_scheme: gatehouse_core::Scheme::Http,
            trusted_proxies: loopback(),
            metrics_token: None,
        }
    }
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    gh: Gatehouse,
    metrics: Metrics,
    proxy: ProxyClient,
    settings: HttpSettings,
}

impl AppState {
    /// Build the state.
    pub fn new(gh: Gatehouse, settings: HttpSettings) -> Result<Self, crate::proxy::ProxyError> {
        Ok(Self {
            inner: Arc::new(Inner {
                gh,
                metrics: Metrics::new(),
                proxy: ProxyClient::new()?,
                settings,
            }),
        })
    }

    /// The service layer.
    pub fn gh(&self) -> &Gatehouse {
        &self.inner.gh
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The upstream client.
    pub fn proxy(&self) -> &ProxyClient {
        &self.inner.proxy
    }

    /// The web settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
}
