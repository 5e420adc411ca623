//! Parameters of the iceberg detector.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::StrategyParams;

/// Parameters of `iceberg_detector` (names, defaults and ranges of the original service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IcebergDetectorParams {
    /// Minimum number of refills to detect iceberg
    #[schemars(range(min = 2, max = 10), example = 3)]
    pub min_refill_count: u32,
    /// Maximum refill time to consider fast refill
    #[schemars(range(min = 1.0, max = 30.0), example = 5.0)]
    pub refill_speed_threshold_seconds: f64,
    /// Maximum std dev ratio for consistent volume
    #[schemars(range(min = 0.05, max = 0.5), example = 0.1)]
    pub consistency_threshold: f64,
    /// Minimum persistence time for anchoring pattern
    #[schemars(range(min = 60.0, max = 600.0), example = 120.0)]
    pub persistence_threshold_seconds: f64,
    /// Only signal if price within X% of iceberg level
    #[schemars(range(min = 0.1, max = 5.0), example = 1.0)]
    pub level_proximity_pct: f64,
    /// Base confidence level for signals
    #[schemars(range(min = 0.5, max = 1.0), example = 0.70)]
    pub base_confidence: f64,
    /// Order book history tracking window
    #[schemars(range(min = 60, max = 900), example = 300)]
    pub history_window_seconds: u32,
    /// Maximum symbols to track simultaneously
    #[schemars(range(min = 10, max = 200), example = 100)]
    pub max_symbols: u32,
    /// Minimum time between signals per symbol, in seconds of event time (the host's runner drops signals inside
    /// it, for the symbol as a whole). The default 1 800 s caps a symbol at 48 signals a day, within 10× the
    /// original's documented 2–5 a day.
    #[schemars(range(min = 60.0, max = 86400.0), example = 1800.0)]
    pub min_signal_interval_seconds: f64,
}

impl Default for IcebergDetectorParams {
    fn default() -> Self {
        Self {
            min_refill_count: 3,
            refill_speed_threshold_seconds: 5.0,
            consistency_threshold: 0.1,
            persistence_threshold_seconds: 120.0,
            level_proximity_pct: 1.0,
            base_confidence: 0.70,
            history_window_seconds: 300,
            max_symbols: 100,
            min_signal_interval_seconds: 1800.0,
        }
    }
}

/// Every field has its own range and no rule links two fields (the largest refill time, 30 s, is always inside
/// the smallest history window, 60 s), so the default (empty) cross-field check applies.
impl StrategyParams for IcebergDetectorParams {}
