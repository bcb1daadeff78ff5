//! An independent JOSE check: `tests/idp/verify-jwt.mjs` verifies tokens
//! with the npm package `jose` against a JWK Set URL, as an upstream
//! application would verify `X-Gatehouse-Assertion`.

use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::idp::idp_dir;

/// Verify each token (ES256, `iss`, `aud`, times) with keys from `jwks_url`.
/// One JSON result per token: `{"ok": true, "kid", "payload"}` or `{"ok": false, "code"}`.
pub async fn verify(jwks_url: &str, issuer: &str, audience: &str, tokens: &[&str]) -> Vec<Value> {
    let mut child = crate::process::dies_with_us(&mut Command::new("node"))
        .arg(idp_dir().join("verify-jwt.mjs"))
        .args([jwks_url, issuer, audience])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(tokens.join("\n").as_bytes())
        .await
        .expect("write tokens");
    drop(stdin);
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("jose answers within 30 s")
        .expect("jose runs");
    assert!(out.status.success(), "verify-jwt.mjs failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
