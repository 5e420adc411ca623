//! The one list of strategy and plugin crates linked into the host.
//!
//! `inventory` only sees crates that are actually linked; a crate merely named in Cargo.toml registers nothing.
//! Adding a strategy = one dependency line in Cargo.toml + one line here. The registry guard test
//! (`tests/registry.rs`) fails when a folder under `strategies/` is missing from this list.

use plugin_depth_analyzer as _;
use strategy_btc_dominance as _;
use strategy_cross_exchange_spread as _;
use strategy_iceberg_detector as _;
use strategy_onchain_metrics as _;
use strategy_orderbook_skew as _;
use strategy_spread_liquidity as _;
use strategy_ticker_velocity as _;
use strategy_trade_momentum as _;
