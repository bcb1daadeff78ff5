//! The serving shape (a worker thread per core, each with its own
//! `SO_REUSEPORT` socket and runtime) through the real binary: requests
//! spread over every worker, a stopping node finishes what is in flight,
//! refuses new connections, writes what it holds and exits 0.

use std::time::{Duration, Instant};

use gatehouse_testkit::node::Node;
use gatehouse_testkit::upstream::EchoUpstream;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse-node");
const PW: &str = "correct-horse-battery";

/// A node on a fresh SQLite file with `workers` workers and an application
/// `shop` in front of `upstream` with a signed-in member; its cookie.
async fn node_with_session(
    dir: &tempfile::TempDir,
    workers: &str,
    upstream: &EchoUpstream,
) -> (Node, String) {
    let url = format!("sqlite://{}/gh.db", dir.path().display());
    let node = Node::start(BIN, &url, &[("GATEHOUSE_WORKERS", workers)]).await;
    let api = node.api();
    let r = api
        .post(
            "/api/v1/apps",
            &json!({"name": "Shop", "slug": "shop", "hosts": ["shop.localhost"], "upstream_url": upstream.url()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let r = api
        .put(
            &format!("/api/v1/apps/{id}/access"),
            &json!({"default_role": "member"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .post(
            &format!("/api/v1/apps/{id}/users"),
            &json!({"email": "ana@example.com", "first_name": "Ana", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let c = node.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    let cookie = c.cookie_header().unwrap();
    (node, cookie)
}

/// The worker threads of process `pid` and the CPU ticks each has used.
fn worker_ticks(pid: u32) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = name.trim().to_owned();
        if !name.starts_with("gatehouse-work") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let after = stat.rsplit_once(") ").map_or("", |(_, r)| r);
        let f: Vec<u64> = after
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        // utime and stime: fields 14 and 15 of stat, 12 and 13 after the name.
        let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
        out.push((name, ticks));
    }
    out.sort();
    out
}

#[tokio::test]
async fn connections_are_served_by_every_worker_on_one_port() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, cookie) = node_with_session(&dir, "3", &upstream).await;
    let pid = node.pid();
    let before = worker_ticks(pid);
    assert_eq!(before.len(), 3, "three worker threads: {before:?}");
    // Many short connections: the kernel spreads them over the sockets.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (addr, cookie) = (node.addr, cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..150 {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let req = format!(
                    "GET /echo HTTP/1.1\r\nHost: shop.localhost\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
                );
                s.write_all(req.as_bytes()).await.unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await.unwrap();
                if buf.starts_with(b"HTTP/1.1 200") {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(ok, 1200, "every request answered 200");
    let after = worker_ticks(pid);
    let busy = before
        .iter()
        .zip(&after)
        .filter(|((_, a), (_, b))| b > a)
        .count();
    assert!(
        busy >= 2,
        "connections reached at least two of the three workers: {before:?} -> {after:?}"
    );
}

#[tokio::test]
async fn a_stopping_node_finishes_in_flight_requests_and_refuses_new_connections() {
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut node, cookie) = node_with_session(&dir, "2", &upstream).await;
    let addr = node.addr;

    // A response in flight: the upstream sent its first line and waits.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /stream HTTP/1.1\r\nHost: shop.localhost\r\nCookie: {cookie}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("first") {
        assert!(Instant::now() < deadline, "no first line: {got:?}");
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );

    node.terminate();
    // New connections are refused once every worker has stopped accepting.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still accepting 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request in flight still finishes.
    upstream.go_on();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("0\r\n\r\n") {
        assert!(
            Instant::now() < deadline,
            "the response did not finish: {got:?}"
        );
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("second"),
        "the in-flight response was cut: {text}"
    );
    let status = node.wait(Duration::from_secs(20)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the node exits 0 after the drain: {status:?}"
    );
}
