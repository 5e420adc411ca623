//! The ticker velocity rules.

use std::collections::VecDeque;

use strategy_sdk::{Action, EventContext, MarketEvent, Signal, SignalSink, Strategy, StreamKind};

use crate::params::TickerVelocityParams;

/// Highest confidence the strategy reports.
pub const MAX_CONFIDENCE: f64 = 0.95;
/// Stored samples (but the newest) are at least this far apart; closer tickers replace the newest sample.
pub const MIN_SAMPLE_SPACING_MS: i64 = 500;
/// Largest `time_window` the schema allows, in seconds.
pub const MAX_WINDOW_SECONDS: usize = 300;
/// Upper bound of stored samples: the largest window at the minimum spacing, plus both ends.
pub const MAX_SAMPLES: usize = MAX_WINDOW_SECONDS * 1000 / MIN_SAMPLE_SPACING_MS as usize + 2;
/// Length of the ticker's rolling volume window (24 h) in seconds.
pub const TICKER_WINDOW_SECONDS: f64 = 86_400.0;

const MS_PER_MINUTE: f64 = 60_000.0;

/// The ticker velocity strategy.
#[derive(Debug, Default)]
pub struct TickerVelocity;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    time_ms: i64,
    price: f64,
    volume: f64,
}

/// Per-symbol state: (event time, last price, 24 h volume) samples covering `time_window`, and the zone of the
/// last evaluation (signals fire on entering a zone).
#[derive(Debug, Default, Clone)]
pub struct VelocityState {
    samples: VecDeque<Sample>,
    zone: Option<Action>,
}

/// What the window says, before thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VelocityReading {
    /// Price change from the oldest sample in the window to now, in percent.
    pub price_change_pct: f64,
    /// `price_change_pct` per minute of elapsed event time.
    pub velocity: f64,
    /// Velocity of the second half of the window minus that of the first half (%/min); 0 with fewer than three
    /// samples.
    pub acceleration: f64,
    /// How much faster than its 24 h average pace the volume traded in the window (0 = average pace);
    /// `None` when the 24 h volume is zero.
    pub volume_change: Option<f64>,
    /// Event time covered by the window, in seconds.
    pub elapsed_seconds: f64,
    /// Number of samples in the window.
    pub samples: usize,
    /// Last price.
    pub last_price: f64,
}

fn pct_per_minute(from: &Sample, to: &Sample) -> Option<f64> {
    let minutes = (to.time_ms - from.time_ms) as f64 / MS_PER_MINUTE;
    (minutes > 0.0 && from.price > 0.0)
        .then(|| (to.price - from.price) / from.price * 100.0 / minutes)
        .filter(|v| v.is_finite())
}

impl VelocityState {
    /// Records a ticker at event time `time_ms`; returns false (and records nothing) when it is out of order or
    /// its price or volume is unusable.
    fn record(&mut self, time_ms: i64, price: f64, volume: f64, window_ms: i64) -> bool {
        if !(price.is_finite() && price > 0.0 && volume.is_finite() && volume >= 0.0) {
            return false;
        }
        if self.samples.back().is_some_and(|s| time_ms < s.time_ms) {
            return false;
        }
        if self.samples.capacity() == 0 {
            self.samples.reserve_exact(MAX_SAMPLES);
        }
        let n = self.samples.len();
        if n >= 2
            && self.samples[n - 1].time_ms - self.samples[n - 2].time_ms < MIN_SAMPLE_SPACING_MS
        {
            self.samples.pop_back();
        }
        while self.samples.len() >= MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            time_ms,
            price,
            volume,
        });
        let cutoff = time_ms - window_ms;
        while self.samples.front().is_some_and(|s| s.time_ms < cutoff) {
            self.samples.pop_front();
        }
        true
    }

    /// Reads the window; `None` with fewer than two samples, no elapsed time or a zero oldest price.
    pub fn read(&self) -> Option<VelocityReading> {
        let oldest = self.samples.front()?;
        let last = self.samples.back()?;
        if self.samples.len() < 2 {
            return None;
        }
        let velocity = pct_per_minute(oldest, last)?;
        let elapsed_ms = last.time_ms - oldest.time_ms;
        let mid_time = oldest.time_ms + elapsed_ms / 2;
        let acceleration = self
            .samples
            .iter()
            .take_while(|s| s.time_ms <= mid_time)
            .last()
            .filter(|mid| mid.time_ms > oldest.time_ms && mid.time_ms < last.time_ms)
            .and_then(|mid| Some(pct_per_minute(mid, last)? - pct_per_minute(oldest, mid)?))
            .unwrap_or(0.0);
        let elapsed_seconds = elapsed_ms as f64 / 1000.0;
        let pace = last.volume * elapsed_seconds / TICKER_WINDOW_SECONDS;
        let traded = (last.volume - oldest.volume).max(0.0);
        let volume_change = (pace > 0.0)
            .then(|| traded / pace - 1.0)
            .filter(|v| v.is_finite());
        Some(VelocityReading {
            price_change_pct: (last.price - oldest.price) / oldest.price * 100.0,
            velocity,
            acceleration: if acceleration.is_finite() {
                acceleration
            } else {
                0.0
            },
            volume_change,
            elapsed_seconds,
            samples: self.samples.len(),
            last_price: last.price,
        })
    }
}

/// The zone a reading is in: buy or sell when velocity is past its threshold (strictly), the move is at least
/// `min_price_change` percent and, with `volume_confirmation`, volume ran at least `min_volume_change` above its
/// 24 h pace.
pub fn zone(r: &VelocityReading, p: &TickerVelocityParams) -> Option<Action> {
    let action = if r.velocity > p.buy_threshold {
        Action::Buy
    } else if r.velocity < p.sell_threshold {
        Action::Sell
    } else {
        return None;
    };
    if r.price_change_pct.abs() < p.min_price_change {
        return None;
    }
    if p.volume_confirmation && !r.volume_change.is_some_and(|v| v >= p.min_volume_change) {
        return None;
    }
    Some(action)
}

/// Confidence: `base + (0.95 − base) × ((1 − w) × velocity_strength + w × acceleration_strength)` with `w` =
/// `acceleration_weight`, velocity strength = how far past its threshold the velocity is, relative to the
/// threshold (capped at 1), and acceleration strength = acceleration in the signal's direction relative to the
/// threshold (0 when the move slows down, capped at 1).
pub fn confidence(r: &VelocityReading, action: Action, p: &TickerVelocityParams) -> f64 {
    let (threshold, direction) = match action {
        Action::Buy => (p.buy_threshold, 1.0),
        Action::Sell => (-p.sell_threshold, -1.0),
    };
    let strength = ((r.velocity * direction - threshold) / threshold).clamp(0.0, 1.0);
    let accel = (r.acceleration * direction / threshold).clamp(0.0, 1.0);
    let w = p.acceleration_weight.clamp(0.0, 1.0);
    let mix = (1.0 - w) * strength + w * accel;
    let base = p.base_confidence.min(MAX_CONFIDENCE);
    let c = base + (MAX_CONFIDENCE - base) * mix;
    if c.is_finite() {
        c.min(MAX_CONFIDENCE)
    } else {
        base
    }
}

impl Strategy for TickerVelocity {
    type Params = TickerVelocityParams;
    type SymbolState = VelocityState;

    const ID: &'static str = "ticker_velocity";
    const NAME: &'static str = "Ticker Velocity";
    const DESCRIPTION: &'static str =
        "Measures price velocity and acceleration to capture rapid price movements";
    const CATEGORY: &'static str = "realtime_data";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Ticker];

    fn create() -> Self {
        Self
    }

    fn min_signal_interval_ms(params: &TickerVelocityParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &TickerVelocityParams,
        state: &mut VelocityState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Ticker(ticker) = event else {
            return;
        };
        let window_ms = i64::from(p.time_window.min(MAX_WINDOW_SECONDS as u32)) * 1000;
        if !state.record(
            ctx.event_time_ms,
            ticker.last_price,
            ticker.volume,
            window_ms,
        ) {
            return;
        }
        let Some(r) = state.read() else {
            return;
        };
        let zone = zone(&r, p);
        let entered = zone.is_some() && zone != state.zone;
        state.zone = zone;
        let Some(action) = zone.filter(|_| entered) else {
            return;
        };
        sink.emit(
            Signal::new(
                Self::ID,
                Self::NAME,
                ctx,
                action,
                confidence(&r, action, p),
                r.last_price,
            )
            .indicator("velocity_pct_per_min", r.velocity)
            .indicator("price_change_pct", r.price_change_pct)
            .indicator("acceleration", r.acceleration)
            .indicator("volume_change", r.volume_change.unwrap_or(0.0))
            .meta("window_seconds", r.elapsed_seconds)
            .meta("samples", r.samples)
            .meta("volume_confirmation", p.volume_confirmation)
            .meta("volume_24h", ticker.volume),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::Ticker;

    const SEC: i64 = 1000;

    fn tick(h: &mut Harness<TickerVelocity>, t: i64, price: f64, volume: f64) -> Vec<Signal> {
        let ticker = testing::ticker(price, volume);
        h.feed("BTCUSDT", t, MarketEvent::Ticker(&ticker))
    }

    fn reading(velocity: f64, change: f64, volume_change: Option<f64>) -> VelocityReading {
        VelocityReading {
            price_change_pct: change,
            velocity,
            acceleration: 0.0,
            volume_change,
            elapsed_seconds: 60.0,
            samples: 61,
            last_price: 100.0,
        }
    }

    #[test]
    fn worked_example() {
        let mut h = Harness::<TickerVelocity>::default();
        assert!(tick(&mut h, 0, 100.0, 1000.0).is_empty());
        // +0.2 % in 30 s: 0.4 %/min, below the 0.5 threshold.
        assert!(tick(&mut h, 30 * SEC, 100.2, 1100.0).is_empty());
        // +0.6 % in 60 s: 0.6 %/min; halves 0.4 and 0.798 %/min.
        let s = tick(&mut h, 60 * SEC, 100.6, 1200.0);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.action, Action::Buy);
        assert_eq!(s.price, 100.6);
        let v2 = (100.6 - 100.2) / 100.2 * 100.0 / 0.5;
        let accel = v2 - 0.4;
        let get = |k: &str| {
            s.indicators
                .iter()
                .find(|(n, _)| *n == k)
                .unwrap()
                .1
                .as_f64()
                .unwrap()
        };
        assert!((get("velocity_pct_per_min") - 0.6).abs() < 1e-9);
        assert!((get("price_change_pct") - 0.6).abs() < 1e-9);
        assert!((get("acceleration") - accel).abs() < 1e-9);
        // 200 traded in 60 s against a 24 h pace of 1200 × 60 / 86400.
        assert!((get("volume_change") - (200.0 / (1200.0 * 60.0 / 86_400.0) - 1.0)).abs() < 1e-6);
        let expected = 0.65 + 0.30 * (0.5 * 0.2 + 0.5 * (accel / 0.5));
        assert!((s.confidence - expected).abs() < 1e-9, "{}", s.confidence);
    }

    #[test]
    fn thresholds_and_gates_are_at_their_edges() {
        let p = TickerVelocityParams::default();
        assert_eq!(
            zone(&reading(0.5, 0.5, Some(1.0)), &p),
            None,
            "at the buy threshold"
        );
        assert_eq!(
            zone(&reading(0.500_001, 0.5, Some(1.0)), &p),
            Some(Action::Buy)
        );
        assert_eq!(
            zone(&reading(-0.5, -0.5, Some(1.0)), &p),
            None,
            "at the sell threshold"
        );
        assert_eq!(
            zone(&reading(-0.500_001, -0.5, Some(1.0)), &p),
            Some(Action::Sell)
        );
        // min_price_change: at the minimum passes, just below does not.
        assert_eq!(zone(&reading(0.6, 0.1, Some(1.0)), &p), Some(Action::Buy));
        assert_eq!(zone(&reading(0.6, 0.099_999, Some(1.0)), &p), None);
        assert_eq!(zone(&reading(-0.6, -0.099_999, Some(1.0)), &p), None);
        // volume: at the minimum passes, just below or unknown does not, unless confirmation is off.
        assert_eq!(zone(&reading(0.6, 0.6, Some(0.2)), &p), Some(Action::Buy));
        assert_eq!(zone(&reading(0.6, 0.6, Some(0.199_999)), &p), None);
        assert_eq!(zone(&reading(0.6, 0.6, None), &p), None);
        let off = TickerVelocityParams {
            volume_confirmation: false,
            ..Default::default()
        };
        assert_eq!(zone(&reading(0.6, 0.6, None), &off), Some(Action::Buy));
    }

    #[test]
    fn small_fast_moves_are_ignored() {
        let mut h = Harness::<TickerVelocity>::default();
        assert!(tick(&mut h, 0, 100.0, 1000.0).is_empty());
        // +0.05 % in 5 s = 0.6 %/min, but below the 0.1 % minimum move.
        assert!(tick(&mut h, 5 * SEC, 100.05, 1010.0).is_empty());
        // +0.12 % in 10 s: fires.
        assert_eq!(tick(&mut h, 10 * SEC, 100.12, 1020.0).len(), 1);
    }

    #[test]
    fn volume_confirmation_can_block_or_be_disabled() {
        let run = |p: TickerVelocityParams| {
            let mut h = Harness::<TickerVelocity>::new(p);
            tick(&mut h, 0, 100.0, 1000.0);
            // a sharp drop with no volume traded in the window
            tick(&mut h, 30 * SEC, 99.0, 1000.0)
        };
        assert!(run(TickerVelocityParams::default()).is_empty());
        let s = run(TickerVelocityParams {
            volume_confirmation: false,
            ..Default::default()
        });
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Sell);
        // volume just at its 24 h pace (change 0) is below the 0.2 minimum; 30 % above it passes.
        let pace = |x: f64| 1000.0 * (1.0 + x) * 30.0 / 86_400.0;
        let mut h = Harness::<TickerVelocity>::default();
        tick(&mut h, 0, 100.0, 1000.0 - pace(0.0));
        assert!(tick(&mut h, 30 * SEC, 99.0, 1000.0).is_empty());
        let mut h = Harness::<TickerVelocity>::default();
        tick(&mut h, 0, 100.0, 1000.0 - pace(0.3));
        assert_eq!(tick(&mut h, 30 * SEC, 99.0, 1000.0).len(), 1);
    }

    #[test]
    fn window_expires_on_event_time() {
        let mut st = VelocityState::default();
        let w = 60 * SEC;
        st.record(0, 99.0, 1.0, w);
        st.record(SEC, 100.0, 2.0, w);
        st.record(61 * SEC, 100.0, 3.0, w);
        let r = st.read().unwrap();
        assert_eq!(r.samples, 2, "the t = 0 sample left the window");
        assert_eq!(r.velocity, 0.0);
        assert_eq!(r.elapsed_seconds, 60.0);
        // a gap longer than the window leaves a single sample: nothing to read.
        st.record(200 * SEC, 101.0, 4.0, w);
        assert!(st.read().is_none());
    }

    #[test]
    fn fires_once_per_episode() {
        let mut h = Harness::<TickerVelocity>::default();
        let mut fired = Vec::new();
        // rising 0.02 % per second for 60 s (1.2 %/min), then flat for 90 s, then rising again.
        let mut price = 100.0;
        let mut t = 0;
        for phase in [0.0002, 0.0, 0.0002] {
            for _ in 0..60 {
                price *= 1.0 + phase;
                t += SEC;
                fired.extend(tick(&mut h, t, price, 1000.0 + t as f64));
            }
            if phase == 0.0 {
                for _ in 0..30 {
                    t += SEC;
                    fired.extend(tick(&mut h, t, price, 1000.0 + t as f64));
                }
            }
        }
        assert_eq!(
            fired.len(),
            2,
            "{:?}",
            fired.iter().map(|s| s.event_time_ms).collect::<Vec<_>>()
        );
        assert!(fired.iter().all(|s| s.action == Action::Buy));
    }

    #[test]
    fn dense_tickers_are_coalesced() {
        let mut st = VelocityState::default();
        for i in 0..=3000 {
            assert!(st.record(i * 100, 100.0 + i as f64 * 0.01, i as f64, 300 * SEC));
        }
        let r = st.read().unwrap();
        assert!(r.samples <= MAX_SAMPLES);
        assert!(r.samples >= 500 && r.samples <= 602, "{}", r.samples);
        assert!(st.samples.capacity() <= 2 * MAX_SAMPLES);
        assert!((r.elapsed_seconds - 300.0).abs() <= 0.5);
    }

    #[test]
    fn bad_or_out_of_order_tickers_are_ignored() {
        let mut h = Harness::<TickerVelocity>::default();
        tick(&mut h, 10 * SEC, 100.0, 1000.0);
        for (t, p, v) in [
            (20 * SEC, 0.0, 1000.0),
            (20 * SEC, f64::NAN, 1000.0),
            (20 * SEC, f64::INFINITY, 1000.0),
            (20 * SEC, 120.0, f64::NAN),
            (20 * SEC, 120.0, -1.0),
            (5 * SEC, 120.0, 1100.0),
        ] {
            assert!(tick(&mut h, t, p, v).is_empty());
        }
        // same timestamp: no elapsed time, no reading, no panic.
        assert!(tick(&mut h, 10 * SEC, 120.0, 1000.0).is_empty());
        let empty = Ticker::default();
        assert!(h
            .feed("BTCUSDT", 11 * SEC, MarketEvent::Ticker(&empty))
            .is_empty());
    }

    #[test]
    fn confidence_uses_acceleration_in_the_signal_direction() {
        let p = TickerVelocityParams::default();
        let mut r = reading(1.0, 1.0, Some(1.0));
        let flat = confidence(&r, Action::Buy, &p);
        assert!((flat - (0.65 + 0.30 * 0.5)).abs() < 1e-12);
        r.acceleration = 0.5;
        assert!((confidence(&r, Action::Buy, &p) - MAX_CONFIDENCE).abs() < 1e-12);
        r.acceleration = -0.5;
        assert!(
            (confidence(&r, Action::Buy, &p) - flat).abs() < 1e-12,
            "slowing down adds nothing"
        );
        let mut s = reading(-0.5000001, -1.0, Some(1.0));
        s.acceleration = -0.25;
        assert!((confidence(&s, Action::Sell, &p) - (0.65 + 0.30 * 0.25)).abs() < 1e-6);
        let p1 = TickerVelocityParams {
            base_confidence: 1.0,
            ..Default::default()
        };
        assert!(confidence(&r, Action::Buy, &p1) <= MAX_CONFIDENCE);
    }

    fn golden(params: TickerVelocityParams, file: &str) -> Vec<Signal> {
        let lines = testing::bundled_recording();
        let mut h = Harness::<TickerVelocity>::new(params);
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        testing::assert_golden(
            &format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR")),
            &signals,
        );
        signals
    }

    #[test]
    fn golden_signals_on_the_recording() {
        // The recording is calm: BTCUSDT never moves 0.5 %/min over a minute, ETHUSDT spans 0.24 % in total,
        // so the defaults cannot fire. The file is still compared so that any change shows.
        let signals = golden(TickerVelocityParams::default(), "ticker_velocity.txt");
        assert!(signals.is_empty());
    }

    #[test]
    fn golden_signals_on_the_recording_with_sensitive_params() {
        // Non-default: a 30 s window, ±0.2 %/min and a 0.05 % minimum move (all within the schema ranges).
        let signals = golden(
            TickerVelocityParams {
                time_window: 30,
                buy_threshold: 0.2,
                sell_threshold: -0.2,
                min_price_change: 0.05,
                ..Default::default()
            },
            "ticker_velocity_sensitive.txt",
        );
        assert!(
            !signals.is_empty(),
            "the sensitive settings must fire on the recording"
        );
        assert!(signals.iter().any(|s| s.action == Action::Buy));
        assert!(signals.iter().any(|s| s.action == Action::Sell));
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            ticks in proptest::collection::vec((1.0f64..1e6, 0.0f64..1e9, 0i64..3_000), 0..120),
            window in 30u32..=300,
            accel in 0.0f64..=1.0,
            confirm in proptest::bool::ANY,
        ) {
            let p = TickerVelocityParams {
                time_window: window,
                acceleration_weight: accel,
                volume_confirmation: confirm,
                buy_threshold: 0.1,
                sell_threshold: -0.1,
                min_price_change: 0.01,
                ..Default::default()
            };
            let mut h = Harness::<TickerVelocity>::new(p.clone());
            let mut t = 0i64;
            for (price, volume, dt) in ticks {
                t += dt;
                for s in tick(&mut h, t, price, volume) {
                    proptest::prop_assert!(s.confidence >= p.base_confidence && s.confidence <= MAX_CONFIDENCE);
                    proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                    proptest::prop_assert_eq!(s.indicators.len(), 4);
                    for (_, v) in &s.indicators {
                        proptest::prop_assert!(v.as_f64().unwrap().is_finite());
                    }
                }
            }
        }
    }
}
