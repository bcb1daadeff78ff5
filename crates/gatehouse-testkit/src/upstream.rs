//! An echo upstream: answers every request with what it received (method,
//! path, query, headers, body size) as JSON, echoes WebSocket messages, and
//! has two endpoints that prove streaming: `/stream` sends a first chunk and
//! waits for the test's go-ahead before the second; `/upload` reports its
//! first request chunk before the rest is sent.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::{Mutex, Notify, mpsc};

#[derive(Clone, Default)]
struct Shared {
    go_on: Arc<Notify>,
    first_upload_chunk: Arc<Mutex<Option<mpsc::UnboundedSender<usize>>>>,
}

/// A running echo upstream.
pub struct EchoUpstream {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Shared,
    first_chunk_rx: Mutex<mpsc::UnboundedReceiver<usize>>,
}

fn headers_json(h: &HeaderMap) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in h {
        out.entry(k.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    out
}

async fn echo(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    axum::Json(serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers_json(&parts.headers),
        "body_len": bytes.len(),
        "body": String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]),
    }))
    .into_response()
}

async fn ws(upgrade: WebSocketUpgrade, headers: HeaderMap) -> Response {
    let email = headers
        .get("x-auth-request-email")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    upgrade.on_upgrade(move |socket| ws_echo(socket, email))
}

async fn ws_echo(mut socket: WebSocket, email: String) {
    if socket
        .send(Message::Text(format!("hello {email}").into()))
        .await
        .is_err()
    {
        return;
    }
    while let Some(Ok(msg)) = socket.recv().await {
        let reply = match msg {
            Message::Text(t) => Message::Text(format!("echo: {t}").into()),
            Message::Binary(b) => Message::Binary(b),
            Message::Close(_) => return,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}

async fn stream(State(s): State<Shared>) -> Response {
    let (tx, rx) = mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let _ = tx.send(Ok(bytes::Bytes::from_static(b"first\n"))).await;
        s.go_on.notified().await;
        let _ = tx.send(Ok(bytes::Bytes::from_static(b"second\n"))).await;
    });
    Body::from_stream(tokio_stream_from(rx)).into_response()
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn upload(State(s): State<Shared>, req: Request) -> Response {
    let mut body = req.into_body().into_data_stream();
    let mut total = 0usize;
    let mut first = true;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        total += chunk.len();
        if first {
            first = false;
            if let Some(tx) = s.first_upload_chunk.lock().await.as_ref() {
                let _ = tx.send(chunk.len());
            }
        }
    }
    axum::Json(serde_json::json!({ "total": total })).into_response()
}

/// Answers with `Set-Cookie` for Gatehouse's own cookie names (which
/// Gatehouse must drop) and one of the application's own.
async fn set_cookies() -> Response {
    (
        [
            (
                axum::http::header::SET_COOKIE,
                "gatehouse_session_shop=forged; Path=/",
            ),
            (
                axum::http::header::SET_COOKIE,
                "__Host-gatehouse_session_shop=forged; Path=/; Secure",
            ),
            (
                axum::http::header::SET_COOKIE,
                "gatehouse_flow_0123=forged; Path=/",
            ),
            (axum::http::header::SET_COOKIE, "theme=dark; Path=/"),
        ],
        "cookies set",
    )
        .into_response()
}

impl EchoUpstream {
    /// Start on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared::default();
        *shared.first_upload_chunk.lock().await = Some(tx);
        let app = Router::new()
            .route("/ws", get(ws))
            .route("/stream", get(stream))
            .route("/upload", post(upload))
            .route("/set-cookies", get(set_cookies))
            .fallback(any(echo))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            first_chunk_rx: Mutex::new(rx),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Let `/stream` send its second chunk.
    pub fn go_on(&self) {
        self.shared.go_on.notify_one();
    }

    /// Wait until `/upload` has received its first chunk; returns its size.
    pub async fn first_upload_chunk(&self) -> Option<usize> {
        self.first_chunk_rx.lock().await.recv().await
    }
}
