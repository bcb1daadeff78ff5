//! Complete OpenID Connect sign-ins per second against any relying party
//! in front of the test IdP — Gatehouse or Apache with mod_auth_openidc —
//! the way a browser does them: the protected start URL, the redirect to
//! the IdP, its sign-in form, the callback, and the first page with the new
//! session. Used by `scripts/bench` so both are measured the same way.
//!
//!     signin_rate START_URL IDP_ISSUER          # rate: prints "<per second> <p50 ms> <p99 ms> <count>"
//!     signin_rate START_URL IDP_ISSUER --once   # one sign-in: prints the Cookie header for the session
//!
//! Env: DURATION (seconds, default 10), CONCURRENCY (default 8), ACCOUNT
//! (default alice). Hosts ending in `.localhost` resolve to 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gatehouse_testkit::idp::IdpBrowser;
use reqwest::cookie::{CookieStore, Jar};
use url::Url;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Flow {
    start: Url,
    issuer: String,
    account: String,
}

impl Flow {
    fn client(&self, jar: Arc<Jar>) -> reqwest::Client {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar);
        if let Some(host) = self.start.host_str().filter(|h| h.ends_with(".localhost")) {
            let port = self.start.port_or_known_default().unwrap_or(80);
            b = b.resolve(host, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        b.build().expect("client")
    }

    /// One complete sign-in in a fresh browser; returns its cookies for the application.
    async fn sign_in(&self) -> Result<String, String> {
        let jar = Arc::new(Jar::default());
        let http = self.client(jar.clone());
        let location = |r: &reqwest::Response| {
            r.headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let r = http
            .get(self.start.clone())
            .send()
            .await
            .map_err(|e| format!("start: {e}"))?;
        let to_idp = location(&r)
            .filter(|l| l.starts_with(&self.issuer))
            .ok_or_else(|| {
                format!(
                    "start answered {} without a redirect to the IdP",
                    r.status()
                )
            })?;
        let callback = IdpBrowser::new(&self.issuer)
            .authorize(&to_idp, Some(&self.account))
            .await;
        let r = http
            .get(&callback)
            .send()
            .await
            .map_err(|e| format!("callback: {e}"))?;
        let after = location(&r)
            .ok_or_else(|| format!("callback answered {} without a redirect", r.status()))?;
        let after = self
            .start
            .join(&after)
            .map_err(|e| format!("callback redirect {after}: {e}"))?;
        let r = http
            .get(after)
            .send()
            .await
            .map_err(|e| format!("first page: {e}"))?;
        if r.status() != 200 {
            return Err(format!("the first page answered {}", r.status()));
        }
        jar.cookies(&self.start)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .ok_or_else(|| "no cookies for the application".to_owned())
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: signin_rate START_URL IDP_ISSUER [--once]");
        std::process::exit(2);
    }
    let flow = Arc::new(Flow {
        start: Url::parse(&args[1]).expect("START_URL"),
        issuer: args[2].trim_end_matches('/').to_owned(),
        account: std::env::var("ACCOUNT").unwrap_or_else(|_| "alice".to_owned()),
    });
    if args.get(3).is_some_and(|a| a == "--once") {
        match flow.sign_in().await {
            Ok(cookies) => println!("{cookies}"),
            Err(e) => {
                eprintln!("signin_rate: {e}");
                std::process::exit(1);
            }
        }
        return;
    }

    let duration = Duration::from_secs(env("DURATION", 10));
    let concurrency = env("CONCURRENCY", 8) as usize;
    for _ in 0..3 {
        flow.sign_in().await.expect("warm-up sign-in");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let flow = flow.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if let Err(e) = flow.sign_in().await {
                        panic!("sign-in failed: {e}");
                    }
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("sign-in task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let pct =
        |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{:.1} {:.1} {:.1} {}",
        lat.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        lat.len()
    );
}
