//! A loopback HTTP/1.1 server for tests of strategies' external feeds: every connection gets one canned answer
//! (status, body, delay before it) chosen by request target, and every request target is recorded with its time.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An answer: HTTP status, JSON body, and how long to wait before sending it (to provoke timeouts).
pub type Reply = (u16, String, Duration);

/// Chooses the answer to a request target (path and query).
pub type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// The requests the server has seen, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Hits(Arc<Mutex<Vec<(String, Instant)>>>);

impl Hits {
    /// When each request whose target starts with `prefix` arrived.
    pub fn of(&self, prefix: &str) -> Vec<Instant> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(target, _)| target.starts_with(prefix))
            .map(|(_, at)| *at)
            .collect()
    }

    fn record(&self, target: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((target, Instant::now()));
    }
}

/// Starts the server on a free port of 127.0.0.1 (inside a tokio runtime); it runs until the runtime ends.
pub async fn serve(handler: Handler) -> (SocketAddr, Hits) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let addr = listener.local_addr().expect("a bound listener's address");
    let hits = Hits::default();
    let log = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let handler = handler.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf);
                let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                log.record(target.clone());
                let (status, body, delay) = handler(&target);
                tokio::time::sleep(delay).await;
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, hits)
}

/// Polls `cond` every 10 ms; fails the test naming `what` if it is still false after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
