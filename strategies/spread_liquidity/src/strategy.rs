//! The spread liquidity rules.

use std::collections::VecDeque;

use strategy_sdk::{
    Action, DepthBook, EventContext, MarketEvent, Signal, SignalSink, Strategy, StreamKind,
};

use crate::params::SpreadLiquidityParams;

/// Highest confidence the strategy reports (the original's cap).
pub const MAX_CONFIDENCE: f64 = 0.95;
/// Book levels per side summed into the depth figure.
pub const DEPTH_LEVELS: usize = 5;
/// Snapshots needed (current included) before anything is compared.
pub const MIN_HISTORY: usize = 3;
/// A liquidity withdrawal needs the spread ratio above `spread_ratio_threshold` times this factor.
pub const WIDENING_RATIO_FACTOR: f64 = 1.2;
/// Persistence (seconds) at which the narrowing bonus reaches its maximum.
pub const FULL_PERSISTENCE_SECONDS: f64 = 300.0;

/// The spread liquidity strategy.
#[derive(Debug, Default)]
pub struct SpreadLiquidity;

/// One snapshot as remembered in the rolling window.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tick {
    time_ms: i64,
    spread_bps: f64,
    total_depth: f64,
}

/// An abnormally wide spread being followed: when it started and how wide it was then.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WideSpread {
    start_ms: i64,
    spread_bps: f64,
}

/// Per-symbol state: the last `lookback_ticks` snapshots (a ring buffer sized once), the open wide-spread episode
/// (the minimum interval between signals is the host runner's).
#[derive(Debug, Default)]
pub struct SpreadState {
    history: VecDeque<Tick>,
    wide: Option<WideSpread>,
}

impl SpreadState {
    /// Appends a snapshot, dropping the oldest ones beyond `lookback` (allocates only the first time, or when
    /// `lookback_ticks` is raised).
    fn push(&mut self, tick: Tick, lookback: usize) {
        if self.history.capacity() < lookback {
            self.history.reserve_exact(lookback - self.history.len());
        }
        while self.history.len() >= lookback {
            self.history.pop_front();
        }
        self.history.push_back(tick);
    }
}

/// What the current snapshot says, compared with the rolling window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpreadReading {
    /// Best bid price.
    pub best_bid: f64,
    /// Best ask price.
    pub best_ask: f64,
    /// (best bid + best ask) / 2.
    pub mid: f64,
    /// best ask − best bid.
    pub spread_abs: f64,
    /// Spread in basis points of the mid price.
    pub spread_bps: f64,
    /// Bid plus ask quantity of the top [`DEPTH_LEVELS`] levels.
    pub total_depth: f64,
    /// Current spread / average spread of the previous snapshots in the window (1 when the average is 0).
    pub spread_ratio: f64,
    /// Relative spread change since the oldest snapshot of the window, per second.
    pub spread_velocity: f64,
    /// 1 − current depth / average depth of the previous snapshots (0 when the average is 0).
    pub depth_reduction_pct: f64,
}

/// Measures one book; `None` when a side is empty, a best price is not positive, the book is crossed or locked
/// (ask ≤ bid), or a figure is not finite.
fn measure(book: &DepthBook, time_ms: i64) -> Option<(Tick, f64, f64)> {
    let best_bid = book.best_bid()?.price;
    let best_ask = book.best_ask()?.price;
    if !(best_bid > 0.0 && best_ask > best_bid && best_ask.is_finite()) {
        return None;
    }
    let mid = (best_bid + best_ask) / 2.0;
    let spread_bps = (best_ask - best_bid) / mid * 10_000.0;
    let total_depth = DepthBook::side_volume(&book.bids, DEPTH_LEVELS)
        + DepthBook::side_volume(&book.asks, DEPTH_LEVELS);
    if !(mid.is_finite() && spread_bps.is_finite() && spread_bps > 0.0 && total_depth.is_finite()) {
        return None;
    }
    Some((
        Tick {
            time_ms,
            spread_bps,
            total_depth,
        },
        best_bid,
        best_ask,
    ))
}

fn finite_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        fallback
    }
}

/// Compares the newest snapshot (the last of `history`) with the rest of the window.
fn compare(history: &VecDeque<Tick>, best_bid: f64, best_ask: f64) -> Option<SpreadReading> {
    let current = *history.back()?;
    let oldest = *history.front()?;
    let previous = history.len().saturating_sub(1);
    let divisor = previous.max(1) as f64;
    // both sums in one pass over the ring's two slices, oldest first (the order, and so the rounding, of a
    // left-to-right sum)
    let (older, newer) = history.as_slices();
    let (mut spread_sum, mut depth_sum) = (0.0, 0.0);
    for t in older.iter().chain(newer).take(previous) {
        spread_sum += t.spread_bps;
        depth_sum += t.total_depth;
    }
    let (avg_spread, avg_depth) = (spread_sum / divisor, depth_sum / divisor);
    let spread_ratio = if avg_spread > 0.0 {
        finite_or(current.spread_bps / avg_spread, 1.0)
    } else {
        1.0
    };
    let elapsed_s = (current.time_ms - oldest.time_ms) as f64 / 1000.0;
    let spread_velocity = if elapsed_s > 0.0 && oldest.spread_bps > 0.0 {
        finite_or(
            (current.spread_bps - oldest.spread_bps) / oldest.spread_bps / elapsed_s,
            0.0,
        )
    } else {
        0.0
    };
    let depth_reduction_pct = if avg_depth > 0.0 {
        finite_or(1.0 - current.total_depth / avg_depth, 0.0)
    } else {
        0.0
    };
    Some(SpreadReading {
        best_bid,
        best_ask,
        mid: (best_bid + best_ask) / 2.0,
        spread_abs: best_ask - best_bid,
        spread_bps: current.spread_bps,
        total_depth: current.total_depth,
        spread_ratio,
        spread_velocity,
        depth_reduction_pct,
    })
}

/// A detected liquidity event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LiquidityEvent {
    /// A wide spread that lasted longer than the persistence threshold is closing again: liquidity returns (buy).
    Narrowing {
        /// Seconds since the wide-spread episode started.
        persistence_s: f64,
        /// Spread (bps) when the episode started.
        spread_before_bps: f64,
    },
    /// The spread widens fast while depth drops: liquidity is withdrawn (sell).
    Widening {
        /// Approximate spread before the move: spread / (1 + velocity), as the original estimates it.
        spread_before_bps: f64,
    },
}

impl LiquidityEvent {
    /// `narrowing` or `widening`.
    pub const fn kind(&self) -> &'static str {
        match self {
            LiquidityEvent::Narrowing { .. } => "narrowing",
            LiquidityEvent::Widening { .. } => "widening",
        }
    }

    /// The signal direction.
    pub const fn action(&self) -> Action {
        match self {
            LiquidityEvent::Narrowing { .. } => Action::Buy,
            LiquidityEvent::Widening { .. } => Action::Sell,
        }
    }
}

/// Runs the event rules in the original's order: first a closing wide-spread episode, then opening one, then a
/// liquidity withdrawal.
fn detect(
    state: &mut SpreadState,
    r: &SpreadReading,
    now_ms: i64,
    p: &SpreadLiquidityParams,
) -> Option<LiquidityEvent> {
    let widening = r.spread_velocity > p.velocity_threshold;
    let narrowing = r.spread_velocity < -p.velocity_threshold;
    let abnormal = r.spread_ratio > p.spread_ratio_threshold;
    if let Some(wide) = state.wide {
        let persistence_s = (now_ms - wide.start_ms) as f64 / 1000.0;
        if narrowing
            && r.spread_ratio < p.spread_ratio_threshold
            && persistence_s > p.persistence_threshold_seconds
        {
            state.wide = None;
            return Some(LiquidityEvent::Narrowing {
                persistence_s,
                spread_before_bps: wide.spread_bps,
            });
        }
    }
    if abnormal && r.spread_bps > p.spread_threshold_bps && state.wide.is_none() {
        state.wide = Some(WideSpread {
            start_ms: now_ms,
            spread_bps: r.spread_bps,
        });
    }
    if widening
        && r.spread_ratio > p.spread_ratio_threshold * WIDENING_RATIO_FACTOR
        && r.depth_reduction_pct > p.min_depth_reduction_pct
    {
        return Some(LiquidityEvent::Widening {
            spread_before_bps: r.spread_bps / (1.0 + r.spread_velocity),
        });
    }
    None
}

/// Confidence: `base + (0.95 − base) × strength`, where strength (0..1) averages two bounded terms, so that the
/// default confidence spans `base_confidence..0.95` instead of saturating (the original's unbounded sums put every
/// signal of the bundled recording at the 0.95 cap):
/// - narrowing: `½ · min(1, persistence_s / 300) + ½ · clamp(ln(spread_before / spread) / ln 100, 0, 1)` (how long
///   the wide spread lasted, how far it closed);
/// - widening: `½ · clamp(ln(|spread_velocity| / velocity_threshold) / ln 1000, 0, 1) + ½ · clamp((depth_reduction −
///   min_depth_reduction_pct) / (1 − min_depth_reduction_pct), 0, 1)` (how fast past the threshold, how much depth
///   left past the threshold).
///
/// A non-finite input gives 0.
pub fn confidence(event: &LiquidityEvent, r: &SpreadReading, p: &SpreadLiquidityParams) -> f64 {
    let unit = |x: f64| x.clamp(0.0, 1.0);
    let strength = match event {
        LiquidityEvent::Narrowing {
            persistence_s,
            spread_before_bps,
        } => {
            0.5 * unit(persistence_s / FULL_PERSISTENCE_SECONDS)
                + 0.5 * unit((spread_before_bps / r.spread_bps).ln() / 100f64.ln())
        }
        LiquidityEvent::Widening { .. } => {
            0.5 * unit((r.spread_velocity.abs() / p.velocity_threshold).ln() / 1000f64.ln())
                + 0.5
                    * unit(
                        (r.depth_reduction_pct - p.min_depth_reduction_pct)
                            / (1.0 - p.min_depth_reduction_pct),
                    )
        }
    };
    let base = p.base_confidence.min(MAX_CONFIDENCE);
    let c = base + (MAX_CONFIDENCE - base) * strength;
    if strength.is_finite() && c.is_finite() {
        c.clamp(0.0, MAX_CONFIDENCE)
    } else {
        0.0
    }
}

/// Stop loss and take profit as the original sets them: the spread doubled is the volatility proxy; the stop is
/// one proxy away from the mid on the losing side, the target two proxies away on the winning side. Neither is
/// closer to the mid than `min_stop_loss_pct` / `min_take_profit_pct` percent of it (on liquid pairs the spread
/// proxy alone puts the stop a fraction of a basis point away).
pub fn risk_levels(action: Action, r: &SpreadReading, p: &SpreadLiquidityParams) -> (f64, f64) {
    let atr = r.spread_abs * 2.0;
    let stop = atr.max(r.mid * p.min_stop_loss_pct / 100.0);
    let target = (atr * 2.0).max(r.mid * p.min_take_profit_pct / 100.0);
    match action {
        Action::Buy => (r.mid - stop, r.mid + target),
        Action::Sell => (r.mid + stop, r.mid - target),
    }
}

impl Strategy for SpreadLiquidity {
    type Params = SpreadLiquidityParams;
    type SymbolState = SpreadState;

    const ID: &'static str = "spread_liquidity";
    const NAME: &'static str = "Spread Liquidity";
    const DESCRIPTION: &'static str =
        "Detects liquidity events through bid-ask spread widening and narrowing patterns";
    const CATEGORY: &'static str = "microstructure";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];

    fn create() -> Self {
        Self
    }

    /// The rolling window's ring buffer (its sums read every tick).
    fn prefetch(state: &SpreadState) {
        let (older, newer) = state.history.as_slices();
        strategy_sdk::cache::prefetch_slice(older);
        strategy_sdk::cache::prefetch_slice(newer);
    }

    fn min_signal_interval_ms(params: &SpreadLiquidityParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &SpreadLiquidityParams,
        state: &mut SpreadState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        let now = ctx.event_time_ms;
        let Some((tick, best_bid, best_ask)) = measure(book, now) else {
            return;
        };
        state.push(tick, (p.lookback_ticks as usize).max(MIN_HISTORY));
        if state.history.len() < MIN_HISTORY {
            return;
        }
        let Some(r) = compare(&state.history, best_bid, best_ask) else {
            return;
        };
        let Some(liquidity_event) = detect(state, &r, now, p) else {
            return;
        };
        let action = liquidity_event.action();
        let (stop_loss, take_profit) = risk_levels(action, &r, p);
        let (persistence_s, spread_before_bps, reasoning) = match liquidity_event {
            LiquidityEvent::Narrowing {
                persistence_s,
                spread_before_bps,
            } => (
                persistence_s,
                spread_before_bps,
                "liquidity returning after a withdrawal: the wide spread is normalizing",
            ),
            LiquidityEvent::Widening { spread_before_bps } => (
                0.0,
                spread_before_bps,
                "liquidity withdrawal: the spread widens fast while top-of-book depth drops",
            ),
        };
        sink.emit(
            Signal::new(
                Self::ID,
                Self::NAME,
                ctx,
                action,
                confidence(&liquidity_event, &r, p),
                r.mid,
            )
            .current_price(r.mid)
            .risk(stop_loss, take_profit)
            .indicator("spread_bps", r.spread_bps)
            .indicator("spread_ratio", r.spread_ratio)
            .indicator("spread_velocity", r.spread_velocity)
            .indicator("depth_reduction_pct", r.depth_reduction_pct)
            .meta("event_type", liquidity_event.kind())
            .meta("reasoning", reasoning)
            .meta("persistence_seconds", persistence_s)
            .meta("spread_before_bps", spread_before_bps)
            .meta("best_bid", r.best_bid)
            .meta("best_ask", r.best_ask)
            .meta("total_depth", r.total_depth)
            .meta("stop_loss", stop_loss)
            .meta("take_profit", take_profit),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    /// A one-level book: bid at `bid`, ask `spread` above, `depth` on each side.
    fn depth(bid: f64, spread: f64, depth: f64) -> DepthBook {
        testing::book(&[(bid, depth)], &[(bid + spread, depth)])
    }

    fn run(h: &mut Harness<SpreadLiquidity>, book: &DepthBook, t: i64) -> Vec<Signal> {
        h.feed("BTCUSDT", t, MarketEvent::Depth(book))
    }

    /// Feeds `n` calm snapshots (spread 0.01 on 100, depth 10 per side) every `step` ms from `start`; returns the
    /// time of the next slot and any signals.
    fn calm(h: &mut Harness<SpreadLiquidity>, start: i64, step: i64, n: i64) -> (i64, Vec<Signal>) {
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(run(h, &depth(100.0, 0.01, 10.0), start + i * step));
        }
        (start + n * step, out)
    }

    /// 20 calm snapshots then a spike (spread ×5, depth 10 → 4 per side) at `spike_at`, with `step` ms between
    /// snapshots; returns the spike's signals.
    fn spike_episode(h: &mut Harness<SpreadLiquidity>, spike_at: i64, step: i64) -> Vec<Signal> {
        let (_, calm_signals) = calm(h, spike_at - 20 * step, step, 20);
        assert!(calm_signals.is_empty());
        run(h, &depth(100.0, 0.05, 4.0), spike_at)
    }

    /// Defaults without the stop/target floors, to check the spread-based levels themselves.
    fn no_floor() -> SpreadLiquidityParams {
        SpreadLiquidityParams {
            min_stop_loss_pct: 0.0,
            min_take_profit_pct: 0.0,
            ..Default::default()
        }
    }

    #[test]
    fn default_stop_and_target_are_at_least_half_and_one_percent() {
        let mut h = Harness::<SpreadLiquidity>::default();
        let s = spike_episode(&mut h, 10_000, 250);
        let (mid, s) = (100.025, &s[0]);
        assert_eq!(s.action, Action::Sell);
        assert!((s.stop_loss.unwrap() - mid * 1.005).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - mid * 0.99).abs() < 1e-9);
        let mut h = Harness::<SpreadLiquidity>::default();
        let s = narrowing_run(&mut h, 1_900 + 40_100);
        let (mid, s) = (100.0025, &s[0]);
        assert_eq!(s.action, Action::Buy);
        assert!((s.stop_loss.unwrap() - mid * 0.995).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - mid * 1.01).abs() < 1e-9);
        // a wider floor moves them further out
        let mut h = Harness::<SpreadLiquidity>::new(SpreadLiquidityParams {
            min_stop_loss_pct: 2.0,
            min_take_profit_pct: 5.0,
            ..Default::default()
        });
        let s = spike_episode(&mut h, 10_000, 250);
        assert!((s[0].stop_loss.unwrap() - 100.025 * 1.02).abs() < 1e-9);
        assert!((s[0].take_profit.unwrap() - 100.025 * 0.95).abs() < 1e-9);
    }

    fn bps(bid: f64, spread: f64) -> f64 {
        spread / (bid + spread / 2.0) * 10_000.0
    }

    #[test]
    fn liquidity_withdrawal_sells_at_mid_with_spread_based_risk() {
        let mut h = Harness::<SpreadLiquidity>::new(no_floor());
        let s = spike_episode(&mut h, 10_000, 250);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.action, Action::Sell);
        let mid = 100.025;
        assert!((s.price - mid).abs() < 1e-9);
        assert!((s.current_price - mid).abs() < 1e-9);
        // window = 19 calm snapshots + the spike; velocity against the oldest, 19 × 250 ms earlier
        let (calm_bps, spike_bps) = (bps(100.0, 0.01), bps(100.0, 0.05));
        let velocity = (spike_bps - calm_bps) / calm_bps / 4.75;
        let reduction = 1.0 - 8.0 / 20.0;
        let expected = 0.5
            + 0.45
                * (0.5 * ((velocity / 0.5).ln() / 1000f64.ln()).clamp(0.0, 1.0)
                    + 0.5 * (reduction - 0.5) / 0.5);
        assert!(
            (s.confidence - expected).abs() < 1e-9,
            "{} vs {expected}",
            s.confidence
        );
        assert!(s.confidence < MAX_CONFIDENCE);
        // stop one doubled spread above the mid, target two below
        assert!((s.stop_loss.unwrap() - (mid + 0.1)).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - (mid - 0.2)).abs() < 1e-9);
        assert_eq!(s.indicators.len(), 4);
        assert_eq!(s.event_time_ms, 10_000);
    }

    #[test]
    fn widening_needs_velocity_ratio_and_depth_drop() {
        // same spike with depth unchanged: no withdrawal
        let mut h = Harness::<SpreadLiquidity>::default();
        calm(&mut h, 0, 250, 20);
        assert!(run(&mut h, &depth(100.0, 0.05, 10.0), 5_000).is_empty());
        // same spike spread over a long window: velocity too low
        let mut h = Harness::<SpreadLiquidity>::default();
        calm(&mut h, 0, 5_000, 20);
        assert!(run(&mut h, &depth(100.0, 0.05, 4.0), 100_000).is_empty());
        // fewer than three snapshots: nothing is compared
        let mut h = Harness::<SpreadLiquidity>::default();
        run(&mut h, &depth(100.0, 0.01, 10.0), 0);
        assert!(run(&mut h, &depth(100.0, 0.05, 1.0), 100).is_empty());
        assert_eq!(run(&mut h, &depth(100.0, 0.5, 1.0), 200).len(), 1);
    }

    fn reading(ratio: f64, velocity: f64, reduction: f64, spread_bps: f64) -> SpreadReading {
        SpreadReading {
            best_bid: 100.0,
            best_ask: 100.01,
            mid: 100.005,
            spread_abs: 0.01,
            spread_bps,
            total_depth: 10.0,
            spread_ratio: ratio,
            spread_velocity: velocity,
            depth_reduction_pct: reduction,
        }
    }

    #[test]
    fn widening_thresholds_are_strict() {
        let p = SpreadLiquidityParams::default();
        let check = |ratio, velocity, reduction| {
            let mut st = SpreadState::default();
            detect(&mut st, &reading(ratio, velocity, reduction, 1.0), 0, &p)
        };
        let ratio_edge = p.spread_ratio_threshold * WIDENING_RATIO_FACTOR;
        assert!(
            check(ratio_edge, 1.0, 0.6).is_none(),
            "ratio at 1.2 × threshold"
        );
        assert!(check(ratio_edge + 1e-9, 1.0, 0.6).is_some());
        assert!(check(3.5, 0.5, 0.6).is_none(), "velocity at threshold");
        assert!(check(3.5, 0.500_001, 0.6).is_some());
        assert!(
            check(3.5, 1.0, 0.5).is_none(),
            "depth reduction at threshold"
        );
        assert!(check(3.5, 1.0, 0.500_001).is_some());
    }

    #[test]
    fn wide_spread_opens_only_above_both_thresholds() {
        let p = SpreadLiquidityParams::default();
        let opens = |ratio, spread_bps| {
            let mut st = SpreadState::default();
            detect(&mut st, &reading(ratio, 0.0, 0.0, spread_bps), 7, &p);
            st.wide
        };
        assert!(opens(2.5, 20.0).is_none(), "ratio at threshold");
        assert!(opens(3.0, 10.0).is_none(), "spread at threshold");
        assert_eq!(
            opens(2.6, 10.5),
            Some(WideSpread {
                start_ms: 7,
                spread_bps: 10.5
            })
        );
    }

    /// Calm window, then a wide spread (15 bps on 100) that opens an episode at 1 900 ms, stays wide, and closes to
    /// 0.5 bps at `close_at`; the 20 snapshots before the close are wide and 100 ms apart.
    fn narrowing_run(h: &mut Harness<SpreadLiquidity>, close_at: i64) -> Vec<Signal> {
        let mut out = Vec::new();
        let (t, s) = calm(h, 0, 100, 19);
        out.extend(s);
        let wide = depth(100.0, 0.15, 10.0);
        out.extend(run(h, &wide, t));
        for i in 0..20 {
            out.extend(run(h, &wide, close_at - 2_000 + i * 100));
        }
        assert!(out.is_empty(), "no signal while the spread stays wide");
        run(h, &depth(100.0, 0.005, 10.0), close_at)
    }

    #[test]
    fn returning_liquidity_buys_after_persistence() {
        let mut h = Harness::<SpreadLiquidity>::new(no_floor());
        let close_at = 1_900 + 40_100;
        let s = narrowing_run(&mut h, close_at);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.action, Action::Buy);
        let mid = 100.0025;
        assert!((s.price - mid).abs() < 1e-9);
        let wide_bps = bps(100.0, 0.15);
        let ratio = bps(100.0, 0.005) / wide_bps;
        let _ = ratio;
        let expected = 0.5
            + 0.45
                * (0.5 * 40.1 / 300.0
                    + 0.5 * ((wide_bps / bps(100.0, 0.005)).ln() / 100f64.ln()).clamp(0.0, 1.0));
        assert!(
            (s.confidence - expected).abs() < 1e-9,
            "{} vs {expected}",
            s.confidence
        );
        assert!((s.stop_loss.unwrap() - (mid - 0.01)).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - (mid + 0.02)).abs() < 1e-9);
        let meta: std::collections::HashMap<_, _> = s.metadata.iter().cloned().collect();
        assert_eq!(meta["event_type"], "narrowing");
        assert!((meta["persistence_seconds"].as_f64().unwrap() - 40.1).abs() < 1e-9);
    }

    #[test]
    fn persistence_threshold_is_strict_in_event_time() {
        let mut h = Harness::<SpreadLiquidity>::default();
        assert!(narrowing_run(&mut h, 1_900 + 30_000).is_empty());
        let mut h = Harness::<SpreadLiquidity>::default();
        assert_eq!(narrowing_run(&mut h, 1_900 + 30_001).len(), 1);
    }

    #[test]
    fn wide_episode_does_not_expire_until_it_closes() {
        // as in the original, the episode has no time-out: ten minutes later a fast close still counts
        let mut h = Harness::<SpreadLiquidity>::default();
        let s = narrowing_run(&mut h, 600_000);
        assert_eq!(s.len(), 1);
        // persistence ≥ 300 s gives its full half
        let closed = (bps(100.0, 0.15) / bps(100.0, 0.005)).ln() / 100f64.ln();
        assert!((s[0].confidence - (0.5 + 0.45 * (0.5 + 0.5 * closed.min(1.0)))).abs() < 1e-9);
        // the episode is consumed: the same close again gives nothing
        let t = 600_100;
        for i in 0..20 {
            run(&mut h, &depth(100.0, 0.15, 10.0), t + i * 100);
        }
        assert!(run(&mut h, &depth(100.0, 0.005, 10.0), t + 2_000).is_empty());
    }

    #[test]
    fn window_holds_lookback_ticks() {
        let p = SpreadLiquidityParams {
            lookback_ticks: 5,
            ..Default::default()
        };
        // an old wide spread, then 3 calm snapshots: it is still among the 4 previous ones, so a spike now is not
        // 3× their average
        let mut h = Harness::<SpreadLiquidity>::new(p.clone());
        run(&mut h, &depth(100.0, 0.2, 10.0), 0);
        calm(&mut h, 100, 100, 3);
        assert!(run(&mut h, &depth(100.0, 0.05, 4.0), 400).is_empty());
        // one more calm snapshot pushes it out of the window and the same spike fires
        let mut h = Harness::<SpreadLiquidity>::new(p);
        run(&mut h, &depth(100.0, 0.2, 10.0), 0);
        calm(&mut h, 100, 100, 4);
        assert_eq!(run(&mut h, &depth(100.0, 0.05, 4.0), 500).len(), 1);
        // the ring never grows past lookback_ticks
        let mut st = SpreadState::default();
        for i in 0..50 {
            let tick = Tick {
                time_ms: i,
                spread_bps: 1.0,
                total_depth: 1.0,
            };
            st.push(tick, 5);
            assert!(st.history.len() <= 5);
        }
        assert_eq!(st.history.front().unwrap().time_ms, 45);
    }

    #[test]
    fn bad_books_are_ignored() {
        let mut h = Harness::<SpreadLiquidity>::default();
        for (i, b) in [
            testing::book(&[], &[(100.0, 1.0)]),
            testing::book(&[(100.0, 1.0)], &[]),
            testing::book(&[(100.0, 1.0)], &[(100.0, 1.0)]),
            testing::book(&[(100.0, 1.0)], &[(99.0, 1.0)]),
            testing::book(&[(0.0, 1.0)], &[(1.0, 1.0)]),
            testing::book(&[(100.0, 0.0)], &[(100.01, 0.0)]),
            testing::book(&[(1e308, f64::MAX)], &[(f64::MAX, f64::MAX)]),
        ]
        .iter()
        .enumerate()
        {
            for s in run(&mut h, b, i as i64 * 100) {
                assert!(s.confidence.is_finite() && s.price.is_finite());
            }
        }
    }

    #[test]
    fn confidence_formulas_and_cap() {
        let p = SpreadLiquidityParams::default();
        // narrowing: half the persistence term, a spread that closed 10× (half the log term)
        let r = reading(1.0, -2.0, 0.0, 2.0);
        let n = LiquidityEvent::Narrowing {
            persistence_s: 150.0,
            spread_before_bps: 20.0,
        };
        assert!((confidence(&n, &r, &p) - (0.5 + 0.45 * (0.25 + 0.25))).abs() < 1e-12);
        let w = LiquidityEvent::Widening {
            spread_before_bps: 1.0,
        };
        // widening just at both thresholds: base_confidence; 1000× the velocity threshold and all depth gone: 0.95
        let r = reading(4.0, 0.5, 0.5, 4.0);
        assert!((confidence(&w, &r, &p) - 0.5).abs() < 1e-12);
        let r = reading(4.0, -500.0, 1.0, 4.0);
        assert!((confidence(&w, &r, &p) - MAX_CONFIDENCE).abs() < 1e-12);
        let r = reading(40.0, 5000.0, 1.0, 40.0);
        assert_eq!(confidence(&w, &r, &p), MAX_CONFIDENCE);
        let r = reading(f64::NAN, f64::NAN, f64::NAN, 1.0);
        assert_eq!(confidence(&w, &r, &p), 0.0);
    }

    #[test]
    fn defaults_validate() {
        assert!(SpreadLiquidityParams::default().validate().is_ok());
        let json = serde_json::to_value(SpreadLiquidityParams::default()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 10);
    }

    #[test]
    fn golden_signals_on_the_recording() {
        let lines = testing::bundled_recording();
        let mut h = Harness::<SpreadLiquidity>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        assert!(
            !signals.is_empty(),
            "the recording must trigger the strategy with defaults"
        );
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/spread_liquidity.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            ticks in proptest::collection::vec(
                (1.0f64..1e6, 0.0f64..50.0, 0.0f64..1e4, 0i64..2_000),
                1..80,
            ),
            lookback in 5u32..=100,
        ) {
            let mut h = Harness::<SpreadLiquidity>::new(SpreadLiquidityParams {
                lookback_ticks: lookback,
                min_signal_interval_seconds: 30.0,
                ..Default::default()
            });
            let mut t = 0;
            for (bid, spread_bps, qty, dt) in ticks {
                t += dt;
                let book = depth(bid, bid * spread_bps / 10_000.0, qty);
                for s in run(&mut h, &book, t) {
                    proptest::prop_assert!(s.confidence >= 0.0 && s.confidence <= MAX_CONFIDENCE);
                    proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                    let (sl, tp) = (s.stop_loss.unwrap(), s.take_profit.unwrap());
                    proptest::prop_assert!(sl.is_finite() && tp.is_finite());
                    match s.action {
                        Action::Buy => proptest::prop_assert!(sl < s.price && tp > s.price),
                        Action::Sell => proptest::prop_assert!(sl > s.price && tp < s.price),
                    }
                    proptest::prop_assert_eq!(s.indicators.len(), 4);
                    proptest::prop_assert!(s.indicators.iter().all(|(_, v)| v.is_number()));
                }
            }
        }
    }
}
