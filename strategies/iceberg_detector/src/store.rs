//! The compact level store of one book side: at most [`LEVELS_PER_SIDE`] price levels, taken from the
//! [`BOOK_LEVELS_TRACKED`] levels of each snapshot nearest the mid, in fixed arrays (nothing is allocated once a
//! symbol has its store).
//!
//! - **Index:** a 64-entry open-addressing hash table (linear probing, one cache line) from a price's bits to its
//!   slot: a lookup is a multiplication, a byte and a key compared; an insertion or a removal moves no other level.
//! - **Slots:** per level its last three appearances (times and quantities: the refill rule) and its refill
//!   record (first sighting, refill count, time of the latest refill).
//! - **Quantity ring by snapshot:** the quantities of the side's last [`QTY_RING`] snapshots, one column of
//!   [`LEVELS_PER_SIDE`] `f32` per snapshot and a bit mask of the slots that appeared in it. A snapshot writes one
//!   column (two cache lines) instead of one line per level; the consistency statistics read a slot's entries
//!   across the columns, only for the few levels the strongest-level search asks about.
//! - **Eviction and memory:** a new price takes a free slot or the slot of the level seen least recently outside
//!   the current snapshot. A level that leaves with refills keeps its record in a short list ([`REFILL_MEMORY`])
//!   and resumes it when its price comes back.
//! - **Expiry** is lazy: a level or record not seen for more than `history_window_seconds` is skipped by the
//!   search and starts over if its price comes back; it is the first to be evicted.

use strategy_sdk::Level;

use crate::params::IcebergDetectorParams;

/// Most price levels tracked per side.
pub const LEVELS_PER_SIDE: usize = 32;
/// Levels of each snapshot side that are tracked, nearest the mid first (a depth20 book has 20).
pub const BOOK_LEVELS_TRACKED: usize = 20;
/// Snapshots of quantities kept per side for the consistent-size test (the original: a level's last 100).
pub const QTY_RING: usize = 64;
/// Records of refilling levels remembered per side after they left the store.
pub const REFILL_MEMORY: usize = 32;

/// Entries of a side's hash index (a power of two, at most half full).
const TABLE: usize = 64;

// a slot is one bit of a `u32`, and a snapshot always leaves a slot to evict
const _: () = assert!(BOOK_LEVELS_TRACKED < LEVELS_PER_SIDE && LEVELS_PER_SIDE <= 32);
const _: () = assert!(TABLE.is_power_of_two() && TABLE >= 2 * LEVELS_PER_SIDE);
// a ring column's index fits the `u8` a symbol's state keeps for prefetching
const _: () = assert!(QTY_RING <= 256);

/// The home entry of a price's bits in the index (Fibonacci hashing: the top bits of a multiplication).
fn home(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - TABLE.trailing_zeros())) as usize
}

/// A level's refill record: all that is kept once it leaves the store with refills.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Record {
    pub(crate) first_seen_ms: i64,
    pub(crate) refills: u32,
    /// Event time of the latest refill after the first sighting, in ms.
    last_refill_ms: u32,
}

impl Record {
    /// Average refill speed: (latest refill − first sighting) / refills, from the second refill on, else 0.
    pub(crate) fn avg_refill_s(&self) -> f64 {
        match self.refills {
            0 | 1 => 0.0,
            n => f64::from(self.last_refill_ms) / 1000.0 / f64::from(n),
        }
    }
}

/// The two appearances of a level before the current one (with `last_ms`: what the refill rule reads).
#[derive(Debug, Clone, Copy, Default)]
struct Hist {
    /// Event time of the appearance before the latest.
    prev_ms: i64,
    /// Quantities of the two latest appearances, oldest first (0 before there were two: quantities are never
    /// negative, so no refill).
    qty: [f32; 2],
}

/// A level the strongest-level search looks at: live (`slot`) or remembered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracked {
    pub(crate) price: f64,
    pub(crate) rec: Record,
    pub(crate) slot: Option<usize>,
}

/// The tracked levels of one book side (see the module docs).
#[derive(Debug)]
pub(crate) struct SideStore {
    /// Slots in use (`0..len`) and each slot's price (as bits: its key).
    len: usize,
    keys: [u64; LEVELS_PER_SIDE],
    /// The index: an open-addressing table (linear probing) of `slot + 1` (0: empty) by the hash of the key.
    table: [u8; TABLE],
    /// Per slot: event time of the level's latest appearance (dense: eviction and expiry read only this).
    last_ms: [i64; LEVELS_PER_SIDE],
    hist: [Hist; LEVELS_PER_SIDE],
    recs: [Record; LEVELS_PER_SIDE],
    /// The snapshot count when the slot's level took it: older ring columns are not its.
    born: [u64; LEVELS_PER_SIDE],
    /// Snapshots observed; the next one writes ring column `tick % QTY_RING`.
    tick: u64,
    /// Per ring column: the slots that appeared in that snapshot, and their quantities.
    present: [u32; QTY_RING],
    qty: [[f32; LEVELS_PER_SIDE]; QTY_RING],
    /// Remembered records of levels that left (`..mem_len` of each array): price key, last sighting and record,
    /// apart so that a look-up reads only the keys and the choice of the entry to replace only the sightings.
    mem_len: usize,
    mem_keys: [u64; REFILL_MEMORY],
    mem_seen_ms: [i64; REFILL_MEMORY],
    mem_recs: [Record; REFILL_MEMORY],
}

impl SideStore {
    /// An empty side.
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            keys: [0; LEVELS_PER_SIDE],
            table: [0; TABLE],
            last_ms: [0; LEVELS_PER_SIDE],
            hist: Default::default(),
            recs: Default::default(),
            born: [0; LEVELS_PER_SIDE],
            tick: 0,
            present: [0; QTY_RING],
            qty: [[0.0; LEVELS_PER_SIDE]; QTY_RING],
            mem_len: 0,
            mem_keys: [0; REFILL_MEMORY],
            mem_seen_ms: [0; REFILL_MEMORY],
            mem_recs: [Record::default(); REFILL_MEMORY],
        }
    }

    /// Levels in the store (expired ones until they are evicted included).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slot of the level at `key`, if it is in the store.
    fn find(&self, key: u64) -> Option<usize> {
        let mut i = home(key);
        loop {
            let slot = usize::from(self.table[i]).checked_sub(1)?;
            if self.keys[slot] == key {
                return Some(slot);
            }
            i = (i + 1) % TABLE;
        }
    }

    /// Records a snapshot side (nearest the mid first): the levels already in the store first, then new prices
    /// (which may evict a level, never one of this snapshot's).
    pub(crate) fn observe(&mut self, book: &[Level], now_ms: i64, p: &IcebergDetectorParams) {
        let col = (self.tick % QTY_RING as u64) as usize;
        self.prefetch(col);
        let cutoff = now_ms.saturating_sub(i64::from(p.history_window_seconds) * 1000);
        let refill_ms = p.refill_speed_threshold_seconds * 1000.0;
        let mut current = 0u32;
        let mut fresh = [0u64; BOOK_LEVELS_TRACKED];
        let mut fresh_qty = [0.0; BOOK_LEVELS_TRACKED];
        let mut n_fresh = 0;
        for l in &book[..book.len().min(BOOK_LEVELS_TRACKED)] {
            // the decoder passes only finite positive prices and finite quantities ≥ 0; a NaN or negative
            // quantity is skipped here too
            if l.qty.is_nan() || l.qty < 0.0 {
                continue;
            }
            let key = l.price.to_bits();
            let Some(slot) = self.find(key) else {
                (fresh[n_fresh], fresh_qty[n_fresh]) = (key, l.qty);
                n_fresh += 1;
                continue;
            };
            // a price repeated within the snapshot is recorded once
            if current & (1 << slot) == 0 {
                current |= 1 << slot;
                if self.last_ms[slot] < cutoff {
                    self.restart(slot, now_ms, None);
                }
                self.appear(slot, col, l.qty, now_ms, refill_ms);
            }
        }
        for (&key, &qty) in fresh[..n_fresh].iter().zip(&fresh_qty) {
            if self.find(key).is_some() {
                continue;
            }
            let slot = self.insert(key, now_ms, cutoff, current);
            current |= 1 << slot;
            self.appear(slot, col, qty, now_ms, refill_ms);
        }
        self.present[col] = current;
        self.tick += 1;
    }

    /// The quantity-ring column the next snapshot writes.
    pub(crate) fn next_column(&self) -> u8 {
        // QTY_RING <= 256
        (self.tick % QTY_RING as u64) as u8
    }

    /// Prefetches every cache line a snapshot is about to use: the keys, last sightings, histories, the index,
    /// the remembered keys and quantity column `col` ([`SideStore::next_column`]). With a hundred busy symbols a
    /// side's store is rarely still cached when its symbol's next message comes. The host calls this a message
    /// ahead (with its own copy of the column: reading it here would wait for this store's line), and
    /// [`SideStore::observe`] again on entry, for callers that do not (the misses then overlap, where the lookups
    /// would wait for each line in turn).
    pub(crate) fn prefetch(&self, col: usize) {
        use strategy_sdk::cache::{prefetch, prefetch_slice};
        if let Some(column) = self.qty.get(col) {
            prefetch_slice(column);
        }
        prefetch(&self.tick);
        prefetch(&self.table);
        prefetch_slice(&self.keys);
        prefetch_slice(&self.last_ms);
        prefetch_slice(&self.hist);
        prefetch_slice(&self.mem_keys);
    }

    /// Records an appearance of the level in `slot` (its quantity in ring column `col`); a refill when its last
    /// three appearances went high → low → high (the middle one below half the first, the last above 80 % of the
    /// first) within `refill_ms` (strict: `refill_speed_threshold_seconds`).
    fn appear(&mut self, slot: usize, col: usize, qty: f64, now_ms: i64, refill_ms: f64) {
        let q = qty as f32;
        self.qty[col][slot] = q;
        let h = &mut self.hist[slot];
        let first_of_three_ms = std::mem::replace(&mut h.prev_ms, self.last_ms[slot]);
        self.last_ms[slot] = now_ms;
        let [v0, v1] = h.qty;
        h.qty = [v1, q];
        if v1 < v0 * 0.5
            && q > v0 * 0.8
            && (now_ms.wrapping_sub(first_of_three_ms) as f64) < refill_ms
        {
            let rec = &mut self.recs[slot];
            rec.refills = rec.refills.saturating_add(1);
            let after_ms = now_ms
                .saturating_sub(rec.first_seen_ms)
                .clamp(0, u32::MAX.into());
            rec.last_refill_ms = after_ms as u32;
        }
    }

    /// Starts the level in `slot` over (from a remembered record, if any).
    fn restart(&mut self, slot: usize, now_ms: i64, rec: Option<Record>) {
        self.recs[slot] = rec.unwrap_or(Record {
            first_seen_ms: now_ms,
            ..Record::default()
        });
        self.last_ms[slot] = now_ms;
        self.hist[slot] = Hist {
            prev_ms: now_ms,
            qty: [0.0; 2],
        };
        self.born[slot] = self.tick;
    }

    /// Puts a new price in a free slot or the slot of the level seen least recently outside this snapshot
    /// (`current`), whose refill record is remembered; returns the slot.
    fn insert(&mut self, key: u64, now_ms: i64, cutoff: i64, current: u32) -> usize {
        let slot = if self.len < LEVELS_PER_SIDE {
            self.len += 1;
            self.len - 1
        } else {
            // a snapshot holds fewer than LEVELS_PER_SIDE levels, so some slot is outside it
            let (mut outside, mut victim, mut oldest) = (!current, 0, i64::MAX);
            while outside != 0 {
                let slot = outside.trailing_zeros() as usize % LEVELS_PER_SIDE;
                outside &= outside - 1;
                if self.last_ms[slot] < oldest {
                    (victim, oldest) = (slot, self.last_ms[slot]);
                }
            }
            self.remember(victim, cutoff);
            self.unindex(victim);
            victim
        };
        self.keys[slot] = key;
        let mut i = home(key);
        while self.table[i] != 0 {
            i = (i + 1) % TABLE;
        }
        self.table[i] = slot as u8 + 1;
        let rec = self.recall(key, cutoff);
        self.restart(slot, now_ms, rec);
        slot
    }

    /// Removes `slot` from the index, moving later entries of its probe run back so that no lookup stops early.
    fn unindex(&mut self, slot: usize) {
        let mut gap = home(self.keys[slot]);
        while usize::from(self.table[gap]) != slot + 1 {
            gap = (gap + 1) % TABLE;
        }
        let mut i = gap;
        loop {
            i = (i + 1) % TABLE;
            let Some(s) = usize::from(self.table[i]).checked_sub(1) else {
                break;
            };
            // an entry may fill the gap if its home is not cyclically within (gap, i]
            if (i.wrapping_sub(home(self.keys[s])) % TABLE) >= (i.wrapping_sub(gap) % TABLE) {
                self.table[gap] = self.table[i];
                gap = i;
            }
        }
        self.table[gap] = 0;
    }

    /// Keeps the refill record of the level leaving `slot` (replacing the one seen least recently when full).
    fn remember(&mut self, slot: usize, cutoff: i64) {
        let (seen_ms, rec) = (self.last_ms[slot], self.recs[slot]);
        if rec.refills == 0 || seen_ms < cutoff {
            return;
        }
        let i = if self.mem_len < REFILL_MEMORY {
            self.mem_len += 1;
            self.mem_len - 1
        } else {
            (0..REFILL_MEMORY)
                .min_by_key(|&i| self.mem_seen_ms[i])
                .unwrap_or(0)
        };
        (self.mem_keys[i], self.mem_seen_ms[i], self.mem_recs[i]) = (self.keys[slot], seen_ms, rec);
    }

    /// Takes the remembered record of `key` out of the memory; `None` if there is none or it expired.
    fn recall(&mut self, key: u64, cutoff: i64) -> Option<Record> {
        let i = self.mem_keys[..self.mem_len]
            .iter()
            .position(|&k| k == key)?;
        let (last_ms, rec) = (self.mem_seen_ms[i], self.mem_recs[i]);
        self.mem_len -= 1;
        let last = self.mem_len;
        self.mem_keys[i] = self.mem_keys[last];
        self.mem_seen_ms[i] = self.mem_seen_ms[last];
        self.mem_recs[i] = self.mem_recs[last];
        (last_ms >= cutoff).then_some(rec)
    }

    /// The levels seen at `cutoff_ms` or later whose record passes `keep` (tested first: it is the cheap filter):
    /// live ones, then remembered ones.
    pub(crate) fn tracked<'a>(
        &'a self,
        cutoff_ms: i64,
        keep: impl Fn(&Record) -> bool + 'a,
    ) -> impl Iterator<Item = Tracked> + 'a {
        let live = (0..self.len).map(|s| (self.keys[s], self.last_ms[s], self.recs[s], Some(s)));
        let n = self.mem_len;
        let remembered = (self.mem_keys[..n].iter().zip(&self.mem_seen_ms[..n]))
            .zip(&self.mem_recs[..n])
            .map(|((&k, &t), &rec)| (k, t, rec, None));
        live.chain(remembered)
            .filter(move |(_, last_ms, rec, _)| keep(rec) && *last_ms >= cutoff_ms)
            .map(|(key, _, rec, slot)| Tracked {
                price: f64::from_bits(key),
                rec,
                slot,
            })
    }

    /// The quantities the level in `slot` showed in the side's last [`QTY_RING`] snapshots, newest first.
    fn quantities(&self, slot: usize) -> impl Iterator<Item = f64> + '_ {
        let ring = QTY_RING as u64;
        (1..=(self.tick - self.born[slot]).min(ring))
            .map(move |age| ((self.tick - age) % ring) as usize)
            .filter(move |&col| self.present[col] & (1 << slot) != 0)
            .map(move |col| f64::from(self.qty[col][slot]))
    }

    /// Coefficient of variation (population standard deviation / mean, two passes) of
    /// [`SideStore::quantities`]; `None` with fewer than two quantities or a mean that is not positive.
    pub(crate) fn variation(&self, slot: usize) -> Option<f64> {
        let (n, sum) = self
            .quantities(slot)
            .fold((0u32, 0.0), |(n, sum), q| (n + 1, sum + q));
        let mean = sum / f64::from(n);
        if n < 2 || mean.is_nan() || mean <= 0.0 {
            return None;
        }
        let var = self
            .quantities(slot)
            .map(|q| (q - mean).powi(2))
            .sum::<f64>()
            / f64::from(n);
        Some(var.sqrt() / mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    impl SideStore {
        /// The live prices (expired ones included).
        pub(crate) fn prices(&self) -> Vec<f64> {
            self.keys[..self.len]
                .iter()
                .map(|&k| f64::from_bits(k))
                .collect()
        }

        /// The slot of `price`, if it is in the store.
        pub(crate) fn slot_of(&self, price: f64) -> Option<usize> {
            self.find(price.to_bits())
        }

        /// Number of quantities the consistency test reads for `slot`.
        pub(crate) fn remembered(&self, slot: usize) -> usize {
            self.quantities(slot).count()
        }
    }

    /// Population standard deviation / mean, straight from the definition.
    fn variation(q: &[f64]) -> Option<f64> {
        let n = q.len() as f64;
        let mean = q.iter().sum::<f64>() / n;
        let var = q.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (q.len() >= 2 && mean > 0.0).then(|| var.sqrt() / mean)
    }

    proptest::proptest! {
        /// Over any sequence of snapshots (prices coming and going, more prices than slots, repeated ones) every
        /// stored price is found in the index, and the variation of its level is that of exactly the quantities it
        /// showed in the side's last QTY_RING snapshots since it last entered the store.
        #[test]
        fn variation_is_that_of_the_level_s_recent_snapshots(
            snaps in proptest::collection::vec(
                proptest::collection::vec((0u32..45, 0.0f64..1e9), 0..22), 1..200),
        ) {
            let mut side = SideStore::new();
            let p = IcebergDetectorParams::default();
            // per price: (snapshot number, quantity) since it last entered the store
            let mut shown: HashMap<u64, Vec<(usize, f64)>> = HashMap::new();
            for (n, snap) in snaps.iter().enumerate() {
                let book: Vec<Level> = snap.iter().map(|&(p, q)| Level::new(100.0 + f64::from(p), q)).collect();
                let before: Vec<f64> = side.prices();
                side.observe(&book, n as i64 * 100, &p);
                for price in &before {
                    if side.slot_of(*price).is_none() {
                        shown.remove(&price.to_bits());
                    }
                }
                let mut seen = Vec::new();
                for l in book.iter().take(BOOK_LEVELS_TRACKED) {
                    if !seen.contains(&l.price) {
                        seen.push(l.price);
                        shown.entry(l.price.to_bits()).or_default().push((n, f64::from(l.qty as f32)));
                    }
                }
                for price in side.prices() {
                    let slot = side.slot_of(price).unwrap();
                    let q: Vec<f64> = shown[&price.to_bits()].iter().rev()
                        .filter(|(at, _)| n - at < QTY_RING).map(|&(_, q)| q).collect();
                    let (got, want) = (side.variation(slot), variation(&q));
                    proptest::prop_assert_eq!(got.is_some(), want.is_some());
                    if let (Some(got), Some(want)) = (got, want) {
                        proptest::prop_assert!((got - want).abs() <= 1e-9 * want.max(1.0), "{} {}", got, want);
                    }
                }
            }
        }
    }
}
