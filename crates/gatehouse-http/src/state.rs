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
    /// The runtime that owns the database pool, the IdP client and the
    /// background tasks: the one the state was built on.
    control: Option<tokio::runtime::Handle>,
}

/// Aborts a task when dropped (a finished task is left as it is).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Work handed to the control runtime could not finish (the runtime is
/// shutting down, or the work panicked).
#[derive(Debug, thiserror::Error)]
#[error("work handed to the control runtime did not finish: {0}")]
pub struct ControlError(String);

impl AppState {
    /// Build the state.
    pub fn new(gh: Gatehouse, settings: HttpSettings) -> Result<Self, crate::proxy::ProxyError> {
        Ok(Self {
            inner: Arc::new(Inner {
                gh,
                metrics: Metrics::new(),
                proxy: ProxyClient::new()?,
                settings,
                control: tokio::runtime::Handle::try_current().ok(),
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

    /// Run `work` on the control runtime and wait for its result, when
    /// called on a worker thread ([`crate::server`]); elsewhere (the control
    /// runtime itself, a test calling the router directly) run it here.
    /// Everything that awaits the database or an IdP goes through this on
    /// the serving path, so none of it runs on, or belongs to, a worker's
    /// runtime.
    ///
    /// The work runs in the caller's tracing span (its log lines carry the
    /// request's correlation id), and is cancelled when the caller is
    /// dropped (a client that goes away leaves no task behind), as it was
    /// when it ran in the caller.
    pub async fn on_control<F>(&self, work: F) -> Result<F::Output, ControlError>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        use tracing::Instrument;
        match &self.inner.control {
            Some(control) if crate::server::on_worker() => {
                let task = control.spawn(work.in_current_span());
                let _cancel = AbortOnDrop(task.abort_handle());
                task.await.map_err(|e| ControlError(e.to_string()))
            }
            _ => Ok(work.await),
        }
    }

    /// The web settings.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }
}
