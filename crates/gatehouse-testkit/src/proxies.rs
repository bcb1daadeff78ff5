//! Private nginx and Caddy instances on loopback ports, running the
//! forward-auth examples of `docs/forward-auth/` with the addresses of one
//! test, so the documented configurations are the tested ones.

use crate::free_port;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// `docs/forward-auth/<name>`.
pub fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/forward-auth")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn wait_listening(port: u16, child: &mut Child, what: &str, log: &Path) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited at start: {status}\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not listen on {port} within 5 s");
}

/// The documented example with this test's addresses: Gatehouse at
/// `gatehouse`, the application at `upstream`, served as `host`.
fn fill(example: &str, gatehouse: SocketAddr, upstream: SocketAddr, host: &str) -> String {
    example
        .replace("127.0.0.1:8080", &gatehouse.to_string())
        .replace("127.0.0.1:3000", &upstream.to_string())
        .replace("app.example.com", host)
}

/// A reverse proxy in front of an application, stopped when dropped.
pub struct FrontProxy {
    /// Where it listens (loopback).
    pub port: u16,
    /// The master and its workers go together (kill_on_drop kills the master only).
    _group: crate::process::GroupGuard,
    _dir: tempfile::TempDir,
    _child: Child,
}

impl FrontProxy {
    /// nginx running `docs/forward-auth/nginx.conf`.
    pub async fn nginx(gatehouse: SocketAddr, upstream: SocketAddr, host: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let server = fill(&example("nginx.conf"), gatehouse, upstream, host)
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
        let d = dir.path().display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{server}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut child = crate::process::dies_with_us(&mut Command::new(nginx_binary()))
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("nginx starts (apt-get install nginx-light)");
        wait_listening(port, &mut child, "nginx", &dir.path().join("error.log")).await;
        Self {
            port,
            _group: crate::process::GroupGuard::of(&child),
            _dir: dir,
            _child: child,
        }
    }

    /// Caddy running `docs/forward-auth/Caddyfile` (plain HTTP on a loopback port).
    pub async fn caddy(gatehouse: SocketAddr, upstream: SocketAddr, host: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let site = fill(
            &example("Caddyfile"),
            gatehouse,
            upstream,
            &format!("http://{host}:{port}"),
        );
        let conf = format!("{{\n\tadmin off\n\tauto_https off\n\thttp_port {port}\n}}\n\n{site}");
        let conf_path = dir.path().join("Caddyfile");
        std::fs::write(&conf_path, conf).expect("write Caddyfile");
        let mut child = crate::process::dies_with_us(&mut Command::new("caddy"))
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf_path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("caddy.log")).expect("log file"),
            ))
            .kill_on_drop(true)
            .spawn()
            .expect("caddy starts (apt-get install caddy)");
        wait_listening(port, &mut child, "caddy", &dir.path().join("caddy.log")).await;
        Self {
            port,
            _group: crate::process::GroupGuard::of(&child),
            _dir: dir,
            _child: child,
        }
    }
}

fn nginx_binary() -> &'static Path {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return Path::new(p);
        }
    }
    Path::new("nginx")
}
