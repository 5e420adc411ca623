//! Per-symbol pressure/imbalance history: a ring of 3-byte slots, one per 100 ms of the last 15 minutes, stored
//! in pages of [`PAGE_SLOTS`] slots that are allocated when a point first lands in them. A busy symbol ends up
//! with every page (27 KB, allocated once); a quiet one holds only the pages its points touch (10,000 quiet
//! symbols took 700 MB when every symbol got the whole ring on its first book).
//!
//! The ring is direct-mapped: the point of 100 ms slot `s` (`s = t_ms / 100`) lives at index
//! `s mod MAX_POINTS`, so the slot number — and with it the event time down to the 100 ms — is implied by the
//! position and only the millisecond offset within the slot is stored (a `u8`; `u8::MAX` marks an empty slot).
//! A point is kept at the precision the documents show: the imbalance ratio at 4 decimals, in an `i16` of
//! ten-thousandths (rounded half to even exactly as the documents round it). Net pressure is buy % − sell % of
//! the same volumes, which is 100 × the imbalance ratio, so it is not stored: a point's pressure is the stored
//! ratio × 100, at 2 decimals (the documents' precision), and window averages, extremes and the trend are
//! computed from those values.

use std::fmt;

use crate::metrics::Trend;

/// How long history is kept (15 minutes, the longest timeframe).
pub const RETENTION_MS: i64 = 15 * 60 * 1000;
/// Width of a history slot: a point closer than this to the previous one replaces it (depth20 streams at
/// 100 ms; bursts are folded so 15 minutes always fit in the ring).
pub const SLOT_MS: i64 = 100;
/// Slots spanned by the retention window.
const RETENTION_SLOTS: i64 = RETENTION_MS / SLOT_MS;
/// Most points one symbol can hold: every 100 ms slot of the retention window (+1 for a partial slot).
/// Also the ring's fixed length.
pub const MAX_POINTS: usize = RETENTION_SLOTS as usize + 1;
/// Number of most recent points the trend is read from (the original's rule).
pub const TREND_POINTS: usize = 10;
/// Net pressure beyond which the trend is bullish/bearish.
pub const TREND_THRESHOLD: f64 = 20.0;

const _: () = assert!(RETENTION_MS % SLOT_MS == 0 && SLOT_MS <= u8::MAX as i64);

/// Scale of the stored imbalance ratio (4 decimals, the documents' precision).
const IMBALANCE_SCALE: f64 = 10_000.0;
/// Stored ten-thousandths of the ratio per unit of net pressure (pressure = 100 × ratio).
const PRESSURE_DIVISOR: f64 = 100.0;
/// Offset value of an empty slot (offsets are `0..SLOT_MS`).
const EMPTY: u8 = u8::MAX;

/// One history sample as handed in and out: event time, net pressure and imbalance ratio.
/// (The ring stores it in 3 bytes, the pressure as 100 × the 4-decimal ratio: see the module docs.)
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Event time in epoch milliseconds.
    pub t_ms: i64,
    /// Net pressure in `[-100, 100]`.
    pub pressure: f32,
    /// Imbalance ratio in `[-1, 1]`; the history keeps it at 4 decimals.
    pub imbalance: f32,
}

/// One ring slot: 3 bytes (alignment 1, so a page of 256 is 768 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot {
    /// Imbalance ratio in ten-thousandths (`[-10 000, 10 000]`), as little-endian `i16` bytes.
    imbalance: [u8; 2],
    /// Milliseconds within the 100 ms slot, or [`EMPTY`].
    offset: u8,
}

impl Slot {
    const VACANT: Slot = Slot {
        imbalance: [0; 2],
        offset: EMPTY,
    };

    fn encode(p: &Point) -> Self {
        // The same operation `round_dp(x, 4)` applies before dividing by the scale, so decoding and
        // rounding again gives exactly the value the documents showed for the f32 ratio.
        let scaled = (f64::from(p.imbalance) * IMBALANCE_SCALE).round_ties_even();
        let imbalance = if scaled.is_finite() {
            scaled.clamp(-IMBALANCE_SCALE, IMBALANCE_SCALE) as i16
        } else {
            0
        };
        Self {
            imbalance: imbalance.to_le_bytes(),
            offset: p.t_ms.rem_euclid(SLOT_MS) as u8,
        }
    }

    fn is_empty(self) -> bool {
        self.offset == EMPTY
    }

    /// Event time of this slot's point when it is slot number `slot`.
    fn time(self, slot: i64) -> i64 {
        slot * SLOT_MS + i64::from(self.offset)
    }

    /// The imbalance ratio in ten-thousandths.
    fn ten_thousandths(self) -> f64 {
        f64::from(i16::from_le_bytes(self.imbalance))
    }

    fn decode(self, slot: i64) -> Option<Point> {
        (!self.is_empty()).then(|| Point {
            t_ms: self.time(slot),
            pressure: (self.ten_thousandths() / PRESSURE_DIVISOR) as f32,
            imbalance: (self.ten_thousandths() / IMBALANCE_SCALE) as f32,
        })
    }
}

/// Slots per storage page (768 bytes).
pub const PAGE_SLOTS: usize = 256;
/// Pages of the ring.
const PAGES: usize = MAX_POINTS.div_ceil(PAGE_SLOTS);

/// One storage page.
type Page = Box<[Slot; PAGE_SLOTS]>;

/// Bounded, time-ordered ring of points, at most one per 100 ms slot; each page of its storage is allocated once,
/// when first written.
#[derive(Clone)]
pub struct History {
    /// `MAX_POINTS` slots, direct-mapped by slot number, in pages (`None`: never written, all vacant).
    pages: Box<[Option<Page>]>,
    /// Slot number of the newest point (meaningful when `len > 0`).
    newest_slot: i64,
    /// Occupied slots.
    len: usize,
}

impl Default for History {
    fn default() -> Self {
        Self {
            pages: vec![None; PAGES].into_boxed_slice(),
            newest_slot: 0,
            len: 0,
        }
    }
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("len", &self.len)
            .field("newest_ms", &self.last_time())
            .finish()
    }
}

/// Statistics of one timeframe, computed under the symbol lock without allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    /// Points in the window.
    pub count: usize,
    /// Mean net pressure.
    pub avg: f64,
    /// Highest net pressure.
    pub max: f64,
    /// Lowest net pressure.
    pub min: f64,
    /// Trend of the last [`TREND_POINTS`] points.
    pub trend: Trend,
    /// Strength of that trend in `[0, 1]`.
    pub trend_strength: f64,
}

/// The original's trend rule on the mean `recent` of the last 10 points (`None` when fewer than 10):
/// `> 20` bullish with strength `min(1, avg/50)`; `< −20` bearish with `min(1, |avg|/50)`;
/// otherwise neutral with `1 − |avg|/20`; fewer than 10 points: neutral, 0.5.
pub fn trend_of(recent: Option<f64>) -> (Trend, f64) {
    match recent {
        None => (Trend::Neutral, 0.5),
        Some(avg) if avg > TREND_THRESHOLD => (Trend::Bullish, (avg / 50.0).min(1.0)),
        Some(avg) if avg < -TREND_THRESHOLD => (Trend::Bearish, (avg.abs() / 50.0).min(1.0)),
        Some(avg) => (
            Trend::Neutral,
            (1.0 - avg.abs() / TREND_THRESHOLD).clamp(0.0, 1.0),
        ),
    }
}

/// Ring index of slot number `slot`.
fn index(slot: i64) -> usize {
    slot.rem_euclid(MAX_POINTS as i64) as usize
}

impl History {
    /// Number of points held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no point is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots allocated so far (whole pages; at most [`PAGES`] × [`PAGE_SLOTS`]).
    pub fn capacity(&self) -> usize {
        self.pages.iter().flatten().count() * PAGE_SLOTS
    }

    /// Bytes of the ring storage: the allocated pages and the page table.
    pub fn ring_bytes(&self) -> usize {
        self.capacity() * std::mem::size_of::<Slot>() + std::mem::size_of_val(&*self.pages)
    }

    /// The slot at ring index `i` (vacant in a page never written).
    fn slot(&self, i: usize) -> Slot {
        self.pages[i / PAGE_SLOTS]
            .as_ref()
            .map_or(Slot::VACANT, |page| page[i % PAGE_SLOTS])
    }

    /// The slot at ring index `i` for writing; allocates its page the first time.
    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        let page =
            self.pages[i / PAGE_SLOTS].get_or_insert_with(|| Box::new([Slot::VACANT; PAGE_SLOTS]));
        &mut page[i % PAGE_SLOTS]
    }

    /// Time of the newest point.
    pub fn last_time(&self) -> Option<i64> {
        if self.len == 0 {
            return None;
        }
        Some(self.slot(index(self.newest_slot)).time(self.newest_slot))
    }

    /// Drops every point (keeps the allocated pages).
    pub fn clear(&mut self) {
        for page in self.pages.iter_mut().flatten() {
            page.fill(Slot::VACANT);
        }
        self.len = 0;
        self.newest_slot = 0;
    }

    fn vacate(&mut self, slot: i64) {
        let i = index(slot);
        let Some(page) = self.pages[i / PAGE_SLOTS].as_mut() else {
            return;
        };
        let s = &mut page[i % PAGE_SLOTS];
        if !s.is_empty() {
            *s = Slot::VACANT;
            self.len -= 1;
        }
    }

    /// Appends a point. `t_ms` must not be older than the newest point (the caller clamps; a point of an older
    /// slot is folded into the newest slot at the newest time). A point in the same 100 ms slot as the newest
    /// one replaces it. Points at or beyond the retention window (`t <= newest − 15 min`) are evicted.
    /// Allocates only a page never written before; `O(1)` amortized (a jump of `k` slots vacates the `k` slots
    /// skipped).
    pub fn push(&mut self, p: Point) {
        let mut p = p;
        let mut slot = p.t_ms.div_euclid(SLOT_MS);
        if let Some(newest) = self.last_time() {
            if slot < self.newest_slot {
                p.t_ms = newest;
                slot = self.newest_slot;
            } else if slot - self.newest_slot >= MAX_POINTS as i64 {
                self.clear();
            } else {
                for s in self.newest_slot + 1..=slot {
                    self.vacate(s);
                }
            }
        }
        let cell = self.slot_mut(index(slot));
        let was_empty = cell.is_empty();
        *cell = Slot::encode(&p);
        if was_empty {
            self.len += 1;
        }
        self.newest_slot = slot;
        // Live slots are now `slot − RETENTION_SLOTS ..= slot`; the oldest is live only after the horizon.
        let oldest = slot - RETENTION_SLOTS;
        let o = self.slot(index(oldest));
        if !o.is_empty() && o.time(oldest) <= p.t_ms.saturating_sub(RETENTION_MS) {
            self.vacate(oldest);
        }
    }

    /// Points with `t > newest − window_ms`, oldest first.
    fn window(&self, window_ms: i64) -> impl DoubleEndedIterator<Item = Point> + '_ {
        self.window_slots(window_ms)
            .filter_map(|(slot, s)| s.decode(slot))
    }

    /// The occupied slots of [`Self::window`] with their slot numbers, oldest first.
    fn window_slots(&self, window_ms: i64) -> impl DoubleEndedIterator<Item = (i64, Slot)> + '_ {
        let (first, n, horizon) = match self.last_time() {
            Some(newest) => {
                let horizon = newest.saturating_sub(window_ms);
                let first = horizon
                    .div_euclid(SLOT_MS)
                    .max(self.newest_slot - RETENTION_SLOTS);
                let n = usize::try_from(self.newest_slot - first + 1).unwrap_or(0);
                (first, n, horizon)
            }
            None => (0, 0, 0),
        };
        let start = index(first);
        (0..n).filter_map(move |i| {
            let j = start + i;
            let j = if j >= MAX_POINTS { j - MAX_POINTS } else { j };
            let slot = first + i as i64;
            let s = self.slot(j);
            (!s.is_empty() && s.time(slot) > horizon).then_some((slot, s))
        })
    }

    /// Statistics of the window; `None` when there is no point.
    pub fn stats(&self, window_ms: i64) -> Option<WindowStats> {
        let (mut sum, mut max, mut min) = (0.0f64, f64::NEG_INFINITY, f64::INFINITY);
        let mut count = 0usize;
        // The newest TREND_POINTS pressures, circularly.
        let mut last = [0.0f64; TREND_POINTS];
        for (_, s) in self.window_slots(window_ms) {
            // Exactly the 2-decimal pressure (no detour through the `f32` of a `Point`).
            let v = s.ten_thousandths() / PRESSURE_DIVISOR;
            sum += v;
            max = max.max(v);
            min = min.min(v);
            last[count % TREND_POINTS] = v;
            count += 1;
        }
        if count == 0 {
            return None;
        }
        let recent = (count >= TREND_POINTS).then(|| {
            (0..TREND_POINTS)
                .map(|j| last[(count + j) % TREND_POINTS])
                .sum::<f64>()
                / TREND_POINTS as f64
        });
        let (trend, trend_strength) = trend_of(recent);
        Some(WindowStats {
            count,
            avg: sum / count as f64,
            max,
            min,
            trend,
            trend_strength,
        })
    }

    /// Copies the whole window into `out` (oldest first), downsampled to at most `max_points` by averaging runs of
    /// consecutive points (time, pressure and imbalance); returns the points per run and the points in the window.
    pub fn downsample_into(
        &self,
        window_ms: i64,
        max_points: usize,
        out: &mut Vec<Point>,
    ) -> (usize, usize) {
        let total = self.window(window_ms).count();
        let per = total.div_ceil(max_points.max(1)).max(1);
        let mut run = (0i64, 0.0f64, 0.0f64, 0usize);
        for p in self.window(window_ms) {
            run.0 += p.t_ms;
            run.1 += f64::from(p.pressure);
            run.2 += f64::from(p.imbalance);
            run.3 += 1;
            if run.3 == per {
                out.push(mean_point(run));
                run = (0, 0.0, 0.0, 0);
            }
        }
        if run.3 > 0 {
            out.push(mean_point(run));
        }
        (per, total)
    }

    /// Copies the newest `n` points of the window into `out` (oldest first).
    pub fn tail_into(&self, window_ms: i64, n: usize, out: &mut Vec<Point>) {
        let from = out.len();
        out.extend(self.window(window_ms).rev().take(n));
        out[from..].reverse();
    }
}

fn mean_point((t, pressure, imbalance, n): (i64, f64, f64, usize)) -> Point {
    let k = n.max(1) as f64;
    Point {
        t_ms: (t as f64 / k).round() as i64,
        pressure: (pressure / k) as f32,
        imbalance: (imbalance / k) as f32,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pt(t_ms: i64, pressure: f32) -> Point {
        Point {
            t_ms,
            pressure,
            imbalance: pressure / 100.0,
        }
    }

    fn all(h: &History) -> Vec<Point> {
        let mut out = Vec::new();
        h.tail_into(i64::MAX, usize::MAX, &mut out);
        out
    }

    #[test]
    fn downsampling_covers_the_whole_window_with_run_means() {
        let mut h = History::default();
        for i in 0..1000 {
            h.push(pt(i * 100, (i % 10) as f32));
        }
        let mut out = Vec::new();
        let (per, total) = h.downsample_into(i64::MAX, 300, &mut out);
        assert_eq!((per, total), (4, 1000));
        assert_eq!(out.len(), 250);
        assert_eq!(out[0].t_ms, 150);
        assert!((out[0].pressure - 1.5).abs() < 1e-6);
        assert_eq!(
            out.last().unwrap().t_ms,
            99_750,
            "the newest run ends the series"
        );
        let mut few = Vec::new();
        assert_eq!(h.downsample_into(i64::MAX, 5000, &mut few), (1, 1000));
        assert_eq!(few.len(), 1000);
    }

    #[test]
    fn slot_is_3_bytes_and_a_full_ring_is_27_kb() {
        assert_eq!(std::mem::size_of::<Slot>(), 3);
        let mut h = History::default();
        assert_eq!(h.capacity(), 0);
        for i in 0..(MAX_POINTS as i64 + 10) {
            h.push(pt(i * SLOT_MS, 1.0));
        }
        assert_eq!(h.capacity(), PAGES * PAGE_SLOTS);
        assert_eq!(h.ring_bytes(), 36 * 256 * 3 + 36 * 8);
    }

    #[test]
    fn a_quiet_symbol_holds_only_the_pages_its_points_touch() {
        let mut h = History::default();
        // 30 books one second apart: 30 s = 300 slots, within two or three pages.
        for i in 0..30i64 {
            h.push(pt(1_000_000 + i * 1_000, 1.0));
        }
        assert_eq!(h.len(), 30);
        assert!(h.capacity() <= 3 * PAGE_SLOTS, "{}", h.capacity());
        assert!(h.ring_bytes() < 7 * 1024, "{}", h.ring_bytes());
    }

    #[test]
    fn each_page_is_allocated_once() {
        let mut h = History::default();
        for i in 0..40_000i64 {
            h.push(pt(i * 73, (i % 200) as f32 - 100.0));
        }
        let pages: Vec<*const Slot> = h.pages.iter().flatten().map(|p| p.as_ptr()).collect();
        assert_eq!(pages.len(), PAGES);
        for i in 40_000..80_000i64 {
            h.push(pt(i * 73, (i % 200) as f32 - 100.0));
        }
        h.clear();
        h.push(pt(80_000 * 73 + 5, 1.0));
        let after: Vec<*const Slot> = h.pages.iter().flatten().map(|p| p.as_ptr()).collect();
        assert_eq!(pages, after);
    }

    #[test]
    fn imbalance_keeps_the_documented_4_decimals() {
        let mut h = History::default();
        for (i, x) in [
            0.123_45f32,
            -0.999_95,
            1.0,
            -1.0,
            0.0,
            0.000_04,
            -0.000_06,
            0.428_5,
        ]
        .into_iter()
        .enumerate()
        {
            let t = i as i64 * SLOT_MS;
            h.push(Point {
                t_ms: t,
                pressure: 1.0,
                imbalance: x,
            });
            let got = all(&h).last().unwrap().imbalance;
            assert_eq!(
                crate::round_dp(f64::from(got), 4),
                crate::round_dp(f64::from(x), 4),
                "{x}"
            );
        }
        // out-of-range and non-finite inputs are clamped / zeroed, never wrap
        h.push(Point {
            t_ms: 10_000,
            pressure: 0.0,
            imbalance: 9.0,
        });
        assert_eq!(all(&h).last().unwrap().imbalance, 1.0);
        h.push(Point {
            t_ms: 10_100,
            pressure: 0.0,
            imbalance: f32::NAN,
        });
        assert_eq!(all(&h).last().unwrap().imbalance, 0.0);
    }

    #[test]
    fn matches_a_plain_deque_model() {
        // The previous implementation (a VecDeque of 16-byte points) as the reference, at the documents'
        // precision: the 4-decimal imbalance ratio, and a pressure of 100 × that ratio (as the metrics give it).
        let mut model: std::collections::VecDeque<Point> = Default::default();
        let mut h = History::default();
        let mut t = 1_723_161_255_000i64;
        let mut seed = 7u64;
        for i in 0..60_000u32 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let r = seed >> 33;
            t += match r % 10 {
                0 => 0,
                1..=6 => 100,
                7 => (r % 97) as i64,
                8 => 1_000 + (r % 5_000) as i64,
                _ => {
                    if i % 5_000 == 0 {
                        1_000_000
                    } else {
                        250
                    }
                }
            };
            let imbalance = (((r >> 7) % 2_000_001) as f32 - 1_000_000.0) / 1_000_000.0;
            let p = Point {
                t_ms: t,
                pressure: imbalance * 100.0,
                imbalance,
            };
            h.push(p);
            if let Some(last) = model.back_mut() {
                if p.t_ms.div_euclid(SLOT_MS) == last.t_ms.div_euclid(SLOT_MS) {
                    *last = p;
                } else {
                    model.push_back(p);
                }
            } else {
                model.push_back(p);
            }
            while model.front().is_some_and(|f| f.t_ms <= t - RETENTION_MS) {
                model.pop_front();
            }
            assert_eq!(h.len(), model.len());
            if i % 997 == 0 {
                for w in [0, 1, 99, 60_000, 300_000, 900_000, 2_000_000] {
                    let got: Vec<Point> = {
                        let mut v = Vec::new();
                        h.tail_into(w, 100, &mut v);
                        v
                    };
                    let horizon = t - w;
                    let win: Vec<&Point> = model.iter().filter(|p| p.t_ms > horizon).collect();
                    let want = &win[win.len().saturating_sub(100)..];
                    assert_eq!(got.len(), want.len());
                    // What the documents show of a model point: its ratio at 4 decimals, its pressure at 2.
                    let ratio_4dp = |m: &Point| crate::round_dp(f64::from(m.imbalance), 4);
                    let pressure_2dp =
                        |m: &Point| (f64::from(m.imbalance) * 10_000.0).round_ties_even() / 100.0;
                    for (g, m) in got.iter().zip(want) {
                        assert_eq!(g.t_ms, m.t_ms);
                        assert_eq!(crate::round_dp(f64::from(g.imbalance), 4), ratio_4dp(m));
                        assert_eq!(
                            crate::round_dp(f64::from(g.pressure), 2),
                            crate::round_dp(pressure_2dp(m), 2)
                        );
                        // The 2-decimal pressure is the 4-decimal ratio × 100, up to the float rounding of the
                        // model's own f32 pressure.
                        assert!(
                            (f64::from(g.pressure) - f64::from(m.pressure)).abs() <= 0.005 + 1e-4
                        );
                    }
                    let s = h.stats(w);
                    assert_eq!(s.map(|s| s.count).unwrap_or(0), win.len());
                    if let Some(s) = s {
                        let sum: f64 = win.iter().fold(0.0, |a, p| a + pressure_2dp(p));
                        assert_eq!(s.avg, sum / win.len() as f64);
                    }
                }
            }
        }
    }

    #[test]
    fn trend_rules() {
        assert_eq!(trend_of(None), (Trend::Neutral, 0.5));
        assert_eq!(trend_of(Some(25.0)), (Trend::Bullish, 0.5));
        assert_eq!(trend_of(Some(80.0)), (Trend::Bullish, 1.0));
        assert_eq!(trend_of(Some(-30.0)), (Trend::Bearish, 0.6));
        assert_eq!(trend_of(Some(-60.0)), (Trend::Bearish, 1.0));
        assert_eq!(trend_of(Some(20.0)), (Trend::Neutral, 0.0));
        assert_eq!(trend_of(Some(-5.0)), (Trend::Neutral, 0.75));
        assert_eq!(trend_of(Some(0.0)), (Trend::Neutral, 1.0));
    }

    #[test]
    fn same_slot_replaces() {
        let mut h = History::default();
        h.push(pt(1_000, 1.0));
        h.push(pt(1_050, 2.0));
        assert_eq!(h.len(), 1);
        assert_eq!(all(&h), [pt(1_050, 2.0)]);
        h.push(pt(1_100, 3.0));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn retention_is_15_minutes_and_ring_is_capped() {
        let mut h = History::default();
        // 20 minutes at 10 Hz
        for i in 0..12_000i64 {
            h.push(pt(i * 100, (i % 200) as f32 - 100.0));
        }
        let newest = 11_999 * 100;
        assert_eq!(h.last_time(), Some(newest));
        assert!(all(&h)[0].t_ms > newest - RETENTION_MS);
        assert_eq!(h.len(), 9_000);
        assert!(h.capacity() <= PAGES * PAGE_SLOTS);
        // bursts faster than 10 Hz never exceed the cap
        for i in 0..30_000i64 {
            h.push(pt(newest + 1 + i * 37, 0.0));
        }
        assert!(h.len() <= MAX_POINTS);
        assert!(h.capacity() <= PAGES * PAGE_SLOTS);
    }

    #[test]
    fn windows_by_event_time() {
        let mut h = History::default();
        // one point per second for 16 minutes: pressure = minute index
        for s in 0..960i64 {
            h.push(pt(s * 1_000, (s / 60) as f32));
        }
        // newest t = 959 s; 1m window: t > 899 s -> 60 points, all of minute 15
        let s1 = h.stats(60_000).unwrap();
        assert_eq!(s1.count, 60);
        assert_eq!((s1.avg, s1.min, s1.max), (15.0, 15.0, 15.0));
        let s5 = h.stats(300_000).unwrap();
        assert_eq!(s5.count, 300);
        // minutes 11..=15, 60 points each
        assert_eq!(s5.min, 11.0);
        assert!((s5.avg - 13.0).abs() < 1e-9);
        let s15 = h.stats(900_000).unwrap();
        // retention: t > 959 - 900 = 59 s -> 900 points
        assert_eq!(s15.count, 900);
        assert_eq!(s15.min, 1.0);
        let mut out = Vec::new();
        h.tail_into(60_000, 100, &mut out);
        assert_eq!(out.len(), 60);
        out.clear();
        h.tail_into(900_000, 100, &mut out);
        assert_eq!(out.len(), 100);
        assert_eq!(out.last().unwrap().t_ms, 959_000);
        assert_eq!(out[0].t_ms, 860_000);
    }

    #[test]
    fn trend_needs_ten_points() {
        let mut h = History::default();
        for i in 0..9i64 {
            h.push(pt(i * 1_000, 50.0));
        }
        let s = h.stats(60_000).unwrap();
        assert_eq!((s.trend, s.trend_strength), (Trend::Neutral, 0.5));
        h.push(pt(9_000, 50.0));
        let s = h.stats(60_000).unwrap();
        assert_eq!((s.trend, s.trend_strength), (Trend::Bullish, 1.0));
        // the trend reads the newest 10 points only
        for i in 10..20i64 {
            h.push(pt(i * 1_000, -30.0));
        }
        let s = h.stats(60_000).unwrap();
        assert_eq!(s.trend, Trend::Bearish);
        assert!((s.trend_strength - 0.6).abs() < 1e-6);
        assert!((s.avg - 10.0).abs() < 1e-6);
    }

    #[test]
    fn empty_history_has_no_stats() {
        assert!(History::default().stats(60_000).is_none());
    }
}
