//! The read side: [`MetricsReader`], the typed handle the host gets from the plugin, builds the documents of
//! [`crate::documents`] from the cells the plugin writes.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cell::{Shared, SymbolCell};
use crate::documents::*;
use crate::history::Point;
use crate::metrics::{
    round_dp, DepthMetrics, Trend, DP_BPS, DP_PERCENT, DP_PRICE, DP_QTY, DP_RATIO,
};
use crate::query::{AllMetricsQuery, SortBy, SortOrder, Timeframe, MAX_LIMIT};

/// Most history points returned by the pressure endpoint (the original's cap).
pub const MAX_RETURNED_POINTS: usize = 100;
/// Number of symbols listed in each `top_pressure_symbols` list (the original's limit).
pub const TOP_SYMBOLS: usize = 5;

/// Read handle of the depth analyzer, shared with the HTTP layer: the host gets it typed through
/// `strategy_sdk::PluginReaders` (`readers.get::<MetricsReader>()`).
///
/// Every method locks one symbol at a time, only to copy its data; none blocks the processing task for
/// longer than that copy.
#[derive(Debug, Clone)]
pub struct MetricsReader {
    shared: Arc<Shared>,
}

/// A tracked symbol's current data, copied out of its cell.
struct Snapshot {
    name: String,
    time_ms: i64,
    metrics: DepthMetrics,
}

impl MetricsReader {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn find(&self, symbol: &str) -> Option<Arc<SymbolCell>> {
        let key = symbol.trim().to_ascii_uppercase();
        self.shared.directory.read().get(key.as_str()).cloned()
    }

    fn cells(&self) -> Vec<Arc<SymbolCell>> {
        self.shared.directory.read().values().cloned().collect()
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.cells()
            .into_iter()
            .map(|c| {
                let (time_ms, metrics) = {
                    let d = c.data.lock();
                    (d.last_update_ms, d.current)
                };
                Snapshot {
                    name: c.name.to_string(),
                    time_ms,
                    metrics,
                }
            })
            .collect()
    }

    /// Names of the tracked symbols, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut v: Vec<String> = self.cells().iter().map(|c| c.name.to_string()).collect();
        v.sort();
        v
    }

    /// Counters.
    pub fn stats(&self) -> ReaderStats {
        ReaderStats {
            symbols_tracked: self.shared.directory.read().len(),
            rejected_events: self.shared.rejected_events.load(Ordering::Relaxed),
            expired_symbols: self.shared.expired_symbols.load(Ordering::Relaxed),
        }
    }

    /// Raw current metrics of a symbol (case-insensitive) and the event time of its book.
    pub fn current(&self, symbol: &str) -> Option<(i64, DepthMetrics)> {
        let cell = self.find(symbol)?;
        let d = cell.data.lock();
        Some((d.last_update_ms, d.current))
    }

    /// `GET /api/v1/metrics/depth/{symbol}`; `None` when the symbol is not tracked (see [`NotTrackedResponse`]).
    pub fn depth(&self, symbol: &str) -> Option<DepthMetricsResponse> {
        let cell = self.find(symbol)?;
        let (time_ms, m) = {
            let d = cell.data.lock();
            (d.last_update_ms, d.current)
        };
        Some(DepthMetricsResponse::new(&cell.name, time_ms, &m))
    }

    /// `GET /api/v1/metrics/pressure/{symbol}?timeframe=`; `None` when the symbol is not tracked.
    pub fn pressure(&self, symbol: &str, timeframe: Timeframe) -> Option<PressureHistoryResponse> {
        self.pressure_window(symbol, timeframe, None)
    }

    /// The pressure document with the newest 100 points (`max_points: None`, the original's answer) or the whole
    /// window downsampled to at most `max_points` points.
    pub fn pressure_window(
        &self,
        symbol: &str,
        timeframe: Timeframe,
        max_points: Option<usize>,
    ) -> Option<PressureHistoryResponse> {
        let cell = self.find(symbol)?;
        let mut tail: Vec<Point> = Vec::with_capacity(max_points.unwrap_or(MAX_RETURNED_POINTS));
        let (stats, downsampling) = {
            let d = cell.data.lock();
            let stats = d.history.stats(timeframe.window_ms())?;
            let downsampling = match max_points {
                None => {
                    d.history
                        .tail_into(timeframe.window_ms(), MAX_RETURNED_POINTS, &mut tail);
                    None
                }
                Some(max) => {
                    let (per, total) =
                        d.history
                            .downsample_into(timeframe.window_ms(), max, &mut tail);
                    Some(Downsampling {
                        method: "mean_of_consecutive",
                        points_per_bucket: per,
                        source_points: total,
                    })
                }
            };
            (stats, downsampling)
        };
        Some(PressureHistoryResponse {
            symbol: cell.name.to_string(),
            timeframe,
            summary: PressureSummary {
                avg_pressure: round_dp(stats.avg, DP_PERCENT),
                max_pressure: round_dp(stats.max, DP_PERCENT),
                min_pressure: round_dp(stats.min, DP_PERCENT),
                trend: stats.trend,
                trend_strength: round_dp(stats.trend_strength, 2),
            },
            total_data_points: stats.count,
            returned_data_points: tail.len(),
            downsampling,
            pressure_history: tail
                .iter()
                .map(|p| PressurePoint {
                    timestamp: IsoTime(p.t_ms),
                    pressure: round_dp(f64::from(p.pressure), DP_PERCENT),
                })
                .collect(),
            imbalance_history: tail
                .iter()
                .map(|p| ImbalancePoint {
                    timestamp: IsoTime(p.t_ms),
                    imbalance: round_dp(f64::from(p.imbalance), DP_RATIO),
                })
                .collect(),
        })
    }

    /// `GET /api/v1/metrics/summary`. With no tracked symbol every count and average is 0 and the lists are
    /// empty (the original answered `{"error": "No data available"}` instead).
    pub fn summary(&self) -> MarketSummaryResponse {
        let snaps = self.snapshots();
        let n = snaps.len();
        let mean = |sum: f64, count: usize| if count == 0 { 0.0 } else { sum / count as f64 };
        let bullish = snaps
            .iter()
            .filter(|s| s.metrics.interpretation() == Trend::Bullish)
            .count();
        let bearish = snaps
            .iter()
            .filter(|s| s.metrics.interpretation() == Trend::Bearish)
            .count();
        let two_sided: Vec<f64> = snaps
            .iter()
            .filter(|s| s.metrics.two_sided())
            .map(|s| s.metrics.spread_bps)
            .collect();
        let tick_ms = self.shared.last_tick_ms.load(Ordering::Relaxed);
        let time_ms = snaps.iter().map(|s| s.time_ms).max().unwrap_or(tick_ms);
        let top = |key: fn(&DepthMetrics) -> f64| -> Vec<String> {
            let mut v: Vec<&Snapshot> = snaps.iter().collect();
            v.sort_by(|a, b| {
                key(&b.metrics)
                    .total_cmp(&key(&a.metrics))
                    .then_with(|| a.name.cmp(&b.name))
            });
            v.into_iter()
                .take(TOP_SYMBOLS)
                .map(|s| s.name.clone())
                .collect()
        };
        MarketSummaryResponse {
            timestamp: IsoTime(time_ms),
            symbols_tracked: n,
            market_sentiment: MarketSentiment {
                bullish_symbols: bullish,
                bearish_symbols: bearish,
                neutral_symbols: n - bullish - bearish,
                avg_net_pressure: round_dp(
                    mean(snaps.iter().map(|s| s.metrics.net_pressure).sum(), n),
                    DP_PERCENT,
                ),
                avg_imbalance_ratio: round_dp(
                    mean(snaps.iter().map(|s| s.metrics.imbalance_ratio).sum(), n),
                    3,
                ),
            },
            liquidity: SummaryLiquidity {
                avg_spread_bps: round_dp(mean(two_sided.iter().sum(), two_sided.len()), DP_BPS),
                total_liquidity: round_dp(
                    snaps.iter().map(|s| s.metrics.total_liquidity).sum(),
                    DP_QTY,
                ),
            },
            top_pressure_symbols: TopPressureSymbols {
                highest_buy_pressure: top(|m| m.buy_pressure),
                highest_sell_pressure: top(|m| m.sell_pressure),
            },
        }
    }

    /// `GET /api/v1/metrics/all`: filter, sort, paginate. The query should come from
    /// [`AllMetricsQuery::from_pairs`]; a hand-built one with `limit` outside 1..=200 is clamped.
    pub fn all(&self, query: &AllMetricsQuery) -> AllMetricsResponse {
        let limit = query.limit.clamp(1, MAX_LIMIT);
        let wanted: Option<Vec<String>> = query.symbols.as_deref().map(|s| {
            s.split(',')
                .map(|x| x.trim().to_ascii_uppercase())
                .filter(|x| !x.is_empty())
                .collect()
        });
        let mut rows: Vec<(String, SymbolRow)> = self
            .snapshots()
            .into_iter()
            .filter(|s| wanted.as_ref().is_none_or(|w| w.contains(&s.name)))
            .map(|s| {
                let m = &s.metrics;
                let row = SymbolRow {
                    timestamp: IsoTime(s.time_ms),
                    net_pressure: round_dp(m.net_pressure, DP_PERCENT),
                    imbalance_percent: round_dp(m.imbalance_percent, DP_PERCENT),
                    spread_bps: round_dp(m.spread_bps, DP_BPS),
                    total_liquidity: round_dp(m.total_liquidity, DP_QTY),
                    mid_price: round_dp(m.mid_price, DP_PRICE),
                    trend: m.interpretation(),
                };
                (s.name, row)
            })
            .filter(|(_, r)| query.min_pressure.is_none_or(|lo| r.net_pressure >= lo))
            .filter(|(_, r)| query.max_pressure.is_none_or(|hi| r.net_pressure <= hi))
            .filter(|(_, r)| query.trend.is_none_or(|t| r.trend == t))
            .collect();
        let total = rows.len();
        let key = |r: &SymbolRow| match query.sort_by {
            SortBy::Symbol => 0.0,
            SortBy::Pressure => r.net_pressure,
            SortBy::Imbalance => r.imbalance_percent,
            SortBy::Liquidity => r.total_liquidity,
        };
        rows.sort_by(|(na, a), (nb, b)| {
            let primary = match query.sort_by {
                SortBy::Symbol => na.cmp(nb),
                _ => key(a).total_cmp(&key(b)),
            };
            let primary = match query.sort_order {
                SortOrder::Asc => primary,
                SortOrder::Desc => primary.reverse(),
            };
            // Ties: symbol name ascending, whatever the order, so pages are stable.
            if primary == CmpOrdering::Equal {
                na.cmp(nb)
            } else {
                primary
            }
        });
        let page: Vec<(String, SymbolRow)> =
            rows.into_iter().skip(query.offset).take(limit).collect();
        let count = page.len();
        AllMetricsResponse {
            data: SymbolRows(page),
            pagination: Pagination {
                total,
                limit,
                offset: query.offset,
                page: query.offset / limit + 1,
                pages: total.div_ceil(limit),
                has_next: query.offset.saturating_add(limit) < total,
                has_previous: query.offset > 0,
            },
            filters_applied: FiltersApplied {
                symbols: query.symbols.clone(),
                min_pressure: query.min_pressure,
                max_pressure: query.max_pressure,
                trend: query.trend,
            },
            sort: SortApplied {
                by: query.sort_by.as_str(),
                order: query.sort_order.as_str(),
            },
            symbols_count: count,
        }
    }
}
