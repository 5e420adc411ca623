//! The synchronous processing path: decode once, then every plugin and every enabled strategy that consumes the
//! stream type, all borrowing the same decoded event.

use std::time::Instant;

use prometheus::{Histogram, IntCounter};

use strategy_sdk::decode::{DecodeError, Decoder};
use strategy_sdk::{
    EventContext, MarketEvent, ParamsUpdate, Plugin, Signal, SignalSink, StrategyRunner,
    StreamKind, SymbolId,
};

use crate::metrics::Metrics;
use crate::runtime::admission::{EventTimeGuard, SymbolAdmission};
use crate::runtime::symbols::SymbolTable;

pub mod prefetch;
pub mod prefilter;

pub use crate::config::updates::{ParamsHandle, PipelineCommand};

/// What happened to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded and processed.
    Processed(StreamKind),
    /// Dropped for a reason.
    Dropped(&'static str),
    /// Decoded but not ours (another shard's symbol).
    Skipped,
}

/// Which symbols this replica owns (sharding by symbol).
#[derive(Debug, Clone, Copy)]
pub struct ShardFilter {
    /// Number of shards.
    pub count: u32,
    /// This replica's shard.
    pub index: u32,
}

impl ShardFilter {
    /// Whether `symbol` belongs to this shard (stable FNV-1a hash of the upper-case symbol).
    pub fn owns(&self, symbol: &str) -> bool {
        self.count <= 1 || shard_of(symbol, self.count) == self.index
    }
}

/// Stable shard of a symbol: FNV-1a 64 of its bytes modulo `count`.
pub fn shard_of(symbol: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in symbol.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32
}

/// The prices a processed message showed: a book's best bid and ask, or a trade's price. The scorer follows
/// signals with these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MarketTouch {
    /// Dense id of the message's symbol (name via [`Pipeline::symbol_name`]).
    pub symbol_id: SymbolId,
    /// Event time of the message.
    pub event_time_ms: i64,
    /// Best bid, or the trade price.
    pub bid: f64,
    /// Best ask, or the trade price.
    pub ask: f64,
    /// Depth book or trade.
    pub kind: StreamKind,
}

/// Index of a parameter-set variant added with [`Pipeline::add_variant`].
pub type VariantId = u16;

/// A runner that sees the same events as the live strategies but whose signals are collected, never published
/// (evaluation parameter sets, shadows).
struct VariantRunner {
    variant: VariantId,
    runner: Box<dyn StrategyRunner>,
    /// Symbols whose events it sees (all when `None`).
    symbols: Option<Vec<String>>,
}

/// The processing path of one task.
pub struct Pipeline {
    decoder: Decoder,
    symbols: SymbolTable,
    strategies: Vec<Box<dyn StrategyRunner>>,
    by_kind: [Vec<usize>; 3],
    cross_symbol_by_kind: [Vec<usize>; 3],
    plugins: Vec<(Box<dyn Plugin>, [bool; 3])>,
    sink: SignalSink,
    metrics: Metrics,
    max_message_bytes: usize,
    shard: Option<ShardFilter>,
    /// The processing thread's partition of the symbols inside this host (`PROCESSING_THREADS` > 1).
    thread: Option<ShardFilter>,
    /// Symbols this pipeline last added to the `symbols_tracked` gauge (threads add their own counts).
    tracked_reported: i64,
    last_event_time_ms: i64,
    counters: KindCounters,
    variants: Vec<VariantRunner>,
    variants_by_kind: [Vec<usize>; 3],
    variant_signals: Vec<(VariantId, Signal)>,
    last_touch: Option<MarketTouch>,
    event_time: EventTimeGuard,
    admission: SymbolAdmission,
    idle: Vec<SymbolId>,
    /// While a batch is processed ([`Pipeline::start_batch`]): when the last processed message's processing ended.
    batch_clock: Option<Instant>,
}

/// Metric children resolved once per stream kind, so the hot path does no label lookup.
struct KindCounters {
    received: [IntCounter; 3],
    processed: [IntCounter; 3],
    latency: [Histogram; 3],
    received_unknown: IntCounter,
}

impl KindCounters {
    fn new(metrics: &Metrics) -> Self {
        let by_kind = |f: &dyn Fn(&str) -> IntCounter| StreamKind::ALL.map(|k| f(k.as_str()));
        Self {
            received: by_kind(&|k| metrics.messages_received.with_label_values(&[k])),
            processed: by_kind(&|k| metrics.messages_processed.with_label_values(&[k])),
            latency: StreamKind::ALL
                .map(|k| metrics.processing_latency.with_label_values(&[k.as_str()])),
            received_unknown: metrics.messages_received.with_label_values(&["unknown"]),
        }
    }
}

fn kind_index(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Depth => 0,
        StreamKind::Trade => 1,
        StreamKind::Ticker => 2,
    }
}

impl Pipeline {
    /// A pipeline over the given (enabled) strategies and plugins.
    pub fn new(
        strategies: Vec<Box<dyn StrategyRunner>>,
        plugins: Vec<(Box<dyn Plugin>, &'static [StreamKind])>,
        metrics: Metrics,
        max_message_bytes: usize,
        max_book_levels: usize,
    ) -> Self {
        let mut by_kind: [Vec<usize>; 3] = Default::default();
        let mut cross_symbol_by_kind: [Vec<usize>; 3] = Default::default();
        for (i, s) in strategies.iter().enumerate() {
            for kind in s.descriptor().consumes {
                by_kind[kind_index(*kind)].push(i);
                if s.descriptor().cross_symbol {
                    cross_symbol_by_kind[kind_index(*kind)].push(i);
                }
            }
        }
        let plugins = plugins
            .into_iter()
            .map(|(p, kinds)| {
                let mut mask = [false; 3];
                for k in kinds {
                    mask[kind_index(*k)] = true;
                }
                (p, mask)
            })
            .collect();
        Self {
            counters: KindCounters::new(&metrics),
            decoder: Decoder::new(max_book_levels),
            symbols: SymbolTable::new(),
            strategies,
            by_kind,
            cross_symbol_by_kind,
            plugins,
            sink: SignalSink::new(),
            metrics,
            max_message_bytes,
            shard: None,
            thread: None,
            tracked_reported: 0,
            last_event_time_ms: 0,
            variants: Vec::new(),
            variants_by_kind: Default::default(),
            variant_signals: Vec::new(),
            last_touch: None,
            event_time: EventTimeGuard::default(),
            admission: SymbolAdmission::default(),
            idle: Vec::new(),
            batch_clock: None,
        }
    }

    /// Sets which symbols get state (`MAX_SYMBOLS`, `SYMBOL_ALLOWLIST`, `SYMBOL_IDLE_SECONDS`; default: all,
    /// never freed).
    pub fn with_symbol_admission(mut self, admission: SymbolAdmission) -> Self {
        self.admission = admission;
        self
    }

    /// Sets the per-symbol event-time checks (default: offline — regressions refused, wall clock not checked).
    pub fn with_event_time_guard(mut self, guard: EventTimeGuard) -> Self {
        self.event_time = guard;
        self
    }

    /// Adds a runner whose signals are collected under `variant` (see [`Pipeline::drain_variant_signals`]) and
    /// never reach the live output. It runs after the live strategies on every event of its kinds.
    pub fn add_variant(&mut self, variant: VariantId, runner: Box<dyn StrategyRunner>) {
        self.add_variant_for(variant, runner, None);
    }

    /// [`Pipeline::add_variant`] limited to the events of `symbols` (all symbols when `None`).
    pub fn add_variant_for(
        &mut self,
        variant: VariantId,
        runner: Box<dyn StrategyRunner>,
        symbols: Option<Vec<String>>,
    ) {
        self.variants.push(VariantRunner {
            variant,
            runner,
            symbols,
        });
        self.index_variants();
    }

    /// Stops and drops a variant; `false` when there was none.
    pub fn remove_variant(&mut self, variant: VariantId) -> bool {
        let before = self.variants.len();
        self.variants.retain(|v| v.variant != variant);
        self.variant_signals.retain(|(v, _)| *v != variant);
        self.index_variants();
        before != self.variants.len()
    }

    /// The runner of a variant (to change its parameters in place, keeping its state).
    pub fn variant_runner_mut(
        &mut self,
        variant: VariantId,
    ) -> Option<&mut Box<dyn StrategyRunner>> {
        self.variants
            .iter_mut()
            .find(|v| v.variant == variant)
            .map(|v| &mut v.runner)
    }

    fn index_variants(&mut self) {
        self.variants_by_kind = Default::default();
        for (index, v) in self.variants.iter().enumerate() {
            for kind in v.runner.descriptor().consumes {
                self.variants_by_kind[kind_index(*kind)].push(index);
            }
        }
    }

    /// Signals of the variants since the last call, tagged with their variant, in emission order.
    pub fn drain_variant_signals(&mut self) -> std::vec::Drain<'_, (VariantId, Signal)> {
        self.variant_signals.drain(..)
    }

    /// The prices shown by the last processed message (`None` for tickers, drops and other shards' symbols).
    pub fn last_touch(&self) -> Option<MarketTouch> {
        self.last_touch
    }

    /// The name of an interned symbol.
    pub fn symbol_name(&self, id: SymbolId) -> Option<&str> {
        self.symbols.name(id)
    }

    /// Restricts processing to one shard's symbols.
    pub fn with_shard(mut self, shard: Option<ShardFilter>) -> Self {
        self.shard = shard;
        self
    }

    /// Restricts processing to one processing thread's symbols (within this replica's shard). Messages of other
    /// threads' symbols reach this pipeline only for cross-symbol strategies (see [`Pipeline::cross_symbol_kinds`]);
    /// they are counted as received by the thread that owns their symbol only.
    pub fn with_thread(mut self, thread: Option<ShardFilter>) -> Self {
        self.thread = thread.filter(|t| t.count > 1);
        self
    }

    /// The stream kinds some cross-symbol strategy consumes (by [`StreamKind::ALL`] order): every processing
    /// thread must see those messages, whatever their symbol.
    pub fn cross_symbol_kinds(&self) -> [bool; 3] {
        StreamKind::ALL.map(|k| !self.cross_symbol_by_kind[kind_index(k)].is_empty())
    }

    /// Largest accepted message in bytes (`MAX_MESSAGE_BYTES`).
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Raises the latest event time to `ms` (the host-wide latest, so every thread's plugins expire on one clock).
    pub fn note_event_time(&mut self, ms: i64) {
        self.last_event_time_ms = self.last_event_time_ms.max(ms);
    }

    /// Gives the wall clock (ms) read once for the batch about to be processed: the future-timestamp check
    /// uses it for every message of the batch.
    pub fn note_batch_wall_clock(&mut self, now_ms: i64) {
        self.event_time.set_batch_wall_clock_ms(now_ms);
    }

    /// Starts timing a batch of messages processed back to back, from `now` (the batch's receive time): each
    /// processed message's latency then runs from the end of the previous one (one clock read per message instead
    /// of two), so it also covers the caller's per-message work between them (handing signals on, scoring quotes).
    /// [`Pipeline::end_batch`] goes back to timing each message alone.
    pub fn start_batch(&mut self, now: Instant) {
        self.batch_clock = Some(now);
    }

    /// Ends the batch started by [`Pipeline::start_batch`].
    pub fn end_batch(&mut self) {
        self.batch_clock = None;
    }

    /// Processes one raw message; signals are appended to `out`.
    pub fn process(&mut self, payload: &[u8], out: &mut Vec<Signal>) -> Outcome {
        self.last_touch = None;
        if payload.len() > self.max_message_bytes {
            self.counters.received_unknown.inc();
            self.metrics
                .messages_dropped
                .with_label_values(&[super::OVERSIZED])
                .inc();
            return Outcome::Dropped(super::OVERSIZED);
        }
        if let Some(skipped) = self.skip_before_decode(payload) {
            return skipped;
        }
        let started = self.batch_clock.unwrap_or_else(Instant::now);
        let decoded = match self.decoder.decode(payload) {
            Ok(d) => d,
            Err(e) => {
                self.counters.received_unknown.inc();
                self.metrics
                    .messages_dropped
                    .with_label_values(&[e.reason()])
                    .inc();
                return Outcome::Dropped(reason_of(e));
            }
        };
        let kind = decoded.event.kind();
        let k = kind_index(kind);
        // A message broadcast to every processing thread (a cross-symbol kind) is counted by the thread that owns
        // its symbol only.
        let counted = self.thread.is_none_or(|t| t.owns(decoded.symbol));
        if counted {
            self.counters.received[k].inc();
        }
        if !owned_by(self.shard, self.thread, decoded.symbol) {
            // Another replica or thread owns this symbol. Strategies that read other symbols still see the event;
            // only their signals for symbols this pipeline owns are kept.
            if self.cross_symbol_by_kind[k].is_empty() {
                return Outcome::Skipped;
            }
            let symbol_id = match self.admission.admit(&mut self.symbols, decoded.symbol) {
                Ok(id) => id,
                Err(reason) => {
                    if counted {
                        self.metrics
                            .messages_dropped
                            .with_label_values(&[reason])
                            .inc();
                    }
                    return Outcome::Dropped(reason);
                }
            };
            if let Err(reason) = self.event_time.admit(symbol_id, decoded.event_time_ms) {
                if counted {
                    self.metrics
                        .messages_dropped
                        .with_label_values(&[reason])
                        .inc();
                }
                return Outcome::Dropped(reason);
            }
            let ctx = EventContext {
                symbol: decoded.symbol,
                symbol_id,
                event_time_ms: decoded.event_time_ms,
            };
            for &i in &self.cross_symbol_by_kind[k] {
                self.strategies[i].on_event(&ctx, &decoded.event, &mut self.sink);
            }
            let (shard, thread) = (self.shard, self.thread);
            for signal in self.sink.drain() {
                if owned_by(shard, thread, &signal.symbol) {
                    self.metrics
                        .signals_generated
                        .with_label_values(&[signal.strategy_id, signal.action.as_str()])
                        .inc();
                    out.push(signal);
                }
            }
            return Outcome::Skipped;
        }
        let symbol_id = match self.admission.admit(&mut self.symbols, decoded.symbol) {
            Ok(id) => id,
            Err(reason) => {
                self.metrics
                    .messages_dropped
                    .with_label_values(&[reason])
                    .inc();
                return Outcome::Dropped(reason);
            }
        };
        if let Err(reason) = self.event_time.admit(symbol_id, decoded.event_time_ms) {
            self.metrics
                .messages_dropped
                .with_label_values(&[reason])
                .inc();
            return Outcome::Dropped(reason);
        }
        let ctx = EventContext {
            symbol: decoded.symbol,
            symbol_id,
            event_time_ms: decoded.event_time_ms,
        };
        self.last_event_time_ms = self.last_event_time_ms.max(decoded.event_time_ms);
        for (plugin, mask) in &mut self.plugins {
            if mask[k] {
                plugin.on_event(&ctx, &decoded.event);
            }
        }
        for &i in &self.by_kind[k] {
            self.strategies[i].on_event(&ctx, &decoded.event, &mut self.sink);
        }
        let traceparent = decoded.traceparent;
        if traceparent.is_some() && !self.sink.is_empty() {
            let span = tracing::info_span!(
                "signals",
                traceparent = traceparent.unwrap_or_default(),
                symbol = decoded.symbol
            );
            let _guard = span.enter();
            tracing::debug!(count = self.sink.len(), "signals from a traced message");
        }
        for mut signal in self.sink.drain() {
            signal.traceparent = traceparent.map(str::to_owned);
            self.metrics
                .signals_generated
                .with_label_values(&[signal.strategy_id, signal.action.as_str()])
                .inc();
            out.push(signal);
        }
        for &i in &self.variants_by_kind[k] {
            let v = &mut self.variants[i];
            if v.symbols
                .as_ref()
                .is_some_and(|list| !list.iter().any(|s| s == decoded.symbol))
            {
                continue;
            }
            v.runner.on_event(&ctx, &decoded.event, &mut self.sink);
            for signal in self.sink.drain() {
                self.variant_signals.push((v.variant, signal));
            }
        }
        self.last_touch = touch_of(symbol_id, decoded.event_time_ms, &decoded.event);
        self.counters.processed[k].inc();
        let now = Instant::now();
        self.counters.latency[k].observe(now.saturating_duration_since(started).as_secs_f64());
        if self.batch_clock.is_some() {
            self.batch_clock = Some(now);
        }
        Outcome::Processed(kind)
    }

    /// Applies a configuration command. Returns `None` when the strategy does not run in this pipeline (disabled),
    /// `Some(false)` when the parameters were rejected (mistyped: a host bug), `Some(true)` when applied.
    pub fn apply(&mut self, command: PipelineCommand) -> Option<bool> {
        match command {
            PipelineCommand::Params {
                strategy,
                symbol,
                params,
            } => {
                let runner = self
                    .strategies
                    .iter_mut()
                    .find(|s| s.descriptor().id == strategy)?;
                let update = match (symbol, params) {
                    (None, Some(p)) => ParamsUpdate::Global(p.0),
                    (None, None) => return Some(false),
                    (Some(sym), p) => {
                        let id = self
                            .admission
                            .configured(&mut self.symbols, &sym, p.is_some());
                        ParamsUpdate::Symbol(id, p.map(|p| p.0))
                    }
                };
                Some(runner.apply(update))
            }
            // Shadows are run by the processing task's `ShadowSet`, which owns their names.
            PipelineCommand::Shadow(_) => Some(false),
        }
    }

    /// Housekeeping about once a second: plugin expiry and gauges.
    pub fn tick(&mut self) {
        for (plugin, _) in &mut self.plugins {
            plugin.tick(self.last_event_time_ms);
        }
        self.forget_idle();
        // Each processing thread adds its own count to the gauge.
        let tracked = self.admission.tracked(&self.symbols) as i64;
        self.metrics
            .symbols_tracked
            .add(tracked - self.tracked_reported);
        self.tracked_reported = tracked;
    }

    /// Frees the state of symbols idle for `SYMBOL_IDLE_SECONDS` in every strategy, variant, plugin and the
    /// event-time guard, then lets the symbol table reuse their ids.
    fn forget_idle(&mut self) {
        self.admission.take_idle(&mut self.symbols, &mut self.idle);
        if self.idle.is_empty() {
            return;
        }
        for &id in &self.idle {
            for s in &mut self.strategies {
                s.forget(id);
            }
            for v in &mut self.variants {
                v.runner.forget(id);
            }
            for (p, _) in &mut self.plugins {
                p.forget(id);
            }
            self.event_time.forget(id);
        }
        self.metrics.symbols_freed.inc_by(self.idle.len() as u64);
        self.idle.clear();
    }

    /// The strategies (for status reporting).
    pub fn strategies(&self) -> &[Box<dyn StrategyRunner>] {
        &self.strategies
    }

    /// Mutable access to the strategies (to take their data feeds at start-up).
    pub fn strategies_mut(&mut self) -> &mut [Box<dyn StrategyRunner>] {
        &mut self.strategies
    }

    /// Latest event time seen.
    pub fn last_event_time_ms(&self) -> i64 {
        self.last_event_time_ms
    }
}

fn touch_of(
    symbol_id: SymbolId,
    event_time_ms: i64,
    event: &MarketEvent<'_>,
) -> Option<MarketTouch> {
    let (bid, ask, kind) = match event {
        MarketEvent::Depth(book) => (
            book.best_bid()?.price,
            book.best_ask()?.price,
            StreamKind::Depth,
        ),
        MarketEvent::Trade(trade) => (trade.price, trade.price, StreamKind::Trade),
        MarketEvent::Ticker(_) => return None,
    };
    Some(MarketTouch {
        symbol_id,
        event_time_ms,
        bid,
        ask,
        kind,
    })
}

/// Whether a symbol belongs to both the replica shard and the processing thread (each `None` = all symbols).
fn owned_by(shard: Option<ShardFilter>, thread: Option<ShardFilter>, symbol: &str) -> bool {
    shard.is_none_or(|s| s.owns(symbol)) && thread.is_none_or(|t| t.owns(symbol))
}

fn reason_of(e: DecodeError) -> &'static str {
    e.reason()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":1,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true},"timestamp":"2024-08-08T23:54:15.343000Z"}"#;

    /// Sample count and sum of the trade latency histogram.
    fn trade_latency(metrics: &Metrics) -> (u64, f64) {
        let h = metrics.processing_latency.with_label_values(&["trade"]);
        (h.get_sample_count(), h.get_sample_sum())
    }

    #[test]
    fn in_a_batch_each_message_is_timed_from_the_end_of_the_previous_one() {
        let metrics = Metrics::new();
        let mut pipeline = Pipeline::new(Vec::new(), Vec::new(), metrics.clone(), 1 << 20, 1000);
        let mut out = Vec::new();
        let mut process = |pipeline: &mut Pipeline| {
            assert!(matches!(
                pipeline.process(TRADE.as_bytes(), &mut out),
                Outcome::Processed(StreamKind::Trade)
            ));
            trade_latency(&metrics)
        };
        let (n0, alone) = process(&mut pipeline);
        assert_eq!(n0, 1);
        assert!(alone < 0.1, "a message alone is timed by itself: {alone}");
        // a batch received 200 ms ago: its first message is timed from then
        let received = Instant::now()
            .checked_sub(Duration::from_millis(200))
            .unwrap();
        pipeline.start_batch(received);
        let (n1, sum1) = process(&mut pipeline);
        assert_eq!(n1, 2);
        assert!(sum1 - alone >= 0.2, "{}", sum1 - alone);
        // the next one from the end of the first, not from the batch's start
        let (n2, sum2) = process(&mut pipeline);
        assert_eq!(n2, 3);
        assert!(sum2 - sum1 < 0.1, "{}", sum2 - sum1);
        // after the batch, messages are timed alone again
        pipeline.end_batch();
        std::thread::sleep(Duration::from_millis(150));
        let (n3, sum3) = process(&mut pipeline);
        assert_eq!(n3, 4);
        assert!(sum3 - sum2 < 0.1, "{}", sum3 - sum2);
    }
}
