//! The messages the configuration layer sends to the processing path: new effective parameters for a strategy
//! (global or one symbol) and the start, change or stop of a shadow parameter set. The runtime consumes them and
//! imports this module; configuration never imports the runtime.

use std::sync::Arc;

use strategy_sdk::strategy::ErasedParams;
use strategy_sdk::StrategyDescriptor;

use crate::host_params::HostParams;

/// A change for the processing task, sent by the configuration layer.
#[derive(Debug, Clone)]
pub enum PipelineCommand {
    /// New effective parameters for a strategy, globally (`symbol: None`) or for one symbol; `params: None` drops
    /// a symbol's override.
    Params {
        /// Strategy id.
        strategy: String,
        /// Upper-case symbol, or `None` for the global parameters.
        symbol: Option<String>,
        /// The validated parameters.
        params: Option<ParamsHandle>,
    },
    /// Starts, changes or stops a shadow parameter set.
    Shadow(ShadowCommand),
}

/// Validated parameters, type-erased (wrapper so the command is `Debug`).
#[derive(Clone)]
pub struct ParamsHandle(pub ErasedParams);

impl std::fmt::Debug for ParamsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParamsHandle(..)")
    }
}

/// A change to the running shadows.
#[derive(Debug, Clone)]
pub enum ShadowCommand {
    /// Runs a shadow, or gives a running one (same strategy and name) new parameters, keeping its state.
    Run(ShadowRun),
    /// Stops a shadow.
    Stop {
        /// Strategy id.
        strategy: String,
        /// Shadow name.
        name: String,
    },
}

/// What a running shadow needs.
#[derive(Debug, Clone)]
pub struct ShadowRun {
    /// The strategy whose runner it builds.
    pub descriptor: &'static StrategyDescriptor,
    /// Shadow name.
    pub name: Arc<str>,
    /// Its complete, validated parameters.
    pub params: ParamsHandle,
    /// Its host-level parameters (risk overrides and floor; `enabled` is ignored: shadows never publish).
    pub host: HostParams,
    /// Symbols it sees (all when `None`).
    pub symbols: Option<Vec<String>>,
}
