//! Closed-loop load for the benchmark examples: N tasks repeat one
//! operation for a while; the latencies, sorted, and the rate.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a run measured.
pub struct Run {
    /// Every operation's time, sorted.
    pub latencies: Vec<Duration>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// Completed operations per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..1) in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        let n = self.latencies.len();
        self.latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1000.0
    }
}

/// Run `op` from `concurrency` tasks, each starting the next as soon as the
/// last is done, for `duration`. `op` panics on a failed operation.
pub async fn closed_loop<F, Fut>(duration: Duration, concurrency: usize, op: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let op = op.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    op().await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("load task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run { latencies, elapsed }
}
