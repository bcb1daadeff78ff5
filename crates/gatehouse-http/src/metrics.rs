//! Prometheus metrics: requests by route and status, upstream latency,
//! active sessions and sign-ins by outcome. One registry in the state (no
//! globals), encoded on `GET /metrics` on the admin host.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    method: &'static str,
    outcome: &'static str,
}

/// The metrics of one node.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    upstream: Histogram,
    active_sessions: Gauge,
    signins: Family<OutcomeLabels, Counter>,
    callback: Family<PartLabels, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartLabels {
    part: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        // 0.25 ms .. ~8 s
        let upstream = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "proxy_upstream_duration_seconds",
            "Time from sending a request upstream to its response head",
            upstream.clone(),
        );
        let active_sessions = Gauge::default();
        registry.register(
            "active_sessions",
            "Sessions neither revoked nor expired (at last scrape)",
            active_sessions.clone(),
        );
        let signins = Family::<OutcomeLabels, Counter>::default();
        registry.register("signins", "Sign-ins by method and outcome", signins.clone());
        // Known series start at zero, so rates work from the first scrape.
        for outcome in ["succeeded", "invalid_credentials", "rate_limited", "error"] {
            let _ = signins.get_or_create(&OutcomeLabels {
                method: "password",
                outcome,
            });
        }
        for outcome in [
            "succeeded",
            "idp_error",
            "state_mismatch",
            "idp_unreachable",
            "invalid_token",
            "missing_claim",
        ] {
            let _ = signins.get_or_create(&OutcomeLabels {
                method: "oidc",
                outcome,
            });
        }
        let callback = Family::<PartLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_1, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "signin_callback_seconds",
            "Time of successful OIDC callbacks: part=\"gatehouse\" is Gatehouse's own work, part=\"idp\" waiting for the IdP",
            callback.clone(),
        );
        Self {
            registry,
            requests,
            upstream,
            active_sessions,
            signins,
            callback,
        }
    }

    /// Count one request.
    pub fn observe_request(&self, route: &'static str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
    }

    /// Record an upstream's latency.
    pub fn observe_upstream(&self, seconds: f64) {
        self.upstream.observe(seconds);
    }

    /// Count a sign-in outcome (`succeeded`, or the failure reason).
    pub fn observe_signin(&self, method: &'static str, outcome: &'static str) {
        self.signins
            .get_or_create(&OutcomeLabels { method, outcome })
            .inc();
    }

    /// Record a successful callback's time, split into Gatehouse's and the IdP's parts.
    pub fn observe_callback(&self, total: std::time::Duration, idp: std::time::Duration) {
        let own = total.saturating_sub(idp);
        self.callback
            .get_or_create(&PartLabels { part: "gatehouse" })
            .observe(own.as_secs_f64());
        self.callback
            .get_or_create(&PartLabels { part: "idp" })
            .observe(idp.as_secs_f64());
    }

    /// Set the active-session gauge.
    pub fn set_active_sessions(&self, n: i64) {
        self.active_sessions.set(n);
    }

    /// The text exposition format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
