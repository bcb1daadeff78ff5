//! Records the commit the binary is built from, for `gatehouse --version`:
//! `GH_BUILD_COMMIT` from the environment (packagers building outside git),
//! else `git rev-parse`, else "unknown commit". (Not a `GATEHOUSE_` name:
//! `cargo run` and `cargo test` pass build-script variables to the program,
//! which reads every `GATEHOUSE_` variable as configuration.)

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=GH_BUILD_COMMIT");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Rebuild when HEAD moves (a new commit or another branch).
    let git = root.join(".git");
    if git.join("HEAD").exists() {
        println!("cargo:rerun-if-changed={}", git.join("HEAD").display());
        if let Ok(head) = std::fs::read_to_string(git.join("HEAD"))
            && let Some(r) = head.strip_prefix("ref: ")
        {
            let r = git.join(r.trim());
            if r.exists() {
                println!("cargo:rerun-if-changed={}", r.display());
            }
        }
        // A fresh clone keeps its refs packed.
        if git.join("packed-refs").exists() {
            println!(
                "cargo:rerun-if-changed={}",
                git.join("packed-refs").display()
            );
        }
    }
    let commit = std::env::var("GH_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .current_dir(&root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| format!("commit {}", s.trim()))
        })
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=GH_BUILD_COMMIT={commit}");
}
