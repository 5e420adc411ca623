//! The iceberg detection rules: patterns and confidences, the strongest-level search, the `max_symbols` slots and
//! the signal. The levels themselves live in the compact store ([`crate::store`]).

use strategy_sdk::{
    Action, EventContext, Level, MarketEvent, Signal, SignalSink, Strategy, StreamKind, SymbolId,
};

use crate::params::IcebergDetectorParams;
use crate::store::{Record, SideStore, Tracked};

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

/// A pattern's confidence written for base 0.70, shifted to `base_confidence` and capped.
fn confidence(c: f64, p: &IcebergDetectorParams) -> f64 {
    let c = c + p.base_confidence - REFERENCE_BASE_CONFIDENCE;
    if c.is_finite() {
        c.clamp(0.0, MAX_CONFIDENCE)
    } else {
        0.0
    }
}

/// Event time since the level was first seen, in seconds.
fn persistence_s(rec: &Record, now_ms: i64) -> f64 {
    now_ms.saturating_sub(rec.first_seen_ms) as f64 / 1000.0
}

/// Order among equally confident levels, lowest first: bids (`false`) before asks, then the level first seen
/// earlier, then the one nearer the mid.
type Rank = (bool, i64, f64);

/// The strongest level found so far, with its pattern (the original's name) and the side it is on.
#[derive(Debug, Clone, Copy)]
struct Best<'a> {
    pattern: &'static str,
    confidence: f64,
    rank: Rank,
    level: Tracked,
    store: &'a SideStore,
}

/// Whether a level of confidence `c` and rank `rank` beats `best`.
fn beats(c: f64, rank: Rank, best: Option<&Best<'_>>) -> bool {
    best.is_none_or(|b| c > b.confidence || (c == b.confidence && rank < b.rank))
}

/// The footprint of `level` at `now_ms` if it can still beat `best`: `refill` (refill count ≥ `min_refill_count`),
/// else for a live level older than `persistence_threshold_seconds` `consistent_size` (its recent sizes vary by
/// less than `consistency_threshold`: computed only if it can win) or, past 1.5 × that age, `anchor`.
fn pattern_if_better(
    level: &Tracked,
    store: &SideStore,
    rank: Rank,
    now_ms: i64,
    p: &IcebergDetectorParams,
    best: Option<&Best<'_>>,
) -> Option<(&'static str, f64)> {
    let rec = &level.rec;
    if rec.refills >= p.min_refill_count {
        let c = confidence((0.65 + f64::from(rec.refills) * 0.05).min(0.85), p);
        return beats(c, rank, best).then_some(("refill", c));
    }
    let slot = level.slot?;
    let persistence_s = persistence_s(rec, now_ms);
    let anchored = persistence_s > p.persistence_threshold_seconds * ANCHOR_PERSISTENCE_FACTOR;
    let (consistent_c, anchor_c) = (confidence(0.70, p), confidence(0.75, p));
    let upper = if anchored {
        anchor_c.max(consistent_c)
    } else {
        consistent_c
    };
    if persistence_s <= p.persistence_threshold_seconds || !beats(upper, rank, best) {
        return None;
    }
    // a consistently sized level reports that pattern even when it is also anchored (the original's order)
    let found = if store
        .variation(slot)
        .is_some_and(|v| v < p.consistency_threshold)
    {
        ("consistent_size", consistent_c)
    } else if anchored {
        ("anchor", anchor_c)
    } else {
        return None;
    };
    beats(found.1, rank, best).then_some(found)
}

/// Per-symbol state: the tracked bid and ask levels (allocated at the symbol's first snapshot) and the symbol's
/// `max_symbols` slot.
#[derive(Debug, Default)]
pub struct IcebergState {
    pub(crate) sides: Option<Box<[SideStore; 2]>>,
    slot: Option<usize>,
    /// The quantity-ring column each side's next snapshot writes, copied out of the stores: kept here, in the
    /// runner's entry, a prefetch finds the column without first waiting for the store's own counter.
    next_columns: [u8; 2],
}

impl IcebergState {
    /// Number of levels in the store (bids + asks).
    pub fn tracked_levels(&self) -> usize {
        self.sides.as_ref().map_or(0, |s| s[0].len() + s[1].len())
    }

    /// Bytes held by this symbol's state: the struct plus its heap.
    pub fn state_bytes(&self) -> usize {
        let heap = std::mem::size_of::<[SideStore; 2]>();
        std::mem::size_of::<Self>() + self.sides.as_ref().map_or(0, |_| heap)
    }

    /// Records a snapshot (levels nearest the mid first on each side).
    pub(crate) fn update(
        &mut self,
        bids: &[Level],
        asks: &[Level],
        now_ms: i64,
        p: &IcebergDetectorParams,
    ) {
        let sides = self
            .sides
            .get_or_insert_with(|| Box::new([SideStore::new(), SideStore::new()]));
        sides[0].observe(bids, now_ms, p);
        sides[1].observe(asks, now_ms, p);
        self.next_columns = [sides[0].next_column(), sides[1].next_column()];
    }

    /// The strongest footprint within `level_proximity_pct` of `mid` (inclusive) among the levels seen within
    /// `history_window_seconds` (highest confidence, then the lowest [`Rank`]).
    fn strongest(&self, mid: f64, now_ms: i64, p: &IcebergDetectorParams) -> Option<Best<'_>> {
        let cutoff = now_ms.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        let range = mid * (p.level_proximity_pct / 100.0);
        // only levels with enough refills or older than the persistence threshold (to the ms: the exact test
        // follows) can show a pattern
        let old_by_ms = now_ms.saturating_sub((p.persistence_threshold_seconds * 1000.0) as i64);
        let can_show =
            |rec: &Record| rec.refills >= p.min_refill_count || rec.first_seen_ms <= old_by_ms;
        let mut best: Option<Best<'_>> = None;
        for (ask, store) in self.sides.as_deref()?.iter().enumerate() {
            for level in store.tracked(cutoff, can_show) {
                if !(mid - range..=mid + range).contains(&level.price) {
                    continue;
                }
                let rank = (ask == 1, level.rec.first_seen_ms, (level.price - mid).abs());
                let found = pattern_if_better(&level, store, rank, now_ms, p, best.as_ref());
                if let Some((pattern, confidence)) = found {
                    best = Some(Best {
                        pattern,
                        confidence,
                        rank,
                        level,
                        store,
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
    pub(crate) slots: Vec<SymbolSlot>,
}

impl IcebergDetector {
    /// Makes sure the symbol holds one of the first `max_symbols` slots; takes a free slot, or one whose owner has
    /// sent nothing for `history_window_seconds` (its levels would all have expired); a symbol that gets a slot
    /// (again) starts with an empty store. False when every slot is busy.
    fn admit(
        &mut self,
        ctx: &EventContext<'_>,
        p: &IcebergDetectorParams,
        state: &mut IcebergState,
    ) -> bool {
        let me = u64::from(ctx.symbol_id.0) + 1;
        let now = ctx.event_time_ms;
        let limit = (p.max_symbols as usize).min(self.slots.len());
        if let Some(i) = state.slot.take() {
            if self.slots[i].owner == me && i < limit {
                (self.slots[i].last_ms, state.slot) = (now, Some(i));
                return true;
            }
            // lost to another symbol, or max_symbols was lowered below it
            if self.slots[i].owner == me {
                self.slots[i].owner = 0;
            }
        }
        state.sides = None;
        let stale_before = now.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        let free = |s: &SymbolSlot| s.owner == 0 || s.owner == me || s.last_ms < stale_before;
        let Some(i) = self.slots[..limit].iter().position(free) else {
            return false;
        };
        self.slots[i] = SymbolSlot {
            owner: me,
            last_ms: now,
        };
        state.slot = Some(i);
        true
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
        Self {
            slots: vec![SymbolSlot::default(); MAX_SYMBOL_SLOTS],
        }
    }

    /// The lines of both side stores that a snapshot reads first (see `SideStore::prefetch`).
    fn prefetch(state: &IcebergState) {
        if let Some(sides) = &state.sides {
            sides[0].prefetch(usize::from(state.next_columns[0]));
            sides[1].prefetch(usize::from(state.next_columns[1]));
        }
    }

    fn min_signal_interval_ms(params: &IcebergDetectorParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    /// Frees the symbol's `max_symbols` slot at once (its state is already gone).
    fn forget_symbol(&mut self, symbol: SymbolId) {
        let me = u64::from(symbol.0) + 1;
        for slot in self.slots.iter_mut().filter(|s| s.owner == me) {
            *slot = SymbolSlot {
                owner: 0,
                last_ms: i64::MIN,
            };
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
        let Some(mid) = book.mid() else {
            return;
        };
        if !self.admit(ctx, p, state) {
            return;
        }
        let now = ctx.event_time_ms;
        state.update(&book.bids, &book.asks, now, p);
        // the runner would drop a signal now: the strongest-level search and the signal are not needed
        if sink.cooling_down() || !(mid.is_finite() && mid > 0.0) {
            return;
        }
        let Some(best) = state.strongest(mid, now, p) else {
            return;
        };
        let (rec, iceberg_price) = (best.level.rec, best.level.price);
        // only computed for a signal that goes out
        let variation = best.level.slot.and_then(|slot| best.store.variation(slot));
        let consistency = variation.filter(|v| v.is_finite()).map_or(0.0, |v| 1.0 - v);
        let distance = (mid - iceberg_price).abs();
        let risk = distance.max(mid * MIN_RISK_FRACTION);
        let (action, side, who, dir) = match best.rank.0 {
            false => (Action::Buy, "bid", "buyer", 1.0),
            true => (Action::Sell, "ask", "seller", -1.0),
        };
        let (stop_loss, take_profit) = (
            iceberg_price - dir * risk,
            mid + dir * risk * REWARD_MULTIPLE,
        );
        let reasoning = format!("large hidden {who} at {iceberg_price} ({})", best.pattern);
        sink.emit(
            Signal::new(Self::ID, Self::NAME, ctx, action, best.confidence, mid)
                .current_price(mid)
                .risk(stop_loss, take_profit)
                .indicator("refill_count", rec.refills)
                .indicator("volume_consistency", consistency)
                .indicator("persistence_seconds", persistence_s(&rec, now))
                .indicator("distance_to_level_pct", distance / mid * 100.0)
                .meta("pattern_type", best.pattern)
                .meta("reasoning", reasoning)
                .meta("iceberg_price", iceberg_price)
                .meta("iceberg_side", side)
                .meta("avg_refill_speed", rec.avg_refill_s())
                .meta("stop_loss", stop_loss)
                .meta("take_profit", take_profit),
        );
    }
}
