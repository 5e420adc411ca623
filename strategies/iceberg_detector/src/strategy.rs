//! The iceberg detection rules and the bounded per-symbol level tracker.

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
/// Most `(price, side)` cooldowns remembered per symbol.
pub const MAX_COOLDOWNS: usize = 64;
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

/// A `(price rounded to cents, side)` that signalled recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cooldown {
    price_cents: i64,
    side: Side,
    at_ms: i64,
}

/// Per-symbol state: the tracked bid and ask levels (at most [`MAX_LEVELS_PER_SIDE`] each), the per-level
/// cooldowns (at most [`MAX_COOLDOWNS`]) and the symbol's `max_symbols` slot.
#[derive(Debug, Default)]
pub struct IcebergState {
    bids: SideLevels,
    asks: SideLevels,
    next_seq: u64,
    cooldowns: VecDeque<Cooldown>,
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
        self.cooldowns.clear();
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

    fn cooling(&self, price_cents: i64, side: Side, now_ms: i64, interval_ms: f64) -> bool {
        self.cooldowns.iter().any(|c| {
            c.price_cents == price_cents
                && c.side == side
                && ((now_ms - c.at_ms) as f64) < interval_ms
        })
    }

    fn start_cooldown(&mut self, price_cents: i64, side: Side, now_ms: i64, interval_ms: f64) {
        self.cooldowns.retain(|c| {
            ((now_ms - c.at_ms) as f64) < interval_ms
                && !(c.price_cents == price_cents && c.side == side)
        });
        if self.cooldowns.capacity() == 0 {
            self.cooldowns.reserve_exact(MAX_COOLDOWNS);
        }
        if self.cooldowns.len() >= MAX_COOLDOWNS {
            self.cooldowns.pop_front();
        }
        self.cooldowns.push_back(Cooldown {
            price_cents,
            side,
            at_ms: now_ms,
        });
    }
}

/// A price rounded to cents, as the original keyed its cooldowns.
fn price_cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
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
        let key = price_cents(iceberg_price);
        let interval_ms = p.min_signal_interval_seconds * 1000.0;
        if state.cooling(key, side, now, interval_ms) {
            return;
        }
        state.start_cooldown(key, side, now, interval_ms);

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::{DepthBook, StrategyParams};

    fn run(h: &mut Harness<IcebergDetector>, book: &DepthBook, t: i64) -> Vec<Signal> {
        h.feed("BTCUSDT", t, MarketEvent::Depth(book))
    }

    /// A book with a bid level at 99.9 of `qty` under the best bid 100 and an ask at 100.1 whose size changes
    /// every snapshot (so only the bid at 99.9 can look like an iceberg).
    fn book_with_bid(qty: f64, noise: f64) -> DepthBook {
        testing::book(
            &[(100.0, 1.0 + noise), (99.9, qty)],
            &[(100.1, 5.0 + noise * 7.0)],
        )
    }

    /// Feeds eaten/refilled quantities 10, 2, 10, 2, … at `step` ms; returns all signals.
    fn refills(h: &mut Harness<IcebergDetector>, start: i64, step: i64, n: usize) -> Vec<Signal> {
        let mut out = Vec::new();
        for i in 0..n {
            let qty = if i % 2 == 0 { 10.0 } else { 2.0 };
            out.extend(run(
                h,
                &book_with_bid(qty, (i % 5) as f64),
                start + i as i64 * step,
            ));
        }
        out
    }

    #[test]
    fn three_fast_refills_buy_at_mid() {
        let mut h = Harness::<IcebergDetector>::default();
        // refills complete at the 3rd, 5th and 7th snapshot
        assert!(refills(&mut h, 0, 1_000, 6).is_empty());
        let s = refills(&mut h, 6_000, 1_000, 1);
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.action, Action::Buy);
        let mid = 100.05;
        assert!((s.price - mid).abs() < 1e-9);
        assert!((s.confidence - 0.80).abs() < 1e-9, "{}", s.confidence);
        let meta: std::collections::HashMap<_, _> = s.metadata.iter().cloned().collect();
        assert_eq!(meta["pattern_type"], "refill");
        assert_eq!(meta["iceberg_side"], "bid");
        assert_eq!(meta["iceberg_price"], 99.9);
        // avg refill speed: 6 s since first seen / 3 refills
        assert!((meta["avg_refill_speed"].as_f64().unwrap() - 2.0).abs() < 1e-9);
        // risk: distance 0.15 < 0.5 % of mid → 0.50025
        let risk = mid * 0.005;
        assert!((s.stop_loss.unwrap() - (99.9 - risk)).abs() < 1e-9);
        assert!((s.take_profit.unwrap() - (mid + 2.5 * risk)).abs() < 1e-9);
        assert_eq!(s.indicators.len(), 4);
    }

    #[test]
    fn hidden_seller_sells_with_stop_above_the_level() {
        let mut h = Harness::<IcebergDetector>::default();
        let mut out = Vec::new();
        for i in 0..7 {
            let qty = if i % 2 == 0 { 8.0 } else { 1.0 };
            let b = testing::book(
                &[(100.0, 1.0 + i as f64)],
                &[(100.1, 3.0 + i as f64), (100.2, qty)],
            );
            out.extend(run(&mut h, &b, i * 500));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].action, Action::Sell);
        let mid = 100.05;
        let risk = mid * 0.005;
        assert!((out[0].stop_loss.unwrap() - (100.2 + risk)).abs() < 1e-9);
        assert!((out[0].take_profit.unwrap() - (mid - 2.5 * risk)).abs() < 1e-9);
    }

    #[test]
    fn refill_speed_threshold_is_strict() {
        // three appearances 10, 2, 10: a refill when they span less than 5 s; with min_refill_count 2, two refills
        // (five appearances) are needed
        let p = IcebergDetectorParams {
            min_refill_count: 2,
            ..Default::default()
        };
        for (span_ms, expected) in [(4_998, 1), (5_000, 0)] {
            let mut h = Harness::<IcebergDetector>::new(p.clone());
            let step = span_ms / 2;
            let n = refills(&mut h, 0, step, 5).len();
            assert_eq!(n, expected, "span {span_ms} ms");
        }
    }

    #[test]
    fn refill_needs_a_deep_drop_and_a_full_restore() {
        let p = IcebergDetectorParams {
            min_refill_count: 2,
            ..Default::default()
        };
        let seq = |qs: &[f64]| {
            let mut h = Harness::<IcebergDetector>::new(p.clone());
            let mut n = 0;
            for (i, &q) in qs.iter().enumerate() {
                n += run(&mut h, &book_with_bid(q, (i % 5) as f64), i as i64 * 500).len();
            }
            n
        };
        assert_eq!(
            seq(&[10.0, 4.99, 8.01, 4.0, 9.0]),
            1,
            "just past both edges"
        );
        assert_eq!(seq(&[10.0, 5.0, 9.0, 4.0, 9.0]), 0, "drop to exactly half");
        assert_eq!(
            seq(&[10.0, 4.0, 8.0, 3.0, 9.0]),
            0,
            "restore to exactly 80 %"
        );
    }

    #[test]
    fn proximity_to_mid_is_inclusive() {
        // the level at 99.9 is 0.1497 % below the mid 100.05
        let level_pct = (100.05 - 99.9) / 100.05 * 100.0;
        for (pct, expected) in [(level_pct * 0.999, 0), (level_pct * 1.001, 1)] {
            let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
                level_proximity_pct: pct,
                ..Default::default()
            });
            assert_eq!(refills(&mut h, 0, 1_000, 7).len(), expected, "pct {pct}");
        }
    }

    /// A quiet book: the same levels every `step` ms, with sizes varying by `wiggle` (relative).
    fn steady(
        h: &mut Harness<IcebergDetector>,
        from: i64,
        to: i64,
        step: i64,
        wiggle: f64,
    ) -> Vec<Signal> {
        let mut out = Vec::new();
        let mut t = from;
        let mut i = 0;
        while t <= to {
            let w = if i % 2 == 0 {
                1.0 + wiggle
            } else {
                1.0 - wiggle
            };
            let b = testing::book(&[(100.0, 5.0 * w)], &[(100.1, 7.0 * w)]);
            out.extend(run(h, &b, t));
            t += step;
            i += 1;
        }
        out
    }

    #[test]
    fn consistent_size_after_persistence_threshold() {
        // sizes within ±5 % (cv 0.05 < 0.1): consistent; fires once the level is older than 120 s
        let mut h = Harness::<IcebergDetector>::default();
        assert!(
            steady(&mut h, 0, 120_000, 1_000, 0.05).is_empty(),
            "at exactly 120 s"
        );
        let s = steady(&mut h, 120_001, 120_001, 1_000, 0.05);
        assert_eq!(s.len(), 1);
        assert!((s[0].confidence - 0.70).abs() < 1e-12);
        let meta: std::collections::HashMap<_, _> = s[0].metadata.iter().cloned().collect();
        assert_eq!(meta["pattern_type"], "consistent_size");
        // the bid is tracked first and wins the tie with the ask
        assert_eq!(meta["iceberg_side"], "bid");
        assert_eq!(s[0].action, Action::Buy);
    }

    #[test]
    fn anchor_after_one_and_a_half_persistence_thresholds() {
        // sizes ±20 %: never consistent; the level anchors after 180 s
        let mut h = Harness::<IcebergDetector>::default();
        assert!(steady(&mut h, 0, 180_000, 1_000, 0.2).is_empty());
        let s = steady(&mut h, 180_001, 180_001, 1_000, 0.2);
        assert_eq!(s.len(), 1);
        assert!((s[0].confidence - 0.75).abs() < 1e-12);
        assert_eq!(s[0].metadata[0].1, "anchor");
        // a longer persistence threshold moves both patterns
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            persistence_threshold_seconds: 200.0,
            ..Default::default()
        });
        assert!(steady(&mut h, 0, 300_000, 1_000, 0.2).is_empty());
        assert_eq!(steady(&mut h, 300_001, 300_001, 1_000, 0.2).len(), 1);
    }

    #[test]
    fn base_confidence_shifts_every_pattern() {
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            base_confidence: 0.8,
            ..Default::default()
        });
        let s = steady(&mut h, 0, 181_000, 1_000, 0.2);
        assert!((s[0].confidence - 0.85).abs() < 1e-9);
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            base_confidence: 1.0,
            min_refill_count: 2,
            ..Default::default()
        });
        for s in refills(&mut h, 0, 1_000, 40) {
            assert!(s.confidence <= MAX_CONFIDENCE);
        }
    }

    #[test]
    fn cooldown_is_per_level_and_in_event_time() {
        let mut h = Harness::<IcebergDetector>::default();
        let first = steady(&mut h, 0, 181_000, 1_000, 0.2);
        assert_eq!(first.len(), 1);
        let t0 = first[0].event_time_ms;
        // the same level stays strongest and is rate limited until 120 s later
        assert!(steady(&mut h, t0 + 1_000, t0 + 119_999, 1_000, 0.2).is_empty());
        let again = steady(&mut h, t0 + 120_000, t0 + 120_000, 1_000, 0.2);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].event_time_ms, t0 + 120_000);
        // a different level is not held back by that cooldown: a refilling bid two ticks away fires at once
        let mut out = Vec::new();
        for i in 0..7 {
            let q = if i % 2 == 0 { 10.0 } else { 2.0 };
            let b = testing::book(&[(100.0, 5.2), (99.8, q)], &[(100.1, 7.0 * 1.2)]);
            out.extend(run(&mut h, &b, t0 + 121_000 + i * 500));
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].metadata[2].1, 99.8);
    }

    #[test]
    fn levels_expire_after_the_history_window() {
        // two refills on the bid by 4 s, then it leaves the book; a snapshot at `gap_at` prunes it if it was last
        // seen more than 60 s before; a third refill afterwards only fires if the first two are remembered
        let gone = testing::book(&[(100.0, 1.0)], &[(100.1, 5.0)]);
        for (gap_at, expected) in [(64_000, 1), (64_001, 0)] {
            let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
                history_window_seconds: 60,
                ..Default::default()
            });
            assert!(refills(&mut h, 0, 1_000, 5).is_empty());
            assert!(run(&mut h, &gone, gap_at).is_empty());
            assert_eq!(
                refills(&mut h, 65_000, 1_000, 3).len(),
                expected,
                "gap at {gap_at}"
            );
        }
    }

    #[test]
    fn tracked_levels_are_bounded() {
        let mut st = IcebergState::default();
        let p = IcebergDetectorParams::default();
        for i in 0..2_000 {
            let price = 100.0 + i as f64 * 0.01;
            let levels: Vec<Level> = (0..20).map(|k| Level::new(price + k as f64, 1.0)).collect();
            st.update(&levels, &levels, i * 100, &p);
            assert!(st.bids.active <= MAX_LEVELS_PER_SIDE && st.asks.active <= MAX_LEVELS_PER_SIDE);
        }
        assert_eq!(st.tracked_levels(), 2 * MAX_LEVELS_PER_SIDE);
        assert!(st.bids.levels.len() <= MAX_LEVELS_PER_SIDE);
        // the current snapshot's levels survive eviction
        for k in 0..20 {
            let price = 100.0 + 1_999.0 * 0.01 + k as f64;
            assert!(st.bids.live().iter().any(|l| l.price == price));
        }
        // quantities per level are bounded too
        let one = [Level::new(1.0, 1.0)];
        for i in 0..500 {
            st.update(&one, &one, 300_000 + i, &p);
        }
        let l = st.bids.live().iter().find(|l| l.price == 1.0).unwrap();
        assert_eq!(l.qty.len(), SNAPSHOTS_PER_LEVEL);
    }

    #[test]
    fn max_symbols_is_honoured() {
        let p = IcebergDetectorParams {
            max_symbols: 10,
            ..Default::default()
        };
        let mut h = Harness::<IcebergDetector>::new(p);
        let b = book_with_bid(10.0, 0.0);
        for i in 0..11 {
            h.feed(&format!("SYM{i}"), 0, MarketEvent::Depth(&b));
        }
        let owners: Vec<u64> = h
            .strategy()
            .slots
            .iter()
            .map(|s| s.owner.load(Ordering::Relaxed))
            .collect();
        assert_eq!(&owners[..10], &(1..=10).collect::<Vec<_>>()[..]);
        assert!(
            owners[10..].iter().all(|&o| o == 0),
            "the 11th symbol is not tracked"
        );
        // the 11th symbol gets in once a tracked symbol has been silent for the whole history window
        for i in 0..10 {
            if i != 3 {
                h.feed(&format!("SYM{i}"), 300_000, MarketEvent::Depth(&b));
            }
        }
        h.feed("SYM10", 300_001, MarketEvent::Depth(&b));
        assert_eq!(h.strategy().slots[3].owner.load(Ordering::Relaxed), 11);
        // and the evicted one starts over when it comes back (no slot free now)
        h.feed("SYM3", 300_002, MarketEvent::Depth(&b));
        assert!(h
            .strategy()
            .slots
            .iter()
            .all(|s| s.owner.load(Ordering::Relaxed) != 4));
    }

    #[test]
    fn empty_and_odd_books_do_not_panic() {
        let mut h = Harness::<IcebergDetector>::default();
        for (i, b) in [
            testing::book(&[], &[]),
            testing::book(&[(100.0, 1.0)], &[]),
            testing::book(&[(100.0, 0.0)], &[(100.0, 0.0)]),
            testing::book(&[(0.0, 1.0)], &[(0.0, 1.0)]),
            testing::book(&[(f64::MAX, f64::MAX)], &[(f64::MAX, f64::MAX)]),
            testing::book(&[(f64::NAN, 1.0)], &[(100.0, f64::INFINITY)]),
            testing::book(&[(100.0, 1.0), (100.0, 1.0)], &[(99.0, 1.0)]),
        ]
        .iter()
        .enumerate()
        {
            for s in run(&mut h, b, i as i64) {
                assert!(s.confidence.is_finite() && s.price.is_finite());
            }
        }
    }

    #[test]
    fn defaults_validate() {
        assert!(IcebergDetectorParams::default().validate().is_ok());
        let json = serde_json::to_value(IcebergDetectorParams::default()).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 9);
    }

    #[test]
    fn golden_signals_on_the_recording() {
        let lines = testing::bundled_recording();
        let mut h = Harness::<IcebergDetector>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        assert!(
            !signals.is_empty(),
            "the recording must trigger the strategy with defaults"
        );
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/iceberg_detector.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            snaps in proptest::collection::vec(
                (
                    proptest::collection::vec((99.0f64..101.0, 0.0f64..20.0), 1..6),
                    proptest::collection::vec((99.0f64..101.0, 0.0f64..20.0), 1..6),
                    0i64..3_000,
                ),
                1..120,
            ),
            min_refill in 2u32..=10,
        ) {
            let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
                min_refill_count: min_refill,
                persistence_threshold_seconds: 60.0,
                ..Default::default()
            });
            let mut t = 0;
            for (mut bids, mut asks, dt) in snaps {
                t += dt;
                // snap prices to a 0.1 grid so levels repeat
                for l in bids.iter_mut().chain(asks.iter_mut()) {
                    l.0 = (l.0 * 10.0).round() / 10.0;
                }
                let book = testing::book(&bids, &asks);
                for s in run(&mut h, &book, t) {
                    proptest::prop_assert!(s.confidence >= 0.0 && s.confidence <= MAX_CONFIDENCE);
                    proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                    let (sl, tp) = (s.stop_loss.unwrap(), s.take_profit.unwrap());
                    proptest::prop_assert!(sl.is_finite() && tp.is_finite());
                    match s.action {
                        Action::Buy => proptest::prop_assert!(sl <= s.price && tp > s.price),
                        Action::Sell => proptest::prop_assert!(sl >= s.price && tp < s.price),
                    }
                    proptest::prop_assert_eq!(s.indicators.len(), 4);
                    proptest::prop_assert!(s.indicators.iter().all(|(_, v)| v.is_number()));
                }
            }
        }
    }
}
