use futures_util::{SinkExt, StreamExt};
use gatehouse_testkit::{EchoUpstream, TestApp};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PW: &str = "correct-horse-battery";

async fn signed_in(app: &TestApp, up: &EchoUpstream) -> (String, gatehouse_testkit::AppClient) {
    let id = app.create_app("shop", Some(&up.url())).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    (id, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_requests_carry_identity_headers_and_not_spoofed_ones() {
    // No proxy trusted (loopback is by default): this client is the client.
    let app = TestApp::builder().trusted_proxies(&[]).spawn().await;
    let up = EchoUpstream::start().await;
    let (id, c) = signed_in(&app, &up).await;
    let users = app.api().get(&format!("/api/v1/apps/{id}/users")).await;
    let user_id = users.json[0]["id"].as_str().unwrap().to_owned();
    app.api()
        .patch(
            &format!("/api/v1/apps/{id}/users/{user_id}"),
            &serde_json::json!({"groups": ["eng", "ops"]}),
        )
        .await;

    let cookie = format!("theme=dark; {}", c.cookie_header().unwrap());
    let r = c
        .get_with(
            "/api/items?x=1",
            &[
                ("x-auth-request-email", "boss@evil.example"),
                ("X-Auth-Request-User", "forged"),
                ("x-auth-request-roles", "admin"),
                ("x-gatehouse-assertion", "forged.jwt.here"),
                ("x-forwarded-for", "6.6.6.6"),
                ("cookie", &cookie),
                ("accept", "text/html"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let h = &r.json["headers"];
    assert_eq!(r.json["path"], "/api/items");
    assert_eq!(r.json["query"], "x=1");
    assert_eq!(
        h["x-auth-request-email"],
        serde_json::json!(["ana@example.com"])
    );
    assert_eq!(h["x-auth-request-user"], serde_json::json!([user_id]));
    assert_eq!(h["x-auth-request-groups"], serde_json::json!(["eng,ops"]));
    assert_eq!(h["x-auth-request-first-name"], serde_json::json!(["Ana"]));
    assert_eq!(h["x-auth-request-last-name"], serde_json::json!(["Silva"]));
    assert_eq!(
        h["x-auth-request-roles"],
        serde_json::json!(["member"]),
        "the default role of the test app"
    );
    let assertion = h["x-gatehouse-assertion"].as_array().unwrap();
    assert_eq!(assertion.len(), 1, "only Gatehouse's own assertion");
    assert_ne!(
        assertion[0], "forged.jwt.here",
        "a client's assertion is never passed on"
    );
    assert_eq!(h["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]));
    assert_eq!(
        h["x-forwarded-host"],
        serde_json::json!([format!("shop.localhost:{}", app.port())])
    );
    // The session cookie stays with Gatehouse; the app's own cookies go through.
    let cookies = h["cookie"].as_array().unwrap();
    assert_eq!(cookies.len(), 1);
    let cookie = cookies[0].as_str().unwrap();
    assert!(
        cookie.contains("theme=dark") && !cookie.contains("gatehouse_session"),
        "{cookie}"
    );
    assert_eq!(h["host"], serde_json::json!([up.addr.to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_browsers_are_redirected_and_api_callers_get_401() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    app.create_app("shop", Some(&up.url())).await;
    let c = app.client("shop.localhost");

    let browser = c.get("/orders/7?tab=items").await;
    assert_eq!(browser.status, 303);
    assert_eq!(
        browser.header("location"),
        Some("/auth/login?rd=%2Forders%2F7%3Ftab%3Ditems")
    );

    let api = c
        .get_with("/api/orders", &[("accept", "application/json")])
        .await;
    assert_eq!(api.status, 401);
    assert_eq!(api.header("content-type"), Some("application/problem+json"));
    assert_eq!(api.json["status"], 401);
    assert!(api.json["correlation_id"].as_str().is_some());

    let bearer = c
        .get_with("/api/orders", &[("authorization", "Bearer abc")])
        .await;
    assert_eq!(bearer.status, 401);
    let xhr = c
        .get_with("/api/orders", &[("x-requested-with", "XMLHttpRequest")])
        .await;
    assert_eq!(xhr.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_redirect_attempts_on_rd_are_refused() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let id = app.create_app("shop", Some(&up.url())).await;
    app.create_user(&id, "ana@example.com", PW).await;
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "/%2F%2Fevil.example",
        "/auth/logout",
    ] {
        let c = app.client("shop.localhost");
        let r = c
            .post_form(
                "/auth/login",
                &[("email", "ana@example.com"), ("password", PW), ("rd", evil)],
            )
            .await;
        assert_eq!(r.status, 303, "{evil:?}");
        assert_eq!(
            r.header("location"),
            Some("/"),
            "rd {evil:?} must fall back to /"
        );
        // The login page does not echo a refused rd either.
        let q: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
        let page = app
            .client("shop.localhost")
            .get(&format!("/auth/login?rd={q}"))
            .await;
        assert!(page.text.contains("name=\"rd\" value=\"/\""), "{evil:?}");
    }
    // A same-host path with a query is kept.
    let c = app.client("shop.localhost");
    let r = c
        .post_form(
            "/auth/login",
            &[
                ("email", "ana@example.com"),
                ("password", PW),
                ("rd", "/a/b?c=%2F%2Fx"),
            ],
        )
        .await;
    assert_eq!(r.header("location"), Some("/a/b?c=%2F%2Fx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_bodies_stream_through_the_proxy() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let (_, c) = signed_in(&app, &up).await;
    let mut resp = c
        .http()
        .get(format!("{}/stream", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The upstream holds its second chunk until we have seen the first: a
    // buffering proxy would never deliver it and this would time out.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
        .await
        .expect("first chunk arrives before the response is complete")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    up.go_on();
    let rest = resp.bytes().await.unwrap();
    assert_eq!(&rest[..], b"second\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_stream_through_the_proxy() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let (_, c) = signed_in(&app, &up).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let send = tokio::spawn({
        let c = c.clone();
        async move {
            c.http()
                .post(format!("{}/upload", c.base))
                .body(body)
                .send()
                .await
        }
    });
    tx.send(Ok(vec![b'a'; 1000])).await.unwrap();
    // The upstream sees the first chunk while the client is still sending.
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), up.first_upload_chunk())
        .await
        .expect("first chunk reaches the upstream before the body ends");
    assert!(first.unwrap() > 0);
    tx.send(Ok(vec![b'b'; 5 * 1024 * 1024])).await.unwrap();
    drop(tx);
    let resp = send.await.unwrap().unwrap();
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["total"], 1000 + 5 * 1024 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through_the_proxy() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let (_, c) = signed_in(&app, &up).await;
    let mut req = format!("ws://shop.localhost:{}/ws", app.port())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("cookie", c.cookie_header().unwrap().parse().unwrap());
    req.headers_mut()
        .insert("x-auth-request-email", "evil@x".parse().unwrap());
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("upgrade through the proxy");
    assert_eq!(resp.status(), 101);
    let hello = ws.next().await.unwrap().unwrap();
    assert_eq!(hello, Message::Text("hello ana@example.com".into()));
    ws.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Text("echo: ping".into())
    );
    ws.send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Binary(vec![1u8, 2, 3].into())
    );
    ws.close(None).await.unwrap();

    // Without a session there is no upgrade.
    let req = format!("ws://shop.localhost:{}/ws", app.port())
        .into_client_request()
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    assert!(tokio_tungstenite::client_async(req, tcp).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_gives_a_502_page_with_a_correlation_id() {
    let app = TestApp::spawn().await;
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let id = app
        .create_app("shop", Some(&format!("http://{dead}")))
        .await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    let r = c.get("/").await;
    assert_eq!(r.status, 502);
    let cid = r.header("x-request-id").unwrap().to_owned();
    assert!(r.text.contains("could not be reached"));
    assert!(r.text.contains(&cid), "the page shows the correlation id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_gets_a_404_page() {
    let app = TestApp::spawn().await;
    let r = app.client("nobody.localhost").get("/").await;
    assert_eq!(r.status, 404);
    assert!(r.text.contains("Application not found"));
    assert!(r.text.contains(r.header("x-request-id").unwrap()));
    let json = app
        .client("nobody.localhost")
        .get_with("/", &[("accept", "application/json")])
        .await;
    assert_eq!(json.status, 404);
    assert_eq!(json.json["type"], "urn:gatehouse:problem:not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_entry_with_a_port_matches_only_that_port() {
    let app = TestApp::spawn().await;
    let up = EchoUpstream::start().await;
    let port = app.port();
    let other = if port == 65535 { port - 1 } else { port + 1 };
    let r = app
        .api()
        .post(
            "/api/v1/apps",
            &serde_json::json!({"name": "Ported", "hosts": [format!("ported.localhost:{other}"), "anyport.localhost"], "upstream_url": up.url()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // ported.localhost:<other> does not match a request for ported.localhost:<port>.
    assert_eq!(app.client("ported.localhost").get("/").await.status, 404);
    // anyport.localhost matches on any port.
    assert_eq!(app.client("anyport.localhost").get("/").await.status, 303);
    let sso = app
        .api()
        .get(&format!(
            "/api/v1/apps/{}/sso/oidc",
            r.json["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        sso.json["callback_urls"],
        serde_json::json!([
            format!("http://ported.localhost:{other}/auth/callback"),
            "http://anyport.localhost/auth/callback"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_without_upstream_shows_who_is_signed_in() {
    let app = TestApp::spawn().await;
    let id = app.create_app("bare", None).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("bare.localhost");
    c.sign_in("ana@example.com", PW).await;
    let r = c.get("/").await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("ana@example.com") && r.text.contains("/auth/logout"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for() {
    let app = TestApp::builder()
        .trusted_proxies(&["10.0.0.0/8", "127.0.0.1"])
        .spawn()
        .await;
    let up = EchoUpstream::start().await;
    let (_, c) = signed_in(&app, &up).await;
    let seen = |r: &gatehouse_testkit::Resp| r.json["headers"]["x-forwarded-for"].clone();
    // The load balancer (this test, at 127.0.0.1) appended the client; the
    // first entry is what the client claimed and is not believed.
    let r = c
        .get_with(
            "/",
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(seen(&r), serde_json::json!(["203.0.113.7"]));
    // A malformed header is ignored: the peer is the client.
    let r = c
        .get_with("/", &[("x-forwarded-for", "not-an-address")])
        .await;
    assert_eq!(seen(&r), serde_json::json!(["127.0.0.1"]));

    // From a peer that is not a trusted proxy, the header is not believed at all.
    let plain = TestApp::builder().trusted_proxies(&[]).spawn().await;
    let (_, c) = signed_in(&plain, &up).await;
    let r = c.get_with("/", &[("x-forwarded-for", "203.0.113.7")]).await;
    assert_eq!(seen(&r), serde_json::json!(["127.0.0.1"]));
}

/// A raw upstream on a random port: answers each request on a connection
/// with 200 and `body`, keeping the connection open for at most
/// `per_connection` requests (then closing it without saying so, as an
/// upstream whose keep-alive limit or idle timeout strikes does). Counts
/// connections and requests.
async fn raw_upstream(
    per_connection: usize,
) -> (
    String,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (conns, reqs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c2, r2) = (conns.clone(), reqs.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            let r3 = r2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                for _ in 0..per_connection {
                    // One request head (these requests have no body).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    let n = r3.fetch_add(1, Ordering::SeqCst) + 1;
                    let body = format!("answer {n}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
                // Closed without `Connection: close`.
            });
        }
    });
    (url, conns, reqs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_drops_kept_alive_connections_costs_no_request() {
    use std::sync::atomic::Ordering;
    let app = TestApp::builder().spawn().await;
    let (url, conns, reqs) = raw_upstream(1).await;
    let id = app.create_app("shop", Some(&url)).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    for i in 1..=20 {
        let r = c.get("/x").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
        assert!(r.text.starts_with("answer "), "{}", r.text);
        // The upstream's close reaches Gatehouse before the next request
        // (a close racing a request already written is an error for any
        // proxy that does not replay requests: nginx retries it on another
        // upstream server, Gatehouse answers 502, as before).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        reqs.load(Ordering::SeqCst),
        20,
        "each request reached the upstream once"
    );
    assert_eq!(
        conns.load(Ordering::SeqCst),
        20,
        "one connection per request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused() {
    use std::sync::atomic::Ordering;
    let app = TestApp::builder().spawn().await;
    let (url, conns, reqs) = raw_upstream(usize::MAX).await;
    let id = app.create_app("shop", Some(&url)).await;
    app.create_user(&id, "ana@example.com", PW).await;
    let c = app.client("shop.localhost");
    c.sign_in("ana@example.com", PW).await;
    for i in 1..=50 {
        let r = c.get("/x").await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
    }
    assert_eq!(reqs.load(Ordering::SeqCst), 50);
    // One keep-alive client connection lands on one worker, whose pool
    // keeps the upstream connection: a few at most, not one per request.
    let n = conns.load(Ordering::SeqCst);
    assert!(n <= 2, "{n} upstream connections for 50 requests");
}
