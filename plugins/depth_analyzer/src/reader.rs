//! The read side: [`MetricsReader`] and the response documents of the four metrics endpoints.

use std::cmp::Ordering as CmpOrdering;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Deserializer, Serialize};

use crate::history::Point;
use crate::metrics::{
    round_dp, DepthMetrics, StrongLevel, Trend, DP_BPS, DP_PERCENT, DP_PRICE, DP_QTY, DP_RATIO,
};
use crate::store::{Shared, SymbolCell};

/// Most history points returned by the pressure endpoint (the original's cap).
pub const MAX_RETURNED_POINTS: usize = 100;
/// Number of symbols listed in each `top_pressure_symbols` list (the original's limit).
pub const TOP_SYMBOLS: usize = 5;
/// Default and maximum page size of `/all` (the original's).
pub const DEFAULT_LIMIT: usize = 50;
/// Maximum page size of `/all`.
pub const MAX_LIMIT: usize = 200;

// ---------------------------------------------------------------------------------------------------------------
// Errors and query parsing
// ---------------------------------------------------------------------------------------------------------------

/// A rejected query parameter: which one, which rule, and a sentence. The host answers 422 with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryError {
    /// Query parameter name, e.g. `limit`.
    pub field: &'static str,
    /// The rule that failed: `one_of`, `integer`, `number`, `minimum`, `maximum` or `cross_field`.
    pub rule: &'static str,
    /// Readable explanation, naming the parameter and the allowed values.
    pub message: String,
}

impl QueryError {
    fn new(field: &'static str, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for QueryError {}

/// Timeframe of the pressure endpoint, measured on event time back from the symbol's newest update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Timeframe {
    /// `1m`: the last 60 seconds.
    OneMinute,
    /// `5m`: the last 5 minutes (the endpoint's default).
    #[default]
    FiveMinutes,
    /// `15m`: the last 15 minutes (the whole retained history).
    FifteenMinutes,
}

impl Timeframe {
    /// Every timeframe, in order.
    pub const ALL: [Timeframe; 3] = [
        Timeframe::OneMinute,
        Timeframe::FiveMinutes,
        Timeframe::FifteenMinutes,
    ];

    /// The query value: `1m`, `5m` or `15m`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Timeframe::OneMinute => "1m",
            Timeframe::FiveMinutes => "5m",
            Timeframe::FifteenMinutes => "15m",
        }
    }

    /// Window length in milliseconds.
    pub const fn window_ms(self) -> i64 {
        match self {
            Timeframe::OneMinute => 60_000,
            Timeframe::FiveMinutes => 300_000,
            Timeframe::FifteenMinutes => 900_000,
        }
    }

    /// Parses the optional `timeframe` query parameter; absent means `5m`.
    pub fn parse_opt(value: Option<&str>) -> Result<Self, QueryError> {
        value.map_or(Ok(Timeframe::default()), str::parse)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = QueryError;

    /// Exactly `1m`, `5m` or `15m` (as the original).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timeframe::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                QueryError::new(
                    "timeframe",
                    "one_of",
                    format!("timeframe must be one of 1m, 5m, 15m; got {s:?}"),
                )
            })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Sort key of `/all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// By symbol name (default).
    #[default]
    Symbol,
    /// By net pressure.
    Pressure,
    /// By imbalance percent.
    Imbalance,
    /// By total liquidity.
    Liquidity,
}

impl SortBy {
    const ALL: [SortBy; 4] = [
        SortBy::Symbol,
        SortBy::Pressure,
        SortBy::Imbalance,
        SortBy::Liquidity,
    ];

    /// The query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortBy::Symbol => "symbol",
            SortBy::Pressure => "pressure",
            SortBy::Imbalance => "imbalance",
            SortBy::Liquidity => "liquidity",
        }
    }
}

/// Sort direction of `/all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Ascending (default).
    #[default]
    Asc,
    /// Descending.
    Desc,
}

impl SortOrder {
    /// The query value.
    pub const fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

/// The validated query of `GET /api/v1/metrics/all`.
#[derive(Debug, Clone, PartialEq)]
pub struct AllMetricsQuery {
    /// Comma-separated symbols to keep (case-insensitive), as given; `None` keeps every symbol.
    pub symbols: Option<String>,
    /// Keep symbols whose (displayed, 2-decimal) net pressure is at least this.
    pub min_pressure: Option<f64>,
    /// Keep symbols whose (displayed, 2-decimal) net pressure is at most this.
    pub max_pressure: Option<f64>,
    /// Keep symbols with this classification.
    pub trend: Option<Trend>,
    /// Page size, 1..=200 (default 50).
    pub limit: usize,
    /// Rows to skip (default 0).
    pub offset: usize,
    /// Sort key (default `symbol`).
    pub sort_by: SortBy,
    /// Sort direction (default `asc`).
    pub sort_order: SortOrder,
}

impl Default for AllMetricsQuery {
    fn default() -> Self {
        Self {
            symbols: None,
            min_pressure: None,
            max_pressure: None,
            trend: None,
            limit: DEFAULT_LIMIT,
            offset: 0,
            sort_by: SortBy::Symbol,
            sort_order: SortOrder::Asc,
        }
    }
}

fn parse_number(field: &'static str, v: &str) -> Result<f64, QueryError> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(QueryError::new(
            field,
            "number",
            format!("{field} must be a finite number; got {v:?}"),
        )),
    }
}

fn parse_integer(field: &'static str, v: &str) -> Result<i64, QueryError> {
    v.trim().parse::<i64>().map_err(|_| {
        QueryError::new(
            field,
            "integer",
            format!("{field} must be an integer; got {v:?}"),
        )
    })
}

fn one_of<T: Copy>(
    field: &'static str,
    v: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, QueryError> {
    let lower = v.trim().to_ascii_lowercase();
    all.iter()
        .copied()
        .find(|t| name(*t) == lower)
        .ok_or_else(|| {
            let allowed: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            QueryError::new(
                field,
                "one_of",
                format!("{field} must be one of {}; got {v:?}", allowed.join(", ")),
            )
        })
}

impl AllMetricsQuery {
    /// Parses and validates raw query pairs (e.g. axum's `Query<Vec<(String, String)>>` or a `HashMap`).
    /// Unknown parameters are ignored; a repeated parameter keeps its last value. Every problem is reported,
    /// not just the first.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, Vec<QueryError>>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut q = AllMetricsQuery::default();
        let mut errors = Vec::new();
        let mut limit: i64 = DEFAULT_LIMIT as i64;
        let mut offset: i64 = 0;
        for (k, v) in pairs {
            let v = v.as_ref();
            let r: Result<(), QueryError> = match k.as_ref() {
                "symbols" => {
                    q.symbols = (!v.trim().is_empty()).then(|| v.to_owned());
                    Ok(())
                }
                "min_pressure" => parse_number("min_pressure", v).map(|x| q.min_pressure = Some(x)),
                "max_pressure" => parse_number("max_pressure", v).map(|x| q.max_pressure = Some(x)),
                "trend" if v.trim().is_empty() => {
                    q.trend = None;
                    Ok(())
                }
                "trend" => one_of(
                    "trend",
                    v,
                    &[Trend::Bullish, Trend::Bearish, Trend::Neutral],
                    Trend::as_str,
                )
                .map(|t| q.trend = Some(t)),
                "limit" => parse_integer("limit", v).map(|x| limit = x),
                "offset" => parse_integer("offset", v).map(|x| offset = x),
                "sort_by" => {
                    one_of("sort_by", v, &SortBy::ALL, SortBy::as_str).map(|s| q.sort_by = s)
                }
                "sort_order" => one_of(
                    "sort_order",
                    v,
                    &[SortOrder::Asc, SortOrder::Desc],
                    SortOrder::as_str,
                )
                .map(|s| q.sort_order = s),
                _ => Ok(()),
            };
            if let Err(e) = r {
                errors.retain(|x: &QueryError| x.field != e.field);
                errors.push(e);
            }
        }
        if errors.iter().all(|e| e.field != "limit") {
            if limit < 1 {
                errors.push(QueryError::new(
                    "limit",
                    "minimum",
                    format!("limit must be >= 1; got {limit}"),
                ));
            } else if limit > MAX_LIMIT as i64 {
                errors.push(QueryError::new(
                    "limit",
                    "maximum",
                    format!("limit must be <= {MAX_LIMIT}; got {limit}"),
                ));
            } else {
                q.limit = limit as usize;
            }
        }
        if errors.iter().all(|e| e.field != "offset") {
            if offset < 0 {
                errors.push(QueryError::new(
                    "offset",
                    "minimum",
                    format!("offset must be >= 0; got {offset}"),
                ));
            } else {
                q.offset = usize::try_from(offset).unwrap_or(usize::MAX);
            }
        }
        if let Err(mut e) = q.validate() {
            for x in e.drain(..) {
                if !errors.contains(&x) {
                    errors.push(x);
                }
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// Checks a query built in code: limit in 1..=200, finite pressures, `min_pressure <= max_pressure`.
    pub fn validate(&self) -> Result<(), Vec<QueryError>> {
        let mut errors = Vec::new();
        if self.limit < 1 {
            errors.push(QueryError::new(
                "limit",
                "minimum",
                format!("limit must be >= 1; got {}", self.limit),
            ));
        } else if self.limit > MAX_LIMIT {
            errors.push(QueryError::new(
                "limit",
                "maximum",
                format!("limit must be <= {MAX_LIMIT}; got {}", self.limit),
            ));
        }
        for (field, v) in [
            ("min_pressure", self.min_pressure),
            ("max_pressure", self.max_pressure),
        ] {
            if v.is_some_and(|x| !x.is_finite()) {
                errors.push(QueryError::new(
                    field,
                    "number",
                    format!("{field} must be a finite number"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_pressure, self.max_pressure) {
            if lo > hi {
                errors.push(QueryError::new(
                    "min_pressure",
                    "cross_field",
                    format!("min_pressure ({lo}) must be <= max_pressure ({hi})"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Response documents
// ---------------------------------------------------------------------------------------------------------------

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

impl Serialize for IsoTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `GET /api/v1/metrics/depth/{symbol}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VwapBlock {
    /// Bid VWAP, 10 decimals.
    pub bid: f64,
    /// Ask VWAP, 10 decimals.
    pub ask: f64,
    /// |bid − ask|, 10 decimals (0 for a one-sided book).
    pub spread: f64,
}

/// `order_book_quality` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QualityBlock {
    /// Bid levels.
    pub bid_levels: u32,
    /// Ask levels.
    pub ask_levels: u32,
    /// Both.
    pub total_levels: u32,
}

/// `strongest_levels` block; a side without levels is `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrongestLevels {
    /// Strongest bid.
    pub bid: Option<LevelBlock>,
    /// Strongest ask.
    pub ask: Option<LevelBlock>,
}

/// One level.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PressurePoint {
    /// Event time.
    pub timestamp: IsoTime,
    /// Net pressure, 2 decimals.
    pub pressure: f64,
}

/// One imbalance sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImbalancePoint {
    /// Event time.
    pub timestamp: IsoTime,
    /// Imbalance ratio, 4 decimals.
    pub imbalance: f64,
}

/// `GET /api/v1/metrics/summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryLiquidity {
    /// Mean spread in bps over symbols with a two-sided book, 4 decimals.
    pub avg_spread_bps: f64,
    /// Sum of every symbol's total liquidity (mixed base assets, as the original), 8 decimals.
    pub total_liquidity: f64,
}

/// `top_pressure_symbols` block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopPressureSymbols {
    /// Up to 5 symbols by buy pressure, highest first.
    pub highest_buy_pressure: Vec<String>,
    /// Up to 5 symbols by sell pressure, highest first.
    pub highest_sell_pressure: Vec<String>,
}

/// One row of `/all`.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SortApplied {
    /// Sort key.
    pub by: &'static str,
    /// `asc` or `desc`.
    pub order: &'static str,
}

/// The original's body when a symbol is unknown or expired (it answered 200 with it; the host picks the status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReaderStats {
    /// Symbols tracked now.
    pub symbols_tracked: usize,
    /// Depth events ignored because the symbol limit was reached.
    pub rejected_events: u64,
    /// Symbols expired so far.
    pub expired_symbols: u64,
}

// ---------------------------------------------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------------------------------------------

/// Read handle of the depth analyzer, shared with the HTTP layer.
///
/// `Plugin::reader` returns it as `Arc<dyn Any + Send + Sync>` holding a
/// `MetricsReader`; recover it with [`MetricsReader::from_any`] (or `arc.downcast::<MetricsReader>()`).
/// Every method locks one symbol at a time, only to copy its data; none blocks the processing task for
/// longer than that copy.
#[derive(Debug, Clone)]
pub struct MetricsReader {
    shards: Vec<Arc<Shared>>,
}

/// A tracked symbol's current data, copied out of its cell.
struct Snapshot {
    name: String,
    time_ms: i64,
    metrics: DepthMetrics,
}

impl MetricsReader {
    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        Self {
            shards: vec![shared],
        }
    }

    /// Downcasts the handle returned by `Plugin::reader()`.
    pub fn from_any(handle: &Arc<dyn std::any::Any + Send + Sync>) -> Option<Arc<MetricsReader>> {
        Arc::clone(handle).downcast::<MetricsReader>().ok()
    }

    /// One reader over several plugin instances (one per processing shard); symbols are disjoint across shards.
    pub fn merge<'a>(readers: impl IntoIterator<Item = &'a MetricsReader>) -> MetricsReader {
        MetricsReader {
            shards: readers
                .into_iter()
                .flat_map(|r| r.shards.iter().cloned())
                .collect(),
        }
    }

    fn find(&self, symbol: &str) -> Option<Arc<SymbolCell>> {
        let key = symbol.trim().to_ascii_uppercase();
        self.shards
            .iter()
            .find_map(|s| s.directory.read().get(key.as_str()).cloned())
    }

    fn cells(&self) -> Vec<Arc<SymbolCell>> {
        let mut out = Vec::new();
        for s in &self.shards {
            out.extend(s.directory.read().values().cloned());
        }
        out
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
            symbols_tracked: self.shards.iter().map(|s| s.directory.read().len()).sum(),
            rejected_events: self
                .shards
                .iter()
                .map(|s| s.rejected_events.load(Ordering::Relaxed))
                .sum(),
            expired_symbols: self
                .shards
                .iter()
                .map(|s| s.expired_symbols.load(Ordering::Relaxed))
                .sum(),
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
        let tick_ms = self
            .shards
            .iter()
            .map(|s| s.last_tick_ms.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
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
