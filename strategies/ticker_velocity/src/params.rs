//! Parameters of the ticker velocity strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::StrategyParams;

/// Parameters of `ticker_velocity` (names, defaults and ranges of the original service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TickerVelocityParams {
    /// Time window for velocity calculation (seconds)
    #[schemars(range(min = 30, max = 300), example = 60)]
    pub time_window: u32,
    /// Velocity threshold for buy signal
    #[schemars(range(min = 0.1, max = 2.0), example = 0.5)]
    pub buy_threshold: f64,
    /// Velocity threshold for sell signal (negative)
    #[schemars(range(min = -2.0, max = -0.1), example = -0.5)]
    pub sell_threshold: f64,
    /// Minimum price change percentage to generate signal
    #[schemars(range(min = 0.01, max = 1.0), example = 0.1)]
    pub min_price_change: f64,
    /// Base confidence level for signals
    #[schemars(range(min = 0.5, max = 1.0), example = 0.65)]
    pub base_confidence: f64,
    /// Weight given to price acceleration in signal calculation
    #[schemars(range(min = 0.0, max = 1.0), example = 0.5)]
    pub acceleration_weight: f64,
    /// Whether to require volume confirmation for signals
    #[schemars(example = true)]
    pub volume_confirmation: bool,
    /// Minimum volume change for confirmation (if enabled)
    #[schemars(range(min = 0.1, max = 2.0), example = 0.2)]
    pub min_volume_change: f64,
    /// Minimum time between two signals of this strategy for one symbol, in seconds of event time (the host
    /// drops signals inside it)
    #[schemars(range(min = 0.0, max = 86400.0), example = 60.0)]
    pub min_signal_interval_seconds: f64,
}

impl Default for TickerVelocityParams {
    fn default() -> Self {
        Self {
            time_window: 60,
            buy_threshold: 0.5,
            sell_threshold: -0.5,
            min_price_change: 0.1,
            base_confidence: 0.65,
            acceleration_weight: 0.5,
            volume_confirmation: true,
            min_volume_change: 0.2,
            min_signal_interval_seconds: 60.0,
        }
    }
}

/// No cross-field rules: the threshold ranges cannot overlap (buy ≥ 0.1 > −0.1 ≥ sell).
impl StrategyParams for TickerVelocityParams {}
