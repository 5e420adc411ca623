//! Parameters of the Bitcoin dominance strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::{FieldError, Rules, StrategyParams};

/// Parameters of `btc_dominance` (names, defaults and ranges of the original service; the three confidence
/// fields have defaults there but no schema entry, so their descriptions and ranges are ours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BtcDominanceParams {
    /// High dominance threshold percentage
    #[schemars(range(min = 60.0, max = 90.0), example = 70.0)]
    pub high_threshold: f64,
    /// Low dominance threshold percentage
    #[schemars(range(min = 30.0, max = 50.0), example = 40.0)]
    pub low_threshold: f64,
    /// Minimum dominance change percentage for signal
    #[schemars(range(min = 1.0, max = 15.0), example = 5.0)]
    pub change_threshold: f64,
    /// Time window for dominance calculation (hours)
    #[schemars(range(min = 12, max = 72), example = 24)]
    pub window_hours: u32,
    /// Minimum time between signals (seconds)
    #[schemars(range(min = 3600, max = 86400), example = 14400)]
    pub min_signal_interval: u32,
    /// Confidence of a rotation-to-BTC signal (dominance above high_threshold and rising)
    #[schemars(range(min = 0.5, max = 1.0), example = 0.8)]
    pub base_confidence_high: f64,
    /// Confidence of a rotation-to-altcoins signal (dominance below low_threshold and falling)
    #[schemars(range(min = 0.5, max = 1.0), example = 0.75)]
    pub base_confidence_low: f64,
    /// Highest confidence of a dominance-momentum signal (change over the window between the thresholds)
    #[schemars(range(min = 0.1, max = 1.0), example = 0.7)]
    pub momentum_confidence: f64,
}

impl Default for BtcDominanceParams {
    fn default() -> Self {
        Self {
            high_threshold: 70.0,
            low_threshold: 40.0,
            change_threshold: 5.0,
            window_hours: 24,
            min_signal_interval: 14_400,
            base_confidence_high: 0.80,
            base_confidence_low: 0.75,
            momentum_confidence: 0.70,
        }
    }
}

impl StrategyParams for BtcDominanceParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Rules::new()
            .check(
                self.low_threshold < self.high_threshold,
                "low_threshold",
                format!(
                    "low_threshold ({}) must be below high_threshold ({})",
                    self.low_threshold, self.high_threshold
                ),
            )
            .finish()
    }
}
