//! The iceberg detection rules: patterns and confidences, the strongest-level search, the `max_symbols` slots and
//! the signal. The levels themselves live in the compact store ([`crate::store`]).

use strategy_sdk::{
    Action, EventContext, Level, MarketEvent, Signal, SignalSink, Strategy, StreamKind, SymbolId,
};

use crate::params::IcebergDetectorParams;
use crate::store::{LevelTrack, Record, SideStore};

/// Highest confidence the strategy reports.
pub const MAX_CONFIDENCE: f64 = 0.95;
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

/// The refill pattern's confidence for `refill_count` refills.
fn refill_confidence(refill_count: u32, p: &IcebergDetectorParams) -> f64 {
    confidence((0.65 + f64::from(refill_count) * 0.05).min(0.85), p)
}

/// A pattern's confidence written for base 0.70, shifted to `base_confidence` and capped.
fn confidence(c: f64, p: &IcebergDetectorParams) -> f64 {
    let c = c + p.base_confidence - REFERENCE_BASE_CONFIDENCE;
    if c.is_finite() {
        c.clamp(0.0, MAX_CONFIDENCE)
    } else {
        0.0
    }
}

/// The strongest level found so far.
#[derive(Debug, Clone, Copy)]
struct Best<'a> {
    side: Side,
    pattern: Pattern,
    confidence: f64,
    rec: &'a Record,
    /// The live level (its quantities give `volume_consistency`); `None` for a remembered one.
    level: Option<&'a LevelTrack>,
}

/// Whether a level of confidence `c` beats `best`: higher confidence; on a tie bids before asks, then the level
/// tracked first.
fn beats(c: f64, side: Side, seq: u64, best: Option<&Best<'_>>) -> bool {
    let Some(b) = best else { return true };
    if c != b.confidence {
        return c > b.confidence;
    }
    match (side, b.side) {
        (Side::Bid, Side::Ask) => true,
        (Side::Ask, Side::Bid) => false,
        _ => seq < b.rec.seq,
    }
}

/// The footprint of the level `rec` at `now_ms` if it can still beat `best` (the consistency statistics are
/// computed only for a level old enough and strong enough to win). A remembered level (`level` is `None`, it left
/// the store) can only show refills.
fn pattern_if_better(
    rec: &Record,
    level: Option<&LevelTrack>,
    side: Side,
    now_ms: i64,
    p: &IcebergDetectorParams,
    best: Option<&Best<'_>>,
) -> Option<(Pattern, f64)> {
    if rec.refill_count >= p.min_refill_count {
        let c = refill_confidence(rec.refill_count, p);
        return beats(c, side, rec.seq, best).then_some((Pattern::Refill, c));
    }
    let level = level?;
    let persistence_s = (now_ms - rec.first_seen_ms) as f64 / 1000.0;
    if persistence_s <= p.persistence_threshold_seconds {
        return None;
    }
    let consistent_c = confidence(0.70, p);
    let anchored = persistence_s > p.persistence_threshold_seconds * ANCHOR_PERSISTENCE_FACTOR;
    let anchor_c = confidence(0.75, p);
    let upper = if anchored {
        anchor_c.max(consistent_c)
    } else {
        consistent_c
    };
    if !beats(upper, side, rec.seq, best) {
        return None;
    }
    // a consistently sized level reports that pattern even when it is also anchored (the original's order)
    let found = if level.is_consistent(p.consistency_threshold) {
        (Pattern::ConsistentSize, consistent_c)
    } else if anchored {
        (Pattern::Anchor, anchor_c)
    } else {
        return None;
    };
    beats(found.1, side, rec.seq, best).then_some(found)
}

/// Per-symbol state: the tracked bid and ask levels and the symbol's `max_symbols` slot.
#[derive(Debug, Default)]
pub struct IcebergState {
    pub(crate) bids: SideStore,
    pub(crate) asks: SideStore,
    next_seq: u64,
    slot: Option<usize>,
}

impl IcebergState {
    /// Number of live tracked levels (bids + asks).
    pub fn tracked_levels(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// Bytes held by this symbol's state: the struct plus its heap (capacities, not lengths).
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.bids.heap_bytes() + self.asks.heap_bytes()
    }

    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Records a snapshot (levels nearest the mid first on each side) and forgets levels older than the window.
    pub(crate) fn update(
        &mut self,
        bids: &[Level],
        asks: &[Level],
        now_ms: i64,
        p: &IcebergDetectorParams,
    ) {
        let seq = &mut self.next_seq;
        self.bids.observe(bids, now_ms, seq, p);
        self.asks.observe(asks, now_ms, seq, p);
        let cutoff = now_ms.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        self.bids.prune(cutoff);
        self.asks.prune(cutoff);
    }

    /// The strongest footprint within `level_proximity_pct` of `mid` (inclusive): highest confidence, ties to
    /// bids, then to the level tracked first. Remembered levels (out of the store) count with their refills.
    fn strongest(&self, mid: f64, now_ms: i64, p: &IcebergDetectorParams) -> Option<Best<'_>> {
        let range = mid * (p.level_proximity_pct / 100.0);
        let near = |price: f64| (mid - range..=mid + range).contains(&price);
        let mut best: Option<Best<'_>> = None;
        for (side, store) in [(Side::Bid, &self.bids), (Side::Ask, &self.asks)] {
            // only the levels that can show a pattern are read (their records and histories)
            let live = store
                .candidates(now_ms, p)
                .map(|slot| (&store.recs()[slot], Some(slot)));
            let remembered = store.memory().map(|rec| (rec, None));
            for (rec, slot) in live.chain(remembered) {
                if !near(rec.price) {
                    continue;
                }
                let level = slot.map(|slot| store.level(slot));
                let found = pattern_if_better(rec, level, side, now_ms, p, best.as_ref());
                if let Some((pattern, confidence)) = found {
                    best = Some(Best {
                        side,
                        pattern,
                        confidence,
                        rec,
                        level,
                    });
                }
            }
        }
        best
    }
}

/// One `max_symbols` slot shared by all symbols: its owner (`symbol id + 1`, 0 when free) and the event time of the
/// owner's last snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SymbolSlot {
    pub(crate) owner: u64,
    last_ms: i64,
}

/// The iceberg detector. Holds the `max_symbols` slots; everything else is per-symbol state.
#[derive(Debug)]
pub struct IcebergDetector {
    pub(crate) slots: Box<[SymbolSlot]>,
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
        &mut self,
        ctx: &EventContext<'_>,
        p: &IcebergDetectorParams,
        state: &mut IcebergState,
    ) -> bool {
        let me = u64::from(ctx.symbol_id.0) + 1;
        let now = ctx.event_time_ms;
        let limit = (p.max_symbols as usize).min(self.slots.len());
        if let Some(i) = state.slot {
            let slot = &mut self.slots[i];
            if slot.owner == me {
                if i < limit {
                    slot.last_ms = now;
                    return true;
                }
                // max_symbols was lowered below this slot: give it up and look again
                slot.owner = 0;
            }
            state.slot = None;
            state.clear();
        }
        let stale_before = now.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        for (i, slot) in self.slots[..limit].iter_mut().enumerate() {
            if slot.owner == 0 || slot.owner == me || slot.last_ms < stale_before {
                slot.owner = me;
                slot.last_ms = now;
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

    /// Frees the symbol's `max_symbols` slot at once (its state is already gone).
    fn forget_symbol(&mut self, symbol: SymbolId) {
        let me = u64::from(symbol.0) + 1;
        for slot in self.slots.iter_mut().filter(|s| s.owner == me) {
            slot.owner = 0;
            slot.last_ms = i64::MIN;
        }
    }

    fn on_event(
        &mut self,
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
        // the runner would drop a signal now: the strongest-level search and the signal are not needed
        if sink.cooling_down() {
            return;
        }
        let mid = (best_bid.price + best_ask.price) / 2.0;
        if !(mid.is_finite() && mid > 0.0) {
            return;
        }
        let Some(best) = state.strongest(mid, now, p) else {
            return;
        };
        let (side, pattern, confidence, rec) = (best.side, best.pattern, best.confidence, best.rec);
        let iceberg_price = rec.price;
        let persistence_s = (now - rec.first_seen_ms) as f64 / 1000.0;
        // only computed for a signal that goes out
        let consistency = best.level.map_or(0.0, LevelTrack::consistency_score);
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
                .indicator("refill_count", rec.refill_count)
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
                .meta("avg_refill_speed", rec.avg_refill_speed_s)
                .meta("stop_loss", stop_loss)
                .meta("take_profit", take_profit),
        );
    }
}
