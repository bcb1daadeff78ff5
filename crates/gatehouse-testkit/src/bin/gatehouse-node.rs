//! The `gatehouse` command, built with the test harness so multi-node tests
//! always run the code under test as separate processes
//! (`CARGO_BIN_EXE_gatehouse-node`).

#[tokio::main]
async fn main() {
    gatehouse::entry().await;
}
