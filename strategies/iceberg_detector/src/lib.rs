//! # Iceberg Detector
//!
//! Tracks the price levels near the mid of the depth20 snapshots of a symbol over a rolling event-time window and looks
//! for the footprints of hidden (iceberg) orders: a level that is repeatedly eaten and refilled quickly, a level
//! whose size stays suspiciously constant for minutes, or a level that simply stays anchored for a long time. The
//! strongest such level near the mid price gives a buy (hidden bid) or a sell (hidden ask). See this crate's
//! README for the exact rules.

mod params;
mod store;
mod strategy;

pub use params::IcebergDetectorParams;
pub use store::{BOOK_LEVELS_TRACKED, LEVELS_PER_SIDE, QTY_RING, REFILL_MEMORY};
pub use strategy::{IcebergDetector, IcebergState};

strategy_sdk::register_strategy!(IcebergDetector);

#[cfg(test)]
mod tests;
