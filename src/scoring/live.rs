//! The live scorecard: the running host scores the signals it publishes against the stream it already consumes
//! (same [`Scorer`], same definitions as `evaluate`, event time). Scored signals feed Prometheus
//! (`realtime_signal_return_bps{strategy_id,horizon}`, `realtime_signal_outcomes_total{strategy_id,outcome}`) and
//! a bounded history per strategy that `GET /api/v1/strategies/{id}/performance` summarises.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus::{HistogramVec, IntCounterVec};
use strategy_sdk::Signal;

use super::scorer::{Quote, ScoreSettings, ScoredSignal, Scorer, SignalRecord};
use super::stats::{calibration, horizon_stats, CalibrationBucket, HorizonStats};

/// Signals waiting for their exits per symbol before new ones are refused (counted as overflow).
pub const MAX_PENDING_PER_SYMBOL: usize = 1_000;
/// Scored signals kept per strategy for the performance endpoint (oldest dropped first).
pub const HISTORY_PER_STRATEGY: usize = 20_000;

/// Points of the cumulative net curve served (older points are thinned evenly).
pub const MAX_CURVE_POINTS: usize = 240;

/// Scored signals per strategy and shadow, shared between the processing task (writer) and the API (reader).
#[derive(Debug, Default)]
pub struct ScorecardHistory {
    by_strategy: RwLock<BTreeMap<String, VecDeque<ScoredSignal>>>,
    /// Event time and symbol of every published signal (live sets only), for rate checks of safeguards.
    published: RwLock<BTreeMap<String, VecDeque<(i64, String)>>>,
    settings: ScoreSettings,
}

/// The history key of a strategy's live set (`shadow: None`) or of one of its shadows.
fn history_key(strategy: &str, shadow: Option<&str>) -> String {
    match shadow {
        None => strategy.to_owned(),
        Some(name) => format!("{strategy}\u{1f}{name}"),
    }
}

/// Counts since a point in event time, for safeguards.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SinceCounts {
    /// Signals published since.
    pub published: usize,
    /// Of those, scored at the horizon asked for.
    pub scored: usize,
    /// Of the scored, those with a positive gross return.
    pub hits: usize,
    /// Newest event time seen in the history of this strategy (published or scored).
    pub newest_ms: i64,
}

/// The performance document of one strategy.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Performance {
    /// Strategy id.
    pub strategy_id: String,
    /// Window in seconds, ending at the newest scored signal's event time.
    pub window_s: f64,
    /// The symbol asked for, or `*`.
    pub symbol: String,
    /// The shadow's name, or `None` for the live (published) set.
    pub shadow: Option<String>,
    /// Entry delay, fee and horizons used.
    pub settings: PerformanceSettings,
    /// Statistics per horizon over the window (the asked symbol, or all symbols).
    pub horizons: Vec<HorizonRow>,
    /// The same per symbol (only when no symbol was asked for).
    pub by_symbol: BTreeMap<String, Vec<HorizonRow>>,
    /// Cumulative net bps (after fees) at `curve_horizon_s`, signal by signal in event time, thinned to at most
    /// 240 points.
    pub cumulative_net_bps: Vec<CurvePoint>,
    /// Horizon of the curve, in seconds (60 s when scored, else the first horizon).
    pub curve_horizon_s: f64,
    /// Confidence calibration at `curve_horizon_s`: hit rate and mean net bps per confidence decile.
    pub calibration: Vec<CalibrationBucket>,
}

/// One point of the cumulative net curve.
#[derive(Debug, Clone, Copy, serde::Serialize, schemars::JsonSchema)]
pub struct CurvePoint {
    /// Signal event time (ms since the epoch).
    pub t: i64,
    /// Cumulative net bps up to and including this signal.
    pub net_bps: f64,
}

/// Scoring settings as served.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct PerformanceSettings {
    /// Entry delay in ms.
    pub entry_delay_ms: i64,
    /// Fee per side in bps.
    pub fee_bps: f64,
    /// Horizons in seconds.
    pub horizons_s: Vec<f64>,
}

/// One horizon's statistics.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct HorizonRow {
    /// Horizon in seconds.
    pub horizon_s: f64,
    /// Statistics (the scorer's definitions).
    #[serde(flatten)]
    pub stats: HorizonStats,
}

impl ScorecardHistory {
    /// An empty history for `settings`.
    pub fn new(settings: ScoreSettings) -> Self {
        Self {
            by_strategy: RwLock::new(BTreeMap::new()),
            published: RwLock::new(BTreeMap::new()),
            settings,
        }
    }

    fn push(&self, key: String, scored: ScoredSignal) {
        let mut map = self.by_strategy.write();
        let ring = map.entry(key).or_default();
        if ring.len() >= HISTORY_PER_STRATEGY {
            ring.pop_front();
        }
        ring.push_back(scored);
    }

    /// Statistics of `strategy`'s scored signals whose signal time lies within `window_ms` of the newest one,
    /// for one symbol or all. Signals scored so far only (pending ones are not counted as unscored).
    pub fn performance(&self, strategy: &str, window_ms: i64, symbol: Option<&str>) -> Performance {
        self.performance_of(strategy, None, window_ms, symbol)
    }

    fn note_published(&self, strategy: &str, event_time_ms: i64, symbol: &str) {
        let mut map = self.published.write();
        let ring = map.entry(strategy.to_owned()).or_default();
        if ring.len() >= HISTORY_PER_STRATEGY {
            ring.pop_front();
        }
        ring.push_back((event_time_ms, symbol.to_owned()));
    }

    /// Drops the history of a shadow (it was deleted).
    pub fn forget_shadow(&self, strategy: &str, name: &str) {
        self.by_strategy
            .write()
            .remove(&history_key(strategy, Some(name)));
    }

    /// Published, scored and hit counts of a strategy's live set for signals at or after `since_ms` (event time),
    /// one symbol or all, at horizon index `horizon`.
    pub fn since(
        &self,
        strategy: &str,
        symbol: Option<&str>,
        since_ms: i64,
        horizon: usize,
    ) -> SinceCounts {
        let mut counts = SinceCounts::default();
        if let Some(ring) = self.published.read().get(strategy) {
            for (t, sym) in ring {
                counts.newest_ms = counts.newest_ms.max(*t);
                if *t >= since_ms && symbol.is_none_or(|s| s == sym) {
                    counts.published += 1;
                }
            }
        }
        if let Some(ring) = self.by_strategy.read().get(strategy) {
            for s in ring {
                counts.newest_ms = counts.newest_ms.max(s.record.event_time_ms);
                if s.record.event_time_ms < since_ms
                    || symbol.is_some_and(|sym| sym != s.record.symbol)
                {
                    continue;
                }
                if let Some(g) = s.gross_bps(horizon) {
                    counts.scored += 1;
                    counts.hits += usize::from(g > 0.0);
                }
            }
        }
        counts
    }

    /// Index of the horizon of `ms` among the scored horizons.
    pub fn horizon_index(&self, ms: i64) -> Option<usize> {
        self.settings.horizons_ms.iter().position(|h| *h == ms)
    }

    /// [`ScorecardHistory::performance`] of the live set (`shadow: None`) or of one shadow.
    pub fn performance_of(
        &self,
        strategy: &str,
        shadow: Option<&str>,
        window_ms: i64,
        symbol: Option<&str>,
    ) -> Performance {
        let map = self.by_strategy.read();
        let empty = VecDeque::new();
        let ring = map.get(&history_key(strategy, shadow)).unwrap_or(&empty);
        let newest = ring
            .iter()
            .map(|s| s.record.event_time_ms)
            .max()
            .unwrap_or(0);
        let mut in_window: Vec<&ScoredSignal> = ring
            .iter()
            .filter(|s| newest - s.record.event_time_ms <= window_ms)
            .filter(|s| symbol.is_none_or(|sym| s.record.symbol == sym))
            .collect();
        // By event time, then symbol: processing threads record different symbols' signals in any order, a
        // symbol's in its own order (stable sort), so the statistics do not depend on the thread count.
        in_window.sort_by(|a, b| {
            (a.record.event_time_ms, &a.record.symbol)
                .cmp(&(b.record.event_time_ms, &b.record.symbol))
        });
        let hours = window_ms as f64 / 3_600_000.0;
        let rows = |signals: &[&ScoredSignal]| -> Vec<HorizonRow> {
            self.settings
                .horizons_ms
                .iter()
                .enumerate()
                .map(|(h, ms)| HorizonRow {
                    horizon_s: *ms as f64 / 1000.0,
                    stats: horizon_stats(signals, h, self.settings.fee_bps, hours),
                })
                .collect()
        };
        let mut by_symbol = BTreeMap::new();
        if symbol.is_none() {
            let mut symbols: Vec<&str> =
                in_window.iter().map(|s| s.record.symbol.as_str()).collect();
            symbols.sort_unstable();
            symbols.dedup();
            for sym in symbols {
                let of: Vec<&ScoredSignal> = in_window
                    .iter()
                    .copied()
                    .filter(|s| s.record.symbol == sym)
                    .collect();
                by_symbol.insert(sym.to_owned(), rows(&of));
            }
        }
        let curve_horizon = self
            .settings
            .horizons_ms
            .iter()
            .position(|h| *h == 60_000)
            .unwrap_or(0);
        let cumulative_net_bps = curve(&in_window, curve_horizon, self.settings.fee_bps);
        let calibration = calibration(&in_window, curve_horizon, self.settings.fee_bps);
        Performance {
            strategy_id: strategy.to_owned(),
            window_s: window_ms as f64 / 1000.0,
            symbol: symbol.unwrap_or("*").to_owned(),
            shadow: shadow.map(str::to_owned),
            cumulative_net_bps,
            calibration,
            curve_horizon_s: self
                .settings
                .horizons_ms
                .get(curve_horizon)
                .map_or(0.0, |ms| *ms as f64 / 1000.0),
            settings: PerformanceSettings {
                entry_delay_ms: self.settings.entry_delay_ms,
                fee_bps: self.settings.fee_bps,
                horizons_s: self
                    .settings
                    .horizons_ms
                    .iter()
                    .map(|h| *h as f64 / 1000.0)
                    .collect(),
            },
            horizons: rows(&in_window),
            by_symbol,
        }
    }
}

/// Cumulative net bps (gross minus a round trip of fees) signal by signal, thinned evenly to at most
/// [`MAX_CURVE_POINTS`] points (the last point is always the total).
fn curve(signals: &[&ScoredSignal], horizon: usize, fee_bps: f64) -> Vec<CurvePoint> {
    let mut total = 0.0;
    let full: Vec<CurvePoint> = signals
        .iter()
        .filter_map(|s| {
            let g = s.gross_bps(horizon)?;
            total += g - 2.0 * fee_bps;
            Some(CurvePoint {
                t: s.record.event_time_ms,
                net_bps: total,
            })
        })
        .collect();
    if full.len() <= MAX_CURVE_POINTS {
        return full;
    }
    let step = full.len() as f64 / MAX_CURVE_POINTS as f64;
    let mut out: Vec<CurvePoint> = (1..=MAX_CURVE_POINTS)
        .map(|i| full[((i as f64 * step).ceil() as usize).min(full.len()) - 1])
        .collect();
    if let (Some(last), Some(end)) = (out.last_mut(), full.last()) {
        *last = *end;
    }
    out
}

/// Prometheus metrics of the scorecard.
#[derive(Clone)]
pub struct ScorecardMetrics {
    /// Gross bps of scored signals by strategy and horizon.
    pub returns: HistogramVec,
    /// Outcomes (`scored`, `hit`, `unscored`) by strategy.
    pub outcomes: IntCounterVec,
}

/// The processing task's half: feeds the scorer and records completed signals.
pub struct LiveScorecard {
    scorer: Scorer,
    groups: Vec<(&'static str, Option<Arc<str>>)>,
    index: HashMap<(&'static str, Option<Arc<str>>), u32>,
    history: std::sync::Arc<ScorecardHistory>,
    metrics: ScorecardMetrics,
    horizon_labels: Vec<String>,
    hit_horizon: usize,
    reported_overflow: u64,
}

impl LiveScorecard {
    /// A scorecard writing into `history`.
    pub fn new(history: std::sync::Arc<ScorecardHistory>, metrics: ScorecardMetrics) -> Self {
        let settings = history.settings.clone();
        let horizon_labels = settings
            .horizons_ms
            .iter()
            .map(|h| format!("{}s", h / 1000))
            .collect();
        let hit_horizon = settings
            .horizons_ms
            .iter()
            .position(|h| *h == 60_000)
            .unwrap_or(0);
        Self {
            hit_horizon,
            scorer: Scorer::new(settings).with_max_pending_per_symbol(MAX_PENDING_PER_SYMBOL),
            groups: Vec::new(),
            index: HashMap::new(),
            history,
            metrics,
            horizon_labels,
            reported_overflow: 0,
        }
    }

    /// Creates the metric series of a strategy up front, so dashboards see zeros instead of missing series.
    pub fn register(&self, strategy_id: &str) {
        for outcome in ["scored", "hit", "unscored"] {
            self.metrics
                .outcomes
                .with_label_values(&[strategy_id, outcome]);
        }
        for label in &self.horizon_labels {
            self.metrics
                .returns
                .with_label_values(&[strategy_id, label.as_str()]);
        }
    }

    /// Feeds the prices the last message showed (`None`: it showed none) and records what completed.
    pub fn observe(&mut self, quote: Option<(&str, Quote)>) {
        if let Some((symbol, quote)) = quote {
            self.scorer.on_quote(symbol, quote);
        }
        for scored in self.scorer.drain_completed() {
            self.record(scored);
        }
    }

    /// Starts following a published signal.
    pub fn on_published(&mut self, signal: &Signal) {
        self.history
            .note_published(signal.strategy_id, signal.event_time_ms, &signal.symbol);
        self.follow(signal, None);
    }

    /// Starts following a shadow's signal (never published; scored the same way, kept apart).
    pub fn on_shadow(&mut self, shadow: &Arc<str>, signal: &Signal) {
        self.follow(signal, Some(shadow.clone()));
    }

    fn follow(&mut self, signal: &Signal, shadow: Option<Arc<str>>) {
        let next = self.groups.len() as u32;
        let key = (signal.strategy_id, shadow);
        let group = match self.index.get(&key) {
            Some(g) => *g,
            None => {
                self.groups.push(key.clone());
                self.index.insert(key, next);
                next
            }
        };
        self.scorer
            .on_signal(SignalRecord::from_signal(group, signal));
        let overflow = self.scorer.overflow();
        if overflow > self.reported_overflow {
            self.metrics
                .outcomes
                .with_label_values(&[signal.strategy_id, "unscored"])
                .inc_by(overflow - self.reported_overflow);
            self.reported_overflow = overflow;
        }
    }

    fn record(&mut self, scored: ScoredSignal) {
        let Some((strategy, shadow)) = self.groups.get(scored.record.group as usize).cloned()
        else {
            return;
        };
        if let Some(name) = shadow {
            self.history
                .push(history_key(strategy, Some(&name)), scored);
            return;
        }
        let mut hit = false;
        for (h, label) in self.horizon_labels.iter().enumerate() {
            if let Some(g) = scored.gross_bps(h) {
                self.metrics
                    .returns
                    .with_label_values(&[strategy, label])
                    .observe(g);
                hit |= h == self.hit_horizon && g > 0.0;
            }
        }
        self.metrics
            .outcomes
            .with_label_values(&[strategy, "scored"])
            .inc();
        if hit {
            self.metrics
                .outcomes
                .with_label_values(&[strategy, "hit"])
                .inc();
        }
        self.history.push(history_key(strategy, None), scored);
    }
}
