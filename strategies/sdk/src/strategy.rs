//! The `Strategy` trait and its type-erased runner.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use crate::cooldown::Cooldown;
use crate::descriptor::{EnvVar, StrategyDescriptor};
use crate::event::{EventContext, MarketEvent, StreamKind, SymbolId};
use crate::feed::EnvSetting;
use crate::params::StrategyParams;
use crate::signal::SignalSink;

/// A boxed background task (an external data feed); it ends when `shutdown` becomes true.
pub type FeedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Parameters deserialized and validated off the hot path, ready to hand to a runner.
pub type ErasedParams = Arc<dyn Any + Send + Sync>;

/// Whether a strategy has the data it needs. Shown in `/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "reason", rename_all = "snake_case")]
pub enum DataStatus {
    /// Everything the strategy needs is available.
    Ready,
    /// The strategy cannot signal now; the text says why.
    NoData(String),
}

/// A trading strategy. Implementations are plain structs; the host keeps one instance and one `SymbolState` per
/// symbol, and calls [`Strategy::on_event`] for every event of a kind in [`Strategy::CONSUMES`].
///
/// `on_event` is pure computation: no awaiting, no I/O, no allocation in steady state (signals may allocate).
/// Every window, cooldown and interval must use `ctx.event_time_ms`, never the wall clock, so a replay gives the
/// same signals at any speed.
pub trait Strategy: Send + Sync + Sized + 'static {
    /// Typed parameters.
    type Params: StrategyParams;
    /// Per-symbol state; bounded by the window parameters.
    type SymbolState: Default + Send + 'static;

    /// Stable id (snake_case), used in URLs, NATS subjects and config documents.
    const ID: &'static str;
    /// Display name.
    const NAME: &'static str;
    /// One-sentence description.
    const DESCRIPTION: &'static str;
    /// Family: `realtime_data`, `market_logic` or `microstructure`.
    const CATEGORY: &'static str;
    /// Stream kinds the strategy consumes.
    const CONSUMES: &'static [StreamKind];
    /// Whether `STRATEGY_ENABLED_<ID>` defaults to true.
    const ENABLED_BY_DEFAULT: bool = true;
    /// Whether the strategy reads other symbols' events to decide on a symbol (e.g. BTC dominance from ETH/BNB
    /// tickers). In sharded mode such a strategy also sees the symbols its replica does not own; signals for
    /// symbols the replica does not own are discarded, so each signal is still published once.
    const CROSS_SYMBOL: bool = false;
    /// Environment variable names for fields whose name is not `<ID>_<FIELD>` upper-cased (the original's names).
    const ENV_VARS: &'static [EnvVar] = &[];
    /// Environment variables the strategy's external feed reads (URLs, intervals, breaker), outside its parameters.
    const FEED_ENV: &'static [EnvSetting] = &[];

    /// Creates the strategy instance (shared handles for feeds live here).
    fn create() -> Self;

    /// Minimum event-time interval between two signals of this strategy for one symbol, from its parameters.
    /// The host's runner enforces it for every strategy (one implementation: signals inside the interval are
    /// dropped), so a strategy only exposes the parameter.
    fn min_signal_interval_ms(params: &Self::Params) -> i64;

    /// Handles one event for one symbol. `&mut self`: state shared across symbols lives in the strategy value
    /// itself (the host gives each runner its own instance and calls it from one task).
    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        params: &Self::Params,
        state: &mut Self::SymbolState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    );

    /// Called for a symbol whose message comes soon, while the host processes earlier ones: starts loading (with
    /// [`crate::cache::prefetch`]) the cache lines of `state` that `on_event` touches first, when they sit behind
    /// a pointer (a `Box`, a `Vec`); the runner already prefetches the state's own first line. Hints only: it must
    /// not change anything. The default does nothing.
    #[inline]
    fn prefetch(_state: &Self::SymbolState) {}

    /// Called when the host frees a symbol (idle for `SYMBOL_IDLE_SECONDS`) after dropping its `SymbolState`; the
    /// id may later be given to another symbol. Strategies that keep anything per symbol outside `SymbolState`
    /// release it here.
    fn forget_symbol(&mut self, _symbol: SymbolId) {}

    /// Whether the strategy has its data. Strategies fed from outside the stream override it.
    fn status(&self) -> DataStatus {
        DataStatus::Ready
    }

    /// An optional background task that fetches external data (never on the hot path). It receives the global
    /// parameters as they change and must stop when `shutdown` turns true.
    fn data_feed(
        &self,
        _params: watch::Receiver<Arc<Self::Params>>,
        _shutdown: watch::Receiver<bool>,
    ) -> Option<FeedTask> {
        None
    }
}

/// A parameter change for a running strategy.
#[derive(Clone)]
pub enum ParamsUpdate {
    /// New global parameters (already merged with defaults and env, validated).
    Global(ErasedParams),
    /// New effective parameters for one symbol, or `None` to drop the symbol's override.
    Symbol(SymbolId, Option<ErasedParams>),
}

impl std::fmt::Debug for ParamsUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamsUpdate::Global(_) => f.write_str("Global(..)"),
            ParamsUpdate::Symbol(id, p) => write!(f, "Symbol({id:?}, {})", p.is_some()),
        }
    }
}

/// Object-safe face of a strategy, owned by a processing task.
pub trait StrategyRunner: Send {
    /// The strategy's descriptor.
    fn descriptor(&self) -> &'static StrategyDescriptor;
    /// Handles one event.
    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>, sink: &mut SignalSink);
    /// Cache hints for a symbol whose message comes soon (see [`crate::cache`]): [`Prefetch::Slot`] for the
    /// runner's own per-symbol entry, [`Prefetch::State`] (a message later, once that entry is cached) for what
    /// the strategy's state points to. Never changes a result. The default does nothing.
    fn prefetch(&self, _symbol: SymbolId, _what: Prefetch) {}
    /// Applies a parameter change. Returns false when the parameters are of the wrong type (a host bug).
    fn apply(&mut self, update: ParamsUpdate) -> bool;
    /// Current data status.
    fn status(&self) -> DataStatus;
    /// Takes the background feed task, if the strategy has one (called once at start-up).
    fn take_feed(&mut self, shutdown: watch::Receiver<bool>) -> Option<FeedTask>;
    /// Number of symbols with state.
    fn tracked_symbols(&self) -> usize;
    /// Frees everything kept for `symbol` (state and symbol parameters); its id may be reused for another symbol,
    /// which then starts from a fresh state.
    fn forget(&mut self, symbol: SymbolId);
}

/// The two steps of prefetching a symbol's state, a message apart: first the runner's entry (which holds the
/// state's pointers), then what those pointers lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    /// The runner's per-symbol entry.
    Slot,
    /// The heap lines of the strategy's per-symbol state ([`Strategy::prefetch`]).
    State,
}

struct SymbolSlot<S: Strategy> {
    state: S::SymbolState,
    params: Option<Arc<S::Params>>,
    cooldown: Cooldown,
}

impl<S: Strategy> Default for SymbolSlot<S> {
    fn default() -> Self {
        Self {
            state: S::SymbolState::default(),
            params: None,
            cooldown: Cooldown::default(),
        }
    }
}

/// The generic runner behind every registered strategy: per-symbol state in a dense vector, shared params.
pub struct Runner<S: Strategy> {
    descriptor: &'static StrategyDescriptor,
    strategy: S,
    global: Arc<S::Params>,
    global_tx: watch::Sender<Arc<S::Params>>,
    slots: Vec<SymbolSlot<S>>,
    /// Cooldowns of symbols a cross-symbol strategy signals for from another symbol's events.
    foreign_cooldowns: HashMap<String, Cooldown>,
}

impl<S: Strategy> Runner<S> {
    /// A runner with default parameters.
    pub fn new(descriptor: &'static StrategyDescriptor) -> Self {
        let global = Arc::new(S::Params::default());
        let (global_tx, _) = watch::channel(global.clone());
        Self {
            descriptor,
            strategy: S::create(),
            global,
            global_tx,
            slots: Vec::new(),
            foreign_cooldowns: HashMap::new(),
        }
    }

    fn slot(&mut self, id: SymbolId) -> &mut SymbolSlot<S> {
        let i = id.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, SymbolSlot::default);
        }
        &mut self.slots[i]
    }
}

impl<S: Strategy> StrategyRunner for Runner<S> {
    fn descriptor(&self) -> &'static StrategyDescriptor {
        self.descriptor
    }

    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>, sink: &mut SignalSink) {
        let i = ctx.symbol_id.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, SymbolSlot::default);
        }
        let slot = &mut self.slots[i];
        let params = slot.params.as_deref().unwrap_or(&self.global);
        let before = sink.len();
        // The same minimum interval for every strategy, per symbol, in event time. (The risk-level floor is a
        // host-level parameter, applied where signals leave the pipeline.) The strategy is told when its signal
        // for this symbol would be dropped, so it can skip building it.
        let interval = S::min_signal_interval_ms(params);
        sink.set_cooling_down(!slot.cooldown.ready(ctx.event_time_ms, interval));
        self.strategy
            .on_event(ctx, params, &mut slot.state, event, sink);
        sink.set_cooling_down(false);
        if sink.len() == before {
            return;
        }
        let global_interval = S::min_signal_interval_ms(&self.global);
        let (cooldown, foreign) = (&mut slot.cooldown, &mut self.foreign_cooldowns);
        sink.retain_from(before, |signal| {
            if signal.symbol == ctx.symbol {
                cooldown.try_fire(signal.event_time_ms, interval)
            } else {
                foreign
                    .entry(signal.symbol.clone())
                    .or_default()
                    .try_fire(signal.event_time_ms, global_interval)
            }
        });
    }

    #[inline]
    fn prefetch(&self, symbol: SymbolId, what: Prefetch) {
        let Some(slot) = self.slots.get(symbol.index()) else {
            return;
        };
        match what {
            // the entry may span two lines, and the state's pointers need not be at its start
            Prefetch::Slot => {
                crate::cache::prefetch(slot);
                crate::cache::prefetch(&slot.state);
                crate::cache::prefetch(&slot.cooldown);
            }
            Prefetch::State => S::prefetch(&slot.state),
        }
    }

    fn apply(&mut self, update: ParamsUpdate) -> bool {
        match update {
            ParamsUpdate::Global(p) => match p.downcast::<S::Params>() {
                Ok(p) => {
                    self.global = p.clone();
                    self.global_tx.send_replace(p);
                    true
                }
                Err(_) => false,
            },
            ParamsUpdate::Symbol(id, None) => {
                self.slot(id).params = None;
                true
            }
            ParamsUpdate::Symbol(id, Some(p)) => match p.downcast::<S::Params>() {
                Ok(p) => {
                    self.slot(id).params = Some(p);
                    true
                }
                Err(_) => false,
            },
        }
    }

    fn status(&self) -> DataStatus {
        self.strategy.status()
    }

    fn take_feed(&mut self, shutdown: watch::Receiver<bool>) -> Option<FeedTask> {
        self.strategy
            .data_feed(self.global_tx.subscribe(), shutdown)
    }

    fn tracked_symbols(&self) -> usize {
        self.slots.len()
    }

    fn forget(&mut self, symbol: SymbolId) {
        if let Some(slot) = self.slots.get_mut(symbol.index()) {
            *slot = SymbolSlot::default();
            self.strategy.forget_symbol(symbol);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signal::{Action, Signal};

    #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct ProbeParams {}
    impl StrategyParams for ProbeParams {}

    /// Emits on every event and records what the sink said about the interval beforehand.
    #[derive(Default)]
    struct Probe {
        seen: Vec<bool>,
    }

    impl Strategy for Probe {
        type Params = ProbeParams;
        type SymbolState = ();
        const ID: &'static str = "probe";
        const NAME: &'static str = "Probe";
        const DESCRIPTION: &'static str = "test probe";
        const CATEGORY: &'static str = "test";
        const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];
        fn create() -> Self {
            Self::default()
        }
        fn min_signal_interval_ms(_: &ProbeParams) -> i64 {
            1_000
        }
        fn on_event(
            &mut self,
            ctx: &EventContext<'_>,
            _: &ProbeParams,
            _: &mut (),
            _: &MarketEvent<'_>,
            sink: &mut SignalSink,
        ) {
            self.seen.push(sink.cooling_down());
            sink.emit(Signal::new("probe", "Probe", ctx, Action::Buy, 0.9, 1.0));
        }
    }

    static PROBE: StrategyDescriptor = StrategyDescriptor::of::<Probe>();

    #[test]
    fn the_sink_says_when_the_runner_would_drop_the_symbols_signal() {
        let mut runner = Runner::<Probe>::new(&PROBE);
        let mut sink = SignalSink::new();
        let book = crate::testing::book(&[(1.0, 1.0)], &[(2.0, 1.0)]);
        let mut published = Vec::new();
        for (symbol, t) in [
            ("A", 0),
            ("A", 500),
            ("B", 600),
            ("A", 999),
            ("A", 1_000),
            ("A", 1_500),
        ] {
            let ctx = EventContext {
                symbol,
                symbol_id: SymbolId(u32::from(symbol == "B")),
                event_time_ms: t,
            };
            runner.on_event(&ctx, &MarketEvent::Depth(&book), &mut sink);
            assert!(!sink.cooling_down(), "reset after each call");
            published.extend(sink.drain().map(|s| (s.symbol, s.event_time_ms)));
        }
        assert_eq!(
            runner.strategy.seen,
            [false, true, false, true, false, true]
        );
        let a = |t| ("A".to_owned(), t);
        assert_eq!(published, [a(0), ("B".to_owned(), 600), a(1_000)]);
    }
}
