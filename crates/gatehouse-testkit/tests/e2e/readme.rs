//! The README's five-minute guide, run as written: its commands are taken
//! from the README's first `sh` block of "Five minutes", with the declared
//! substitutions below and nothing else, in a fresh data directory, against
//! the dev IdP (`./scripts/dev-idp`); then Chromium opens the application,
//! signs in at the IdP as alice and must land on the upstream's directory
//! listing, which received the identity headers. A guide that drifts from
//! the product fails here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gatehouse_testkit::browser::Browser;
use gatehouse_testkit::free_port;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse-node");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The guide's shell blocks, in order.
fn guide_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("\n## Five minutes")
        .expect("a Five minutes section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    let section = &rest[..end];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "```sh" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            blocks.push(body.join("\n"));
        }
    }
    assert!(!blocks.is_empty(), "the guide has sh blocks");
    blocks
}

/// Every substitution the test makes in the guide's text.
struct Subst {
    gatehouse: u16,
    idp: u16,
    upstream: u16,
    dir: PathBuf,
}

impl Subst {
    fn apply(&self, text: &str) -> String {
        let upstream_py = repo().join("tests/readme/upstream.py");
        let dev_idp = repo().join("scripts/dev-idp");
        text
            // The built binary instead of building it again.
            .replace("cargo run -q --release -- ", &format!("{BIN} "))
            .replace("cargo run --release -- ", &format!("{BIN} "))
            // Free ports instead of 8080, 9000 and 3000.
            .replace(":8080", &format!(":{}", self.gatehouse))
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{}", self.idp))
            .replace("127.0.0.1:3000", &format!("127.0.0.1:{}", self.upstream))
            .replace(
                "http.server 3000",
                &format!("http.server {}", self.upstream),
            )
            // The upstream also records the headers it receives.
            .replace(
                "python3 -m http.server",
                &format!("python3 {}", upstream_py.display()),
            )
            // The dev IdP on its free port, for the application on its port.
            .replace(
                "./scripts/dev-idp",
                &format!(
                    "IDP_PORT={} {} http://demo.localhost:{}",
                    self.idp,
                    dev_idp.display(),
                    self.gatehouse
                ),
            )
            .replace("/tmp/pw", &self.dir.join("pw").display().to_string())
    }
}

/// A background process of the guide (a terminal of its own, or a line
/// ending in `&`), stopped at the end.
fn background(cmd: &str, s: &Subst) -> Child {
    let mut c = Command::new("bash");
    gatehouse_testkit::process::dies_with_us(&mut c);
    c.args(["-c", cmd])
        .current_dir(&s.dir)
        .envs(env(s))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

/// What every command of the guide runs with: a fresh data directory,
/// Gatehouse's port (the README's 8080 is `serve`'s default).
fn env(s: &Subst) -> Vec<(String, String)> {
    vec![
        (
            "GATEHOUSE_DATA_DIR".into(),
            s.dir.join("data").display().to_string(),
        ),
        (
            "GATEHOUSE_LISTEN".into(),
            format!("127.0.0.1:{}", s.gatehouse),
        ),
        (
            "README_HEADERS_LOG".into(),
            s.dir.join("headers.jsonl").display().to_string(),
        ),
    ]
}

/// Run `script` with bash as the guide's terminal would, to its end.
async fn script_output(script: &str, s: &Subst) -> std::process::Output {
    let mut c = Command::new("bash");
    gatehouse_testkit::process::dies_with_us(&mut c);
    c.args(["-c", script])
        .current_dir(&s.dir)
        .envs(env(s))
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

async fn wait_http(url: &str) {
    let start = Instant::now();
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(url).header("host", "localhost").send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{url} did not answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_url(browser: &Browser, f: impl Fn(&url::Url) -> bool) -> url::Url {
    for _ in 0..150 {
        let url = browser.url().await;
        if f(&url) {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.url().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_five_minute_guide_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subst {
        gatehouse: free_port(),
        idp: free_port(),
        upstream: free_port(),
        dir: dir.path().to_owned(),
    };
    let blocks = guide_blocks();
    let guide = s.apply(&blocks[0]);

    // Split the first block by terminal; start the long-running ones.
    let mut terminals: Vec<Vec<String>> = Vec::new();
    for line in guide.lines() {
        if line.trim_start().starts_with("# Terminal") {
            terminals.push(Vec::new());
        } else if let Some(t) = terminals.last_mut() {
            t.push(line.to_owned());
        }
    }
    assert_eq!(terminals.len(), 3, "three terminals:\n{guide}");
    let mut children = Vec::new();
    for t in &terminals[..2] {
        let cmds: Vec<&String> = t
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .collect();
        assert_eq!(cmds.len(), 1, "one command per background terminal: {t:?}");
        children.push(background(cmds[0], &s));
    }
    wait_http(&format!("http://127.0.0.1:{}/healthz", s.gatehouse)).await;
    wait_http(&format!(
        "http://127.0.0.1:{}/.well-known/openid-configuration",
        s.idp
    ))
    .await;

    // Terminal 3: lines ending in `&` run in the background, the rest as
    // one script, as pasted.
    let mut script = String::from("set -euo pipefail\n");
    let mut pending = String::new();
    for line in &terminals[2] {
        pending.push_str(line);
        if line.ends_with('\\') {
            pending.push('\n');
            continue;
        }
        let cmd = std::mem::take(&mut pending);
        match cmd.trim().strip_suffix('&') {
            Some(bg) if !bg.ends_with('&') => children.push(background(bg.trim(), &s)),
            _ => {
                script.push_str(&cmd);
                script.push('\n');
            }
        }
    }
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", s.upstream)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the upstream starts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = script_output(&script, &s).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "terminal 3 failed:\n{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The connection test printed its checks, none failed.
    assert!(stdout.contains("\"ok\":true"), "{stdout}");
    assert!(!stdout.contains("\"ok\":false"), "{stdout}");

    // The browser: to the application, the IdP, back to the listing.
    let browser = Browser::start().await;
    let app = format!("http://demo.localhost:{}/", s.gatehouse);
    browser.goto(&app).await;
    browser.wait("#login").await;
    browser.fill("#login", "alice").await;
    browser.fill("#password", "any").await;
    browser.click("#submit").await;
    let url = wait_url(&browser, |u| u.host_str() == Some("demo.localhost")).await;
    assert_eq!(url.path(), "/", "landed at {url}");
    let mut page = String::new();
    for _ in 0..50 {
        page = browser.source().await;
        if page.contains("Directory listing for /") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(page.contains("Directory listing for /"), "{page}");
    browser.screenshot("readme-guide-directory-listing").await;
    let headers = std::fs::read_to_string(s.dir.join("headers.jsonl")).unwrap_or_default();
    let seen = headers
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l).ok())
        .map(|h| {
            h.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect::<serde_json::Map<_, _>>()
        })
        .find(|h| {
            h.get("x-auth-request-email").and_then(|v| v.as_str()) == Some("alice@example.com")
        })
        .unwrap_or_else(|| panic!("the upstream saw alice's identity headers: {headers}"));
    assert_eq!(seen["x-auth-request-roles"], "member", "{seen:?}");
    assert!(
        seen["x-auth-request-groups"]
            .as_str()
            .unwrap_or("")
            .contains("eng"),
        "{seen:?}"
    );

    // dave has no role: refused on a clean URL (a reload replays no code).
    browser
        .goto(&format!(
            "http://demo.localhost:{}/auth/logout",
            s.gatehouse
        ))
        .await;
    wait_url(&browser, |u| u.path() == "/auth/logged-out").await;
    browser.goto(&app).await;
    browser.wait("#login").await;
    browser.fill("#login", "dave").await;
    browser.fill("#password", "any").await;
    browser.click("#submit").await;
    let url = wait_url(&browser, |u| u.path() == "/auth/refused").await;
    assert_eq!(url.path(), "/auth/refused", "at {url}");
    assert_eq!(url.query(), None);
    let text = browser.text().await;
    assert!(
        text.contains("You have no access to this application"),
        "{text}"
    );
    assert!(text.contains("dave@example.com"), "{text}");
    browser.client.refresh().await.unwrap();
    assert!(
        browser
            .text()
            .await
            .contains("You have no access to this application"),
        "a reload shows the same page"
    );
    browser.screenshot("readme-guide-no-access").await;

    // The guide's other blocks run too.
    for block in &blocks[1..] {
        let out = script_output(&format!("set -euo pipefail\n{}", s.apply(block)), &s).await;
        assert!(
            out.status.success(),
            "{block}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for mut c in children {
        let _ = c.kill().await;
    }
}
