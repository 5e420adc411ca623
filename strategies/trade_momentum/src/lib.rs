//! # Trade Momentum
//!
//! Scores the last `momentum_window` trades of a symbol on three −1..+1 terms (direction of price moves, size of
//! the latest trade signed by its side, volume-weighted aggressor balance), older trades decayed on event time,
//! and signals when the weighted score enters the buy or sell zone. See this crate's README for the exact rules.

mod params;
mod strategy;

pub use params::TradeMomentumParams;
pub use strategy::{MomentumReading, MomentumState, TradeMomentum};

strategy_sdk::register_strategy!(TradeMomentum);
