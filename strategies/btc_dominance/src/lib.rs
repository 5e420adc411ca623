//! # Bitcoin Dominance
//!
//! Derives a Bitcoin dominance **proxy** from the 24 h tickers of BTCUSDT, ETHUSDT and BNBUSDT (BTC's share of
//! their combined quote volume, in percent), tracks its level, short trend and change over `window_hours` on
//! event time, and emits BTC-versus-altcoin rotation signals on BTCUSDT. See this crate's README for the rules.

mod params;
mod strategy;

pub use params::BtcDominanceParams;
pub use strategy::{BtcDominance, DominanceReading, DominanceState, Trend};

strategy_sdk::register_strategy!(BtcDominance);
