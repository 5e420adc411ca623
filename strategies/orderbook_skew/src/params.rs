//! Parameters of the order-book skew strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::{FieldError, Rules, StrategyParams};

/// Parameters of `orderbook_skew` (names, defaults and ranges of the original service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OrderbookSkewParams {
    /// Number of top order book levels to analyze
    #[schemars(range(min = 1, max = 20), example = 5)]
    pub top_levels: u32,
    /// Bid/ask ratio threshold for buy signal (>1.0 means more bids)
    #[schemars(range(min = 1.0, max = 3.0), example = 1.2)]
    pub buy_threshold: f64,
    /// Bid/ask ratio threshold for sell signal (<1.0 means more asks)
    #[schemars(range(min = 0.3, max = 1.0), example = 0.8)]
    pub sell_threshold: f64,
    /// Largest spread, in percent of the best bid, at which the book is still considered (the original's name:
    /// despite "min" it acts as a maximum)
    #[schemars(range(min = 0.01, max = 1.0), example = 0.1)]
    pub min_spread_percent: f64,
    /// Confidence of a signal that only just crosses its threshold with the widest allowed spread
    #[schemars(range(min = 0.5, max = 1.0), example = 0.5)]
    pub base_confidence: f64,
    /// Weight of the imbalance strength in the confidence (with spread_weight, must sum to 1)
    #[schemars(range(min = 0.0, max = 1.0), example = 1.0)]
    pub imbalance_weight: f64,
    /// Weight of the spread tightness in the confidence (with imbalance_weight, must sum to 1)
    #[schemars(range(min = 0.0, max = 1.0), example = 0.0)]
    pub spread_weight: f64,
    /// Minimum combined bid+ask volume in the analyzed levels
    #[schemars(range(min = 0.0001, max = 10.0), example = 0.001)]
    pub min_total_volume: f64,
    /// Minimum time between two signals of this strategy for one symbol, in seconds of event time (the host
    /// drops signals inside it)
    #[schemars(range(min = 0.0, max = 86400.0), example = 75.0)]
    pub min_signal_interval_seconds: f64,
}

impl Default for OrderbookSkewParams {
    fn default() -> Self {
        Self {
            top_levels: 5,
            buy_threshold: 1.2,
            sell_threshold: 0.8,
            min_spread_percent: 0.1,
            base_confidence: 0.5,
            imbalance_weight: 1.0,
            spread_weight: 0.0,
            min_total_volume: 0.001,
            min_signal_interval_seconds: 75.0,
        }
    }
}

impl StrategyParams for OrderbookSkewParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Rules::new()
            .check(
                self.sell_threshold < self.buy_threshold,
                "sell_threshold",
                format!(
                    "sell_threshold ({}) must be below buy_threshold ({})",
                    self.sell_threshold, self.buy_threshold
                ),
            )
            .check(
                (self.imbalance_weight + self.spread_weight - 1.0).abs() <= 1e-6,
                "spread_weight",
                format!(
                    "imbalance_weight + spread_weight must equal 1 (got {})",
                    self.imbalance_weight + self.spread_weight
                ),
            )
            .finish()
    }
}
