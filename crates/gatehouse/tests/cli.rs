//! The `gatehouse` binary as a script sees it: output, exit codes, files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn gatehouse(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run gatehouse")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn commands_print_results_and_use_stable_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let o = gatehouse(d, &["migrate"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = gatehouse(d, &["admin", "token", "create", "--name", "ci"]);
    assert_eq!(o.status.code(), Some(0));
    let token = stdout(&o);
    assert!(token.starts_with("gha_") && token.len() > 40, "{token}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("shown only this once"));

    let o = gatehouse(
        d,
        &[
            "app",
            "create",
            "--name",
            "Demo",
            "--host",
            "demo.localhost",
            "--upstream",
            "http://127.0.0.1:3000",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let app_id = stdout(&o);
    assert_eq!(app_id.len(), 36, "a UUID: {app_id}");

    let o = gatehouse(
        d,
        &[
            "app",
            "create",
            "--name",
            "Demo",
            "--host",
            "other.localhost",
        ],
    );
    assert_eq!(o.status.code(), Some(5), "slug taken: conflict");
    let o = gatehouse(
        d,
        &["app", "create", "--name", "Bad", "--host", "https://bad/"],
    );
    assert_eq!(o.status.code(), Some(4), "invalid host");
    assert!(String::from_utf8_lossy(&o.stderr).contains("hosts[0]"));

    std::fs::write(d.join("pw"), "a-long-password\n").unwrap();
    let o = gatehouse(
        d,
        &[
            "user",
            "create",
            "--app",
            "demo",
            "--email",
            "ana@example.com",
            "--first-name",
            "Ana",
            "--password-file",
            "pw",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout(&o).len(), 36);
    let o = gatehouse(
        d,
        &[
            "user",
            "create",
            "--app",
            "nope",
            "--email",
            "a@b.c",
            "--first-name",
            "A",
            "--password-file",
            "pw",
        ],
    );
    assert_eq!(o.status.code(), Some(6));
    let o = gatehouse(
        d,
        &[
            "user",
            "create",
            "--app",
            "demo",
            "--email",
            "not-an-email",
            "--first-name",
            "A",
            "--password-file",
            "pw",
        ],
    );
    assert_eq!(o.status.code(), Some(4));
    let o = gatehouse(
        d,
        &[
            "user",
            "create",
            "--app",
            "demo",
            "--email",
            "ana@example.com",
            "--first-name",
            "A",
            "--password-file",
            "missing",
        ],
    );
    assert_eq!(o.status.code(), Some(4));

    std::fs::write(d.join("bad.toml"), "lisen = 1\n").unwrap();
    let o = gatehouse(d, &["--config", "bad.toml", "migrate"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lisen"));
    let o = gatehouse(d, &["--config", "missing.toml", "migrate"]);
    assert_eq!(o.status.code(), Some(3));
    let o = gatehouse(d, &["frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "usage error");
}

#[test]
fn serve_with_no_config_starts_on_loopback_and_logs_correlation_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["serve", "--log-format", "json"])
        .current_dir(dir.path())
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(out).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("Gatehouse is listening on http://")
        .expect(&first)
        .to_owned();
    let banner: Vec<String> = lines.by_ref().take(8).map(|l| l.unwrap()).collect();
    assert!(banner.iter().any(|l| l.contains("/admin")), "{banner:?}");
    assert!(banner.iter().any(|l| l.contains("/api/v1")), "{banner:?}");
    assert!(
        banner.iter().any(|l| l.contains("/admin/setup?token=")),
        "a first-run setup link: {banner:?}"
    );
    assert!(
        banner
            .iter()
            .any(|l| l.contains("gatehouse admin token create")),
        "{banner:?}"
    );

    // The generated master key is private.
    let key = dir.path().join("data/master.key");
    assert!(key.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let rt = tokio_rt();
    let resp = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .header("host", "nobody.example")
            .send()
            .await
            .unwrap()
    });
    assert_eq!(resp.status(), 404);
    let cid = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let page = rt.block_on(resp.text()).unwrap();
    assert!(page.contains(&cid));

    // The same id is in a JSON log line on stderr, with the reason.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let found = (0..100).find_map(|_| {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        (v["correlation_id"] == cid.as_str()).then_some(v)
    });
    let v = found.expect("a log line with the correlation id");
    assert_eq!(v["status"], 404);
    assert!(v["reason"].as_str().unwrap().contains("nobody.example"));
    drop(server);
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn keys_are_listed_and_rotated_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = |o: &Output| -> Vec<Vec<String>> {
        stdout(o)
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    };
    let o = gatehouse(d, &["keys", "list"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let before = rows(&o);
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(before[0][1], "active");
    assert_eq!(before[1][1], "next");

    let o = gatehouse(d, &["keys", "rotate"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let after = rows(&o);
    assert_eq!(after.len(), 3, "{after:?}");
    let state = |kid: &str| after.iter().find(|r| r[0] == kid).map(|r| r[1].clone());
    assert_eq!(state(&before[0][0]).as_deref(), Some("retired"));
    assert_eq!(state(&before[1][0]).as_deref(), Some("active"));
    let retired = after.iter().find(|r| r[1] == "retired").unwrap();
    assert!(
        !retired[3].is_empty(),
        "a retired key says until when it is published"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains(".well-known/jwks.json"));

    // The private keys are sealed: no P-256 PKCS#8 document (its fixed
    // prefix, base64) in the clear in the database files.
    for f in std::fs::read_dir(d.join("data")).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("MIGHAgEAMBMGByqGSM49"),
            "a private key in the clear"
        );
    }
}

#[test]
fn migrate_works_on_postgresql_too() {
    let rt = tokio_rt();
    let db = rt
        .block_on(gatehouse_store::testing::TestDatabase::create())
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("GATEHOUSE_DATABASE_URL", &db.url)
            .env(
                "GATEHOUSE_MASTER_KEY",
                "c2hhcmVkLW1hc3Rlci1rZXktZm9yLXRlc3RzLTAwMDA=",
            )
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let o = run(&["migrate"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = run(&["app", "create", "--name", "Pg", "--host", "pg.localhost"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["app", "create", "--name", "Pg", "--host", "pg.localhost"]);
    assert_eq!(
        o.status.code(),
        Some(5),
        "the same slug is a conflict on PostgreSQL too"
    );
    // No data directory is needed with PostgreSQL and an explicit master key.
    assert!(!dir.path().join("data/gatehouse.db").exists());
    rt.block_on(db.drop_now()).unwrap();

    let bad = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .env("GATEHOUSE_DATABASE_ACQUIRE_TIMEOUT", "1s")
        .env(
            "GATEHOUSE_MASTER_KEY",
            "c2hhcmVkLW1hc3Rlci1rZXktZm9yLXRlc3RzLTAwMDA=",
        )
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
