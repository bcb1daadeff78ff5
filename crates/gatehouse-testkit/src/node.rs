//! Gatehouse nodes as separate processes (the `gatehouse-node` binary of
//! this crate, which is the `gatehouse` command), for multi-node tests:
//! several nodes on one database, killed and restarted at will.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::app::ADMIN_TOKEN;
use crate::client::{ApiClient, AppClient};

/// A master key shared by the nodes of one test (they must open each other's sealed values).
pub const SHARED_MASTER_KEY: &str = "c2hhcmVkLW1hc3Rlci1rZXktZm9yLXRlc3RzLTAwMDA=";

/// One `gatehouse serve` process.
pub struct Node {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Start `gatehouse serve` from `bin` on a random loopback port, on
    /// `database_url`, with the shared master key and the test admin token,
    /// plus `env` (`GATEHOUSE_*` overrides).
    pub async fn start(bin: &str, database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::start_logging(bin, database_url, env, None).await
    }

    /// The same, with the node's log (standard error) written to `log`
    /// instead of the test's output, for tests that read it.
    pub async fn start_logging(
        bin: &str,
        database_url: &str,
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin);
        crate::process::dies_with_us(&mut cmd);
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE_DATA_DIR", dir.path().join("data"))
            .env("GATEHOUSE_DATABASE_URL", database_url)
            .env("GATEHOUSE_MASTER_KEY", SHARED_MASTER_KEY)
            .env("GATEHOUSE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("GATEHOUSE_LOG_LEVEL", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::inherit(),
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("Gatehouse is listening on http://") {
                    return rest.trim().parse::<SocketAddr>().ok();
                }
            }
            None
        })
        .await
        .expect("the node starts within 30 s")
        .expect("the node prints its address");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            addr,
            child,
            _dir: dir,
        }
    }

    /// Whether `bin` exists (a clear message instead of a spawn error).
    pub fn check_binary(bin: &str) {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: build it with `cargo build -p gatehouse-testkit --bin gatehouse-node`"
        );
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the node is running")
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The admin API of this node.
    pub fn api(&self) -> ApiClient {
        ApiClient::new(self.addr, Some(ADMIN_TOKEN))
    }

    /// A browser-like client for `host` on this node.
    pub fn client(&self, host: &str) -> AppClient {
        AppClient::new(self.addr, host)
    }

    /// `GET /readyz` status.
    pub async fn ready(&self) -> u16 {
        let url = format!("http://127.0.0.1:{}/readyz", self.port());
        match reqwest::get(url).await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Ask the process to stop (SIGTERM): it stops accepting, finishes
    /// what is in flight, writes what it holds, and exits.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the node is running");
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM {pid}");
    }

    /// Wait for the process to exit, at most `limit`; its exit status.
    pub async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// Kill the process at once (SIGKILL): no graceful shutdown.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
