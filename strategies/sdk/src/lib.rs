//! # strategy-sdk
//!
//! The contract between the realtime-strategies host and every strategy and plugin crate:
//!
//! - [`event`]: market events (depth, trade, ticker) decoded once and borrowed by every consumer;
//! - [`decode`]: the envelope decoder (socket client format), allocation-free in steady state;
//! - [`time`]: timestamp parsing and formatting of the wire formats;
//! - [`params`]: typed parameters (serde + schemars + `Default`) and cross-field validation;
//! - [`strategy`]: the [`Strategy`] trait and its type-erased [`StrategyRunner`];
//! - [`signal`]: signals and the published output contract;
//! - [`descriptor`]: what the host knows about a strategy or plugin crate;
//! - [`registry`]: descriptors collected with `inventory`, [`register_strategy!`] and [`register_plugin!`];
//! - [`plugin`]: built-in plugins (the depth analyzer);
//! - [`cache`]: cache hints (prefetching a symbol's state one message ahead);
//! - `testing` (feature `testing`, enabled by dev-dependencies): fixtures and a harness for strategy tests.

pub mod cache;
pub mod cooldown;
pub mod decode;
pub mod descriptor;
pub mod event;
pub mod feed;
pub mod params;
pub mod plugin;
pub mod registry;
pub mod signal;
pub mod strategy;
#[cfg(feature = "testing")]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testing;
pub mod time;

pub use cooldown::{Cooldown, EventWindow};
pub use descriptor::{EnvVar, PluginDescriptor, StrategyDescriptor};
pub use event::{DepthBook, EventContext, Level, MarketEvent, StreamKind, SymbolId, Ticker, Trade};
pub use feed::EnvSetting;
pub use params::{FieldError, Rules, StrategyParams};
pub use plugin::{Plugin, PluginReaders};
pub use signal::{Action, Signal, SignalSink};
pub use strategy::{DataStatus, FeedTask, ParamsUpdate, Prefetch, Strategy, StrategyRunner};

#[doc(hidden)]
pub use inventory;
pub use schemars;
pub use serde;
pub use serde_json;
