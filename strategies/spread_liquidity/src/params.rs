//! Parameters of the spread liquidity strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::StrategyParams;

/// Parameters of `spread_liquidity` (names, defaults and ranges of the original service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SpreadLiquidityParams {
    /// Minimum spread in basis points to consider for signals
    #[schemars(range(min = 1.0, max = 100.0), example = 10.0)]
    pub spread_threshold_bps: f64,
    /// Spread ratio threshold (current / average)
    #[schemars(range(min = 1.5, max = 10.0), example = 2.5)]
    pub spread_ratio_threshold: f64,
    /// Minimum spread velocity (% change per second)
    #[schemars(range(min = 0.1, max = 2.0), example = 0.5)]
    pub velocity_threshold: f64,
    /// Minimum time spread must persist above threshold
    #[schemars(range(min = 10.0, max = 300.0), example = 30.0)]
    pub persistence_threshold_seconds: f64,
    /// Minimum depth reduction to trigger signal
    #[schemars(range(min = 0.1, max = 0.9), example = 0.5)]
    pub min_depth_reduction_pct: f64,
    /// Base confidence level for signals
    #[schemars(range(min = 0.5, max = 1.0), example = 0.5)]
    pub base_confidence: f64,
    /// Number of ticks for rolling average calculation
    #[schemars(range(min = 5, max = 100), example = 20)]
    pub lookback_ticks: u32,
    /// Minimum time between signals per symbol, in seconds of event time (the host's runner drops signals inside
    /// it). The default 900 s caps a symbol at 96 signals a day, within 10× the original's documented 5–10 a day.
    #[schemars(range(min = 30.0, max = 86400.0), example = 900.0)]
    pub min_signal_interval_seconds: f64,
    /// Closest a stop loss may be to the entry, in percent of the price (the original documents 0.5 %); the
    /// spread-based stop is moved out to it when closer
    #[schemars(range(min = 0.0, max = 10.0), example = 0.5)]
    pub min_stop_loss_pct: f64,
    /// Closest a take profit may be to the entry, in percent of the price (the original documents 1.0 %)
    #[schemars(range(min = 0.0, max = 20.0), example = 1.0)]
    pub min_take_profit_pct: f64,
}

impl Default for SpreadLiquidityParams {
    fn default() -> Self {
        Self {
            spread_threshold_bps: 10.0,
            spread_ratio_threshold: 2.5,
            velocity_threshold: 0.5,
            persistence_threshold_seconds: 30.0,
            min_depth_reduction_pct: 0.5,
            base_confidence: 0.5,
            lookback_ticks: 20,
            min_signal_interval_seconds: 900.0,
            min_stop_loss_pct: 0.5,
            min_take_profit_pct: 1.0,
        }
    }
}

/// Every field has its own range and no rule links two fields, so the default (empty) cross-field check applies.
impl StrategyParams for SpreadLiquidityParams {}
