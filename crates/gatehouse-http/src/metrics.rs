//! Prometheus metrics: requests by route and status, upstream latency,
//! active sessions and sign-ins by outcome. One registry in the state (no
//! globals), encoded on `GET /metrics` on the admin host.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
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

/// Request counters a thread keeps at most (the table is emptied when full).
const HOT_PER_THREAD: usize = 32;

/// Which counter: (metrics id, route label address and length, status).
type HotKey = (usize, usize, usize, u16);

thread_local! {
    static HOT: std::cell::RefCell<Vec<(HotKey, Counter)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A histogram of durations in atomics: observing takes no lock (the
/// proxy observes one per request, from every worker).
#[derive(Debug)]
struct AtomicHistogram {
    /// Upper bounds, in seconds, ascending; the last bucket is +Inf.
    bounds: Vec<f64>,
    /// The same bounds in nanoseconds.
    bounds_ns: Vec<u64>,
    /// One count per bound, then +Inf.
    counts: Vec<AtomicU64>,
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    fn new(bounds: impl Iterator<Item = f64>) -> Self {
        let bounds: Vec<f64> = bounds.collect();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bounds_ns = bounds.iter().map(|b| (b * 1e9) as u64).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self {
            bounds,
            bounds_ns,
            counts,
            sum_ns: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: std::time::Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = self
            .bounds_ns
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(self.bounds_ns.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// The registered handle of an [`AtomicHistogram`].
#[derive(Debug, Clone)]
struct Durations(Arc<AtomicHistogram>);

impl Durations {
    fn observe(&self, d: std::time::Duration) {
        self.0.observe(d);
    }
}

impl EncodeMetric for Durations {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let h = &self.0;
        let mut buckets = Vec::with_capacity(h.counts.len());
        let mut count = 0;
        for (i, c) in h.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            count += n;
            buckets.push((h.bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        #[allow(clippy::cast_precision_loss)]
        let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The metrics of one node.
pub struct Metrics {
    /// Tells this registry's per-thread counters from another's.
    id: usize,
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    upstream: Durations,
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
        let upstream = Durations(Arc::new(AtomicHistogram::new(exponential_buckets(
            0.000_25, 2.0, 16,
        ))));
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
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
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
        // Each thread keeps the counters it has used (clones of the
        // family's: one atomic each), found by the label's address and the
        // status: no lock and no hashing per request.
        let key = (self.id, route.as_ptr() as usize, route.len(), status);
        let counter = HOT.with(|hot| {
            let mut hot = hot.borrow_mut();
            if let Some((_, c)) = hot.iter().find(|(k, _)| *k == key) {
                return c.clone();
            }
            let c = self
                .requests
                .get_or_create(&RequestLabels { route, status })
                .clone();
            if hot.len() >= HOT_PER_THREAD {
                hot.clear();
            }
            hot.push((key, c.clone()));
            c
        });
        counter.inc();
    }

    /// Record an upstream's latency.
    pub fn observe_upstream(&self, elapsed: std::time::Duration) {
        self.upstream.observe(elapsed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_histogram_and_request_counters_are_exposed() {
        let m = Metrics::new();
        m.observe_upstream(std::time::Duration::from_micros(100));
        m.observe_upstream(std::time::Duration::from_millis(3));
        m.observe_upstream(std::time::Duration::from_secs(60));
        for _ in 0..3 {
            m.observe_request("proxy", 200);
        }
        m.observe_request("proxy", 502);
        let text = m.encode().unwrap_or_default();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        assert_eq!(
            line("gatehouse_proxy_upstream_duration_seconds_count"),
            "gatehouse_proxy_upstream_duration_seconds_count 3"
        );
        assert_eq!(
            line("gatehouse_proxy_upstream_duration_seconds_bucket{le=\"0.00025\"}"),
            "gatehouse_proxy_upstream_duration_seconds_bucket{le=\"0.00025\"} 1"
        );
        assert_eq!(
            line("gatehouse_proxy_upstream_duration_seconds_bucket{le=\"0.004\"}"),
            "gatehouse_proxy_upstream_duration_seconds_bucket{le=\"0.004\"} 2"
        );
        assert_eq!(
            line("gatehouse_proxy_upstream_duration_seconds_bucket{le=\"+Inf\"}"),
            "gatehouse_proxy_upstream_duration_seconds_bucket{le=\"+Inf\"} 3"
        );
        assert!(
            line("gatehouse_proxy_upstream_duration_seconds_sum")
                .starts_with("gatehouse_proxy_upstream_duration_seconds_sum 60.0031")
        );
        assert!(
            text.contains("gatehouse_http_requests_total{route=\"proxy\",status=\"200\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("gatehouse_http_requests_total{route=\"proxy\",status=\"502\"} 1"),
            "{text}"
        );
        // A second registry counts apart, on the same thread.
        let other = Metrics::new();
        other.observe_request("proxy", 200);
        assert!(m.encode().unwrap_or_default().contains("status=\"200\"} 3"));
    }
}
