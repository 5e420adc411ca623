//! The trade momentum rules.

use std::collections::VecDeque;

use strategy_sdk::{
    Action, EventContext, MarketEvent, Signal, SignalSink, Strategy, StreamKind, Trade,
};

use crate::params::TradeMomentumParams;

/// Highest confidence the strategy reports.
pub const MAX_CONFIDENCE: f64 = 0.95;
/// Largest `momentum_window` the schema allows; the per-symbol buffer never grows past it.
pub const MAX_WINDOW: usize = 50;

/// The trade momentum strategy.
#[derive(Debug, Default)]
pub struct TradeMomentum;

/// One trade kept in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WindowTrade {
    time_ms: i64,
    price: f64,
    qty: f64,
    /// +1 when the buyer was the aggressor (`m` false), −1 when the seller was.
    side: f64,
}

/// Per-symbol state: the last `momentum_window` qualifying trades and the zone of the last score.
#[derive(Debug, Default, Clone)]
pub struct MomentumState {
    trades: VecDeque<WindowTrade>,
    zone: Option<Action>,
    /// Event time the current zone was entered (its signal).
    zone_since_ms: i64,
}

/// The three terms and the score of a full window, each in −1..+1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentumReading {
    /// Decay-weighted net price movement over total movement between consecutive trades.
    pub price_term: f64,
    /// Latest trade's quantity over the window's decay-weighted mean quantity (capped at 1), signed by its side.
    pub quantity_term: f64,
    /// Decay- and volume-weighted balance of aggressive buys (+) against aggressive sells (−).
    pub aggressor_term: f64,
    /// `price_weight × price_term + quantity_weight × quantity_term + maker_weight × aggressor_term`.
    pub score: f64,
    /// Number of trades in the window.
    pub trades: usize,
}

fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        0.0
    }
}

impl MomentumState {
    /// Adds a trade (already filtered) at event time `time_ms`, keeping at most `window` trades.
    fn push(&mut self, trade: WindowTrade, window: usize) {
        if self.trades.capacity() == 0 {
            self.trades.reserve_exact(MAX_WINDOW);
        }
        while self.trades.len() >= window.max(1) {
            self.trades.pop_front();
        }
        self.trades.push_back(trade);
    }

    /// Scores the window as seen at event time `now_ms`; `None` until it holds `momentum_window` trades.
    pub fn read(&self, now_ms: i64, p: &TradeMomentumParams) -> Option<MomentumReading> {
        let n = self.trades.len();
        if n < (p.momentum_window as usize).min(MAX_WINDOW) || n < 2 {
            return None;
        }
        let tau_ms = f64::from(p.time_decay_seconds.max(1)) * 1000.0;
        let weight = |t: &WindowTrade| (-((now_ms - t.time_ms).max(0) as f64) / tau_ms).exp();
        let (mut net_move, mut total_move) = (0.0, 0.0);
        let (mut w_sum, mut wq_sum, mut wqs_sum) = (0.0, 0.0, 0.0);
        let mut prev: Option<&WindowTrade> = None;
        for t in &self.trades {
            let w = weight(t);
            if let Some(prev) = prev {
                let change = (t.price - prev.price) / prev.price;
                net_move += w * change;
                total_move += w * change.abs();
            }
            w_sum += w;
            wq_sum += w * t.qty;
            wqs_sum += w * t.qty * t.side;
            prev = Some(t);
        }
        let last = self.trades.back()?;
        let price_term = if total_move > 0.0 {
            finite_or_zero(net_move / total_move)
        } else {
            0.0
        };
        let aggressor_term = if wq_sum > 0.0 {
            finite_or_zero(wqs_sum / wq_sum)
        } else {
            0.0
        };
        let mean_qty = if w_sum > 0.0 { wq_sum / w_sum } else { 0.0 };
        let quantity_term = if mean_qty > 0.0 {
            last.side * finite_or_zero((last.qty / mean_qty).min(1.0))
        } else {
            0.0
        };
        let score = p.price_weight * price_term.clamp(-1.0, 1.0)
            + p.quantity_weight * quantity_term.clamp(-1.0, 1.0)
            + p.maker_weight * aggressor_term.clamp(-1.0, 1.0);
        Some(MomentumReading {
            price_term,
            quantity_term,
            aggressor_term,
            score: finite_or_zero(score).clamp(-1.0, 1.0),
            trades: n,
        })
    }
}

/// Confidence: `base + (0.95 − base) × (|score| − t) / (1 − t)`, clamped to `base..0.95`, where `t` is the
/// threshold of the score's side (`buy_threshold` or `−sell_threshold`): `base_confidence` at the threshold, 0.95
/// at a unanimous score of ±1. With mirror-image thresholds (the defaults ±0.7) a buy and a sell of equal |score|
/// score the same.
pub fn confidence(score: f64, p: &TradeMomentumParams) -> f64 {
    let t = if score >= 0.0 {
        p.buy_threshold
    } else {
        -p.sell_threshold
    };
    let strength = if t < 1.0 {
        ((score.abs() - t) / (1.0 - t)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let base = p.base_confidence.min(MAX_CONFIDENCE);
    finite_or_zero(base + (MAX_CONFIDENCE - base) * strength).clamp(base, MAX_CONFIDENCE)
}

impl Strategy for TradeMomentum {
    type Params = TradeMomentumParams;
    type SymbolState = MomentumState;

    const ID: &'static str = "trade_momentum";
    const NAME: &'static str = "Trade Momentum";
    const DESCRIPTION: &'static str =
        "Tracks recent trade flow to identify momentum shifts in market direction";
    const CATEGORY: &'static str = "realtime_data";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Trade];

    fn create() -> Self {
        Self
    }

    fn min_signal_interval_ms(params: &TradeMomentumParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &TradeMomentumParams,
        state: &mut MomentumState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Trade(trade) = event else {
            return;
        };
        if !accepts(trade, p) {
            return;
        }
        state.push(
            WindowTrade {
                time_ms: ctx.event_time_ms,
                price: trade.price,
                qty: trade.qty,
                side: if trade.buyer_is_maker { -1.0 } else { 1.0 },
            },
            (p.momentum_window as usize).min(MAX_WINDOW),
        );
        let Some(r) = state.read(ctx.event_time_ms, p) else {
            return;
        };
        let zone = if r.score > p.buy_threshold {
            Some(Action::Buy)
        } else if r.score < p.sell_threshold {
            Some(Action::Sell)
        } else {
            None
        };
        // Re-arm once the score has crossed back through zero (momentum spent or reversed), or once the zone is
        // older than time_decay_seconds of event time (momentum that lasts that long is a new episode).
        let decay_ms = i64::from(p.time_decay_seconds) * 1000;
        state.zone = match state.zone {
            Some(Action::Buy) if r.score <= 0.0 => None,
            Some(Action::Sell) if r.score >= 0.0 => None,
            Some(_) if ctx.event_time_ms.saturating_sub(state.zone_since_ms) >= decay_ms => None,
            last => last,
        };
        let Some(action) = zone.filter(|z| state.zone != Some(*z)) else {
            return;
        };
        state.zone = Some(action);
        state.zone_since_ms = ctx.event_time_ms;
        sink.emit(
            Signal::new(
                Self::ID,
                Self::NAME,
                ctx,
                action,
                confidence(r.score, p),
                trade.price,
            )
            .indicator("momentum_score", r.score)
            .indicator("price_term", r.price_term)
            .indicator("quantity_term", r.quantity_term)
            .indicator("aggressor_term", r.aggressor_term)
            .meta("trade_id", trade.trade_id)
            .meta("window_trades", r.trades)
            .meta("time_decay_seconds", p.time_decay_seconds)
            .meta(
                "aggressor",
                if trade.buyer_is_maker { "sell" } else { "buy" },
            ),
        );
    }
}

/// Whether a trade enters the window: a positive finite price and a finite quantity of at least `min_quantity`.
fn accepts(trade: &Trade, p: &TradeMomentumParams) -> bool {
    trade.price.is_finite()
        && trade.price > 0.0
        && trade.qty.is_finite()
        && trade.qty >= p.min_quantity
        && trade.qty > 0.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    const SEC: i64 = 1000;

    fn window5() -> TradeMomentumParams {
        TradeMomentumParams {
            momentum_window: 5,
            ..Default::default()
        }
    }

    /// Feeds `(price, qty, aggressive_buy)` trades, all at event time `t0` (no decay between them); returns every
    /// signal.
    fn feed(h: &mut Harness<TradeMomentum>, t0: i64, trades: &[(f64, f64, bool)]) -> Vec<Signal> {
        let mut out = Vec::new();
        for &(price, qty, buy) in trades {
            let trade = testing::trade(price, qty, !buy, t0);
            out.extend(h.feed("BTCUSDT", t0, MarketEvent::Trade(&trade)));
        }
        out
    }

    fn state_of(p: &TradeMomentumParams, trades: &[(i64, f64, f64, bool)]) -> MomentumState {
        let mut s = MomentumState::default();
        for &(t, price, qty, buy) in trades {
            s.push(
                WindowTrade {
                    time_ms: t,
                    price,
                    qty,
                    side: if buy { 1.0 } else { -1.0 },
                },
                p.momentum_window as usize,
            );
        }
        s
    }

    #[test]
    fn worked_example() {
        // prices flat then one up-tick: price term +1; volume 4 bought vs 1 sold of 6 traded... (1+1-1+1+2)/6;
        // last trade 2 vs mean 1.2: quantity term capped at +1.
        let p = window5();
        let s = state_of(
            &p,
            &[
                (0, 100.0, 1.0, true),
                (0, 100.0, 1.0, true),
                (0, 100.0, 1.0, false),
                (0, 100.0, 1.0, true),
                (0, 101.0, 2.0, true),
            ],
        );
        let r = s.read(0, &p).unwrap();
        assert_eq!(r.price_term, 1.0);
        assert!((r.aggressor_term - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.quantity_term, 1.0);
        assert!((r.score - 0.9).abs() < 1e-12);
        assert!((confidence(r.score, &p) - (0.5 + 0.45 * 2.0 / 3.0)).abs() < 1e-12);

        let mut h = Harness::<TradeMomentum>::new(p);
        let sig = feed(
            &mut h,
            0,
            &[
                (100.0, 1.0, true),
                (100.0, 1.0, true),
                (100.0, 1.0, false),
                (100.0, 1.0, true),
                (101.0, 2.0, true),
            ],
        );
        assert_eq!(sig.len(), 1);
        let s = &sig[0];
        assert_eq!(s.action, Action::Buy);
        assert_eq!(s.price, 101.0);
        assert!((s.confidence - (0.5 + 0.45 * 2.0 / 3.0)).abs() < 1e-12);
        assert_eq!(s.indicators.len(), 4);
        assert_eq!(s.indicators[0].0, "momentum_score");
    }

    #[test]
    fn each_weight_changes_the_score() {
        // worked_example's window: price term +1, quantity term +1, aggressor term 4/6. The weights are only valid
        // together (they sum to 1), so a one-parameter grid on the recording cannot move them; this case can.
        let trades = [
            (0, 100.0, 1.0, true),
            (0, 100.0, 1.0, true),
            (0, 100.0, 1.0, false),
            (0, 100.0, 1.0, true),
            (0, 101.0, 2.0, true),
        ];
        let score = |pw: f64, qw: f64, mw: f64| {
            let p = TradeMomentumParams {
                price_weight: pw,
                quantity_weight: qw,
                maker_weight: mw,
                ..window5()
            };
            state_of(&p, &trades).read(0, &p).unwrap().score
        };
        assert!((score(0.4, 0.3, 0.3) - 0.9).abs() < 1e-12);
        assert!(
            (score(0.0, 0.0, 1.0) - 4.0 / 6.0).abs() < 1e-12,
            "maker_weight"
        );
        assert!(
            (score(0.5, 0.0, 0.5) - (0.5 + 2.0 / 6.0)).abs() < 1e-12,
            "price_weight"
        );
        assert!(
            (score(0.0, 0.5, 0.5) - (0.5 + 2.0 / 6.0)).abs() < 1e-12,
            "quantity_weight"
        );
    }

    #[test]
    fn price_term_is_net_over_total_movement() {
        let p = window5();
        // +1 %, -1 %, +1 %, flat: net 1 % of 3 % total (decay-free: same timestamps).
        let s = state_of(
            &p,
            &[
                (0, 100.0, 1.0, true),
                (0, 101.0, 1.0, true),
                (0, 99.99, 1.0, true),
                (0, 100.9899, 1.0, true),
                (0, 100.9899, 1.0, true),
            ],
        );
        let r = s.read(0, &p).unwrap();
        assert!((r.price_term - 1.0 / 3.0).abs() < 1e-9, "{}", r.price_term);
        // equal prices: no movement, term 0 (no NaN).
        let s = state_of(&p, &[(0, 100.0, 1.0, true); 5]);
        assert_eq!(s.read(0, &p).unwrap().price_term, 0.0);
    }

    fn edge_trades(last_qty: f64) -> [(f64, f64, bool); 5] {
        // price term +1, quantity term +1, aggressor term 0 when last_qty = 1: score = 0.4 + 0.3 = 0.7.
        [
            (100.0, 1.0, false),
            (100.0, 1.0, false),
            (100.0, 0.5, true),
            (100.0, 0.5, true),
            (101.0, last_qty, true),
        ]
    }

    fn mirrored(t: [(f64, f64, bool); 5]) -> [(f64, f64, bool); 5] {
        t.map(|(p, q, b)| (200.0 - p, q, !b))
    }

    #[test]
    fn thresholds_are_strict() {
        for (last, fires) in [(0.99, false), (1.0, false), (1.01, true)] {
            let mut h = Harness::<TradeMomentum>::new(window5());
            let s = feed(&mut h, 0, &edge_trades(last));
            assert_eq!(s.len(), usize::from(fires), "buy side, last qty {last}");
            if fires {
                assert_eq!(s[0].action, Action::Buy);
            }
            let mut h = Harness::<TradeMomentum>::new(window5());
            let s = feed(&mut h, 0, &mirrored(edge_trades(last)));
            assert_eq!(s.len(), usize::from(fires), "sell side, last qty {last}");
            if fires {
                assert_eq!(s[0].action, Action::Sell);
                assert_eq!(s[0].price, 99.0);
            }
        }
    }

    #[test]
    fn needs_a_full_window_of_qualifying_trades() {
        let mut h = Harness::<TradeMomentum>::new(window5());
        // four strong buys: window not full yet.
        let ups = [
            (100.0, 1.0, true),
            (101.0, 1.0, true),
            (102.0, 1.0, true),
            (103.0, 1.0, true),
        ];
        assert!(feed(&mut h, 0, &ups).is_empty());
        // a trade below min_quantity (0.001) is ignored entirely.
        assert!(feed(&mut h, 10, &[(104.0, 0.0009, true)]).is_empty());
        // exactly min_quantity counts: the window fills and fires.
        assert_eq!(feed(&mut h, 20, &[(104.0, 0.001, true)]).len(), 1);
    }

    #[test]
    fn only_the_last_window_counts() {
        let p = window5();
        let mut trades: Vec<(i64, f64, f64, bool)> =
            (0..5).map(|i| (0, 100.0 - i as f64, 1.0, false)).collect();
        trades.extend((0..5).map(|i| (0, 100.0 + i as f64, 1.0, true)));
        let r = state_of(&p, &trades).read(0, &p).unwrap();
        assert_eq!(r.trades, 5);
        assert_eq!(r.aggressor_term, 1.0);
        assert_eq!(r.price_term, 1.0);
    }

    #[test]
    fn older_trades_decay_on_event_time() {
        let p = window5();
        // three sells at t = 0, two buys at t = 300 s; read at 300 s with a 300 s decay: sells weigh e^-1.
        let s = state_of(
            &p,
            &[
                (0, 100.0, 1.0, false),
                (0, 100.0, 1.0, false),
                (0, 100.0, 1.0, false),
                (300 * SEC, 100.0, 1.0, true),
                (300 * SEC, 100.0, 1.0, true),
            ],
        );
        let w = (-1.0f64).exp();
        let expected = (2.0 - 3.0 * w) / (2.0 + 3.0 * w);
        let r = s.read(300 * SEC, &p).unwrap();
        assert!((r.aggressor_term - expected).abs() < 1e-12);
        // read before any time has passed (no decay): the three sells dominate, (2 - 3) / 5.
        let r = s.read(0, &p).unwrap();
        assert!((r.aggressor_term + 0.2).abs() < 1e-12);
        // a shorter decay makes the old sells matter even less.
        let short = TradeMomentumParams {
            time_decay_seconds: 60,
            ..p
        };
        assert!(s.read(300 * SEC, &short).unwrap().aggressor_term > expected);
    }

    #[test]
    fn fires_once_until_the_score_crosses_zero() {
        let mut h = Harness::<TradeMomentum>::new(window5());
        let ups = [
            (100.0, 1.0, true),
            (101.0, 1.0, true),
            (102.0, 1.0, true),
            (103.0, 1.0, true),
            (104.0, 1.0, true),
        ];
        assert_eq!(feed(&mut h, 0, &ups).len(), 1);
        // still strongly up: no repeat.
        assert!(feed(&mut h, 100, &[(105.0, 1.0, true), (106.0, 1.0, true)]).is_empty());
        // a small sell: score dips below the threshold but stays positive; back up: still no repeat.
        assert!(feed(&mut h, 200, &[(106.0, 0.5, false)]).is_empty());
        assert!(feed(&mut h, 300, &[(107.0, 1.0, true)]).is_empty());
        // selling pressure drives the score through zero (re-arms) and into the sell zone (fires at once).
        let downs = [
            (106.0, 1.0, false),
            (105.0, 1.0, false),
            (104.0, 1.0, false),
            (103.0, 1.0, false),
            (102.0, 1.0, false),
        ];
        let s = feed(&mut h, 400, &downs);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Sell);
        // flat, balanced tape: score 0 re-arms the sell side; more selling fires again.
        let flat = [
            (102.0, 1.0, true),
            (102.0, 1.0, false),
            (102.0, 1.0, true),
            (102.0, 1.0, false),
            (102.0, 1.0, true),
        ];
        assert!(feed(&mut h, 500, &flat).is_empty());
        assert_eq!(
            feed(&mut h, 600, &downs.map(|(p, q, b)| (p - 10.0, q, b))).len(),
            1
        );
    }

    #[test]
    fn time_decay_seconds_ends_a_momentum_episode() {
        // A steady uptrend that never crosses zero: one buy per episode; the episode ends after
        // time_decay_seconds of event time, so a 60 s decay signals again at 60 s, a 600 s decay does not.
        let ups = |base: f64| {
            [
                (base, 1.0, true),
                (base + 1.0, 1.0, true),
                (base + 2.0, 1.0, true),
                (base + 3.0, 1.0, true),
                (base + 4.0, 1.0, true),
            ]
        };
        let count = |decay: u32| {
            let mut h = Harness::<TradeMomentum>::new(TradeMomentumParams {
                time_decay_seconds: decay,
                ..window5()
            });
            let mut n = 0;
            for (i, t) in [0, 30, 59, 60, 90, 119, 120].iter().enumerate() {
                n += feed(&mut h, t * SEC, &ups(100.0 + 5.0 * i as f64)).len();
            }
            n
        };
        assert_eq!(count(60), 3, "episodes start at 0, 60 and 120 s");
        assert_eq!(count(600), 1, "one episode");
    }

    #[test]
    fn equal_buys_and_sells_score_the_same() {
        let p = TradeMomentumParams::default();
        for score in [0.71, 0.8, 0.9, 1.0] {
            assert!((confidence(score, &p) - confidence(-score, &p)).abs() < 1e-12);
        }
        assert!((confidence(0.7, &p) - p.base_confidence).abs() < 1e-12);
        assert!((confidence(1.0, &p) - MAX_CONFIDENCE).abs() < 1e-12);
    }

    #[test]
    fn bad_trades_are_ignored() {
        let mut h = Harness::<TradeMomentum>::new(window5());
        let bad = [
            (0.0, 1.0, true),
            (f64::NAN, 1.0, true),
            (100.0, f64::NAN, true),
            (100.0, f64::INFINITY, true),
            (f64::INFINITY, 1.0, true),
            (-5.0, 1.0, true),
            (100.0, 0.0, true),
        ];
        assert!(feed(&mut h, 0, &bad).is_empty());
        // huge but finite values stay finite.
        let huge = [
            (1e300, 1e300, true),
            (1e301, 1e300, true),
            (1e302, 1e-3, false),
            (1e300, 1e300, true),
            (1e303, 1e300, true),
        ];
        for s in feed(&mut h, 10, &huge) {
            assert!(s.confidence.is_finite());
        }
    }

    #[test]
    fn cross_field_rules() {
        assert!(TradeMomentumParams::default().validate().is_ok());
        let bad = TradeMomentumParams {
            maker_weight: 0.4,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err()[0].field, "/maker_weight");
        let ok = TradeMomentumParams {
            price_weight: 1.0,
            quantity_weight: 0.0,
            maker_weight: 0.0,
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn golden_signals_on_the_recording() {
        let lines = testing::bundled_recording();
        let mut h = Harness::<TradeMomentum>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        assert!(
            !signals.is_empty(),
            "the recording must trigger the strategy"
        );
        for sym in ["BTCUSDT", "ETHUSDT"] {
            for action in [Action::Buy, Action::Sell] {
                assert!(
                    signals
                        .iter()
                        .any(|s| s.symbol == sym && s.action == action),
                    "{sym} {action:?}"
                );
            }
        }
        // the cooldown holds: far fewer signals than trades (about 9 700 BTC and 6 100 ETH trades).
        for sym in ["BTCUSDT", "ETHUSDT"] {
            let actions: Vec<_> = signals
                .iter()
                .filter(|s| s.symbol == sym)
                .map(|s| s.action)
                .collect();
            assert!(actions.len() < 200, "{sym}: {} signals", actions.len());
        }
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/trade_momentum.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            trades in proptest::collection::vec((1.0f64..1e6, 0.0f64..1e3, proptest::bool::ANY, 0i64..5_000), 0..80),
            window in 5u32..=50,
            decay in 60u32..=600,
        ) {
            let p = TradeMomentumParams { momentum_window: window, time_decay_seconds: decay, ..Default::default() };
            let mut h = Harness::<TradeMomentum>::new(p.clone());
            let mut t = 0i64;
            for (price, qty, m, dt) in trades {
                t += dt;
                let trade = testing::trade(price, qty, m, t);
                for s in h.feed("ETHUSDT", t, MarketEvent::Trade(&trade)) {
                    proptest::prop_assert!(s.confidence >= p.base_confidence && s.confidence <= MAX_CONFIDENCE);
                    proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                    proptest::prop_assert_eq!(s.indicators.len(), 4);
                    for (_, v) in &s.indicators {
                        let x = v.as_f64().unwrap();
                        proptest::prop_assert!((-1.0..=1.0).contains(&x));
                    }
                }
            }
        }
    }
}
