//! The Debian package from `./scripts/package`, built around the binary
//! under test: its contents and control files, and the unpacked binary
//! started with the unpacked configuration (never installed on the machine
//! running the tests). Runs where `dpkg-deb` exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().expect("run");
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `GET /healthz` on the admin host: the status.
fn healthz(addr: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = String::new();
    s.read_to_string(&mut head).ok()?;
    head.split(' ').nth(1)?.parse().ok()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_package_holds_a_hardened_service_and_its_binary_serves() {
    if !have("dpkg-deb") {
        eprintln!("dpkg-deb is not installed: the package test does not run here");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let built = run(Command::new(repo().join("scripts/package"))
        .args(["--binary", env!("CARGO_BIN_EXE_gatehouse"), "--out"])
        .arg(out.path()));
    let deb = PathBuf::from(built.lines().last().unwrap().trim());
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        deb.ends_with(format!(
            "gatehouse_{version}_{}.deb",
            run(Command::new("dpkg").arg("--print-architecture")).trim()
        )),
        "{}",
        deb.display()
    );

    // Contents.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/gatehouse",
        "./etc/gatehouse/gatehouse.toml",
        "./usr/lib/systemd/system/gatehouse.service",
        "./usr/share/doc/gatehouse/gatehouse.example.toml",
        "./usr/share/doc/gatehouse/copyright",
        "./usr/share/doc/gatehouse/examples/credentials.conf",
        "./usr/share/doc/gatehouse/examples/low-port.conf",
    ] {
        assert!(
            listing.lines().any(|l| l.ends_with(path)),
            "{path} missing:\n{listing}"
        );
    }
    assert!(
        listing
            .lines()
            .filter(|l| !l.starts_with('d'))
            .all(|l| l.contains("root/root")),
        "files belong to root:\n{listing}"
    );

    // Control files.
    let info = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    for want in [
        "Package: gatehouse",
        &format!("Version: {version}"),
        "Depends:",
        "adduser",
        "conffiles",
        "postinst",
        "postrm",
    ] {
        assert!(info.contains(want), "{want}:\n{info}");
    }
    let root = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path()));
    let ctrl = tempfile::tempdir().unwrap();
    run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(ctrl.path()));
    assert_eq!(
        std::fs::read_to_string(ctrl.path().join("conffiles"))
            .unwrap()
            .trim(),
        "/etc/gatehouse/gatehouse.toml"
    );
    let postrm = std::fs::read_to_string(ctrl.path().join("postrm")).unwrap();
    let purge = postrm.find("purge)").expect("postrm handles purge");
    let data = postrm
        .find("rm -rf /var/lib/gatehouse")
        .expect("purge deletes the data");
    assert!(data > purge, "the data goes on purge only");
    let postinst = std::fs::read_to_string(ctrl.path().join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(postinst.contains("try-restart"), "restart on upgrade");
    if have("sh") {
        for script in ["postinst", "postrm", "prerm"] {
            run(Command::new("sh").arg("-n").arg(ctrl.path().join(script)));
        }
    }

    // The unit and the configuration.
    let unit_path = root.path().join("usr/lib/systemd/system/gatehouse.service");
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    for want in [
        "User=gatehouse",
        "StateDirectory=gatehouse",
        "ProtectSystem=strict",
        "NoNewPrivileges=true",
        "CapabilityBoundingSet=\n",
        "ExecStart=/usr/bin/gatehouse serve --config /etc/gatehouse/gatehouse.toml",
        "LoadCredential=",
    ] {
        assert!(unit.contains(want), "{want}:\n{unit}");
    }
    let config = root.path().join("etc/gatehouse/gatehouse.toml");
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .lines()
            .any(|l| l.trim() == "data_dir = \"/var/lib/gatehouse\""),
        "the minimal configuration sets data_dir"
    );
    if have("systemd-analyze") {
        // With ExecStart pointing at the unpacked binary (nothing is installed).
        let bin = root.path().join("usr/bin/gatehouse");
        let units = tempfile::tempdir().unwrap();
        let copy = units.path().join("gatehouse.service");
        std::fs::write(
            &copy,
            unit.replace("/usr/bin/gatehouse", bin.to_str().unwrap()),
        )
        .unwrap();
        let o = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // Only complaints about this unit count (not the host's other units).
        let ours: Vec<&str> = err.lines().filter(|l| l.contains("gatehouse")).collect();
        assert!(ours.is_empty(), "systemd-analyze verify: {err}");
    }

    // The unpacked binary, with the unpacked configuration, serves.
    let bin = root.path().join("usr/bin/gatehouse");
    let version_line = run(Command::new(&bin).arg("--version"));
    assert!(
        version_line.starts_with(&format!("gatehouse {version} (")),
        "{version_line}"
    );
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .env("GATEHOUSE_DATA_DIR", data.path())
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("Gatehouse is listening on http://") {
                let _ = tx.send(a.trim().to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30));
    let result = addr.map(|addr| {
        let start = Instant::now();
        loop {
            if healthz(&addr) == Some(200) {
                return true;
            }
            if start.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(result, Ok(true), "GET /healthz on the unpacked binary");
    assert!(
        data.path().join("gatehouse.db").exists(),
        "the database is made in data_dir"
    );
}
