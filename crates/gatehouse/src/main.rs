//! `gatehouse`: parse the command line, run it, map errors to exit codes.

#[tokio::main]
async fn main() {
    gatehouse::entry().await;
}
