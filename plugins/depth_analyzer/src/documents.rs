//! The response documents of the four metrics endpoints: they serialize to the original service's JSON shapes.

use std::fmt;

use schemars::JsonSchema;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::metrics::{
    round_dp, DepthMetrics, StrongLevel, Trend, DP_BPS, DP_PERCENT, DP_PRICE, DP_QTY, DP_RATIO,
};
use crate::query::Timeframe;

/// An event time that serializes as ISO-8601 UTC with microseconds (`2024-08-08T23:54:15.343000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoTime(pub i64);

impl IsoTime {
    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for IsoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&strategy_sdk::decode::format_timestamp_ms(self.0))
    }
}

impl JsonSchema for IsoTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IsoTime".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "Event time, ISO-8601 UTC with microseconds (2024-08-08T23:54:15.343000Z)"
        })
    }
}

impl Serialize for IsoTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `GET /api/v1/metrics/depth/{symbol}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DepthMetricsResponse {
    /// Upper-case symbol.
    pub symbol: String,
    /// Event time of the book.
    pub timestamp: IsoTime,
    /// Volume imbalance.
    pub imbalance: ImbalanceBlock,
    /// Buy/sell pressure.
    pub pressure: PressureBlock,
    /// Liquidity depth.
    pub liquidity: LiquidityBlock,
    /// Best prices and spread.
    pub spread: SpreadBlock,
    /// Volume-weighted prices.
    pub vwap: VwapBlock,
    /// Level counts.
    pub order_book_quality: QualityBlock,
    /// Levels with the most quantity.
    pub strongest_levels: StrongestLevels,
}

/// `imbalance` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ImbalanceBlock {
    /// Imbalance ratio, 4 decimals.
    pub ratio: f64,
    /// Imbalance percent, 2 decimals.
    pub percent: f64,
    /// Bid volume, 8 decimals.
    pub bid_volume: f64,
    /// Ask volume, 8 decimals.
    pub ask_volume: f64,
}

/// `pressure` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PressureBlock {
    /// 0–100, 2 decimals.
    pub buy_pressure: f64,
    /// 0–100, 2 decimals.
    pub sell_pressure: f64,
    /// −100–100, 2 decimals.
    pub net_pressure: f64,
    /// bullish / bearish / neutral.
    pub interpretation: Trend,
}

/// `liquidity` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LiquidityBlock {
    /// Bid + ask volume, 8 decimals.
    pub total: f64,
    /// Best 5 bid levels.
    pub bid_depth_5: f64,
    /// Best 5 ask levels.
    pub ask_depth_5: f64,
    /// Best 10 bid levels.
    pub bid_depth_10: f64,
    /// Best 10 ask levels.
    pub ask_depth_10: f64,
}

/// `spread` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SpreadBlock {
    /// Best bid (as received; 0 without bids).
    pub best_bid: f64,
    /// Best ask (as received; 0 without asks).
    pub best_ask: f64,
    /// Ask − bid, 10 decimals.
    pub spread_abs: f64,
    /// Spread in basis points of the mid, 4 decimals.
    pub spread_bps: f64,
    /// Mid price, 10 decimals.
    pub mid_price: f64,
}

/// `vwap` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct VwapBlock {
    /// Bid VWAP, 10 decimals.
    pub bid: f64,
    /// Ask VWAP, 10 decimals.
    pub ask: f64,
    /// |bid − ask|, 10 decimals (0 for a one-sided book).
    pub spread: f64,
}

/// `order_book_quality` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct QualityBlock {
    /// Bid levels.
    pub bid_levels: u32,
    /// Ask levels.
    pub ask_levels: u32,
    /// Both.
    pub total_levels: u32,
}

/// `strongest_levels` block; a side without levels is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StrongestLevels {
    /// Strongest bid.
    pub bid: Option<LevelBlock>,
    /// Strongest ask.
    pub ask: Option<LevelBlock>,
}

/// One level.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LevelBlock {
    /// Price (as received).
    pub price: f64,
    /// Quantity, 8 decimals.
    pub volume: f64,
}

impl LevelBlock {
    fn of(l: StrongLevel) -> Self {
        Self {
            price: l.price,
            volume: round_dp(l.volume, DP_QTY),
        }
    }
}

impl DepthMetricsResponse {
    /// The document for one symbol's current metrics.
    pub fn new(symbol: &str, time_ms: i64, m: &DepthMetrics) -> Self {
        Self {
            symbol: symbol.to_owned(),
            timestamp: IsoTime(time_ms),
            imbalance: ImbalanceBlock {
                ratio: round_dp(m.imbalance_ratio, DP_RATIO),
                percent: round_dp(m.imbalance_percent, DP_PERCENT),
                bid_volume: round_dp(m.bid_volume, DP_QTY),
                ask_volume: round_dp(m.ask_volume, DP_QTY),
            },
            pressure: PressureBlock {
                buy_pressure: round_dp(m.buy_pressure, DP_PERCENT),
                sell_pressure: round_dp(m.sell_pressure, DP_PERCENT),
                net_pressure: round_dp(m.net_pressure, DP_PERCENT),
                interpretation: m.interpretation(),
            },
            liquidity: LiquidityBlock {
                total: round_dp(m.total_liquidity, DP_QTY),
                bid_depth_5: round_dp(m.bid_depth_5, DP_QTY),
                ask_depth_5: round_dp(m.ask_depth_5, DP_QTY),
                bid_depth_10: round_dp(m.bid_depth_10, DP_QTY),
                ask_depth_10: round_dp(m.ask_depth_10, DP_QTY),
            },
            spread: SpreadBlock {
                best_bid: m.best_bid,
                best_ask: m.best_ask,
                spread_abs: round_dp(m.spread_abs, DP_PRICE),
                spread_bps: round_dp(m.spread_bps, DP_BPS),
                mid_price: round_dp(m.mid_price, DP_PRICE),
            },
            vwap: VwapBlock {
                bid: round_dp(m.vwap_bid, DP_PRICE),
                ask: round_dp(m.vwap_ask, DP_PRICE),
                spread: round_dp(m.vwap_spread(), DP_PRICE),
            },
            order_book_quality: QualityBlock {
                bid_levels: m.bid_levels,
                ask_levels: m.ask_levels,
                total_levels: m.total_levels(),
            },
            strongest_levels: StrongestLevels {
                bid: m.strongest_bid.map(LevelBlock::of),
                ask: m.strongest_ask.map(LevelBlock::of),
            },
        }
    }
}

/// `GET /api/v1/metrics/pressure/{symbol}?timeframe=`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PressureHistoryResponse {
    /// Upper-case symbol.
    pub symbol: String,
    /// Requested timeframe.
    pub timeframe: Timeframe,
    /// Statistics over the whole timeframe.
    pub summary: PressureSummary,
    /// Points in the timeframe.
    pub total_data_points: usize,
    /// Points returned (the newest 100 at most, or the downsampled window).
    pub returned_data_points: usize,
    /// How the returned points relate to the window (only with `max_points`; the original's answer has no such
    /// field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downsampling: Option<Downsampling>,
    /// Net pressure series, oldest first.
    pub pressure_history: Vec<PressurePoint>,
    /// Imbalance ratio series, same times.
    pub imbalance_history: Vec<ImbalancePoint>,
}

/// How the points of a pressure document were chosen.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Downsampling {
    /// `mean_of_consecutive`: the whole window, each returned point the mean time and values of
    /// `points_per_bucket` consecutive samples.
    pub method: &'static str,
    /// Samples behind each returned point.
    pub points_per_bucket: usize,
    /// Samples in the window.
    pub source_points: usize,
}

/// `summary` block of the pressure document.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PressureSummary {
    /// Mean net pressure, 2 decimals.
    pub avg_pressure: f64,
    /// Highest, 2 decimals.
    pub max_pressure: f64,
    /// Lowest, 2 decimals.
    pub min_pressure: f64,
    /// Trend of the newest 10 points.
    pub trend: Trend,
    /// 0–1, 2 decimals.
    pub trend_strength: f64,
}

/// One pressure sample.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PressurePoint {
    /// Event time.
    pub timestamp: IsoTime,
    /// Net pressure, 2 decimals.
    pub pressure: f64,
}

/// One imbalance sample.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct ImbalancePoint {
    /// Event time.
    pub timestamp: IsoTime,
    /// Imbalance ratio, 4 decimals.
    pub imbalance: f64,
}

/// `GET /api/v1/metrics/summary`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MarketSummaryResponse {
    /// Newest event time among tracked symbols (else the newest tick time).
    pub timestamp: IsoTime,
    /// Number of tracked symbols.
    pub symbols_tracked: usize,
    /// Sentiment distribution.
    pub market_sentiment: MarketSentiment,
    /// Liquidity aggregates.
    pub liquidity: SummaryLiquidity,
    /// Top symbols by pressure.
    pub top_pressure_symbols: TopPressureSymbols,
}

/// `market_sentiment` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MarketSentiment {
    /// Symbols with net pressure > 20.
    pub bullish_symbols: usize,
    /// Symbols with net pressure < −20.
    pub bearish_symbols: usize,
    /// The rest.
    pub neutral_symbols: usize,
    /// Mean net pressure, 2 decimals.
    pub avg_net_pressure: f64,
    /// Mean imbalance ratio, 3 decimals.
    pub avg_imbalance_ratio: f64,
}

/// `liquidity` block of the summary.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SummaryLiquidity {
    /// Mean spread in bps over symbols with a two-sided book, 4 decimals.
    pub avg_spread_bps: f64,
    /// Sum of every symbol's total liquidity (mixed base assets, as the original), 8 decimals.
    pub total_liquidity: f64,
}

/// `top_pressure_symbols` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TopPressureSymbols {
    /// Up to 5 symbols by buy pressure, highest first.
    pub highest_buy_pressure: Vec<String>,
    /// Up to 5 symbols by sell pressure, highest first.
    pub highest_sell_pressure: Vec<String>,
}

/// One row of `/all`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SymbolRow {
    /// Event time of the book.
    pub timestamp: IsoTime,
    /// Net pressure, 2 decimals.
    pub net_pressure: f64,
    /// Imbalance percent, 2 decimals.
    pub imbalance_percent: f64,
    /// Spread in bps, 4 decimals.
    pub spread_bps: f64,
    /// Total liquidity, 8 decimals.
    pub total_liquidity: f64,
    /// Mid price, 10 decimals.
    pub mid_price: f64,
    /// Classification of the net pressure.
    pub trend: Trend,
}

/// `data` of `/all`: an object keyed by symbol whose key order is the requested sort order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymbolRows(pub Vec<(String, SymbolRow)>);

impl JsonSchema for SymbolRows {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SymbolRows".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let row = generator.subschema_for::<SymbolRow>();
        schemars::json_schema!({
            "type": "object",
            "description": "Rows keyed by symbol, in the requested sort order",
            "additionalProperties": row
        })
    }
}

impl Serialize for SymbolRows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `GET /api/v1/metrics/all`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AllMetricsResponse {
    /// The page, keyed by symbol, in sort order.
    pub data: SymbolRows,
    /// Paging.
    pub pagination: Pagination,
    /// Filters as applied.
    pub filters_applied: FiltersApplied,
    /// Sort as applied.
    pub sort: SortApplied,
    /// Rows in `data`.
    pub symbols_count: usize,
}

/// `pagination` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Pagination {
    /// Rows matching the filters.
    pub total: usize,
    /// Page size.
    pub limit: usize,
    /// Rows skipped.
    pub offset: usize,
    /// `offset / limit + 1`.
    pub page: usize,
    /// `ceil(total / limit)`.
    pub pages: usize,
    /// More rows after this page.
    pub has_next: bool,
    /// `offset > 0`.
    pub has_previous: bool,
}

/// `filters_applied` block.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FiltersApplied {
    /// As given.
    pub symbols: Option<String>,
    /// As given.
    pub min_pressure: Option<f64>,
    /// As given.
    pub max_pressure: Option<f64>,
    /// Lower-cased.
    pub trend: Option<Trend>,
}

/// `sort` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SortApplied {
    /// Sort key.
    pub by: &'static str,
    /// `asc` or `desc`.
    pub order: &'static str,
}

/// The original's body when a symbol is unknown or expired (it answered 200 with it; the host picks the status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct NotTrackedResponse {
    /// `No metrics available for X` / `No pressure history available for X`.
    pub error: String,
    /// Hint.
    pub message: &'static str,
    /// Pointer to `/all` (depth endpoint only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<&'static str>,
}

impl NotTrackedResponse {
    /// The depth endpoint's body.
    pub fn depth(symbol: &str) -> Self {
        Self {
            error: format!("No metrics available for {symbol}"),
            message: "Symbol may not be actively tracked or data is stale",
            suggestion: Some("Check GET /api/v1/metrics/all to see tracked symbols"),
        }
    }

    /// The pressure endpoint's body.
    pub fn pressure(symbol: &str) -> Self {
        Self {
            error: format!("No pressure history available for {symbol}"),
            message: "Symbol may not be actively tracked",
            suggestion: None,
        }
    }
}

/// Counters for the host's gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ReaderStats {
    /// Symbols tracked now.
    pub symbols_tracked: usize,
    /// Depth events ignored because the symbol limit was reached.
    pub rejected_events: u64,
    /// Symbols expired so far.
    pub expired_symbols: u64,
}
