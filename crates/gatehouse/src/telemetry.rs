//! Logs: `tracing` to standard error, as text or JSON lines, filtered by
//! `RUST_LOG` or the configured level. Standard output is left to command
//! results (tokens, ids) so scripts can read them.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (once per process; later calls do nothing).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(format!("{level},sqlx=warn,hyper=warn,h2=warn,rustls=warn"))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}
