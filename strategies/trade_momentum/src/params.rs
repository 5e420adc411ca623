//! Parameters of the trade momentum strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::{FieldError, Rules, StrategyParams};

/// Parameters of `trade_momentum` (names, defaults and ranges of the original service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TradeMomentumParams {
    /// Weight given to price momentum in signal calculation
    #[schemars(range(min = 0.0, max = 1.0), example = 0.4)]
    pub price_weight: f64,
    /// Weight given to quantity momentum in signal calculation
    #[schemars(range(min = 0.0, max = 1.0), example = 0.3)]
    pub quantity_weight: f64,
    /// Weight given to maker/taker ratio in signal calculation
    #[schemars(range(min = 0.0, max = 1.0), example = 0.3)]
    pub maker_weight: f64,
    /// Momentum score threshold for buy signal
    #[schemars(range(min = 0.3, max = 1.0), example = 0.7)]
    pub buy_threshold: f64,
    /// Momentum score threshold for sell signal (negative)
    #[schemars(range(min = -1.0, max = -0.3), example = -0.7)]
    pub sell_threshold: f64,
    /// Minimum trade quantity to consider
    #[schemars(range(min = 0.0001, max = 1.0), example = 0.001)]
    pub min_quantity: f64,
    /// Base confidence level for signals
    #[schemars(range(min = 0.5, max = 1.0), example = 0.5)]
    pub base_confidence: f64,
    /// Time window for momentum decay (seconds): the e-folding time of the trade weights, and the longest a
    /// momentum episode lasts before the same side may signal again without the score crossing zero
    #[schemars(range(min = 60, max = 600), example = 300)]
    pub time_decay_seconds: u32,
    /// Number of recent trades to analyze
    #[schemars(range(min = 5, max = 50), example = 10)]
    pub momentum_window: u32,
    /// Minimum time between two signals of this strategy for one symbol, in seconds of event time (the host
    /// drops signals inside it)
    #[schemars(range(min = 0.0, max = 86400.0), example = 75.0)]
    pub min_signal_interval_seconds: f64,
}

impl Default for TradeMomentumParams {
    fn default() -> Self {
        Self {
            price_weight: 0.4,
            quantity_weight: 0.3,
            maker_weight: 0.3,
            buy_threshold: 0.7,
            sell_threshold: -0.7,
            min_quantity: 0.001,
            base_confidence: 0.5,
            time_decay_seconds: 300,
            momentum_window: 10,
            min_signal_interval_seconds: 75.0,
        }
    }
}

impl StrategyParams for TradeMomentumParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let sum = self.price_weight + self.quantity_weight + self.maker_weight;
        Rules::new()
            .check(
                (sum - 1.0).abs() <= 1e-6,
                "maker_weight",
                format!("price_weight + quantity_weight + maker_weight must equal 1 (got {sum})"),
            )
            .finish()
    }
}
