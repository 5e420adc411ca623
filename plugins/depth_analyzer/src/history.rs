//! Per-symbol pressure/imbalance history: a time-bounded ring of 16-byte points, one per 100 ms slot at most.

use std::collections::VecDeque;

use crate::metrics::Trend;

/// How long history is kept (15 minutes, the longest timeframe).
pub const RETENTION_MS: i64 = 15 * 60 * 1000;
/// Width of a history slot: a point closer than this to the previous one replaces it (depth20 streams at
/// 100 ms; bursts are folded so 15 minutes always fit in the ring).
pub const SLOT_MS: i64 = 100;
/// Most points one symbol can hold: every 100 ms slot of the retention window (+1 for a partial slot).
pub const MAX_POINTS: usize = (RETENTION_MS / SLOT_MS) as usize + 1;
/// Number of most recent points the trend is read from (the original's rule).
pub const TREND_POINTS: usize = 10;
/// Net pressure beyond which the trend is bullish/bearish.
pub const TREND_THRESHOLD: f64 = 20.0;

const INITIAL_CAPACITY: usize = 64;

/// One history sample: event time, net pressure and imbalance ratio. 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Event time in epoch milliseconds.
    pub t_ms: i64,
    /// Net pressure in `[-100, 100]`.
    pub pressure: f32,
    /// Imbalance ratio in `[-1, 1]`.
    pub imbalance: f32,
}

/// Bounded, time-ordered ring of points.
#[derive(Debug, Clone)]
pub struct History {
    points: VecDeque<Point>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            points: VecDeque::with_capacity(INITIAL_CAPACITY),
        }
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

impl History {
    /// Number of points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when no point is held.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Ring capacity currently allocated (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.points.capacity()
    }

    /// Time of the newest point.
    pub fn last_time(&self) -> Option<i64> {
        self.points.back().map(|p| p.t_ms)
    }

    /// Drops every point.
    pub fn clear(&mut self) {
        self.points.clear();
    }

    /// Appends a point. `t_ms` must not be older than the newest point (the caller clamps). A point in the
    /// same 100 ms slot as the newest one replaces it. Points older than the retention window are evicted.
    /// Allocates only while the ring grows towards [`MAX_POINTS`] (doubling, capped exactly).
    pub fn push(&mut self, p: Point) {
        if let Some(last) = self.points.back_mut() {
            if p.t_ms.div_euclid(SLOT_MS) == last.t_ms.div_euclid(SLOT_MS) {
                *last = p;
                self.evict(p.t_ms);
                return;
            }
        }
        self.evict(p.t_ms);
        if self.points.len() >= MAX_POINTS {
            self.points.pop_front();
        }
        let (len, cap) = (self.points.len(), self.points.capacity());
        if len == cap && cap < MAX_POINTS {
            let target = (cap.max(INITIAL_CAPACITY / 2) * 2).min(MAX_POINTS);
            self.points.reserve_exact(target - len);
        }
        self.points.push_back(p);
    }

    fn evict(&mut self, now_ms: i64) {
        let horizon = now_ms.saturating_sub(RETENTION_MS);
        while self.points.front().is_some_and(|f| f.t_ms <= horizon) {
            self.points.pop_front();
        }
    }

    /// Index of the first point of the window of `window_ms` ending at the newest point:
    /// points with `t > newest − window`.
    fn window_start(&self, window_ms: i64) -> usize {
        let Some(newest) = self.last_time() else {
            return 0;
        };
        let horizon = newest.saturating_sub(window_ms);
        self.points.partition_point(|p| p.t_ms <= horizon)
    }

    /// Statistics of the window; `None` when there is no point.
    pub fn stats(&self, window_ms: i64) -> Option<WindowStats> {
        let start = self.window_start(window_ms);
        let count = self.points.len() - start;
        if count == 0 {
            return None;
        }
        let (mut sum, mut max, mut min) = (0.0f64, f64::NEG_INFINITY, f64::INFINITY);
        for p in self.points.range(start..) {
            let v = f64::from(p.pressure);
            sum += v;
            max = max.max(v);
            min = min.min(v);
        }
        let recent = (count >= TREND_POINTS).then(|| {
            self.points
                .range(self.points.len() - TREND_POINTS..)
                .map(|p| f64::from(p.pressure))
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

    /// Copies the newest `n` points of the window into `out` (oldest first).
    pub fn tail_into(&self, window_ms: i64, n: usize, out: &mut Vec<Point>) {
        let start = self.window_start(window_ms);
        let from = start.max(self.points.len().saturating_sub(n));
        out.extend(self.points.range(from..).copied());
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

    #[test]
    fn point_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Point>(), 16);
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
        assert_eq!(h.points[0], pt(1_050, 2.0));
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
        assert!(h.points.front().unwrap().t_ms > newest - RETENTION_MS);
        assert_eq!(h.len(), 9_000);
        assert!(h.capacity() <= MAX_POINTS);
        // bursts faster than 10 Hz never exceed the cap
        for i in 0..30_000i64 {
            h.push(pt(newest + 1 + i * 37, 0.0));
        }
        assert!(h.len() <= MAX_POINTS);
        assert!(h.capacity() <= MAX_POINTS);
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
