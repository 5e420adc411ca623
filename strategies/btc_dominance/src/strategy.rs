//! The Bitcoin dominance rules.

use std::collections::VecDeque;

use strategy_sdk::serde_json::{json, Value};
use strategy_sdk::{
    Action, EventContext, MarketEvent, Signal, SignalSink, Strategy, StreamKind, Ticker,
};

use crate::params::BtcDominanceParams;

/// The symbol whose dominance is measured and on which every signal is emitted.
pub const BTC: &str = "BTCUSDT";
/// The altcoins of the basket, in bit order of [`DominanceReading::basket`]. ETHUSDT is required.
pub const ALTS: [&str; 2] = ["ETHUSDT", "BNBUSDT"];
/// Value of the `dominance_source` metadata: this is a proxy, not market-cap dominance.
pub const DOMINANCE_SOURCE: &str = "proxy:quote_volume_share(BTCUSDT/(BTCUSDT+ETHUSDT+BNBUSDT))";
/// An altcoin ticker older than this (event time, relative to the BTCUSDT ticker) is left out of the basket.
pub const ALT_MAX_AGE_MS: i64 = 5 * 60_000;
/// The dominance history keeps one sample per this much event time.
pub const SAMPLE_INTERVAL_MS: i64 = 60_000;
/// The trend compares the current dominance with the sample at least this old.
pub const TREND_LOOKBACK_MS: i64 = 2 * 60_000;
/// A trend is rising / falling when dominance moved more than this many percentage points over the lookback.
pub const TREND_BAND: f64 = 1.0;

const MS_PER_HOUR: i64 = 3_600_000;

/// Latest 24 h quote volume of one altcoin (shared across symbols; written on that altcoin's tickers).
#[derive(Debug, Clone, Copy)]
struct AltSlot {
    quote_volume: f64,
    time_ms: i64,
}

impl AltSlot {
    const fn new() -> Self {
        Self {
            quote_volume: 0.0,
            time_ms: i64::MIN,
        }
    }

    fn store(&mut self, quote_volume: f64, time_ms: i64) {
        self.quote_volume = quote_volume;
        self.time_ms = time_ms;
    }

    /// The quote volume when it is fresh relative to `now_ms`.
    fn fresh(&self, now_ms: i64) -> Option<f64> {
        if self.time_ms == i64::MIN || now_ms.saturating_sub(self.time_ms) > ALT_MAX_AGE_MS {
            return None;
        }
        Some(self.quote_volume)
    }
}

/// The Bitcoin dominance strategy. It holds the altcoins' latest quote volumes, which every symbol's events
/// share (the per-symbol state only holds BTCUSDT's dominance history).
#[derive(Debug)]
pub struct BtcDominance {
    alts: [AltSlot; 2],
}

/// Short-term direction of the dominance proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Up more than [`TREND_BAND`] points over [`TREND_LOOKBACK_MS`].
    Rising,
    /// Down more than [`TREND_BAND`] points.
    Falling,
    /// Within the band.
    Stable,
    /// Not enough comparable history.
    Unknown,
}

impl Trend {
    /// The label used in metadata.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trend::Rising => "rising",
            Trend::Falling => "falling",
            Trend::Stable => "stable",
            Trend::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    time_ms: i64,
    dominance: f64,
    basket: u8,
}

/// Per-symbol state (used for BTCUSDT only): one dominance sample per minute over `window_hours`, plus the
/// reference sample just before the window (the minimum interval between signals is the host runner's).
#[derive(Debug, Default, Clone)]
pub struct DominanceState {
    history: VecDeque<Sample>,
}

/// The dominance proxy at one BTCUSDT ticker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DominanceReading {
    /// BTC's share of the basket's 24 h quote volume, in percent (0–100).
    pub dominance: f64,
    /// BTCUSDT 24 h quote volume.
    pub btc_quote_volume: f64,
    /// Sum of the included altcoins' 24 h quote volumes.
    pub alt_quote_volume: f64,
    /// Bit i set when `ALTS[i]` is included.
    pub basket: u8,
}

impl DominanceReading {
    /// Names of the included altcoins.
    pub fn alts_included(&self) -> Vec<&'static str> {
        ALTS.iter()
            .enumerate()
            .filter(|(i, _)| self.basket & (1 << i) != 0)
            .map(|(_, s)| *s)
            .collect()
    }
}

fn usable(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

impl BtcDominance {
    /// The proxy for a BTCUSDT ticker at `now_ms`: `None` without a usable BTC quote volume or a fresh ETHUSDT.
    pub fn read(&self, btc: &Ticker, now_ms: i64) -> Option<DominanceReading> {
        if !usable(btc.quote_volume) {
            return None;
        }
        let mut basket = 0u8;
        let mut alt_quote_volume = 0.0;
        for (i, slot) in self.alts.iter().enumerate() {
            if let Some(q) = slot.fresh(now_ms).filter(|q| usable(*q)) {
                basket |= 1 << i;
                alt_quote_volume += q;
            }
        }
        if basket & 1 == 0 {
            return None;
        }
        let dominance = btc.quote_volume / (btc.quote_volume + alt_quote_volume) * 100.0;
        dominance.is_finite().then_some(DominanceReading {
            dominance,
            btc_quote_volume: btc.quote_volume,
            alt_quote_volume,
            basket,
        })
    }
}

impl DominanceState {
    /// Records the reading (one sample per [`SAMPLE_INTERVAL_MS`]) and drops history older than the window,
    /// keeping the newest sample at or before the window's start as the change reference.
    fn record(&mut self, r: &DominanceReading, now_ms: i64, window_ms: i64) {
        let due = self
            .history
            .back()
            .is_none_or(|s| now_ms - s.time_ms >= SAMPLE_INTERVAL_MS);
        if due {
            if self.history.capacity() == 0 {
                self.history
                    .reserve_exact((window_ms / SAMPLE_INTERVAL_MS) as usize + 4);
            }
            self.history.push_back(Sample {
                time_ms: now_ms,
                dominance: r.dominance,
                basket: r.basket,
            });
        }
        let cutoff = now_ms - window_ms;
        while self.history.len() >= 2 && self.history[1].time_ms <= cutoff {
            self.history.pop_front();
        }
    }

    /// Trend: the current dominance against the newest sample at least [`TREND_LOOKBACK_MS`] old, with the same
    /// basket.
    pub fn trend(&self, r: &DominanceReading, now_ms: i64) -> Trend {
        let reference = self
            .history
            .iter()
            .rev()
            .find(|s| s.time_ms <= now_ms - TREND_LOOKBACK_MS);
        match reference {
            Some(s) if s.basket == r.basket => {
                if r.dominance > s.dominance + TREND_BAND {
                    Trend::Rising
                } else if r.dominance < s.dominance - TREND_BAND {
                    Trend::Falling
                } else {
                    Trend::Stable
                }
            }
            _ => Trend::Unknown,
        }
    }

    /// Change over the window in percentage points: the current dominance minus the newest sample at or before
    /// `now − window` with the same basket; `None` until the history covers the whole window.
    pub fn change(&self, r: &DominanceReading, now_ms: i64, window_ms: i64) -> Option<f64> {
        self.history
            .front()
            .filter(|s| s.time_ms <= now_ms - window_ms && s.basket == r.basket)
            .map(|s| r.dominance - s.dominance)
    }
}

/// What the rules decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Buy or sell BTCUSDT.
    pub action: Action,
    /// Confidence.
    pub confidence: f64,
    /// `dominance_rotation` or `dominance_momentum`.
    pub strategy_type: &'static str,
    /// `to_btc` / `to_alts` for rotations.
    pub rotation: Option<&'static str>,
}

/// The original's rules: above `high_threshold` and (rising or change > `change_threshold`) → buy BTC;
/// below `low_threshold` and (falling or change < −`change_threshold`) → sell BTC; between them, |change| >
/// `change_threshold` → momentum signal in the change's direction with confidence
/// `min(momentum_confidence, |change| / 10)`.
pub fn decide(
    dominance: f64,
    trend: Trend,
    change: f64,
    p: &BtcDominanceParams,
) -> Option<Decision> {
    if dominance > p.high_threshold {
        (trend == Trend::Rising || change > p.change_threshold).then_some(Decision {
            action: Action::Buy,
            confidence: p.base_confidence_high,
            strategy_type: "dominance_rotation",
            rotation: Some("to_btc"),
        })
    } else if dominance < p.low_threshold {
        (trend == Trend::Falling || change < -p.change_threshold).then_some(Decision {
            action: Action::Sell,
            confidence: p.base_confidence_low,
            strategy_type: "dominance_rotation",
            rotation: Some("to_alts"),
        })
    } else if change.abs() > p.change_threshold {
        Some(Decision {
            action: if change > 0.0 {
                Action::Buy
            } else {
                Action::Sell
            },
            confidence: p.momentum_confidence.min(change.abs() / 10.0),
            strategy_type: "dominance_momentum",
            rotation: None,
        })
    } else {
        None
    }
}

impl Strategy for BtcDominance {
    type Params = BtcDominanceParams;
    type SymbolState = DominanceState;

    const ID: &'static str = "btc_dominance";
    const NAME: &'static str = "Bitcoin Dominance";
    const DESCRIPTION: &'static str =
        "Monitors Bitcoin market dominance to generate rotation signals between BTC and altcoins";
    const CATEGORY: &'static str = "market_logic";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Ticker];
    const CROSS_SYMBOL: bool = true;

    fn create() -> Self {
        Self {
            alts: [AltSlot::new(), AltSlot::new()],
        }
    }

    fn min_signal_interval_ms(params: &BtcDominanceParams) -> i64 {
        i64::from(params.min_signal_interval) * 1000
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &BtcDominanceParams,
        state: &mut DominanceState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Ticker(ticker) = event else {
            return;
        };
        if let Some(i) = ALTS.iter().position(|s| *s == ctx.symbol) {
            if usable(ticker.quote_volume) {
                self.alts[i].store(ticker.quote_volume, ctx.event_time_ms);
            }
            return;
        }
        if ctx.symbol != BTC || !usable(ticker.last_price) {
            return;
        }
        let now = ctx.event_time_ms;
        let Some(r) = self.read(ticker, now) else {
            return;
        };
        let window_ms = i64::from(p.window_hours) * MS_PER_HOUR;
        state.record(&r, now, window_ms);
        let trend = state.trend(&r, now);
        let change = state.change(&r, now, window_ms);
        let Some(d) = decide(r.dominance, trend, change.unwrap_or(0.0), p) else {
            return;
        };
        let mut signal = Signal::new(
            Self::ID,
            Self::NAME,
            ctx,
            d.action,
            d.confidence,
            ticker.last_price,
        )
        .indicator("dominance", r.dominance)
        .indicator("dominance_change", change.unwrap_or(0.0))
        .indicator("btc_quote_volume", r.btc_quote_volume)
        .indicator("alt_quote_volume", r.alt_quote_volume)
        .meta("dominance_source", DOMINANCE_SOURCE)
        .meta("alts_included", json!(r.alts_included()))
        .meta("trend", trend.as_str())
        .meta("change_available", change.is_some())
        .meta("change_window_hours", p.window_hours)
        .meta("strategy_type", d.strategy_type);
        if let Some(rotation) = d.rotation {
            signal = signal.meta("rotation_direction", rotation);
        }
        if d.action == Action::Sell && d.rotation.is_some() {
            signal = signal.meta("suggested_alts", Value::from(ALTS.to_vec()));
        }
        sink.emit(signal);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn tk(price: f64, quote_volume: f64) -> Ticker {
        Ticker {
            last_price: price,
            quote_volume,
            ..Ticker::default()
        }
    }

    fn feed(h: &mut Harness<BtcDominance>, symbol: &str, t: i64, quote_volume: f64) -> Vec<Signal> {
        let price = if symbol == BTC { 60_000.0 } else { 3_000.0 };
        h.feed(symbol, t, MarketEvent::Ticker(&tk(price, quote_volume)))
    }

    /// One ETHUSDT then one BTCUSDT ticker at `t`, BTC's share of the pair = `dominance` percent.
    fn pair(h: &mut Harness<BtcDominance>, t: i64, dominance: f64) -> Vec<Signal> {
        assert!(feed(h, "ETHUSDT", t, 100.0 - dominance).is_empty());
        feed(h, BTC, t, dominance)
    }

    fn meta<'a>(s: &'a Signal, k: &str) -> &'a Value {
        &s.metadata.iter().find(|(n, _)| *n == k).unwrap().1
    }

    #[test]
    fn proxy_is_btc_share_of_basket_quote_volume() {
        let mut d = BtcDominance::create();
        let btc = tk(60_000.0, 700.0);
        assert!(d.read(&btc, 0).is_none(), "no altcoin yet");
        d.alts[1].store(100.0, 0);
        assert!(d.read(&btc, 0).is_none(), "ETHUSDT is required");
        d.alts[0].store(200.0, 0);
        let r = d.read(&btc, 0).unwrap();
        assert!((r.dominance - 70.0).abs() < 1e-12);
        assert_eq!(r.basket, 0b11);
        assert_eq!(r.alts_included(), vec!["ETHUSDT", "BNBUSDT"]);
        // BNB stale (just over 5 min), ETH fresh (exactly 5 min): BNB leaves the basket.
        d.alts[0].store(200.0, 1);
        let r = d.read(&btc, ALT_MAX_AGE_MS + 1).unwrap();
        assert_eq!(r.alts_included(), vec!["ETHUSDT"]);
        assert!((r.dominance - 700.0 / 9.0).abs() < 1e-12);
        assert!(d.read(&btc, ALT_MAX_AGE_MS + 2).is_none(), "ETH stale");
        assert!(d.read(&tk(60_000.0, 0.0), 1).is_none());
        assert!(d.read(&tk(60_000.0, f64::NAN), 1).is_none());
    }

    #[test]
    fn parameters_change_generated_cases() {
        // The bundled recording reaches only high_threshold; each other rule parameter changes these cases.
        use Trend::*;
        let d = BtcDominanceParams::default();
        let with = |f: &dyn Fn(&mut BtcDominanceParams)| {
            let mut p = d.clone();
            f(&mut p);
            p
        };
        let action = |x: Option<Decision>| x.map(|x| x.action);
        let conf = |x: Option<Decision>| x.map(|x| x.confidence);
        assert_eq!(action(decide(39.0, Falling, 0.0, &d)), Some(Action::Sell));
        let p = with(&|p| p.low_threshold = 35.0);
        assert_eq!(
            action(decide(39.0, Falling, 0.0, &p)),
            None,
            "low_threshold"
        );
        assert!(decide(55.0, Stable, 6.0, &d).is_some());
        let p = with(&|p| p.change_threshold = 10.0);
        assert!(decide(55.0, Stable, 6.0, &p).is_none(), "change_threshold");
        let p = with(&|p| p.base_confidence_high = 0.9);
        assert_eq!(
            conf(decide(70.0001, Rising, 0.0, &p)),
            Some(0.9),
            "base_confidence_high"
        );
        let p = with(&|p| p.base_confidence_low = 0.6);
        assert_eq!(
            conf(decide(39.9999, Falling, 0.0, &p)),
            Some(0.6),
            "base_confidence_low"
        );
        let p = with(&|p| p.momentum_confidence = 0.5);
        assert_eq!(
            conf(decide(55.0, Stable, -8.0, &p)),
            Some(0.5),
            "momentum_confidence"
        );
    }

    #[test]
    fn rules_at_their_edges() {
        let p = BtcDominanceParams::default();
        use Trend::*;
        assert_eq!(decide(70.0, Rising, 0.0, &p), None, "not above high");
        let d = decide(70.0001, Rising, 0.0, &p).unwrap();
        assert_eq!(
            (d.action, d.confidence, d.rotation),
            (Action::Buy, 0.80, Some("to_btc"))
        );
        assert_eq!(decide(75.0, Stable, 5.0, &p), None);
        assert_eq!(
            decide(75.0, Stable, 5.0001, &p).unwrap().action,
            Action::Buy
        );
        assert_eq!(
            decide(75.0, Falling, -20.0, &p),
            None,
            "high but falling: nothing"
        );
        assert_eq!(decide(40.0, Falling, 0.0, &p), None, "not below low");
        let d = decide(39.9999, Falling, 0.0, &p).unwrap();
        assert_eq!(
            (d.action, d.confidence, d.rotation),
            (Action::Sell, 0.75, Some("to_alts"))
        );
        assert_eq!(decide(35.0, Unknown, -5.0, &p), None);
        assert_eq!(
            decide(35.0, Unknown, -5.0001, &p).unwrap().action,
            Action::Sell
        );
        // between the thresholds: momentum, confidence min(0.7, |change| / 10).
        assert_eq!(decide(55.0, Rising, 5.0, &p), None);
        let d = decide(55.0, Stable, 6.0, &p).unwrap();
        assert_eq!(
            (d.action, d.strategy_type, d.rotation),
            (Action::Buy, "dominance_momentum", None)
        );
        assert!((d.confidence - 0.6).abs() < 1e-12);
        let d = decide(55.0, Stable, -8.0, &p).unwrap();
        assert_eq!(d.action, Action::Sell);
        assert!((d.confidence - 0.70).abs() < 1e-12);
    }

    #[test]
    fn rotation_to_btc_needs_two_minutes_of_trend() {
        let mut h = Harness::<BtcDominance>::default();
        assert!(pair(&mut h, 0, 68.0).is_empty());
        // one minute later: above 70 and up 3 points, but no sample two minutes old yet.
        assert!(pair(&mut h, MIN, 71.0).is_empty());
        assert!(pair(&mut h, 2 * MIN - 1, 71.0).is_empty());
        let s = pair(&mut h, 2 * MIN, 71.0);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(
            (s.symbol.as_str(), s.action, s.confidence),
            (BTC, Action::Buy, 0.80)
        );
        assert_eq!(s.price, 60_000.0);
        assert_eq!(meta(s, "trend"), "rising");
        assert_eq!(meta(s, "rotation_direction"), "to_btc");
        assert!(meta(s, "dominance_source")
            .as_str()
            .unwrap()
            .starts_with("proxy:"));
        assert_eq!(meta(s, "change_available"), false);
    }

    #[test]
    fn trend_band_is_one_point() {
        let mut h = Harness::<BtcDominance>::default();
        pair(&mut h, 0, 71.0);
        pair(&mut h, MIN, 71.5);
        assert!(
            pair(&mut h, 2 * MIN, 72.0).is_empty(),
            "exactly +1 point is stable"
        );
        assert_eq!(
            pair(&mut h, 3 * MIN, 72.6).len(),
            1,
            "+1.1 over two minutes"
        );
    }

    #[test]
    fn rotation_to_alts_and_the_signal_interval() {
        let mut h = Harness::<BtcDominance>::default();
        pair(&mut h, 0, 42.0);
        pair(&mut h, MIN, 40.0);
        let s = pair(&mut h, 2 * MIN, 39.0);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].action, s[0].confidence), (Action::Sell, 0.75));
        assert_eq!(
            meta(&s[0], "suggested_alts"),
            &json!(["ETHUSDT", "BNBUSDT"])
        );
        // still falling: the strategy reports it again (the 4 h min_signal_interval is the SDK runner's).
        assert_eq!(pair(&mut h, 3 * MIN, 38.0).len(), 1);
        assert_eq!(
            BtcDominance::min_signal_interval_ms(&BtcDominanceParams::default()),
            4 * HOUR
        );
    }

    #[test]
    fn momentum_needs_a_full_window_of_history() {
        let p = BtcDominanceParams {
            window_hours: 12,
            ..Default::default()
        };
        let mut h = Harness::<BtcDominance>::new(p);
        let mut t = 0;
        while t < 12 * HOUR - MIN {
            assert!(pair(&mut h, t, 55.0).is_empty());
            t += MIN;
        }
        // 11 h 59 min of history: a +6 point jump is not a window change yet (and 61 < 70).
        assert!(pair(&mut h, t, 61.0).is_empty());
        pair(&mut h, t + 30_000, 55.0);
        // a full 12 h of history: +6 points over the window → momentum buy, confidence 0.6.
        let s = pair(&mut h, 12 * HOUR, 61.0);
        assert_eq!(s.len(), 1);
        assert_eq!(meta(&s[0], "strategy_type"), "dominance_momentum");
        assert_eq!(meta(&s[0], "change_available"), true);
        assert!((s[0].confidence - 0.6).abs() < 1e-9);
    }

    #[test]
    fn history_is_bounded_by_the_window() {
        let mut st = DominanceState::default();
        let r = DominanceReading {
            dominance: 60.0,
            btc_quote_volume: 60.0,
            alt_quote_volume: 40.0,
            basket: 1,
        };
        let window = 12 * HOUR;
        for i in 0..(30 * 60 * 4) {
            st.record(&r, i * 15_000, window);
        }
        assert!(st.history.len() <= (window / SAMPLE_INTERVAL_MS) as usize + 2);
        assert!(st.history.capacity() <= 2 * ((window / SAMPLE_INTERVAL_MS) as usize + 4));
        assert!(st.change(&r, 30 * HOUR - 15_000, window).is_some());
    }

    #[test]
    fn a_changed_basket_is_not_compared() {
        let mut h = Harness::<BtcDominance>::default();
        pair(&mut h, 0, 75.0);
        pair(&mut h, MIN, 75.0);
        // BNBUSDT appears: the basket changes, dominance drops, then rises again within the new basket.
        feed(&mut h, "BNBUSDT", 2 * MIN, 10.0);
        assert!(pair(&mut h, 2 * MIN, 75.0).is_empty());
        assert!(
            pair(&mut h, 3 * MIN, 78.0).is_empty(),
            "reference sample has the old basket"
        );
        let s = pair(&mut h, 4 * MIN, 78.0);
        assert_eq!(s.len(), 1, "two minutes within the new basket");
        assert_eq!(meta(&s[0], "alts_included"), &json!(["ETHUSDT", "BNBUSDT"]));
    }

    #[test]
    fn only_btcusdt_signals_and_other_symbols_are_ignored() {
        let mut h = Harness::<BtcDominance>::default();
        for (i, sym) in ["SOLUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT"]
            .iter()
            .enumerate()
        {
            for k in 0..10 {
                assert!(feed(&mut h, sym, (i as i64 * 10 + k) * MIN, 1e6).is_empty());
            }
        }
        // bad BTC tickers: no reading, no panic.
        assert!(h
            .feed(BTC, 0, MarketEvent::Ticker(&Ticker::default()))
            .is_empty());
        assert!(h
            .feed(BTC, 0, MarketEvent::Ticker(&tk(f64::INFINITY, 1.0)))
            .is_empty());
    }

    #[test]
    fn cross_field_rules() {
        assert!(BtcDominanceParams::default().validate().is_ok());
        let bad = BtcDominanceParams {
            low_threshold: 70.0,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err()[0].field, "/low_threshold");
    }

    #[test]
    fn golden_signals_on_the_recording() {
        // The recording has BTCUSDT and ETHUSDT tickers (no BNBUSDT); its "24 h" quote volumes count from the
        // file's start, so the share swings widely (about 50-90 %). One rotation-to-BTC signal, then the 4 h
        // interval holds.
        let lines = testing::bundled_recording();
        let mut h = Harness::<BtcDominance>::default();
        let raw = h.feed_envelopes(lines.iter().map(String::as_str));
        // what is published: the raw signals through the runner's per-symbol interval
        let interval = BtcDominance::min_signal_interval_ms(&h.params);
        let mut gate = strategy_sdk::Cooldown::default();
        let signals: Vec<_> = raw
            .into_iter()
            .filter(|s| gate.try_fire(s.event_time_ms, interval))
            .collect();
        assert_eq!(signals.len(), 1);
        assert_eq!(meta(&signals[0], "alts_included"), &json!(["ETHUSDT"]));
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/btc_dominance.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            ticks in proptest::collection::vec((0usize..4, 0.0f64..1e9, 0i64..200_000), 0..200),
        ) {
            let mut h = Harness::<BtcDominance>::default();
            let symbols = [BTC, "ETHUSDT", "BNBUSDT", "SOLUSDT"];
            let mut t = 0;
            for (sym, qv, dt) in ticks {
                t += dt;
                for s in feed(&mut h, symbols[sym], t, qv) {
                    proptest::prop_assert_eq!(s.symbol.as_str(), BTC);
                    proptest::prop_assert!((0.0..=1.0).contains(&s.confidence));
                    proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                    let d = s.indicators[0].1.as_f64().unwrap();
                    proptest::prop_assert!((0.0..=100.0).contains(&d));
                    proptest::prop_assert_eq!(meta(&s, "dominance_source"), DOMINANCE_SOURCE);
                }
            }
        }
    }
}
