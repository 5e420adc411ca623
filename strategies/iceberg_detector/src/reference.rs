//! The straightforward implementation this crate shipped first (full rescans, per-snapshot statistics over all
//! remembered quantities), kept for tests only: the optimised tracker must produce exactly its signals.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use strategy_sdk::{
    Action, EventContext, Level, MarketEvent, Signal, SignalSink, Strategy, StreamKind,
};

use crate::params::IcebergDetectorParams;

/// Highest confidence the strategy reports.
pub const MAX_CONFIDENCE: f64 = 0.95;
/// Most price levels tracked per side of one symbol; beyond it the level seen least recently is forgotten.
pub const MAX_LEVELS_PER_SIDE: usize = 1024;
/// Quantities remembered per level for the volume statistics (the original's per-level snapshot limit).
pub const SNAPSHOTS_PER_LEVEL: usize = 100;
/// Symbol slots available to `max_symbols` (its schema maximum).
pub const MAX_SYMBOL_SLOTS: usize = 200;
/// The anchor pattern needs this multiple of `persistence_threshold_seconds` (the original: 180 s vs 120 s).
pub const ANCHOR_PERSISTENCE_FACTOR: f64 = 1.5;
/// The original's confidences were written for a base confidence of 0.70; a different base shifts them all.
pub const REFERENCE_BASE_CONFIDENCE: f64 = 0.70;
/// Smallest stop distance, as a fraction of the mid price.
pub const MIN_RISK_FRACTION: f64 = 0.005;
/// Take-profit distance in stop distances.
pub const REWARD_MULTIPLE: f64 = 2.5;

/// Book side of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Bid level (a hidden buyer).
    Bid,
    /// Ask level (a hidden seller).
    Ask,
}

impl Side {
    /// `bid` or `ask`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Bid => "bid",
            Side::Ask => "ask",
        }
    }
}

/// Which footprint a level shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Eaten and quickly refilled at least `min_refill_count` times.
    Refill,
    /// Consistent size for longer than `persistence_threshold_seconds`.
    ConsistentSize,
    /// Present for longer than 1.5 × `persistence_threshold_seconds`.
    Anchor,
}

impl Pattern {
    /// `refill`, `consistent_size` or `anchor` (the original's names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Pattern::Refill => "refill",
            Pattern::ConsistentSize => "consistent_size",
            Pattern::Anchor => "anchor",
        }
    }
}

/// The history of one price level.
#[derive(Debug, Clone)]
struct LevelTrack {
    price: f64,
    /// Insertion order (the original iterated its levels in insertion order).
    seq: u64,
    /// The last quantities seen, at most [`SNAPSHOTS_PER_LEVEL`].
    qty: VecDeque<f64>,
    /// Event times of the last three appearances, oldest first (valid for the last `min(qty.len(), 3)`).
    times: [i64; 3],
    refill_count: u32,
    avg_refill_speed_s: f64,
    avg_volume: f64,
    volume_std: f64,
    consistent: bool,
    first_seen_ms: i64,
    last_seen_ms: i64,
}

impl LevelTrack {
    fn new() -> Self {
        Self {
            price: 0.0,
            seq: 0,
            qty: VecDeque::new(),
            times: [0; 3],
            refill_count: 0,
            avg_refill_speed_s: 0.0,
            avg_volume: 0.0,
            volume_std: 0.0,
            consistent: false,
            first_seen_ms: 0,
            last_seen_ms: 0,
        }
    }

    /// Turns a recycled slot into a fresh level (keeps the quantity buffer).
    fn reset(&mut self, price: f64, seq: u64, now_ms: i64) {
        self.price = price;
        self.seq = seq;
        self.qty.clear();
        self.times = [0; 3];
        self.refill_count = 0;
        self.avg_refill_speed_s = 0.0;
        self.avg_volume = 0.0;
        self.volume_std = 0.0;
        self.consistent = false;
        self.first_seen_ms = now_ms;
        self.last_seen_ms = now_ms;
    }

    /// Records one appearance: refill detection, then the volume statistics.
    fn record(&mut self, qty: f64, now_ms: i64, p: &IcebergDetectorParams) {
        if self.qty.len() >= SNAPSHOTS_PER_LEVEL {
            self.qty.pop_front();
        }
        self.qty.push_back(qty);
        self.times = [self.times[1], self.times[2], now_ms];
        self.last_seen_ms = now_ms;
        if self.is_refill(p) {
            self.refill_count = self.refill_count.saturating_add(1);
            if self.refill_count > 1 {
                self.avg_refill_speed_s =
                    (now_ms - self.first_seen_ms) as f64 / 1000.0 / f64::from(self.refill_count);
            }
        }
        self.update_statistics(p);
    }

    /// High → low → high over the last three appearances: the middle one below half the first, the last above
    /// 80 % of the first, all within `refill_speed_threshold_seconds`.
    fn is_refill(&self, p: &IcebergDetectorParams) -> bool {
        let n = self.qty.len();
        if n < 3 {
            return false;
        }
        let (v0, v1, v2) = (self.qty[n - 3], self.qty[n - 2], self.qty[n - 1]);
        let elapsed_s = (self.times[2] - self.times[0]) as f64 / 1000.0;
        v1 < v0 * 0.5 && v2 > v0 * 0.8 && elapsed_s < p.refill_speed_threshold_seconds
    }

    /// Mean and population standard deviation of the remembered quantities; consistent when their ratio is below
    /// `consistency_threshold` (left unchanged when the mean is 0, as in the original).
    fn update_statistics(&mut self, p: &IcebergDetectorParams) {
        let n = self.qty.len();
        if n < 2 {
            return;
        }
        let mean = self.qty.iter().sum::<f64>() / n as f64;
        let variance = self
            .qty
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n as f64;
        self.avg_volume = mean;
        self.volume_std = variance.sqrt();
        if mean > 0.0 {
            self.consistent = self.volume_std / mean < p.consistency_threshold;
        }
    }

    /// 1 − std / mean (0 when the mean is not positive or the figure is not finite).
    fn consistency_score(&self) -> f64 {
        if self.avg_volume > 0.0 {
            finite_or(1.0 - self.volume_std / self.avg_volume, 0.0)
        } else {
            0.0
        }
    }

    /// The footprint this level shows at `now_ms`, with its confidence.
    fn pattern(&self, now_ms: i64, p: &IcebergDetectorParams) -> Option<(Pattern, f64)> {
        let persistence_s = (now_ms - self.first_seen_ms) as f64 / 1000.0;
        let shift = p.base_confidence - REFERENCE_BASE_CONFIDENCE;
        let (pattern, c) = if self.refill_count >= p.min_refill_count {
            let c = (0.65 + f64::from(self.refill_count) * 0.05).min(0.85);
            (Pattern::Refill, c)
        } else if self.consistent && persistence_s > p.persistence_threshold_seconds {
            (Pattern::ConsistentSize, 0.70)
        } else if persistence_s > p.persistence_threshold_seconds * ANCHOR_PERSISTENCE_FACTOR {
            (Pattern::Anchor, 0.75)
        } else {
            return None;
        };
        Some((
            pattern,
            finite_or(c + shift, 0.0).clamp(0.0, MAX_CONFIDENCE),
        ))
    }
}

fn finite_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() {
        value
    } else {
        fallback
    }
}

/// The tracked levels of one side: `levels[..active]` are live, the rest are recycled slots kept for their buffers;
/// `index` maps a live level's price to its slot.
#[derive(Debug, Default)]
struct SideLevels {
    levels: Vec<LevelTrack>,
    active: usize,
    index: HashMap<u64, usize>,
}

/// Hash key of a price (0.0 and −0.0 are the same level).
fn price_key(price: f64) -> u64 {
    if price == 0.0 {
        0
    } else {
        price.to_bits()
    }
}

impl SideLevels {
    fn live(&self) -> &[LevelTrack] {
        &self.levels[..self.active]
    }

    /// The level at `price`, created if new (recycling a dead slot, or forgetting the least recently seen level
    /// when [`MAX_LEVELS_PER_SIDE`] are live). Grows to the bound once, then allocates nothing.
    fn level_mut(&mut self, price: f64, now_ms: i64, next_seq: &mut u64) -> &mut LevelTrack {
        let key = price_key(price);
        if let Some(&i) = self.index.get(&key) {
            return &mut self.levels[i];
        }
        let seq = *next_seq;
        *next_seq += 1;
        let i = if self.active < MAX_LEVELS_PER_SIDE {
            if self.active == self.levels.len() {
                self.levels.push(LevelTrack::new());
            }
            self.active += 1;
            self.active - 1
        } else {
            let mut oldest = 0;
            for (i, l) in self.live().iter().enumerate() {
                let o = &self.levels[oldest];
                if (l.last_seen_ms, l.seq) < (o.last_seen_ms, o.seq) {
                    oldest = i;
                }
            }
            self.index.remove(&price_key(self.levels[oldest].price));
            oldest
        };
        self.index.insert(key, i);
        self.levels[i].reset(price, seq, now_ms);
        &mut self.levels[i]
    }

    /// Forgets levels last seen before `cutoff_ms`.
    fn prune(&mut self, cutoff_ms: i64) {
        let mut i = 0;
        while i < self.active {
            if self.levels[i].last_seen_ms < cutoff_ms {
                self.index.remove(&price_key(self.levels[i].price));
                self.active -= 1;
                self.levels.swap(i, self.active);
                if i < self.active {
                    self.index.insert(price_key(self.levels[i].price), i);
                }
            } else {
                i += 1;
            }
        }
    }

    fn clear(&mut self) {
        self.active = 0;
        self.index.clear();
    }
}

/// Per-symbol state: the tracked bid and ask levels (at most [`MAX_LEVELS_PER_SIDE`] each), the per-level
/// cooldowns (at most [`MAX_COOLDOWNS`]) and the symbol's `max_symbols` slot.
#[derive(Debug, Default)]
pub struct IcebergState {
    bids: SideLevels,
    asks: SideLevels,
    next_seq: u64,
    slot: Option<usize>,
}

impl IcebergState {
    /// Number of live tracked levels (bids + asks).
    pub fn tracked_levels(&self) -> usize {
        self.bids.active + self.asks.active
    }

    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    fn update(&mut self, bids: &[Level], asks: &[Level], now_ms: i64, p: &IcebergDetectorParams) {
        for (side, levels) in [(Side::Bid, bids), (Side::Ask, asks)] {
            for l in levels {
                if !(l.price.is_finite() && l.qty.is_finite() && l.qty >= 0.0) {
                    continue;
                }
                let tracked = match side {
                    Side::Bid => &mut self.bids,
                    Side::Ask => &mut self.asks,
                };
                tracked
                    .level_mut(l.price, now_ms, &mut self.next_seq)
                    .record(l.qty, now_ms, p);
            }
        }
        let cutoff = now_ms.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        self.bids.prune(cutoff);
        self.asks.prune(cutoff);
    }

    /// The strongest footprint within `level_proximity_pct` of `mid`: highest confidence, ties to bids, then to
    /// the level tracked first (the original's `max` over its insertion-ordered bid and ask maps).
    fn strongest(
        &self,
        mid: f64,
        now_ms: i64,
        p: &IcebergDetectorParams,
    ) -> Option<(Side, &LevelTrack, Pattern, f64)> {
        let range = mid * (p.level_proximity_pct / 100.0);
        let (lo, hi) = (mid - range, mid + range);
        let mut best: Option<(Side, &LevelTrack, Pattern, f64)> = None;
        for (side, tracked) in [(Side::Bid, &self.bids), (Side::Ask, &self.asks)] {
            for l in tracked.live() {
                if !(lo <= l.price && l.price <= hi) {
                    continue;
                }
                let Some((pattern, c)) = l.pattern(now_ms, p) else {
                    continue;
                };
                let better = match &best {
                    None => true,
                    Some((bs, bl, _, bc)) => c > *bc || (c == *bc && *bs == side && l.seq < bl.seq),
                };
                if better {
                    best = Some((side, l, pattern, c));
                }
            }
        }
        best
    }
}

/// One `max_symbols` slot shared by all symbols: its owner (`symbol id + 1`, 0 when free) and the event time of the
/// owner's last snapshot.
#[derive(Debug, Default)]
struct SymbolSlot {
    owner: AtomicU64,
    last_ms: AtomicI64,
}

/// The iceberg detector. Holds the `max_symbols` slots; everything else is per-symbol state.
#[derive(Debug)]
pub struct IcebergDetector {
    slots: Box<[SymbolSlot]>,
}

impl Default for IcebergDetector {
    fn default() -> Self {
        Self {
            slots: (0..MAX_SYMBOL_SLOTS)
                .map(|_| SymbolSlot::default())
                .collect(),
        }
    }
}

impl IcebergDetector {
    /// Makes sure the symbol holds one of the first `max_symbols` slots; takes a free slot, or one whose owner has
    /// sent nothing for `history_window_seconds` (its levels would all have expired). False when every slot is busy.
    fn admit(
        &self,
        ctx: &EventContext<'_>,
        p: &IcebergDetectorParams,
        state: &mut IcebergState,
    ) -> bool {
        let me = u64::from(ctx.symbol_id.0) + 1;
        let now = ctx.event_time_ms;
        let limit = (p.max_symbols as usize).min(self.slots.len());
        if let Some(i) = state.slot {
            let slot = &self.slots[i];
            if slot.owner.load(Ordering::Acquire) == me {
                if i < limit {
                    slot.last_ms.store(now, Ordering::Release);
                    return true;
                }
                // max_symbols was lowered below this slot: give it up and look again
                let _ = slot
                    .owner
                    .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Acquire);
            }
            state.slot = None;
            state.clear();
        }
        let stale_before = now.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        for (i, slot) in self.slots[..limit].iter().enumerate() {
            let owner = slot.owner.load(Ordering::Acquire);
            let free =
                owner == 0 || owner == me || slot.last_ms.load(Ordering::Acquire) < stale_before;
            if free
                && slot
                    .owner
                    .compare_exchange(owner, me, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                slot.last_ms.store(now, Ordering::Release);
                state.slot = Some(i);
                state.clear();
                return true;
            }
        }
        false
    }
}

impl Strategy for IcebergDetector {
    type Params = IcebergDetectorParams;
    type SymbolState = IcebergState;

    const ID: &'static str = "iceberg_detector";
    const NAME: &'static str = "Iceberg Detector";
    const DESCRIPTION: &'static str =
        "Identifies large hidden institutional orders through order book pattern analysis";
    const CATEGORY: &'static str = "microstructure";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];

    fn create() -> Self {
        Self::default()
    }

    fn min_signal_interval_ms(params: &IcebergDetectorParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    fn on_event(
        &self,
        ctx: &EventContext<'_>,
        p: &IcebergDetectorParams,
        state: &mut IcebergState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        let (Some(best_bid), Some(best_ask)) = (book.best_bid(), book.best_ask()) else {
            return;
        };
        if !self.admit(ctx, p, state) {
            return;
        }
        let now = ctx.event_time_ms;
        state.update(&book.bids, &book.asks, now, p);
        let mid = (best_bid.price + best_ask.price) / 2.0;
        if !(mid.is_finite() && mid > 0.0) {
            return;
        }
        let Some((side, level, pattern, confidence)) = state.strongest(mid, now, p) else {
            return;
        };
        let iceberg_price = level.price;
        let refill_count = level.refill_count;
        let avg_refill_speed_s = level.avg_refill_speed_s;
        let consistency = level.consistency_score();
        let persistence_s = (now - level.first_seen_ms) as f64 / 1000.0;

        let distance = (mid - iceberg_price).abs();
        let risk = distance.max(mid * MIN_RISK_FRACTION);
        let (action, stop_loss, take_profit, who) = match side {
            Side::Bid => (
                Action::Buy,
                iceberg_price - risk,
                mid + risk * REWARD_MULTIPLE,
                "buyer",
            ),
            Side::Ask => (
                Action::Sell,
                iceberg_price + risk,
                mid - risk * REWARD_MULTIPLE,
                "seller",
            ),
        };
        let distance_pct = distance / mid * 100.0;
        sink.emit(
            Signal::new(Self::ID, Self::NAME, ctx, action, confidence, mid)
                .current_price(mid)
                .risk(stop_loss, take_profit)
                .indicator("refill_count", refill_count)
                .indicator("volume_consistency", consistency)
                .indicator("persistence_seconds", persistence_s)
                .indicator("distance_to_level_pct", distance_pct)
                .meta("pattern_type", pattern.as_str())
                .meta(
                    "reasoning",
                    format!(
                        "large hidden {who} at {iceberg_price} ({})",
                        pattern.as_str()
                    ),
                )
                .meta("iceberg_price", iceberg_price)
                .meta("iceberg_side", side.as_str())
                .meta("avg_refill_speed", avg_refill_speed_s)
                .meta("stop_loss", stop_loss)
                .meta("take_profit", take_profit),
        );
    }
}

/// The optimised strategy against this reference: same signals, field for field.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod equivalence {
    use std::collections::VecDeque;

    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::{DepthBook, MarketEvent, Signal};

    use crate::params::IcebergDetectorParams;

    type Fast = crate::strategy::IcebergDetector;
    type Slow = super::IcebergDetector;

    fn both(p: &IcebergDetectorParams) -> (Harness<Fast>, Harness<Slow>) {
        (Harness::new(p.clone()), Harness::new(p.clone()))
    }

    fn depth_messages() -> Vec<(String, i64, DepthBook)> {
        let lines = testing::bundled_recording();
        let mut decoder = strategy_sdk::decode::Decoder::default();
        let mut out = Vec::new();
        for line in &lines {
            let Ok(d) = decoder.decode(line.as_bytes()) else {
                continue;
            };
            if let MarketEvent::Depth(b) = d.event {
                out.push((d.symbol.to_owned(), d.event_time_ms, b.clone()));
            }
        }
        out
    }

    fn replay(
        msgs: &[(String, i64, DepthBook)],
        p: &IcebergDetectorParams,
        passes: usize,
    ) -> (Vec<Signal>, Vec<Signal>) {
        let (mut fast, mut slow) = both(p);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..passes {
            for (symbol, t, book) in msgs {
                a.extend(fast.feed(symbol, *t, MarketEvent::Depth(book)));
                b.extend(slow.feed(symbol, *t, MarketEvent::Depth(book)));
            }
        }
        (a, b)
    }

    #[test]
    fn same_signals_on_the_recording_with_various_params() {
        let msgs = depth_messages();
        let d = IcebergDetectorParams::default;
        let variants = [
            d(),
            IcebergDetectorParams {
                min_refill_count: 2,
                persistence_threshold_seconds: 60.0,
                ..d()
            },
            IcebergDetectorParams {
                base_confidence: 1.0,
                min_refill_count: 2,
                min_signal_interval_seconds: 60.0,
                ..d()
            },
            IcebergDetectorParams {
                consistency_threshold: 0.5,
                level_proximity_pct: 0.1,
                history_window_seconds: 60,
                ..d()
            },
            IcebergDetectorParams {
                consistency_threshold: 0.05,
                refill_speed_threshold_seconds: 30.0,
                ..d()
            },
        ];
        for (k, p) in variants.iter().enumerate() {
            let (a, b) = replay(&msgs, p, 1);
            assert_eq!(a, b, "variant {k}");
            assert!(!a.is_empty(), "variant {k} fires");
        }
    }

    #[test]
    fn same_signals_when_event_time_jumps_back() {
        // the recording three times over with its own timestamps (time jumps back six minutes twice)
        let msgs = depth_messages();
        let p = IcebergDetectorParams {
            min_signal_interval_seconds: 60.0,
            ..Default::default()
        };
        let (a, b) = replay(&msgs, &p, 3);
        assert_eq!(a, b);
    }

    /// Deterministic pseudo-random numbers (xorshift) for the long random streams below.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Random books over a price grid of `grid` ticks drifting slowly, quantities drawn from a few regimes
    /// (constant, ±small noise, eaten/refilled, zeros, huge), times mostly forward with occasional jumps back.
    fn random_run(seed: u64, grid: u64, p: &IcebergDetectorParams, events: usize) {
        let mut rng = Rng(seed | 1);
        let (mut fast, mut slow) = both(p);
        let mut t = 1_700_000_000_000i64;
        let mut center = grid as i64;
        let mut base_qty: Vec<f64> = (0..4 * grid).map(|_| 1.0 + rng.unit() * 9.0).collect();
        for e in 0..events {
            t += match rng.below(100) {
                0 => -(rng.below(400_000) as i64),
                1..=3 => rng.below(200_000) as i64,
                4..=6 => 0,
                _ => 100 + rng.below(900) as i64,
            };
            center = (center + rng.below(5) as i64 - 2).clamp(25, 3 * grid as i64);
            let regime = (seed as usize + e / 50) % 5;
            let level = |tick: i64, rng: &mut Rng| {
                let price = 100.0 + tick as f64 * 0.01;
                let b = base_qty[tick as usize];
                let q = match regime {
                    0 => b,
                    1 => b * (1.0 + (rng.unit() - 0.5) * 0.2),
                    2 => {
                        if rng.below(2) == 0 {
                            b
                        } else {
                            b * 0.3
                        }
                    }
                    3 => {
                        if rng.below(4) == 0 {
                            0.0
                        } else {
                            b
                        }
                    }
                    _ => b * 10f64.powi(rng.below(40) as i32 - 10),
                };
                (price, q)
            };
            let depth = 1 + rng.below(20) as i64;
            let bids: Vec<(f64, f64)> = (0..depth)
                .map(|k| level(center - 1 - k - rng.below(2) as i64, &mut rng))
                .collect();
            let asks: Vec<(f64, f64)> = (0..depth)
                .map(|k| level(center + 1 + k + rng.below(2) as i64, &mut rng))
                .collect();
            if rng.below(500) == 0 {
                for q in base_qty.iter_mut() {
                    *q = 1.0 + rng.unit() * 9.0;
                }
            }
            let book = testing::book(&bids, &asks);
            let symbol = if rng.below(8) == 0 {
                "ETHUSDT"
            } else {
                "BTCUSDT"
            };
            let a = fast.feed(symbol, t, MarketEvent::Depth(&book));
            let b = slow.feed(symbol, t, MarketEvent::Depth(&book));
            assert_eq!(a, b, "seed {seed} event {e}");
        }
    }

    #[test]
    fn same_signals_on_random_streams() {
        let d = IcebergDetectorParams::default;
        let variants = [
            IcebergDetectorParams {
                persistence_threshold_seconds: 60.0,
                min_signal_interval_seconds: 60.0,
                ..d()
            },
            IcebergDetectorParams {
                min_refill_count: 2,
                base_confidence: 1.0,
                persistence_threshold_seconds: 60.0,
                min_signal_interval_seconds: 60.0,
                consistency_threshold: 0.2,
                history_window_seconds: 60,
                ..d()
            },
            // outside the schema ranges: the exhaustive search path
            IcebergDetectorParams {
                min_refill_count: 1,
                persistence_threshold_seconds: -1.0,
                consistency_threshold: -0.1,
                min_signal_interval_seconds: 60.0,
                ..d()
            },
        ];
        for (k, p) in variants.iter().enumerate() {
            for (seed, grid) in [(1, 40), (2, 400), (3, 1500), (4, 3000)] {
                random_run(seed * 7919 + k as u64, grid, p, 6_000);
            }
        }
    }

    /// The O(1) consistency decision never contradicts the exact computation.
    #[test]
    fn running_decision_agrees_with_exact_statistics() {
        let mut rng = Rng(12345);
        let mut undecided = 0usize;
        let mut decided = 0usize;
        for round in 0..400 {
            let mut track = crate::strategy::testing_track();
            let threshold = [0.05, 0.1, 0.2, 0.5, 1e-12][round % 5];
            let scale = 10f64.powi(rng.below(30) as i32 - 15);
            let mut window: VecDeque<f64> = VecDeque::new();
            for i in 0..600 {
                let q = match (round / 5 + i / 97) % 6 {
                    0 => scale,
                    1 => scale * (1.0 + (rng.unit() - 0.5) * 2.0 * threshold),
                    2 => scale * (1.0 + (rng.unit() - 0.5) * 0.5),
                    3 => scale * 10f64.powi(rng.below(24) as i32 - 12),
                    4 => 0.0,
                    _ => scale * (1.0 + (rng.unit() - 0.5) * 4.0 * threshold),
                };
                if window.len() == 100 {
                    window.pop_front();
                }
                window.push_back(q);
                let (n, decision) = crate::strategy::testing_record(&mut track, q, threshold);
                assert_eq!(n, window.len());
                let (mean, std) = {
                    let n = window.len();
                    let mean = window.iter().sum::<f64>() / n as f64;
                    let var =
                        window.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
                    (mean, var.sqrt())
                };
                match decision {
                    Some(c) => {
                        decided += 1;
                        assert!(mean > 0.0);
                        assert_eq!(c, std / mean < threshold, "round {round} step {i}");
                    }
                    None => undecided += 1,
                }
            }
        }
        assert!(
            decided > 4 * undecided,
            "{decided} decided, {undecided} exact"
        );
    }
}
