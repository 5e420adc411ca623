//! The queue between the NATS subscription and the processing task, bounded in bytes as well as in messages.
//!
//! The client library's subscription buffer counts messages only (65,536 depth20 messages are ~100 MB). A
//! forwarding task moves every message at once into this queue, which refuses (drops and counts as
//! `reason="buffer_full"`) any message that would take it over `NATS_SUBSCRIPTION_MAX_BYTES` or
//! `NATS_SUBSCRIPTION_CAPACITY`. At shutdown the forwarder unsubscribes, so the processing task can drain what is
//! buffered and then sees the end of the input.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use prometheus::IntCounter;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Drop reason of a message that did not fit the subscription buffer.
pub const BUFFER_FULL: &str = "buffer_full";

/// Bookkeeping cost of a queued message beyond its payload.
const OVERHEAD_BYTES: usize = 64;

/// Messages the forwarder moves from the client's buffer per wake-up before it checks for shutdown again.
const FORWARD_BURST: usize = 256;

/// Default `NATS_SUBSCRIPTION_MAX_BYTES`.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Default)]
struct Usage {
    bytes: AtomicUsize,
    messages: AtomicUsize,
}

/// The receiving end of the bounded queue.
#[derive(Debug)]
pub struct BoundedQueue {
    rx: mpsc::UnboundedReceiver<Bytes>,
    usage: Arc<Usage>,
}

impl BoundedQueue {
    /// The next message; `None` once the forwarder stopped and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let payload = self.rx.recv().await?;
        self.usage
            .bytes
            .fetch_sub(payload.len() + OVERHEAD_BYTES, Ordering::Relaxed);
        self.usage.messages.fetch_sub(1, Ordering::Relaxed);
        Some(payload)
    }

    /// Moves the queued messages, at most `limit`, into `buf`, waiting only while none is queued (one wake-up for
    /// a whole batch); 0 once the forwarder stopped and the queue is empty.
    pub async fn recv_many(&mut self, buf: &mut Vec<Bytes>, limit: usize) -> usize {
        let n = self.rx.recv_many(buf, limit.max(1)).await;
        let bytes: usize = buf[buf.len() - n..]
            .iter()
            .map(|p| p.len() + OVERHEAD_BYTES)
            .sum();
        self.usage.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.usage.messages.fetch_sub(n, Ordering::Relaxed);
        n
    }

    /// Bytes buffered now.
    pub fn buffered_bytes(&self) -> usize {
        self.usage.bytes.load(Ordering::Relaxed)
    }
}

/// Starts forwarding `subscriber` into a queue of at most `max_bytes` and `max_messages`; overflow is counted on
/// `dropped`. When `stop` turns true the forwarder drains the subscription (unsubscribes, forwards what was already
/// delivered) and ends; the queue then runs out to `None`.
pub fn spawn_forwarder(
    client: async_nats::Client,
    mut subscriber: async_nats::Subscriber,
    max_bytes: usize,
    max_messages: usize,
    dropped: IntCounter,
    mut stop: watch::Receiver<bool>,
) -> (BoundedQueue, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let usage = Arc::new(Usage::default());
    let shared = usage.clone();
    // Queues one message unless it would overflow the bounds; false once the processing side is gone.
    let forward = move |msg: async_nats::Message| -> bool {
        let cost = msg.payload.len() + OVERHEAD_BYTES;
        let bytes = shared.bytes.load(Ordering::Relaxed);
        let messages = shared.messages.load(Ordering::Relaxed);
        if bytes + cost > max_bytes || messages >= max_messages {
            dropped.inc();
            return true;
        }
        shared.bytes.fetch_add(cost, Ordering::Relaxed);
        shared.messages.fetch_add(1, Ordering::Relaxed);
        tx.send(msg.payload).is_ok()
    };
    let task = tokio::spawn(async move {
        let mut draining = false;
        'forwarding: loop {
            let msg = if draining {
                subscriber.next().await
            } else {
                tokio::select! {
                    biased;
                    _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
                        // Unsubscribe, but take what the server already sent and what the client buffered: the
                        // stream ends after the last of them. The flush first makes the server's PONG follow (and
                        // so the client read) every message it routed to us before.
                        let _ = client.flush().await;
                        if subscriber.drain().await.is_err() {
                            break;
                        }
                        draining = true;
                        continue;
                    }
                    msg = subscriber.next() => msg,
                }
            };
            let Some(msg) = msg else { break };
            if !forward(msg) {
                break;
            }
            // What the client has already buffered follows without another `select!` (one wake-up per burst, not
            // per message), up to FORWARD_BURST before the stop signal is looked at again.
            for _ in 0..FORWARD_BURST {
                match subscriber.next().now_or_never() {
                    None => break,
                    Some(None) => break 'forwarding,
                    Some(Some(msg)) => {
                        if !forward(msg) {
                            break 'forwarding;
                        }
                    }
                }
            }
        }
    });
    (BoundedQueue { rx, usage }, task)
}
