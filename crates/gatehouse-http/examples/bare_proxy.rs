//! The calibration row of `scripts/bench`: a bare reverse proxy in
//! Gatehouse's serving shape (a worker thread per core, each with its own
//! `SO_REUSEPORT` socket, current-thread tokio runtime and upstream pool;
//! hyper's HTTP/1.1 server and hyper-util's client, as Gatehouse uses
//! them) and nothing else: no routing, no authentication, no header rules,
//! no logging, no metrics. What it costs per request is what the framework
//! costs on this machine; what Gatehouse costs above it is Gatehouse's own.
//!
//!   cargo run --release -p gatehouse-http --example bare_proxy -- 127.0.0.1:8081 http://127.0.0.1:8080
//!
//! Not for production: it forwards anything to the upstream it is given.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Upstream = Client<HttpConnector, Incoming>;
type Resp = hyper::Response<BoxBody<Bytes, hyper::Error>>;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!(
            "usage: bare_proxy LISTEN_ADDR UPSTREAM_BASE (e.g. 127.0.0.1:8081 http://127.0.0.1:8080)"
        );
        std::process::exit(2);
    };
    let Ok(listen) = listen.parse::<SocketAddr>() else {
        eprintln!("bare_proxy: {listen:?} is not an address");
        std::process::exit(2);
    };
    let upstream: &'static str =
        Box::leak(upstream.trim_end_matches('/').to_owned().into_boxed_str());
    let workers = gatehouse_http::server::default_workers();
    let listeners = match gatehouse_http::server::Listeners::bind(listen, workers) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bare_proxy: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    println!("listening {}", listeners.local_addr());
    let threads: Vec<_> = listeners
        .into_std()
        .into_iter()
        .map(|socket| std::thread::spawn(move || worker(socket, upstream)))
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

fn worker(socket: std::net::TcpListener, upstream: &'static str) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(socket) else {
            return;
        };
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Upstream = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(http);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let client = client.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req| forward(client.clone(), upstream, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
}

async fn forward(
    client: Upstream,
    upstream: &'static str,
    mut req: hyper::Request<Incoming>,
) -> Result<Resp, Infallible> {
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut uri = String::with_capacity(upstream.len() + pq.len());
    uri.push_str(upstream);
    uri.push_str(pq);
    match uri.parse() {
        Ok(u) => *req.uri_mut() = u,
        Err(_) => return Ok(status(400)),
    }
    req.headers_mut().remove(hyper::header::CONNECTION);
    Ok(match client.request(req).await {
        Ok(resp) => resp.map(|b| b.boxed()),
        Err(_) => status(502),
    })
}

fn status(code: u16) -> Resp {
    let mut r = hyper::Response::new(
        http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}
