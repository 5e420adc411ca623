//! # Spread Liquidity
//!
//! Follows the bid-ask spread of each depth20 snapshot against its rolling average over the last
//! `lookback_ticks` snapshots. A sudden widening of the spread together with a drop in top-of-book depth reads as
//! liquidity being withdrawn (sell); a spread that was abnormally wide for long enough and is now narrowing back
//! reads as liquidity returning (buy). See this crate's README for the exact rules.

mod params;
mod strategy;

pub use params::SpreadLiquidityParams;
pub use strategy::{SpreadLiquidity, SpreadReading, SpreadState};

strategy_sdk::register_strategy!(SpreadLiquidity);
