//! Parameters of the cross-exchange spread strategy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strategy_sdk::{FieldError, Rules, StrategyParams};

/// A venue whose price takes part in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
#[allow(missing_docs)] // variant doc comments would turn the schema's plain `enum` into a `oneOf`
pub enum Exchange {
    // Binance: the price comes from the market-data stream itself.
    Binance,
    // Coinbase Exchange public ticker.
    Coinbase,
    // Kraken public ticker.
    Kraken,
}

impl Exchange {
    /// The exchanges polled over HTTP, in a fixed order (their index is [`Exchange::external_index`]).
    pub const EXTERNAL: [Exchange; 2] = [Exchange::Coinbase, Exchange::Kraken];

    /// Lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Exchange::Binance => "binance",
            Exchange::Coinbase => "coinbase",
            Exchange::Kraken => "kraken",
        }
    }

    /// Position in [`Exchange::EXTERNAL`], `None` for Binance.
    pub const fn external_index(self) -> Option<usize> {
        match self {
            Exchange::Binance => None,
            Exchange::Coinbase => Some(0),
            Exchange::Kraken => Some(1),
        }
    }
}

/// Parameters of `cross_exchange_spread` (names, defaults and ranges of the original service; the original gives
/// no range for the last five, ours are documented in the README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CrossExchangeSpreadParams {
    /// Minimum spread percentage for signal
    #[schemars(range(min = 0.1, max = 5.0), example = 0.5)]
    pub spread_threshold_percent: f64,
    /// Minimum time between signals (seconds)
    #[schemars(range(min = 60, max = 3600), example = 300)]
    pub min_signal_interval: u32,
    /// Maximum position size in USDT
    #[schemars(range(min = 100, max = 10000), example = 500)]
    pub max_position_size: u32,
    /// Exchanges whose prices are compared: binance (from the stream) and at least one of coinbase, kraken
    #[schemars(length(min = 2, max = 3), example = ["binance", "coinbase"])]
    pub exchanges: Vec<Exchange>,
    /// Consecutive external quote refreshes the spread must stay above the threshold before a signal
    #[schemars(range(min = 1, max = 20), example = 3)]
    pub persistent_spread_periods: u32,
    /// Confidence of a signal whose spread is below high_spread_threshold
    #[schemars(range(min = 0.5, max = 1.0), example = 0.75)]
    pub base_confidence: f64,
    /// Spread percentage from which a signal gets high_spread_confidence
    #[schemars(range(min = 0.1, max = 10.0), example = 1.0)]
    pub high_spread_threshold: f64,
    /// Confidence of a signal whose spread reaches high_spread_threshold
    #[schemars(range(min = 0.5, max = 1.0), example = 0.85)]
    pub high_spread_confidence: f64,
}

impl Default for CrossExchangeSpreadParams {
    fn default() -> Self {
        Self {
            spread_threshold_percent: 0.5,
            min_signal_interval: 300,
            max_position_size: 500,
            exchanges: vec![Exchange::Binance, Exchange::Coinbase],
            persistent_spread_periods: 3,
            base_confidence: 0.75,
            high_spread_threshold: 1.0,
            high_spread_confidence: 0.85,
        }
    }
}

impl CrossExchangeSpreadParams {
    /// Whether `exchange` takes part in the comparison.
    pub fn uses(&self, exchange: Exchange) -> bool {
        self.exchanges.contains(&exchange)
    }
}

impl StrategyParams for CrossExchangeSpreadParams {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let duplicates = self
            .exchanges
            .iter()
            .enumerate()
            .any(|(i, e)| self.exchanges[..i].contains(e));
        Rules::new()
            .check(
                self.uses(Exchange::Binance),
                "exchanges",
                "exchanges must include binance (the stream's prices are the ones traded)",
            )
            .check(
                Exchange::EXTERNAL.iter().any(|e| self.uses(*e)),
                "exchanges",
                "exchanges must include at least one of coinbase, kraken",
            )
            .check(!duplicates, "exchanges", "exchanges must not repeat a name")
            .check(
                self.high_spread_threshold >= self.spread_threshold_percent,
                "high_spread_threshold",
                format!(
                    "high_spread_threshold ({}) must not be below spread_threshold_percent ({})",
                    self.high_spread_threshold, self.spread_threshold_percent
                ),
            )
            .check(
                self.high_spread_confidence >= self.base_confidence,
                "high_spread_confidence",
                format!(
                    "high_spread_confidence ({}) must not be below base_confidence ({})",
                    self.high_spread_confidence, self.base_confidence
                ),
            )
            .finish()
    }
}
