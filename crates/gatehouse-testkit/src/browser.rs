//! A real headless Chromium (Debian `chromium` + `chromium-driver`) driven
//! over WebDriver with fantoccini: a fresh profile per test, the flags that
//! keep it off the network, screenshots saved under `artifacts/screenshots/`.

use crate::free_port;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use tokio::process::{Child, Command};

/// A browser for one test; closed when dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    _driver: Child,
    /// chromedriver and the Chromium it started go together.
    _group: crate::process::GroupGuard,
    _profile: tempfile::TempDir,
}

/// Where screenshots go (gitignored).
pub fn artifacts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots")
}

impl Browser {
    /// Start chromedriver and a headless Chromium session.
    pub async fn start() -> Self {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("Chromium is not installed: apt-get install chromium chromium-driver (./scripts/test does it)");
        let port = free_port();
        let driver = crate::process::dies_with_us(&mut Command::new("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts (apt-get install chromium-driver)");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().cloned().unwrap_or_default();
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::rustls()
                .expect("tls")
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _group: crate::process::GroupGuard::of(&driver),
                        _driver: driver,
                        _profile: profile,
                    };
                }
                Err(e) => {
                    last = Some(e.to_string());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot start a Chromium session: {last:?}");
    }

    /// Go to a URL.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Type into the element matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Click the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait(css).await.click().await.expect("click");
    }

    /// Click something that loads a new page, and wait until the new page is there.
    pub async fn click_and_load(&self, css: &str) {
        self.client
            .execute("window.__gatehouseOldPage = true;", vec![])
            .await
            .expect("mark the page");
        self.click(css).await;
        for _ in 0..200 {
            let old = self
                .client
                .execute("return window.__gatehouseOldPage === true;", vec![])
                .await;
            if matches!(old, Ok(serde_json::Value::Bool(false))) {
                self.wait("body").await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} did not load a new page");
    }

    /// Wait (up to 10 s) for an element.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The page's text.
    pub async fn text(&self) -> String {
        self.wait("body").await.text().await.unwrap_or_default()
    }

    /// The page's HTML source.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// The current URL.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current url")
    }

    /// Save a screenshot of the whole page as a phone shows it (390 px wide).
    pub async fn screenshot_phone(&self, name: &str) -> PathBuf {
        let _ = self.client.set_window_size(390, 844).await;
        let path = self.screenshot_width(name, 390).await;
        let _ = self.client.set_window_size(1280, 900).await;
        path
    }

    /// Save a screenshot of the whole page as `artifacts/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        self.screenshot_width(name, 1280).await
    }

    async fn screenshot_width(&self, name: &str, width: u32) -> PathBuf {
        let height = self
            .client
            .execute(
                "return Math.max(document.documentElement.scrollHeight, 600);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .min(6000);
        let _ = self
            .client
            .set_window_size(width, u32::try_from(height).unwrap_or(900) + 140)
            .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let _ = self.client.set_window_size(width, 900).await;
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = client.close().await;
            });
        }
    }
}
