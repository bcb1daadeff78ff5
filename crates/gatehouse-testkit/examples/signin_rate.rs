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
use std::time::Duration;

use gatehouse_testkit::idp::IdpBrowser;
use gatehouse_testkit::load::{closed_loop, env_u64};
use reqwest::cookie::{CookieStore, Jar};
use url::Url;

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

    let duration = Duration::from_secs(env_u64("DURATION", 10));
    let concurrency = env_u64("CONCURRENCY", 8) as usize;
    for _ in 0..3 {
        flow.sign_in().await.expect("warm-up sign-in");
    }
    let run = closed_loop(duration, concurrency, move || {
        let flow = flow.clone();
        async move {
            if let Err(e) = flow.sign_in().await {
                panic!("sign-in failed: {e}");
            }
        }
    })
    .await;
    println!(
        "{:.1} {:.1} {:.1} {}",
        run.rate(),
        run.percentile_ms(0.5),
        run.percentile_ms(0.99),
        run.latencies.len()
    );
}
