//! # strategy-sdk
//!
//! The contract between the realtime-strategies host and every strategy and plugin crate:
//!
//! - [`event`]: market events (depth, trade, ticker) decoded once and borrowed by every consumer;
//! - [`decode`]: the envelope decoder (socket client format), allocation-free in steady state;
//! - [`params`]: typed parameters (serde + schemars + `Default`) and cross-field validation;
//! - [`strategy`]: the [`Strategy`] trait and its type-erased [`StrategyRunner`];
//! - [`signal`]: signals and the published output contract;
//! - [`registry`]: descriptors collected with `inventory`, [`register_strategy!`] and [`register_plugin!`];
//! - [`plugin`]: built-in plugins (the depth analyzer);
//! - [`testing`]: fixtures and a harness for strategy tests.

pub mod cooldown;
pub mod decode;
pub mod event;
pub mod feed;
pub mod params;
pub mod plugin;
pub mod registry;
pub mod signal;
pub mod strategy;
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testing;

pub use cooldown::{Cooldown, EventWindow};
pub use event::{DepthBook, EventContext, Level, MarketEvent, StreamKind, SymbolId, Ticker, Trade};
pub use params::{FieldError, Rules, StrategyParams};
pub use plugin::Plugin;
pub use registry::{EnvVar, PluginDescriptor, StrategyDescriptor};
pub use signal::{Action, Signal, SignalSink};
pub use strategy::{DataStatus, FeedTask, ParamsUpdate, Strategy, StrategyRunner};

#[doc(hidden)]
pub use inventory;
pub use schemars;
pub use serde;
pub use serde_json;
