//! # Order Book Skew
//!
//! Watches the top levels of each depth20 snapshot and signals when resting bid volume outweighs ask volume
//! (buy) or the reverse (sell), provided the spread is tight. See this crate's README for the exact rules.

mod params;
mod strategy;

pub use params::OrderbookSkewParams;
pub use strategy::{OrderbookSkew, SkewState};

strategy_sdk::register_strategy!(OrderbookSkew);
