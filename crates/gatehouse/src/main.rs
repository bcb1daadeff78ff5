//! `gatehouse`: parse the command line, run it, map errors to exit codes.
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() {
    gatehouse::entry().await;
}
