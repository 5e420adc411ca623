//! # Cross-Exchange Spread
//!
//! Compares the Binance price seen on the stream (ticker last price or trade price) with the latest public quotes
//! of other exchanges (Coinbase, Kraken), fetched by a background [`feed`] task, and signals on Binance when the
//! spread between the cheapest and the dearest venue stays above a threshold: buy when Binance is the cheapest,
//! sell when it is the dearest. Stale or missing external quotes mean no signal and a `NoData` status. See this
//! crate's README for the exact rules.

pub mod feed;
mod params;
pub mod quotes;
mod strategy;

pub use feed::{BackoffPolicy, FeedConfig, SourceHealth};
pub use params::{CrossExchangeSpreadParams, Exchange};
pub use quotes::{Quote, SharedQuotes, SpreadReading, MAX_QUOTE_AGE_MS};
pub use strategy::{confidence, CrossExchangeSpread, SpreadState};

strategy_sdk::register_strategy!(CrossExchangeSpread);
