//! # realtime-strategies
//!
//! Plugin-based host for real-time crypto trading strategies. Market data envelopes arrive on NATS
//! (`binance.websocket.data`), are decoded once, run through the depth analyzer plugin and every enabled
//! strategy, and signals are published to `cio.intent.trading.<strategy_id>`. Two REST APIs (configuration and
//! market metrics) are served beside it.
//!
//! Module map: [`settings`] (environment), [`telemetry`] (logs), [`registry`] (what the linked crates
//! registered), [`config`] (parameter layers), [`runtime`] (source → pipeline → output), [`api`] (HTTP),
//! [`host`] (wiring).

pub mod api;
pub mod cli;
pub mod config;
pub mod evaluate;
pub mod host;
pub mod host_params;
pub mod k8s_configmap;
mod linked;
pub mod metrics;
pub mod record;
pub mod registry;
pub mod revision;
pub mod runtime;
pub mod safeguard;
pub mod scoring;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod verdict;

/// Service name reported by the API.
pub const SERVICE_NAME: &str = "realtime-strategies";
/// Service version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
