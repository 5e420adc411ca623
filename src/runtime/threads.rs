//! Processing threads inside one host (`PROCESSING_THREADS`): one dispatcher reads the input and routes each message
//! to the thread that owns its symbol; each thread runs its own [`Pipeline`] (strategies' and plugins' state of its
//! symbols) in its own task, so a host uses as many cores as it has threads.
//!
//! - **Routing** reads only the envelope's `stream` token (the prefilter's fast path; other layouts have just their
//!   `stream` field parsed) and uses the same stable hash as `SHARD_COUNT`, so a symbol always lands on one thread
//!   and its messages keep their order. Unreadable messages go to the first thread, which counts them as dropped.
//! - **Cross-symbol strategies** (btc_dominance) keep the semantics of sharded replicas: the kinds they consume go
//!   to every thread, each thread runs them on every such message and keeps only the signals of its own symbols.
//!   Their state is the same in every thread, and a symbol's signals come from one thread in stream order.
//! - **Configuration** commands (parameters and shadows) go to every thread.
//! - **Plugins** that can share their readable state give each thread a writer ([`strategy_sdk::Plugin::thread_writer`]):
//!   the market metrics API then answers for every thread's symbols from one reader.

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::pipeline::prefilter::{parse_stream, shard_of_ascii, stream_token};
use super::{run_thread, Ended, Input, Pipeline, PipelineCommand, ThreadShared, BATCH_MAX};
use strategy_sdk::StreamKind;

/// Batches queued per thread before the dispatcher waits (back-pressure into the bounded subscription queue).
const THREAD_QUEUE_BATCHES: usize = 16;

/// Where the dispatcher sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The thread that owns the message's symbol.
    One(usize),
    /// Every thread (a kind some cross-symbol strategy consumes).
    All,
}

/// The dispatcher's routing rule.
#[derive(Debug, Clone, Copy)]
pub struct Router {
    threads: u32,
    /// Kinds (by [`StreamKind::ALL`] order) that go to every thread.
    broadcast: [bool; 3],
    max_message_bytes: usize,
}

impl Router {
    /// Routes over `threads` threads; `broadcast` from [`Pipeline::cross_symbol_kinds`].
    pub fn new(threads: usize, broadcast: [bool; 3], max_message_bytes: usize) -> Self {
        Self {
            threads: u32::try_from(threads.max(1)).unwrap_or(u32::MAX),
            broadcast,
            max_message_bytes,
        }
    }

    /// The route of one raw message: by its `stream` token without decoding when the envelope starts with it (the
    /// producer's layout), else by its parsed `stream` field; anything unreadable goes to thread 0 (whose pipeline
    /// drops and counts it).
    pub fn route(&self, payload: &[u8]) -> Route {
        let parsed = stream_token(payload);
        let probed;
        let (symbol, kind) = match parsed {
            Some(token) => token,
            None => {
                if payload.len() > self.max_message_bytes {
                    return Route::One(0);
                }
                probed = match serde_json::from_slice::<StreamProbe<'_>>(payload) {
                    Ok(StreamProbe {
                        stream: Some(stream),
                    }) => stream,
                    _ => return Route::One(0),
                };
                match parse_stream(probed.as_bytes()) {
                    Some(token) => token,
                    None => return Route::One(0),
                }
            }
        };
        if self.broadcast[kind_position(kind)] {
            return Route::All;
        }
        Route::One(shard_of_ascii(symbol, self.threads) as usize)
    }
}

/// Only the `stream` field of an envelope in another layout (other fields are skipped, escapes resolved).
#[derive(serde::Deserialize)]
struct StreamProbe<'a> {
    #[serde(borrow, default)]
    stream: Option<std::borrow::Cow<'a, str>>,
}

fn kind_position(kind: StreamKind) -> usize {
    StreamKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

/// One thread's input: batches from the dispatcher.
#[derive(Debug)]
pub struct ThreadInput {
    rx: mpsc::Receiver<Vec<Bytes>>,
    pending: std::vec::IntoIter<Bytes>,
}

impl ThreadInput {
    fn new(rx: mpsc::Receiver<Vec<Bytes>>) -> Self {
        Self {
            rx,
            pending: Vec::new().into_iter(),
        }
    }

    /// The next message; `None` once the dispatcher stopped and everything was taken.
    pub async fn recv(&mut self) -> Option<Bytes> {
        loop {
            if let Some(payload) = self.pending.next() {
                return Some(payload);
            }
            self.pending = self.rx.recv().await?.into_iter();
        }
    }

    /// Moves at most `limit` messages into `buf`, waiting only while none is available; 0 at the end.
    pub async fn recv_many(&mut self, buf: &mut Vec<Bytes>, limit: usize) -> usize {
        if self.pending.len() == 0 {
            match self.rx.recv().await {
                Some(batch) => self.pending = batch.into_iter(),
                None => return 0,
            }
        }
        let before = buf.len();
        buf.extend(self.pending.by_ref().take(limit.max(1)));
        buf.len() - before
    }
}

/// Runs the processing threads: a single pipeline runs directly on `input`; several get a dispatcher. Returns when
/// the input ends or after shutdown; a thread's panic is resumed here (so the supervisor reports it).
pub async fn run(
    mut pipelines: Vec<Pipeline>,
    input: Input,
    commands: mpsc::UnboundedReceiver<PipelineCommand>,
    shared: ThreadShared,
) -> Ended {
    if pipelines.len() <= 1 {
        let Some(pipeline) = pipelines.pop() else {
            return Ended::InputFinished;
        };
        return run_thread(pipeline, input, commands, shared, true).await;
    }
    let router = Router::new(
        pipelines.len(),
        pipelines[0].cross_symbol_kinds(),
        pipelines[0].max_message_bytes(),
    );
    let mut commands = commands;
    let mut senders = Vec::with_capacity(pipelines.len());
    let mut command_txs = Vec::with_capacity(pipelines.len());
    let mut ends = Vec::with_capacity(pipelines.len());
    for _ in &pipelines {
        let (tx, rx) = mpsc::channel(THREAD_QUEUE_BATCHES);
        let (command_tx, command_rx) = mpsc::unbounded_channel();
        senders.push(tx);
        command_txs.push(command_tx);
        ends.push((rx, command_rx));
    }
    // The commands queued before the start (the initial parameters) reach every thread before its first message,
    // as they reach the single pipeline first (commands go before input in its loop).
    while let Ok(command) = commands.try_recv() {
        for tx in &command_txs {
            let _ = tx.send(command.clone());
        }
    }
    let mut threads = JoinSet::new();
    for (i, (pipeline, (rx, command_rx))) in pipelines.into_iter().zip(ends).enumerate() {
        threads.spawn(run_thread(
            pipeline,
            Input::Thread(ThreadInput::new(rx)),
            command_rx,
            shared.clone(),
            i == 0,
        ));
    }
    let fan_out = tokio::spawn(fan_out_commands(commands, command_txs));
    let mut shutdown = shared.shutdown.clone();
    let drain = shared.drain;
    drop(shared);
    let by_shutdown = dispatch(input, senders, &router, &mut threads, &mut shutdown, drain).await;
    let mut ended = if by_shutdown {
        Ended::Shutdown
    } else {
        Ended::InputFinished
    };
    while let Some(result) = threads.join_next().await {
        match result {
            Ok(Ended::Shutdown) => ended = Ended::Shutdown,
            Ok(Ended::InputFinished) => {}
            Err(e) if e.is_panic() => {
                fan_out.abort();
                std::panic::resume_unwind(e.into_panic())
            }
            Err(_) => {}
        }
    }
    fan_out.abort();
    ended
}

/// Sends every configuration command to every thread; ends when the configuration side or every thread is gone.
async fn fan_out_commands(
    mut commands: mpsc::UnboundedReceiver<PipelineCommand>,
    threads: Vec<mpsc::UnboundedSender<PipelineCommand>>,
) {
    while let Some(command) = commands.recv().await {
        let mut delivered = false;
        for tx in &threads {
            delivered |= tx.send(command.clone()).is_ok();
        }
        if !delivered {
            return;
        }
    }
}

/// Reads the input and routes it, one batch per thread per wake-up, until the input ends (`false`) or, after
/// shutdown, until it ends or `drain` passed (`true`). Dropping the senders then ends the threads' inputs. A
/// thread that panics stops the dispatch at once.
async fn dispatch(
    mut input: Input,
    senders: Vec<mpsc::Sender<Vec<Bytes>>>,
    router: &Router,
    threads: &mut JoinSet<Ended>,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    drain: std::time::Duration,
) -> bool {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut routed: Vec<Vec<Bytes>> = senders.iter().map(|_| Vec::new()).collect();
    let mut until: Option<tokio::time::Instant> = None;
    loop {
        let n = tokio::select! {
            biased;
            changed = shutdown.changed(), if until.is_none() => {
                if changed.is_err() || *shutdown.borrow() {
                    until = Some(tokio::time::Instant::now() + drain);
                }
                continue;
            }
            Some(result) = threads.join_next() => {
                // A thread ended while its input was open: only a panic does that. Hand it to `run`.
                if let Err(e) = result {
                    if e.is_panic() {
                        std::panic::resume_unwind(e.into_panic());
                    }
                }
                continue;
            }
            _ = async {
                match until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => return true,
            n = input.next_batch(&mut batch, BATCH_MAX) => n,
        };
        if n == 0 {
            return until.is_some();
        }
        for payload in batch.drain(..) {
            match router.route(&payload) {
                Route::One(i) => routed[i].push(payload),
                Route::All => {
                    for share in &mut routed {
                        share.push(payload.clone());
                    }
                }
            }
        }
        for (share, tx) in routed.iter_mut().zip(&senders) {
            if share.is_empty() {
                continue;
            }
            let out = std::mem::replace(share, Vec::with_capacity(BATCH_MAX));
            if tx.send(out).await.is_err() {
                // The thread is gone (it panicked): `run` reports it.
                return until.is_some();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::pipeline::shard_of;

    #[test]
    fn routes_by_symbol_and_broadcasts_cross_symbol_kinds() {
        let router = Router::new(4, [false, false, true], 1 << 20);
        let depth = br#"{"stream":"btcusdt@depth20@100ms","data":{}}"#;
        assert_eq!(
            router.route(depth),
            Route::One(shard_of("BTCUSDT", 4) as usize)
        );
        // another layout: the parsed `stream` field gives the same thread
        let reordered = br#"{"data":{}, "stream":"btcusdt@depth20@100ms"}"#;
        assert_eq!(router.route(reordered), router.route(depth));
        assert_eq!(
            router.route(br#"{"stream":"ethusdt@ticker","data":{}}"#),
            Route::All
        );
        for unreadable in [
            &b"not json"[..],
            br#"{"data":{}}"#,
            br#"{"stream":"x@kline"}"#,
        ] {
            assert_eq!(router.route(unreadable), Route::One(0));
        }
    }
}
