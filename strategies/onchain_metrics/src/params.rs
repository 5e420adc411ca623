//! Parameters of the on-chain metrics strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::{FieldError, Rules, StrategyParams};

/// Parameters of `onchain_metrics`: the original's eight (`defaults.py`) plus the two thresholds its code actually
/// used (`ONCHAIN_NETWORK_GROWTH_THRESHOLD`, `ONCHAIN_VOLUME_THRESHOLD` in its constants). See the README for which
/// are used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OnchainMetricsParams {
    /// Whale transaction threshold (BTC)
    #[schemars(range(min = 10.0, max = 1000.0), example = 100.0)]
    pub whale_threshold_btc: f64,
    /// Whale transaction threshold (ETH)
    #[schemars(range(min = 100.0, max = 10000.0), example = 1000.0)]
    pub whale_threshold_eth: f64,
    /// Exchange flow change threshold percentage
    #[schemars(range(min = 5.0, max = 50.0), example = 10.0)]
    pub exchange_flow_threshold_percent: f64,
    /// Minimum time between signals (seconds)
    #[schemars(range(min = 1800, max = 86400), example = 3600)]
    pub min_signal_interval: u32,
    /// Daily data points averaged as the baseline for the growth (buy) rule
    #[schemars(range(min = 2, max = 60), example = 24)]
    pub accumulation_periods: u32,
    /// Daily data points averaged as the baseline for the contraction (sell) rule
    #[schemars(range(min = 2, max = 60), example = 12)]
    pub distribution_periods: u32,
    /// Confidence of a signal that meets the thresholds
    #[schemars(range(min = 0.5, max = 1.0), example = 0.77)]
    pub base_confidence: f64,
    /// Confidence of a signal whose address and volume changes are both at least twice their thresholds
    #[schemars(range(min = 0.5, max = 1.0), example = 0.85)]
    pub strong_signal_confidence: f64,
    /// Growth of unique addresses used (percent against the baseline) that counts as network growth
    #[schemars(range(min = 0.1, max = 100.0), example = 10.0)]
    pub network_growth_threshold: f64,
    /// Growth of on-chain transaction volume (percent against the baseline) that counts as volume growth
    #[schemars(range(min = 0.1, max = 100.0), example = 15.0)]
    pub volume_threshold: f64,
}

impl Default for OnchainMetricsParams {
    fn default() -> Self {
        Self {
            whale_threshold_btc: 100.0,
            whale_threshold_eth: 1000.0,
            exchange_flow_threshold_percent: 10.0,
            min_signal_interval: 3600,
            accumulation_periods: 24,
            distribution_periods: 12,
            base_confidence: 0.77,
            strong_signal_confidence: 0.85,
            network_growth_threshold: 10.0,
            volume_threshold: 15.0,
        }
    }
}

impl StrategyParams for OnchainMetricsParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Rules::new()
            .check(
                self.strong_signal_confidence >= self.base_confidence,
                "strong_signal_confidence",
                format!(
                    "strong_signal_confidence ({}) must not be below base_confidence ({})",
                    self.strong_signal_confidence, self.base_confidence
                ),
            )
            .finish()
    }
}
