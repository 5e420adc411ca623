//! # On-Chain Metrics
//!
//! Reads real Bitcoin network statistics (unique addresses used, estimated on-chain transaction volume, hash rate;
//! daily series from blockchain.info's public charts API), fetched by a background [`feed`] task, and signals on
//! BTC symbols when the network clearly grows (buy) or contracts (sell) against its recent baseline. Missing or
//! stale data means no signal and a `NoData` status. Off by default. See this crate's README for the exact rules,
//! the endpoints and which of the original's inputs have no free real source.

pub mod feed;
pub mod metrics;
mod params;
mod strategy;

pub use feed::{BackoffPolicy, FeedConfig, SourceHealth};
pub use metrics::{Metric, SharedMetrics, MAX_DATA_AGE_MS, MAX_FETCH_AGE_MS};
pub use params::OnchainMetricsParams;
pub use strategy::{OnchainMetrics, OnchainState};

strategy_sdk::register_strategy!(OnchainMetrics);
