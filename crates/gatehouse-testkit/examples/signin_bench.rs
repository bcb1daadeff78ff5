//! Sign-ins per second through the test IdP, and Gatehouse's own share of
//! each callback (the time not spent waiting for the IdP).
//!
//!     cargo run --release -p gatehouse-testkit --example signin_bench
//!
//! Env: DURATION (seconds, default 10), CONCURRENCY (default 8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gatehouse_testkit::load::{closed_loop, env_u64};
use gatehouse_testkit::sso::Sso;

/// From a Prometheus histogram in `text`: (count, sum, the upper bound below which `q` of observations fall).
fn histogram(text: &str, part: &str, q: f64) -> (f64, f64, f64) {
    let prefix = "gatehouse_signin_callback_seconds";
    let value = |line: &str| {
        line.rsplit(' ')
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let label = format!("part=\"{part}\"");
    let count = text
        .lines()
        .find(|l| l.starts_with(&format!("{prefix}_count")) && l.contains(&label))
        .map_or(0.0, value);
    let sum = text
        .lines()
        .find(|l| l.starts_with(&format!("{prefix}_sum")) && l.contains(&label))
        .map_or(0.0, value);
    let mut bound = f64::INFINITY;
    for l in text
        .lines()
        .filter(|l| l.starts_with(&format!("{prefix}_bucket")) && l.contains(&label))
    {
        let le = l
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("+Inf");
        if value(l) >= q * count {
            bound = le.parse().unwrap_or(f64::INFINITY);
            break;
        }
    }
    (count, sum, bound)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let duration = Duration::from_secs(env_u64("DURATION", 10));
    let concurrency = env_u64("CONCURRENCY", 8) as usize;
    let sso = Arc::new(Sso::start().await);
    for _ in 0..5 {
        let (_, r) = sso.sign_in("alice").await;
        assert_eq!(r.status, 303, "warm-up sign-in: {}", r.text);
    }
    let metrics_before = sso.app.api().get("/metrics").await.text;
    let run = closed_loop(duration, concurrency, {
        let sso = sso.clone();
        move || {
            let sso = sso.clone();
            async move {
                let (_, r) = sso.sign_in("alice").await;
                assert_eq!(r.status, 303, "{}", r.text);
            }
        }
    })
    .await;
    let text = sso.app.api().get("/metrics").await.text;
    let (c0, s0, _) = histogram(&metrics_before, "gatehouse", 0.5);
    let (c1, s1, p50) = histogram(&text, "gatehouse", 0.5);
    let (_, _, p99) = histogram(&text, "gatehouse", 0.99);
    let (i0c, i0s, _) = histogram(&metrics_before, "idp", 0.5);
    let (i1c, i1s, _) = histogram(&text, "idp", 0.5);
    let own_mean = (s1 - s0) / (c1 - c0) * 1000.0;
    let idp_mean = (i1s - i0s) / (i1c - i0c) * 1000.0;
    println!(
        "concurrency {concurrency}, {:.0} s, {} cores",
        run.elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| complete sign-ins per second (browser → Gatehouse → IdP form → callback → session) | {:.1} |",
        run.rate()
    );
    println!(
        "| full sign-in, p50 / p99 (ms) | {:.1} / {:.1} |",
        run.percentile_ms(0.5),
        run.percentile_ms(0.99)
    );
    println!("| callback: Gatehouse's own time, mean (ms) | {own_mean:.2} |");
    println!(
        "| callback: Gatehouse's own time, p50 / p99 bucket bound (ms) | ≤ {:.2} / ≤ {:.2} |",
        p50 * 1000.0,
        p99 * 1000.0
    );
    println!("| callback: waiting for the IdP (token + userinfo), mean (ms) | {idp_mean:.2} |");
}
