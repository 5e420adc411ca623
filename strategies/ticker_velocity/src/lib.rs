//! # Ticker Velocity
//!
//! Keeps each symbol's last price and 24 h volume from the ticker stream over `time_window` seconds of event time,
//! measures how fast the price moves (percent per minute) and whether the move is speeding up, and signals when a
//! fast enough, large enough move is confirmed by volume. See this crate's README for the exact rules.

mod params;
mod strategy;

pub use params::TickerVelocityParams;
pub use strategy::{TickerVelocity, VelocityReading, VelocityState};

strategy_sdk::register_strategy!(TickerVelocity);
