//! The Gatehouse binary as a library (zero2prod style): configuration,
//! start-up and the CLI commands, so tests start the real server in-process
//! on port 0 and scripts get stable exit codes.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod error;
mod ops;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use error::CliError;
pub use startup::Application;

/// The version `gatehouse --version` shows: the package version and the
/// commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GH_BUILD_COMMIT"),
    ")"
);

/// The `gatehouse` command: parse the command line, run it, and exit with
/// the code of its outcome (see `docs/cli.md`).
pub async fn entry() {
    use clap::Parser;
    let parsed = cli::Cli::parse();
    if let Err(e) = cli::run(parsed).await {
        eprintln!("gatehouse: {e}");
        std::process::exit(e.exit_code());
    }
}
