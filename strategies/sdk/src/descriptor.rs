//! What the host knows about a strategy or plugin crate: constants and function pointers, built from the
//! [`Strategy`] implementation by [`StrategyDescriptor::of`].

use std::sync::Arc;

use serde_json::Value;

use crate::event::StreamKind;
use crate::feed::EnvSetting;
use crate::params::{FieldError, StrategyParams};
use crate::plugin::Plugin;
use crate::strategy::{ErasedParams, Runner, Strategy, StrategyRunner};

/// Maps a parameter field to the environment variable that overrides it.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Parameter field name.
    pub field: &'static str,
    /// Environment variable name.
    pub var: &'static str,
}

/// Everything the host needs to know about a strategy crate, as constants and function pointers.
#[derive(Debug)]
pub struct StrategyDescriptor {
    /// Strategy id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Family (`realtime_data`, `market_logic`, `microstructure`).
    pub category: &'static str,
    /// Consumed stream kinds.
    pub consumes: &'static [StreamKind],
    /// Default of the `STRATEGY_ENABLED_<ID>` switch.
    pub enabled_by_default: bool,
    /// Reads other symbols' events (see [`Strategy::CROSS_SYMBOL`]).
    pub cross_symbol: bool,
    /// Explicit environment variable names.
    pub env_vars: &'static [EnvVar],
    /// Environment variables its external feed reads (see [`Strategy::FEED_ENV`]).
    pub feed_env: &'static [EnvSetting],
    /// JSON Schema (2020-12) of the parameters.
    pub schema: fn() -> schemars::Schema,
    /// Default parameters as JSON.
    pub defaults: fn() -> Value,
    /// Deserializes a complete parameter document and runs the cross-field rules.
    pub check: fn(&Value) -> Result<ErasedParams, Vec<FieldError>>,
    /// Builds a runner with default parameters.
    pub build: fn(&'static StrategyDescriptor) -> Box<dyn StrategyRunner>,
    /// Name of the crate that registered the strategy (part of its revision id).
    pub crate_name: &'static str,
    /// Version of that crate (part of its revision id).
    pub crate_version: &'static str,
}

impl StrategyDescriptor {
    /// The descriptor of strategy `S` (used by [`register_strategy!`](crate::register_strategy)).
    pub const fn of<S: Strategy>() -> Self {
        Self {
            id: S::ID,
            name: S::NAME,
            description: S::DESCRIPTION,
            category: S::CATEGORY,
            consumes: S::CONSUMES,
            enabled_by_default: S::ENABLED_BY_DEFAULT,
            cross_symbol: S::CROSS_SYMBOL,
            env_vars: S::ENV_VARS,
            feed_env: S::FEED_ENV,
            schema: schema_of::<S::Params>,
            defaults: defaults_of::<S::Params>,
            check: check_of::<S::Params>,
            build: build_of::<S>,
            crate_name: "",
            crate_version: "",
        }
    }

    /// The same descriptor naming the crate that registers it; [`register_strategy!`](crate::register_strategy)
    /// passes the invoking crate's `CARGO_PKG_NAME` and `CARGO_PKG_VERSION`.
    pub const fn with_crate(mut self, name: &'static str, version: &'static str) -> Self {
        self.crate_name = name;
        self.crate_version = version;
        self
    }

    /// The environment variable for `field`: the explicit one, else `<ID>_<FIELD>` upper-cased.
    pub fn env_var_for(&self, field: &str) -> String {
        self.env_vars
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.var.to_owned())
            .unwrap_or_else(|| format!("{}_{}", self.id, field).to_ascii_uppercase())
    }

    /// The `STRATEGY_ENABLED_<ID>` variable name.
    pub fn enabled_var(&self) -> String {
        format!("STRATEGY_ENABLED_{}", self.id.to_ascii_uppercase())
    }
}

fn schema_of<P: StrategyParams>() -> schemars::Schema {
    schemars::SchemaGenerator::default().into_root_schema_for::<P>()
}

fn defaults_of<P: StrategyParams>() -> Value {
    serde_json::to_value(P::default()).unwrap_or(Value::Null)
}

fn check_of<P: StrategyParams>(value: &Value) -> Result<ErasedParams, Vec<FieldError>> {
    let params: P = serde_json::from_value(value.clone()).map_err(|e| {
        vec![FieldError {
            field: String::new(),
            rule: "deserialize".into(),
            message: e.to_string(),
        }]
    })?;
    params.validate()?;
    Ok(Arc::new(params))
}

fn build_of<S: Strategy>(descriptor: &'static StrategyDescriptor) -> Box<dyn StrategyRunner> {
    Box::new(Runner::<S>::new(descriptor))
}

/// A built-in plugin: consumes events like a strategy but produces state for the API instead of signals.
#[derive(Debug)]
pub struct PluginDescriptor {
    /// Plugin id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Consumed stream kinds.
    pub consumes: &'static [StreamKind],
    /// Environment variables the plugin reads.
    pub env: &'static [EnvSetting],
    /// Builds the plugin.
    pub build: fn() -> Box<dyn Plugin>,
}
