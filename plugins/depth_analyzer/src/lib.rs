//! # Depth analyzer plugin
//!
//! A built-in plugin (not a strategy: it publishes nothing). For every depth event it computes the order-book
//! metrics behind the market metrics API — volume imbalance, buy/sell/net pressure, liquidity depth, spread,
//! VWAP, level counts, strongest levels — and keeps, per symbol, 15 minutes of pressure/imbalance history for
//! the 1m/5m/15m trend views. All timing (history windows, expiry) is event time.
//!
//! - [`DepthAnalyzer`] is the `Plugin` the host drives (`on_event`, `tick`).
//! - [`MetricsReader`] is the read handle the plugin registers in `strategy_sdk::PluginReaders`; the host gets it
//!   typed with `readers.get::<MetricsReader>()`. Its `depth`, `pressure`, `summary` and `all` methods return the
//!   documents of `documents.rs`, which serialize to the original service's JSON shapes, so the HTTP routes stay
//!   thin.
//! - Query parsing (`query.rs`): [`Timeframe`] (`FromStr`) and [`AllMetricsQuery::from_pairs`], both failing with
//!   [`QueryError`] (field, rule, message) for a 422.
//! - Modules: `cell` (the per-symbol cells writer and reader share), `store` (the plugin, writer side), `reader`,
//!   `query`, `documents`, `config`, `metrics` (the per-book computation), `history` (the pressure ring).
//!
//! See this crate's README for formulas, the fixes relative to the original, memory layout and concurrency.

mod cell;
mod config;
mod documents;
mod history;
mod metrics;
mod query;
mod reader;
mod store;

pub use config::{DepthAnalyzerConfig, DEFAULT_MAX_SYMBOLS, DEFAULT_TTL_MS, ENV_MAX_SYMBOLS};
pub use documents::{
    AllMetricsResponse, DepthMetricsResponse, Downsampling, FiltersApplied, ImbalanceBlock,
    ImbalancePoint, IsoTime, LevelBlock, LiquidityBlock, MarketSentiment, MarketSummaryResponse,
    NotTrackedResponse, Pagination, PressureBlock, PressureHistoryResponse, PressurePoint,
    PressureSummary, QualityBlock, ReaderStats, SortApplied, SpreadBlock, StrongestLevels,
    SummaryLiquidity, SymbolRow, SymbolRows, TopPressureSymbols, VwapBlock,
};
pub use history::{
    trend_of, History, Point, WindowStats, MAX_POINTS, RETENTION_MS, SLOT_MS, TREND_POINTS,
    TREND_THRESHOLD,
};
pub use metrics::{compute, round_dp, DepthMetrics, StrongLevel, Trend, SENTIMENT_THRESHOLD};
pub use query::{
    AllMetricsParams, AllMetricsQuery, QueryError, SortBy, SortOrder, Timeframe, DEFAULT_LIMIT,
    MAX_LIMIT,
};
pub use reader::{MetricsReader, MAX_RETURNED_POINTS, TOP_SYMBOLS};
pub use store::DepthAnalyzer;

use strategy_sdk::{EnvSetting, Plugin, PluginDescriptor, StreamKind};

/// Plugin id (also the key of its reader in the host).
pub const PLUGIN_ID: &str = "depth_analyzer";

/// Builds the registered plugin: default settings, `max_symbols` from `DEPTH_ANALYZER_MAX_SYMBOLS` if set.
pub fn build() -> Box<dyn Plugin> {
    Box::new(DepthAnalyzer::new(DepthAnalyzerConfig::from_env()))
}

strategy_sdk::register_plugin!(PluginDescriptor {
    id: PLUGIN_ID,
    name: "Market Depth Analyzer",
    description: "Order-book depth metrics per symbol (imbalance, pressure, liquidity, spread, VWAP, strongest \
                  levels) with 15 minutes of pressure history, behind /api/v1/metrics",
    consumes: &[StreamKind::Depth],
    env: &[EnvSetting {
        name: ENV_MAX_SYMBOLS,
        meaning: "symbols the depth analyzer tracks at most",
    }],
    build,
});
