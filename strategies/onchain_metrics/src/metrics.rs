//! The latest on-chain series, shared between the feed task (writer) and the strategy (reader).

use std::sync::Arc;

use parking_lot::RwLock;
use strategy_sdk::DataStatus;

/// Largest distance between the event time and the fetch time of a series (3 × the hourly poll).
pub const MAX_FETCH_AGE_MS: i64 = 3 * 3_600_000;
/// Largest distance between the event time and the newest daily data point of a series (the charts are daily and
/// usually lag by up to a day).
pub const MAX_DATA_AGE_MS: i64 = 3 * 86_400_000;

/// One on-chain metric, one blockchain.info chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `n-unique-addresses`: unique addresses used per day (the "active addresses" proxy).
    UniqueAddresses,
    /// `estimated-transaction-volume`: estimated value of on-chain transactions per day, in BTC.
    TransactionVolume,
    /// `hash-rate`: estimated network hash rate, TH/s.
    HashRate,
}

impl Metric {
    /// Every metric, in index order.
    pub const ALL: [Metric; 3] = [
        Metric::UniqueAddresses,
        Metric::TransactionVolume,
        Metric::HashRate,
    ];

    /// The chart name in the blockchain.info charts API.
    pub const fn chart(self) -> &'static str {
        match self {
            Metric::UniqueAddresses => "n-unique-addresses",
            Metric::TransactionVolume => "estimated-transaction-volume",
            Metric::HashRate => "hash-rate",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A daily series: values in time order and the time of the newest point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Values, oldest first (only finite, positive values are kept).
    pub values: Vec<f64>,
    /// Time of the newest point, ms since the epoch.
    pub last_point_ms: i64,
    /// Wall-clock time at which the feed received the series.
    pub fetched_at_ms: i64,
    /// Increases with every series stored; tells refreshes apart.
    pub generation: u64,
}

impl Series {
    /// Percent change of the newest value against the mean of the `periods` values before it; `None` when there
    /// are not enough points or the baseline is not positive.
    pub fn growth_percent(&self, periods: usize) -> Option<f64> {
        let n = self.values.len();
        if periods == 0 || n < periods + 1 {
            return None;
        }
        let latest = self.values[n - 1];
        let baseline = self.values[n - 1 - periods..n - 1].iter().sum::<f64>() / periods as f64;
        (baseline > 0.0 && baseline.is_finite()).then(|| (latest - baseline) / baseline * 100.0)
    }

    /// Whether the series may be used at `now_ms` (fetched recently enough and its data recent enough).
    pub fn is_fresh(&self, now_ms: i64) -> bool {
        now_ms.abs_diff(self.fetched_at_ms) <= MAX_FETCH_AGE_MS.unsigned_abs()
            && now_ms.saturating_sub(self.last_point_ms) <= MAX_DATA_AGE_MS
            && self.last_point_ms.saturating_sub(now_ms) <= MAX_FETCH_AGE_MS
    }
}

#[derive(Debug, Default)]
struct Slot {
    series: Option<Series>,
    last_error: Option<String>,
    breaker_open: bool,
}

#[derive(Debug, Default)]
struct Book {
    slots: [Slot; 3],
    generation: u64,
    feed_error: Option<String>,
}

/// Growth readings of the three metrics at one event time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    /// Unique addresses, percent against the baseline.
    pub addresses: f64,
    /// Transaction volume, percent against the baseline.
    pub volume: f64,
    /// Hash rate, percent against the baseline.
    pub hash_rate: f64,
    /// Newest daily data point among the three series (ms).
    pub data_point_ms: i64,
}

/// Cloneable handle on the shared series.
#[derive(Debug, Clone, Default)]
pub struct SharedMetrics(Arc<RwLock<Book>>);

impl SharedMetrics {
    /// Stores a series fetched at wall-clock `fetched_at_ms`. Points are `(unix seconds, value)` in any order; only
    /// finite positive values are kept. An empty result is recorded as a failure instead.
    pub fn set(&self, metric: Metric, points: &[(i64, f64)], fetched_at_ms: i64) {
        let mut pts: Vec<(i64, f64)> = points
            .iter()
            .copied()
            .filter(|(_, y)| y.is_finite() && *y > 0.0)
            .collect();
        pts.sort_by_key(|p| p.0);
        pts.dedup_by_key(|p| p.0);
        let Some(&(last_x, _)) = pts.last() else {
            self.record_failure(metric, "the series has no usable value", false);
            return;
        };
        let mut book = self.0.write();
        book.generation += 1;
        let generation = book.generation;
        let slot = &mut book.slots[metric.index()];
        slot.series = Some(Series {
            values: pts.iter().map(|p| p.1).collect(),
            last_point_ms: last_x.saturating_mul(1000),
            fetched_at_ms,
            generation,
        });
        slot.last_error = None;
        slot.breaker_open = false;
    }

    /// Records a failed fetch (the previous series is kept and ages out on its own).
    pub fn record_failure(&self, metric: Metric, error: &str, breaker_open: bool) {
        let mut book = self.0.write();
        let slot = &mut book.slots[metric.index()];
        slot.last_error = Some(error.to_owned());
        slot.breaker_open = breaker_open;
    }

    /// Records that the feed cannot run at all.
    pub fn record_feed_error(&self, error: &str) {
        self.0.write().feed_error = Some(error.to_owned());
    }

    /// A copy of the stored series of `metric`.
    pub fn series(&self, metric: Metric) -> Option<Series> {
        self.0.read().slots[metric.index()].series.clone()
    }

    /// The last error of `metric` and whether its circuit is open.
    pub fn last_error(&self, metric: Metric) -> Option<(String, bool)> {
        let book = self.0.read();
        let slot = &book.slots[metric.index()];
        slot.last_error.clone().map(|e| (e, slot.breaker_open))
    }

    /// Growth of every metric against a `periods`-point baseline at `now_ms`; `None` when any series is missing,
    /// stale or too short. Allocation-free.
    pub fn growth(&self, now_ms: i64, periods: usize) -> Option<Growth> {
        let book = self.0.read();
        let mut out = [0.0; 3];
        let mut data_point_ms = i64::MIN;
        for (i, slot) in book.slots.iter().enumerate() {
            let s = slot.series.as_ref().filter(|s| s.is_fresh(now_ms))?;
            out[i] = s.growth_percent(periods)?;
            data_point_ms = data_point_ms.max(s.last_point_ms);
        }
        Some(Growth {
            addresses: out[0],
            volume: out[1],
            hash_rate: out[2],
            data_point_ms,
        })
    }

    /// `Ready` when every series is present and fresh at wall-clock `now_ms`, else `NoData` with the reasons.
    pub fn status_at(&self, now_ms: i64) -> DataStatus {
        let book = self.0.read();
        if let Some(e) = &book.feed_error {
            return DataStatus::NoData(format!("on-chain feed not running: {e}"));
        }
        let mut reasons = Vec::new();
        for (metric, slot) in Metric::ALL.iter().zip(&book.slots) {
            let name = metric.chart();
            match (&slot.series, &slot.last_error) {
                (Some(s), _) if s.is_fresh(now_ms) => {}
                (_, Some(e)) if slot.breaker_open => reasons.push(format!(
                    "{name}: circuit open after repeated failures (last error: {e})"
                )),
                (_, Some(e)) => reasons.push(format!("{name}: {e}")),
                (Some(s), None) => reasons.push(format!(
                    "{name}: stale (fetched {} min ago, newest point {} h old)",
                    now_ms.saturating_sub(s.fetched_at_ms) / 60_000,
                    now_ms.saturating_sub(s.last_point_ms) / 3_600_000
                )),
                (None, None) => reasons.push(format!("{name}: not fetched yet")),
            }
        }
        if reasons.is_empty() {
            DataStatus::Ready
        } else {
            DataStatus::NoData(format!(
                "BTC on-chain data missing or stale: {} (no free source for ETH: ETH symbols never signal)",
                reasons.join("; ")
            ))
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn growth_against_the_mean_of_the_previous_points() {
        let s = Series {
            values: vec![100.0, 100.0, 90.0, 110.0, 130.0],
            ..Default::default()
        };
        // baseline of 2 = (90 + 110) / 2 = 100 → +30 %
        assert!((s.growth_percent(2).unwrap() - 30.0).abs() < 1e-9);
        // baseline of 4 = 100 → +30 %
        assert!((s.growth_percent(4).unwrap() - 30.0).abs() < 1e-9);
        assert_eq!(s.growth_percent(5), None, "needs periods + 1 points");
        assert_eq!(s.growth_percent(0), None);
    }

    #[test]
    fn set_cleans_sorts_and_freshness_bounds() {
        let m = SharedMetrics::default();
        let t = 1_700_000_000;
        m.set(
            Metric::HashRate,
            &[
                (t + DAY, 2.0),
                (t, 1.0),
                (t + 2 * DAY, 0.0),
                (t + 3 * DAY, f64::NAN),
                (t, 1.0),
            ],
            5,
        );
        let s = m.series(Metric::HashRate).unwrap();
        assert_eq!(s.values, vec![1.0, 2.0]);
        assert_eq!(s.last_point_ms, (t + DAY) * 1000);
        m.set(Metric::UniqueAddresses, &[(t, 0.0)], 5);
        assert!(m.series(Metric::UniqueAddresses).is_none());
        assert!(m.last_error(Metric::UniqueAddresses).is_some());
        let fresh = Series {
            last_point_ms: 0,
            fetched_at_ms: 0,
            ..Default::default()
        };
        assert!(fresh.is_fresh(MAX_FETCH_AGE_MS));
        assert!(!fresh.is_fresh(MAX_FETCH_AGE_MS + 1));
        assert!(
            !fresh.is_fresh(-MAX_FETCH_AGE_MS - 1),
            "fetched far after the event (replay)"
        );
        let old_data = Series {
            last_point_ms: -MAX_DATA_AGE_MS - 1,
            fetched_at_ms: 0,
            ..Default::default()
        };
        assert!(!old_data.is_fresh(0));
    }

    #[test]
    fn status_names_every_missing_series() {
        let m = SharedMetrics::default();
        let DataStatus::NoData(r) = m.status_at(0) else {
            panic!("expected NoData")
        };
        assert!(r.contains("n-unique-addresses: not fetched yet"), "{r}");
        assert!(r.contains("hash-rate: not fetched yet"), "{r}");
        let now = 1_700_000_000_000;
        for metric in Metric::ALL {
            m.set(metric, &[(now / 1000 - DAY, 1.0)], now);
        }
        assert_eq!(m.status_at(now), DataStatus::Ready);
        m.record_failure(Metric::HashRate, "HTTP status 500", true);
        assert_eq!(
            m.status_at(now),
            DataStatus::Ready,
            "the stored series is still fresh"
        );
        let DataStatus::NoData(r) = m.status_at(now + MAX_FETCH_AGE_MS + 1) else {
            panic!("expected NoData")
        };
        assert!(r.contains("hash-rate: circuit open"), "{r}");
        assert!(r.contains("n-unique-addresses: stale"), "{r}");
    }
}
