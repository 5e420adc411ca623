//! The cross-exchange spread rules.

use std::sync::Arc;

use strategy_sdk::{
    Action, DataStatus, EventContext, FeedTask, MarketEvent, Signal, SignalSink, Strategy,
    StreamKind,
};
use tokio::sync::watch;

use crate::feed::{run_feed, FeedConfig};
use crate::params::{CrossExchangeSpreadParams, Exchange};
use crate::quotes::{wall_clock_ms, SharedQuotes, SpreadReading};

/// The cross-exchange spread strategy. Holds the quote book its feed fills.
#[derive(Debug, Default)]
pub struct CrossExchangeSpread {
    quotes: SharedQuotes,
}

impl CrossExchangeSpread {
    /// The shared quote book (tests inject quotes through it).
    pub fn quotes(&self) -> &SharedQuotes {
        &self.quotes
    }
}

/// Per-symbol state: the current run of above-threshold quote refreshes (the minimum interval between signals is
/// the host runner's).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpreadState {
    streak: u32,
    streak_action: Option<Action>,
    last_generation: u64,
}

impl SpreadState {
    /// Consecutive quote refreshes with the spread above the threshold in the same direction.
    pub fn streak(&self) -> u32 {
        self.streak
    }

    fn reset(&mut self) {
        self.streak = 0;
        self.streak_action = None;
        self.last_generation = 0;
    }
}

/// Confidence: `high_spread_confidence` once the spread reaches `high_spread_threshold`, else `base_confidence`.
pub fn confidence(spread_percent: f64, p: &CrossExchangeSpreadParams) -> f64 {
    if spread_percent >= p.high_spread_threshold {
        p.high_spread_confidence
    } else {
        p.base_confidence
    }
}

fn binance_side(r: &SpreadReading) -> Option<Action> {
    if r.low.0 == Exchange::Binance {
        Some(Action::Buy)
    } else if r.high.0 == Exchange::Binance {
        Some(Action::Sell)
    } else {
        None
    }
}

impl Strategy for CrossExchangeSpread {
    type Params = CrossExchangeSpreadParams;
    type SymbolState = SpreadState;

    const ID: &'static str = "cross_exchange_spread";
    const NAME: &'static str = "Cross-Exchange Spread";
    const DESCRIPTION: &'static str =
        "Monitors price differences across exchanges to identify arbitrage opportunities";
    const CATEGORY: &'static str = "market_logic";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Ticker, StreamKind::Trade];
    const FEED_ENV: &'static [strategy_sdk::EnvSetting] = crate::feed::ENV;
    const ENV_VARS: &'static [strategy_sdk::EnvVar] = &[
        strategy_sdk::EnvVar {
            field: "spread_threshold_percent",
            var: "SPREAD_THRESHOLD_PERCENT",
        },
        strategy_sdk::EnvVar {
            field: "min_signal_interval",
            var: "SPREAD_MIN_SIGNAL_INTERVAL",
        },
        strategy_sdk::EnvVar {
            field: "max_position_size",
            var: "SPREAD_MAX_POSITION_SIZE",
        },
        strategy_sdk::EnvVar {
            field: "exchanges",
            var: "SPREAD_EXCHANGES",
        },
    ];

    fn create() -> Self {
        Self::default()
    }

    fn min_signal_interval_ms(params: &CrossExchangeSpreadParams) -> i64 {
        i64::from(params.min_signal_interval) * 1000
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &CrossExchangeSpreadParams,
        state: &mut SpreadState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let binance_price = match event {
            MarketEvent::Ticker(t) => t.last_price,
            MarketEvent::Trade(t) => t.price,
            MarketEvent::Depth(_) => return,
        };
        let now = ctx.event_time_ms;
        let Some(r) = self
            .quotes
            .read_spread(ctx.symbol, binance_price, now, &p.exchanges)
        else {
            state.reset();
            return;
        };
        let side = binance_side(&r).filter(|_| r.spread_percent >= p.spread_threshold_percent);
        let Some(action) = side else {
            state.reset();
            return;
        };
        if state.streak_action != Some(action) {
            state.reset();
            state.streak_action = Some(action);
        }
        if r.generation != state.last_generation {
            state.last_generation = r.generation;
            state.streak = state.streak.saturating_add(1);
        }
        if state.streak < p.persistent_spread_periods {
            return;
        }
        let conf = confidence(r.spread_percent, p);
        let max_size = f64::from(p.max_position_size);
        let position_usdt = (max_size * conf).min(max_size);
        let (other, other_price) = match action {
            Action::Buy => r.high,
            Action::Sell => r.low,
        };
        sink.emit(
            Signal::new(Self::ID, Self::NAME, ctx, action, conf, binance_price)
                .quantity(position_usdt / binance_price)
                .indicator("spread_percent", r.spread_percent)
                .indicator("binance_price", binance_price)
                .indicator("counterpart_price", other_price)
                .indicator("external_quotes", r.external_quotes)
                .indicator("persistent_periods", state.streak)
                .meta("buy_exchange", r.low.0.as_str())
                .meta("sell_exchange", r.high.0.as_str())
                .meta("buy_price", r.low.1)
                .meta("sell_price", r.high.1)
                .meta("counterpart_exchange", other.as_str())
                .meta("target_exchange", "binance")
                .meta("potential_profit_percent", r.spread_percent)
                .meta("arbitrage_type", "cross_exchange")
                .meta("position_size_usdt", position_usdt)
                .meta("oldest_quote_age_ms", r.oldest_quote_age_ms)
                .meta("quote_usd_rate", r.quote_usd_rate),
        );
    }

    fn status(&self) -> DataStatus {
        self.quotes.status_at(wall_clock_ms())
    }

    fn data_feed(
        &self,
        params: watch::Receiver<Arc<CrossExchangeSpreadParams>>,
        shutdown: watch::Receiver<bool>,
    ) -> Option<FeedTask> {
        Some(Box::pin(run_feed(
            FeedConfig::from_env(),
            self.quotes.clone(),
            params,
            shutdown,
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::decode::Decoder;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    const T0: i64 = 1_723_161_255_000;

    fn tick(h: &mut Harness<CrossExchangeSpread>, price: f64, t: i64) -> Vec<Signal> {
        h.feed(
            "BTCUSDT",
            t,
            MarketEvent::Ticker(&testing::ticker(price, 1.0)),
        )
    }

    fn quote(h: &Harness<CrossExchangeSpread>, ex: Exchange, price: f64, t: i64) {
        h.strategy().quotes().set(ex, "USDTUSD", 1.0, t);
        h.strategy().quotes().set(ex, "BTCUSDT", price, t);
    }

    /// Three refreshes of a Coinbase quote at `cb`, each followed by a Binance ticker at 100; returns the signals.
    fn three_periods(h: &mut Harness<CrossExchangeSpread>, cb: f64, t: i64) -> Vec<Signal> {
        let mut out = Vec::new();
        for k in 0..3 {
            quote(h, Exchange::Coinbase, cb, t + k * 5_000);
            out.extend(tick(h, 100.0, t + k * 5_000 + 100));
        }
        out
    }

    #[test]
    fn worked_example_buy_when_binance_is_cheapest() {
        let mut h = Harness::<CrossExchangeSpread>::default();
        let s = three_periods(&mut h, 100.6, T0);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.action, Action::Buy);
        assert_eq!(s.price, 100.0);
        assert!((s.confidence - 0.75).abs() < 1e-12);
        // 500 USDT × 0.75 at 100 → 3.75 units.
        assert!((s.quantity.unwrap() - 3.75).abs() < 1e-9);
        let spread = s
            .indicators
            .iter()
            .find(|(k, _)| *k == "spread_percent")
            .unwrap();
        assert!((spread.1.as_f64().unwrap() - 0.6).abs() < 1e-9);
        assert!(s.metadata.contains(&("buy_exchange", "binance".into())));
        assert!(s.metadata.contains(&("sell_exchange", "coinbase".into())));
    }

    #[test]
    fn sell_when_binance_is_dearest_and_high_spread_confidence() {
        let mut h = Harness::<CrossExchangeSpread>::default();
        let s = three_periods(&mut h, 99.0, T0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Sell);
        // (100 − 99) / 99 = 1.0101 % ≥ 1 % → high confidence.
        assert!((s[0].confidence - 0.85).abs() < 1e-12);
    }

    #[test]
    fn threshold_edges() {
        // spread just below 0.5 %: nothing; exactly 0.5 %: fires; above: fires.
        for (cb, fires) in [(100.499, false), (100.5, true), (100.51, true)] {
            let mut h = Harness::<CrossExchangeSpread>::default();
            assert_eq!(
                three_periods(&mut h, cb, T0).len(),
                usize::from(fires),
                "coinbase {cb}"
            );
        }
        // high-confidence edge: spread exactly 1 % → 0.85, just below → 0.75.
        let p = CrossExchangeSpreadParams::default();
        assert_eq!(confidence(1.0, &p), 0.85);
        assert_eq!(confidence(0.9999, &p), 0.75);
    }

    #[test]
    fn persistence_counts_quote_refreshes_not_events() {
        let mut h = Harness::<CrossExchangeSpread>::default();
        quote(&h, Exchange::Coinbase, 101.0, T0);
        for k in 0..10 {
            assert!(tick(&mut h, 100.0, T0 + k).is_empty(), "one refresh only");
        }
        quote(&h, Exchange::Coinbase, 101.0, T0 + 5_000);
        assert!(tick(&mut h, 100.0, T0 + 5_001).is_empty(), "two refreshes");
        // a dip below the threshold resets the run
        assert!(tick(&mut h, 100.9, T0 + 5_002).is_empty());
        quote(&h, Exchange::Coinbase, 101.0, T0 + 10_000);
        assert!(
            tick(&mut h, 100.0, T0 + 10_001).is_empty(),
            "run restarted: one"
        );
        quote(&h, Exchange::Coinbase, 101.0, T0 + 15_000);
        assert!(tick(&mut h, 100.0, T0 + 15_001).is_empty(), "two");
        quote(&h, Exchange::Coinbase, 101.0, T0 + 20_000);
        assert_eq!(tick(&mut h, 100.0, T0 + 20_001).len(), 1, "three");
        // persistent_spread_periods = 1 fires on the first refresh
        let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
            persistent_spread_periods: 1,
            ..Default::default()
        });
        quote(&h, Exchange::Coinbase, 101.0, T0);
        assert_eq!(tick(&mut h, 100.0, T0).len(), 1);
    }

    #[test]
    fn direction_flip_restarts_the_run() {
        let mut h = Harness::<CrossExchangeSpread>::default();
        quote(&h, Exchange::Coinbase, 101.0, T0);
        tick(&mut h, 100.0, T0);
        quote(&h, Exchange::Coinbase, 101.0, T0 + 5_000);
        tick(&mut h, 100.0, T0 + 5_000);
        quote(&h, Exchange::Coinbase, 99.0, T0 + 10_000);
        assert!(
            tick(&mut h, 100.0, T0 + 10_000).is_empty(),
            "flip: sell run at one"
        );
        quote(&h, Exchange::Coinbase, 99.0, T0 + 15_000);
        tick(&mut h, 100.0, T0 + 15_000);
        quote(&h, Exchange::Coinbase, 99.0, T0 + 20_000);
        assert_eq!(tick(&mut h, 100.0, T0 + 20_000)[0].action, Action::Sell);
    }

    #[test]
    fn repeats_are_left_to_the_runners_interval() {
        // still persistent on the next refresh: the strategy reports it again; the 300 s min_signal_interval is
        // enforced per symbol by the SDK runner for every strategy.
        let mut h = Harness::<CrossExchangeSpread>::default();
        assert_eq!(three_periods(&mut h, 101.0, T0).len(), 1);
        quote(&h, Exchange::Coinbase, 101.0, T0 + 15_100);
        assert_eq!(tick(&mut h, 100.0, T0 + 15_100).len(), 1);
        assert_eq!(
            CrossExchangeSpread::min_signal_interval_ms(&CrossExchangeSpreadParams::default()),
            300_000
        );
    }

    #[test]
    fn stale_or_missing_quotes_give_no_signal() {
        let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
            persistent_spread_periods: 1,
            ..Default::default()
        });
        assert!(tick(&mut h, 100.0, T0).is_empty(), "no quote at all");
        quote(&h, Exchange::Coinbase, 101.0, T0);
        assert!(
            tick(&mut h, 100.0, T0 + 60_001).is_empty(),
            "61 s old: stale"
        );
        assert_eq!(
            tick(&mut h, 100.0, T0 + 60_000).len(),
            1,
            "60 s old: still fresh"
        );
        // kraken quotes are ignored while exchanges = [binance, coinbase]
        let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
            persistent_spread_periods: 1,
            ..Default::default()
        });
        quote(&h, Exchange::Kraken, 101.0, T0);
        assert!(tick(&mut h, 100.0, T0).is_empty());
        h.params.exchanges = vec![Exchange::Binance, Exchange::Kraken];
        assert_eq!(tick(&mut h, 100.0, T0).len(), 1);
    }

    #[test]
    fn binance_in_the_middle_gives_no_signal() {
        let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
            persistent_spread_periods: 1,
            exchanges: vec![Exchange::Binance, Exchange::Coinbase, Exchange::Kraken],
            ..Default::default()
        });
        quote(&h, Exchange::Coinbase, 101.0, T0);
        quote(&h, Exchange::Kraken, 99.0, T0);
        assert!(tick(&mut h, 100.0, T0).is_empty());
        // trades count as Binance prices too
        let s = h.feed(
            "BTCUSDT",
            T0 + 1,
            MarketEvent::Trade(&testing::trade(98.0, 1.0, false, T0)),
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Buy);
        assert!(s[0]
            .metadata
            .contains(&("sell_exchange", "coinbase".into())));
    }

    #[test]
    fn params_rules_and_env_names() {
        let p = CrossExchangeSpreadParams::default();
        assert!(p.validate().is_ok());
        let bad = CrossExchangeSpreadParams {
            exchanges: vec![Exchange::Coinbase, Exchange::Kraken],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err()[0].field, "/exchanges");
        let bad = CrossExchangeSpreadParams {
            exchanges: vec![Exchange::Binance],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err()[0].field, "/exchanges");
        let bad = CrossExchangeSpreadParams {
            exchanges: vec![Exchange::Binance, Exchange::Coinbase, Exchange::Coinbase],
            ..Default::default()
        };
        assert!(bad.validate().is_err());
        let bad = CrossExchangeSpreadParams {
            high_spread_threshold: 0.4,
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err()[0].field,
            "/high_spread_threshold"
        );
        let bad = CrossExchangeSpreadParams {
            high_spread_confidence: 0.7,
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err()[0].field,
            "/high_spread_confidence"
        );
        let parsed: CrossExchangeSpreadParams =
            serde_json::from_value(serde_json::json!({"exchanges": ["binance", "kraken"]}))
                .unwrap();
        assert_eq!(parsed.exchanges, vec![Exchange::Binance, Exchange::Kraken]);
        assert!(serde_json::from_value::<CrossExchangeSpreadParams>(
            serde_json::json!({"exchanges": ["ftx"]})
        )
        .is_err());
        let d = strategy_sdk::StrategyDescriptor::of::<CrossExchangeSpread>();
        assert_eq!(
            d.env_var_for("spread_threshold_percent"),
            "SPREAD_THRESHOLD_PERCENT"
        );
        assert_eq!(d.env_var_for("exchanges"), "SPREAD_EXCHANGES");
        assert_eq!(
            d.env_var_for("base_confidence"),
            "CROSS_EXCHANGE_SPREAD_BASE_CONFIDENCE"
        );
        let schema = serde_json::to_value((d.schema)()).unwrap();
        assert_eq!(schema["properties"].as_object().unwrap().len(), 8);
        assert_eq!(schema["properties"]["min_signal_interval"]["minimum"], 60);
        assert_eq!(
            schema["properties"]["exchanges"]["items"]["enum"],
            serde_json::json!(["binance", "coinbase", "kraken"])
        );
    }

    #[test]
    fn golden_no_signal_without_external_quotes() {
        // The recording has no external quotes: the strategy genuinely cannot fire on it.
        let lines = testing::bundled_recording();
        let mut h = Harness::<CrossExchangeSpread>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/cross_exchange_spread.txt"
            ),
            &signals,
        );
    }

    #[test]
    fn golden_with_injected_quotes_on_the_recording() {
        // Simulated polling: every 5 s of event time, each symbol gets fixed external quotes relative to its first
        // Binance price on the recording: BTCUSDT Coinbase × 1.003, Kraken × 0.9995 (Binance falls up to 0.4 % during
        // the recording, so it becomes the cheapest venue → buys); ETHUSDT Coinbase × 0.9955, Kraken × 0.995
        // (Binance is the dearest venue → sells). min_signal_interval = 60 s.
        let lines = testing::bundled_recording();
        let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
            min_signal_interval: 60,
            exchanges: vec![Exchange::Binance, Exchange::Coinbase, Exchange::Kraken],
            ..Default::default()
        });
        let mut decoder = Decoder::default();
        let mut anchors: Vec<(String, f64, i64)> = Vec::new();
        let mut signals = Vec::new();
        for line in &lines {
            let Ok(d) = decoder.decode(line.as_bytes()) else {
                continue;
            };
            let price = match d.event {
                MarketEvent::Ticker(t) => t.last_price,
                MarketEvent::Trade(t) => t.price,
                MarketEvent::Depth(_) => continue,
            };
            let symbol = d.symbol.to_owned();
            let t = d.event_time_ms;
            let i = match anchors.iter().position(|a| a.0 == symbol) {
                Some(i) => i,
                None => {
                    anchors.push((symbol.clone(), price, i64::MIN / 2));
                    anchors.len() - 1
                }
            };
            if t - anchors[i].2 >= 5_000 {
                anchors[i].2 = t;
                let base = anchors[i].1;
                let (cb, kr) = if symbol == "BTCUSDT" {
                    (1.003, 0.9995)
                } else {
                    (0.9955, 0.995)
                };
                h.strategy()
                    .quotes()
                    .set(Exchange::Coinbase, &symbol, base * cb, t);
                h.strategy()
                    .quotes()
                    .set(Exchange::Kraken, &symbol, base * kr, t);
                for ex in [Exchange::Coinbase, Exchange::Kraken] {
                    h.strategy().quotes().set(ex, "USDTUSD", 1.0, t);
                }
            }
            signals.extend(h.feed(&symbol, t, d.event));
        }
        assert!(
            !signals.is_empty(),
            "injected quotes must trigger the strategy"
        );
        // what is published: the raw signals through the runner's per-symbol interval
        let interval = CrossExchangeSpread::min_signal_interval_ms(&h.params);
        let mut gates: std::collections::HashMap<String, strategy_sdk::Cooldown> =
            Default::default();
        let signals: Vec<_> = signals
            .into_iter()
            .filter(|s| {
                gates
                    .entry(s.symbol.clone())
                    .or_default()
                    .try_fire(s.event_time_ms, interval)
            })
            .collect();
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/cross_exchange_spread_injected.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            binance in 1e-6f64..1e7,
            cb in 1e-6f64..1e7,
            kr in 1e-6f64..1e7,
            age in 0i64..120_000,
        ) {
            let mut h = Harness::<CrossExchangeSpread>::new(CrossExchangeSpreadParams {
                persistent_spread_periods: 1,
                exchanges: vec![Exchange::Binance, Exchange::Coinbase, Exchange::Kraken],
                ..Default::default()
            });
            quote(&h, Exchange::Coinbase, cb, T0);
            quote(&h, Exchange::Kraken, kr, T0);
            for s in tick(&mut h, binance, T0 + age) {
                proptest::prop_assert!(age <= 60_000);
                proptest::prop_assert!(s.confidence == 0.75 || s.confidence == 0.85);
                proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                proptest::prop_assert!(s.quantity.is_some_and(|q| q.is_finite() && q > 0.0));
                proptest::prop_assert_eq!(s.indicators.len(), 5);
                let spread = s.indicators[0].1.as_f64().unwrap_or(f64::NAN);
                proptest::prop_assert!(spread.is_finite() && spread >= 0.5);
            }
        }
    }
}
