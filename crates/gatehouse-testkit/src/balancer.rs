//! A TCP load balancer in front of several nodes, as browsers see a
//! deployment: one address, each new connection sent to the node the test
//! chooses, so a sign-in can start on one node and finish on another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

/// The balancer; stops when dropped.
pub struct Balancer {
    /// Its address.
    pub addr: SocketAddr,
    target: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Listen on a loopback port and forward to `backends[0]` until told otherwise.
    pub async fn start(backends: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let target = Arc::new(AtomicUsize::new(0));
        let t = target.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backend = backends[t.load(Ordering::SeqCst) % backends.len()];
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, target, task }
    }

    /// Send new connections to backend `i`.
    pub fn route_to(&self, i: usize) {
        self.target.store(i, Ordering::SeqCst);
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
