//! The compact per-symbol level store: per book side at most [`LEVELS_PER_SIDE`] price levels, taken from the
//! [`BOOK_LEVELS_TRACKED`] levels of each snapshot nearest the mid, each with a fixed ring of its last
//! [`QTY_RING`] quantities. When a side is full, the level seen least recently that is not in the current
//! snapshot leaves the store. A level that leaves with refills on record keeps its [`Record`] in a short list
//! ([`REFILL_MEMORY`] per side) and resumes from it when its price comes back, as the original's unbounded
//! tracker would have. At most 64,040 bytes per symbol (2 × (64 × (320-byte level + 40-byte record + two times +
//! 9-byte index entry) + 128 × (48-byte remembered record + its price)) + the struct); after warm-up nothing is
//! allocated.
//!
//! Laid out for the cache (a host holds a hundred busy symbols' stores, more than its L2 cache): a side is kept
//! as parallel arrays by slot, so the scans of every message read small dense arrays (the eviction scan reads
//! `last_seen`, the strongest-level search `since`) and an appearance writes one line of its level's fields and one
//! of its quantity ring; a level's identity and refill record ([`Record`]) are read only for the few candidates.

use strategy_sdk::Level;

use crate::params::IcebergDetectorParams;

/// Most price levels tracked per side; beyond it the level seen least recently (outside the current snapshot)
/// leaves the store.
pub const LEVELS_PER_SIDE: usize = 64;
/// Levels of each snapshot side that are tracked, nearest the mid first (a depth20 book has 20).
pub const BOOK_LEVELS_TRACKED: usize = 32;
/// Quantities remembered per level for the consistent-size test (the original kept 100).
pub const QTY_RING: usize = 64;
/// Index positions tried past the previous match before a binary search (see [`SideStore::find_near`]).
const NEAR_PROBES: usize = 4;
/// Levels with refills remembered per side after they left the store.
pub const REFILL_MEMORY: usize = 128;

// a snapshot's levels are one bit each of a `u64`
const _: () = assert!(BOOK_LEVELS_TRACKED < LEVELS_PER_SIDE && LEVELS_PER_SIDE <= 64);
const _: () = assert!(QTY_RING <= 255);

/// `price`'s place in the total order of `f64` ([`f64::total_cmp`]) as an integer, so that the index compares
/// integers.
fn price_key(price: f64) -> i64 {
    let bits = price.to_bits() as i64;
    bits ^ (((bits >> 63) as u64) >> 1) as i64
}

/// A level's identity and refill record: all that is kept once it leaves the store with refills.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    pub(crate) price: f64,
    /// Creation order within the symbol (ties between equally strong levels go to the older one).
    pub(crate) seq: u64,
    pub(crate) first_seen_ms: i64,
    pub(crate) refill_count: u32,
    pub(crate) avg_refill_speed_s: f64,
}

/// A record kept after its level left the store, with the event time it was last seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remembered {
    pub(crate) rec: Record,
    last_seen_ms: i64,
}

/// The quantity history of one price level in the store: what an appearance reads and writes, in the first cache
/// line, then the quantity ring (its first entries share that line).
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct LevelTrack {
    /// Event time of the appearance before the latest.
    prev_seen_ms: i64,
    /// Quantities of the two appearances before the current one, oldest first.
    prev_qty: [f64; 2],
    /// Running sum and sum of squares of the remembered quantities (as stored, `f32` widened), recomputed from the
    /// ring each time it wraps so rounding cannot accumulate past [`QTY_RING`] updates.
    sum: f64,
    sum_sq: f64,
    /// Total magnitude of the squares added to or taken from `sum_sq` since the last recomputation: bounds the
    /// rounding error of `sum_sq` (see [`LevelTrack::is_consistent`]).
    sq_mass: f64,
    /// The ring is written at `head`; its first `len` entries are valid (`len` also counts appearances up to
    /// [`QTY_RING`]). Entries past `len` are never read, so a reused slot does not clear them.
    head: u8,
    len: u8,
    /// The last quantities.
    ring: [f32; QTY_RING],
}

const _: () = assert!(std::mem::size_of::<LevelTrack>() == 320);

/// Relative margin around the consistency threshold inside which the running sums are not trusted and the exact
/// two-pass statistics decide. Rounding in the running sums is below 1e-13 of `sq_mass` (at most 2 × [`QTY_RING`]
/// additions between recomputations), so 1e-9 leaves four orders of magnitude to spare.
const RUNNING_SUM_MARGIN: f64 = 1e-9;

impl LevelTrack {
    const NEW: Self = Self {
        prev_seen_ms: 0,
        prev_qty: [0.0; 2],
        sum: 0.0,
        sum_sq: 0.0,
        sq_mass: 0.0,
        head: 0,
        len: 0,
        ring: [0.0; QTY_RING],
    };

    /// Starts an empty history, leaving the ring's stale entries (past `len`) in place.
    fn reset(&mut self) {
        (self.prev_qty, self.sum, self.sum_sq, self.sq_mass) = ([0.0; 2], 0.0, 0.0, 0.0);
        (self.head, self.len) = (0, 0);
    }

    /// Records one appearance (`last_seen_ms` is the level's previous one); true when it completes a refill: over
    /// the last three appearances high → low → high, the middle one below half the first, the last above 80 % of
    /// the first, all within `refill_speed_threshold_seconds` (strict).
    fn record(
        &mut self,
        qty: f64,
        last_seen_ms: i64,
        now_ms: i64,
        p: &IcebergDetectorParams,
    ) -> bool {
        self.push_qty(qty as f32);
        let first_of_three_ms = std::mem::replace(&mut self.prev_seen_ms, last_seen_ms);
        let [v0, v1] = self.prev_qty;
        self.prev_qty = [v1, qty];
        let elapsed_s = (now_ms - first_of_three_ms) as f64 / 1000.0;
        self.len >= 3
            && v1 < v0 * 0.5
            && qty > v0 * 0.8
            && elapsed_s < p.refill_speed_threshold_seconds
    }
    /// Writes a quantity into the ring and keeps the running sums: O(1), with an exact recomputation on each wrap.
    fn push_qty(&mut self, qty: f32) {
        let slot = usize::from(self.head);
        if usize::from(self.len) == QTY_RING {
            let old = f64::from(self.ring[slot]);
            self.sum -= old;
            self.sum_sq -= old * old;
            self.sq_mass += old * old;
        }
        let new = f64::from(qty);
        self.ring[slot] = qty;
        self.sum += new;
        self.sum_sq += new * new;
        self.sq_mass += new * new;
        self.head = ((slot + 1) % QTY_RING) as u8;
        self.len = (usize::from(self.len) + 1).min(QTY_RING) as u8;
        if self.head == 0 {
            let q = &self.ring[..usize::from(self.len)];
            self.sum = q.iter().map(|&x| f64::from(x)).sum();
            self.sum_sq = q.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            self.sq_mass = self.sum_sq;
        }
    }

    /// Exact mean and population standard deviation of the remembered quantities (two passes); `None` with fewer
    /// than two. Only run for levels that could win the strongest-level search, and for a signal that goes out.
    fn stats(&self) -> Option<(f64, f64)> {
        let q = &self.ring[..usize::from(self.len)];
        if q.len() < 2 {
            return None;
        }
        let n = q.len() as f64;
        let mean = q.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = q
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        Some((mean, var.sqrt()))
    }

    /// Consistent size: std / mean of the remembered quantities below `threshold` (never with a zero mean).
    ///
    /// Decided in O(1) from the running sums when they are clearly on one side of the threshold (variance against
    /// `threshold² · mean²`, with [`RUNNING_SUM_MARGIN`] of the rounding bound around it); otherwise, and for
    /// non-finite sums, by [`LevelTrack::is_consistent_exact`]. The answer is the exact one either way.
    pub(crate) fn is_consistent(&self, threshold: f64) -> bool {
        let n = f64::from(self.len);
        if self.len >= 2 {
            let mean = self.sum / n;
            let var = self.sum_sq / n - mean * mean;
            let bound = threshold * threshold * mean * mean;
            let margin = RUNNING_SUM_MARGIN * (self.sq_mass / n);
            // a mean this far above the rounding bound is certainly positive
            if mean * mean > margin {
                if var < bound - margin {
                    return true;
                }
                if var > bound + margin {
                    return false;
                }
            }
        }
        self.is_consistent_exact(threshold)
    }

    /// [`LevelTrack::is_consistent`] from the two-pass statistics.
    pub(crate) fn is_consistent_exact(&self, threshold: f64) -> bool {
        matches!(self.stats(), Some((mean, std)) if mean > 0.0 && std / mean < threshold)
    }

    /// 1 − std / mean, 0 when undefined.
    pub(crate) fn consistency_score(&self) -> f64 {
        match self.stats() {
            Some((mean, std)) if mean > 0.0 && (std / mean).is_finite() => 1.0 - std / mean,
            _ => 0.0,
        }
    }

    /// Quantities remembered.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        usize::from(self.len)
    }
}

/// The tracked levels of one book side, as parallel arrays by slot (`levels`, `recs`, `last_seen`, `since` have
/// one entry per live level), an index sorted by price, and the records of refilling levels that left.
#[derive(Debug, Default)]
pub(crate) struct SideStore {
    levels: Vec<LevelTrack>,
    recs: Vec<Record>,
    /// Event time of each level's latest appearance (the eviction scan and pruning read only this).
    last_seen: Vec<i64>,
    /// `i64::MIN` for a level with refills, else its first sighting: the strongest-level search reads only this to
    /// find the levels that can show a pattern (refills, or persistence past the threshold).
    since: Vec<i64>,
    /// The index: every slot's price as its [`price_key`], sorted, and the slot of each key.
    keys: Vec<i64>,
    key_slots: Vec<u8>,
    memory: Vec<Remembered>,
    /// The remembered records' prices, in the same order: a new price is looked up in this dense array.
    memory_prices: Vec<f64>,
    /// At most the oldest `last_seen_ms` of any level or remembered record: while the prune cutoff is not past it,
    /// pruning has nothing to do and skips its scan.
    oldest_seen_ms: i64,
}

impl SideStore {
    /// Live levels.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// The live levels' records, by slot.
    pub(crate) fn recs(&self) -> &[Record] {
        &self.recs
    }

    /// The quantity history of the level in `slot`.
    pub(crate) fn level(&self, slot: usize) -> &LevelTrack {
        &self.levels[slot]
    }

    /// The slots whose level can show a pattern at `now_ms`: refills on record (or `min_refill_count` 0), or first
    /// seen more than `persistence_threshold_seconds` ago (the patterns' exact test). Reads only `since`.
    pub(crate) fn candidates<'a>(
        &'a self,
        now_ms: i64,
        p: &'a IcebergDetectorParams,
    ) -> impl Iterator<Item = usize> + 'a {
        self.since
            .iter()
            .enumerate()
            .filter_map(move |(slot, &since)| {
                // the negation of the patterns' `persistence_s <= threshold` (a NaN threshold lets every level by)
                let threshold = p.persistence_threshold_seconds;
                let can = since == i64::MIN
                    || p.min_refill_count == 0
                    || threshold.is_nan()
                    || (now_ms - since) as f64 / 1000.0 > threshold;
                can.then_some(slot)
            })
    }

    /// The records of levels with refills that left the store.
    pub(crate) fn memory(&self) -> impl Iterator<Item = &Record> {
        self.memory.iter().map(|m| &m.rec)
    }

    /// Heap bytes held (capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.levels.capacity() * size_of::<LevelTrack>()
            + self.recs.capacity() * size_of::<Record>()
            + (self.last_seen.capacity() + self.since.capacity()) * size_of::<i64>()
            + self.keys.capacity() * size_of::<i64>()
            + self.key_slots.capacity()
            + self.memory.capacity() * size_of::<Remembered>()
            + self.memory_prices.capacity() * size_of::<f64>()
    }

    pub(crate) fn clear(&mut self) {
        self.levels.clear();
        self.recs.clear();
        self.last_seen.clear();
        self.since.clear();
        self.keys.clear();
        self.key_slots.clear();
        self.memory.clear();
        self.memory_prices.clear();
    }

    fn position(&self, price: f64) -> Result<usize, usize> {
        self.keys.binary_search(&price_key(price))
    }

    fn find(&self, price: f64) -> Option<usize> {
        let at = self.position(price).ok()?;
        Some(usize::from(self.key_slots[at]))
    }

    /// The slot of the level at `price`. `hint` is the position of the previous match, or `None`: a sorted book's
    /// next level is usually a few positions past it in the same direction (levels that left the book sit between),
    /// so the positions just past it are tried first, then the whole index by binary search. `hint` becomes the
    /// match's position.
    fn find_near(&self, price: f64, hint: &mut Option<usize>) -> Option<usize> {
        let key = price_key(price);
        if let Some(h) = *hint {
            let step_up = self.keys.get(h).is_some_and(|&k| k < key);
            for d in 1..=NEAR_PROBES {
                let at = if step_up { h + d } else { h.wrapping_sub(d) };
                let Some(&k) = self.keys.get(at) else {
                    break;
                };
                if k == key {
                    *hint = Some(at);
                    return Some(usize::from(self.key_slots[at]));
                }
                if (k > key) == step_up {
                    break;
                }
            }
        }
        let at = self.keys.binary_search(&key).ok()?;
        *hint = Some(at);
        Some(usize::from(self.key_slots[at]))
    }

    /// Removes `price` from the index.
    fn unindex(&mut self, price: f64) {
        if let Ok(at) = self.position(price) {
            self.keys.remove(at);
            self.key_slots.remove(at);
        }
    }

    /// Records a snapshot side: levels already tracked first, then new prices (which may evict the level seen
    /// least recently, never one of this snapshot's). One lookup per level; only new prices are looked up again.
    pub(crate) fn observe(
        &mut self,
        book: &[Level],
        now_ms: i64,
        next_seq: &mut u64,
        p: &IcebergDetectorParams,
    ) {
        self.oldest_seen_ms = self.oldest_seen_ms.min(now_ms);
        let usable = |l: &Level| l.price.is_finite() && l.qty.is_finite() && l.qty >= 0.0;
        let mut new_prices = [0u8; BOOK_LEVELS_TRACKED];
        let mut new_count = 0;
        // the slots of this snapshot's levels (safe from eviction)
        let mut current = 0u64;
        let mut hint = None;
        for (i, l) in book.iter().take(BOOK_LEVELS_TRACKED).enumerate() {
            if !usable(l) {
                continue;
            }
            match self.find_near(l.price, &mut hint) {
                Some(slot) => {
                    self.appear(slot, l.qty, now_ms, p);
                    current |= 1 << slot;
                }
                None => {
                    new_prices[new_count] = i as u8;
                    new_count += 1;
                }
            }
        }
        for &i in &new_prices[..new_count] {
            let l = &book[usize::from(i)];
            // a price repeated within the snapshot is recorded once, when first inserted
            if self.find(l.price).is_some() {
                continue;
            }
            *next_seq += 1;
            if let Some(slot) = self.insert(l.price, *next_seq, now_ms, current) {
                self.appear(slot, l.qty, now_ms, p);
                current |= 1 << slot;
            }
        }
    }

    /// Records an appearance of the level in `slot`, and a completed refill in its record.
    fn appear(&mut self, slot: usize, qty: f64, now_ms: i64, p: &IcebergDetectorParams) {
        let last_seen_ms = std::mem::replace(&mut self.last_seen[slot], now_ms);
        if self.levels[slot].record(qty, last_seen_ms, now_ms, p) {
            let rec = &mut self.recs[slot];
            rec.refill_count = rec.refill_count.saturating_add(1);
            if rec.refill_count > 1 {
                let since_first_s = (now_ms - rec.first_seen_ms) as f64 / 1000.0;
                rec.avg_refill_speed_s = since_first_s / f64::from(rec.refill_count);
            }
            self.since[slot] = i64::MIN;
        }
    }

    /// A new level at `price` (not tracked yet), resuming its remembered record; `None` only if every slot holds
    /// a level of this snapshot (`current`). When the side is full the level seen least recently makes room.
    fn insert(&mut self, price: f64, seq: u64, now_ms: i64, current: u64) -> Option<usize> {
        let victim = if self.levels.len() < LEVELS_PER_SIDE {
            None
        } else {
            // reads `last_seen` of the slots outside this snapshot; the creation order only to break a tie
            let mut others = !current & (u64::MAX >> (64 - LEVELS_PER_SIDE));
            let mut oldest: Option<usize> = None;
            while others != 0 {
                let i = others.trailing_zeros() as usize;
                others &= others - 1;
                let seen = self.last_seen[i];
                let older = oldest.is_none_or(|o| {
                    let o_seen = self.last_seen[o];
                    seen < o_seen || (seen == o_seen && self.recs[i].seq < self.recs[o].seq)
                });
                if older {
                    oldest = Some(i);
                }
            }
            Some(oldest?)
        };
        let rec = match self.memory_prices.iter().position(|&m| m == price) {
            Some(i) => {
                self.memory_prices.swap_remove(i);
                self.memory.swap_remove(i).rec
            }
            None => Record {
                price,
                seq,
                first_seen_ms: now_ms,
                refill_count: 0,
                avg_refill_speed_s: 0.0,
            },
        };
        let since = if rec.refill_count > 0 {
            i64::MIN
        } else {
            rec.first_seen_ms
        };
        let slot = match victim {
            None => {
                self.levels.push(LevelTrack::NEW);
                self.recs.push(rec);
                self.last_seen.push(now_ms);
                self.since.push(since);
                self.levels.len() - 1
            }
            Some(victim) => {
                self.levels[victim].reset();
                let old = std::mem::replace(&mut self.recs[victim], rec);
                let last_seen_ms = std::mem::replace(&mut self.last_seen[victim], now_ms);
                self.since[victim] = since;
                self.unindex(old.price);
                self.remember(old, last_seen_ms);
                victim
            }
        };
        let at = self.position(price).unwrap_or_else(|at| at);
        self.keys.insert(at, price_key(price));
        self.key_slots.insert(at, slot as u8);
        Some(slot)
    }

    /// Keeps the record of an evicted level with refills (replacing the one seen least recently when full).
    fn remember(&mut self, rec: Record, last_seen_ms: i64) {
        if rec.refill_count == 0 {
            return;
        }
        let m = Remembered { rec, last_seen_ms };
        if self.memory.len() < REFILL_MEMORY {
            self.memory.push(m);
            self.memory_prices.push(rec.price);
        } else if let Some(oldest) = (0..self.memory.len())
            .min_by_key(|&i| (self.memory[i].last_seen_ms, self.memory[i].rec.seq))
        {
            self.memory[oldest] = m;
            self.memory_prices[oldest] = rec.price;
        }
    }

    /// Forgets the levels (and remembered records) last seen before `cutoff_ms`.
    pub(crate) fn prune(&mut self, cutoff_ms: i64) {
        if cutoff_ms <= self.oldest_seen_ms {
            return;
        }
        // `retain` on both arrays: the kept records move down in order
        let mut kept = 0;
        for i in 0..self.memory.len() {
            if self.memory[i].last_seen_ms >= cutoff_ms {
                self.memory[kept] = self.memory[i];
                self.memory_prices[kept] = self.memory_prices[i];
                kept += 1;
            }
        }
        self.memory.truncate(kept);
        self.memory_prices.truncate(kept);
        let mut i = 0;
        while i < self.levels.len() {
            if self.last_seen[i] >= cutoff_ms {
                i += 1;
                continue;
            }
            self.unindex(self.recs[i].price);
            self.levels.swap_remove(i);
            self.recs.swap_remove(i);
            self.last_seen.swap_remove(i);
            self.since.swap_remove(i);
            if let Some(moved) = self.recs.get(i) {
                if let Ok(at) = self.position(moved.price) {
                    self.key_slots[at] = i as u8;
                }
            }
        }
        let remembered = self.memory.iter().map(|m| m.last_seen_ms);
        let oldest = self.last_seen.iter().copied().chain(remembered).min();
        self.oldest_seen_ms = oldest.unwrap_or(i64::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level_with(quantities: &[f64]) -> LevelTrack {
        let mut level = LevelTrack::NEW;
        let p = IcebergDetectorParams::default();
        for (i, &q) in quantities.iter().enumerate() {
            level.record(q, i as i64 * 100, i as i64 * 100 + 100, &p);
        }
        level
    }

    proptest::proptest! {
        /// The O(1) consistency test gives the two-pass answer for any history (wrapping the ring several times,
        /// quantities from zero to 1e12, repeated values, thresholds across the schema's range and beyond).
        #[test]
        fn running_sums_decide_like_the_two_pass_statistics(
            base in 0.0f64..1e12,
            spreads in proptest::collection::vec(0.0f64..0.6, 1..300),
            repeat in proptest::bool::ANY,
            threshold in 0.0f64..1.0,
        ) {
            let quantities: Vec<f64> = spreads
                .iter()
                .enumerate()
                .map(|(i, s)| if repeat && i % 3 != 0 { base } else { base * (1.0 + s - 0.3) })
                .collect();
            let level = level_with(&quantities);
            proptest::prop_assert_eq!(
                level.is_consistent(threshold),
                level.is_consistent_exact(threshold)
            );
        }
    }

    proptest::proptest! {
        /// The index's integer keys order prices as `f64::total_cmp` does.
        #[test]
        fn price_keys_order_like_total_cmp(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            proptest::prop_assert_eq!(price_key(a).cmp(&price_key(b)), a.total_cmp(&b));
        }
    }

    #[test]
    fn a_constant_level_is_consistent_and_a_zero_one_is_not() {
        assert!(level_with(&[5.0; 200]).is_consistent(0.05));
        assert!(!level_with(&[0.0; 200]).is_consistent(0.5));
        assert!(
            !level_with(&[5.0]).is_consistent(0.5),
            "one quantity has no spread"
        );
    }
}
