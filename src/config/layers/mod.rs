//! The layers of a strategy's effective parameters: defaults ← environment ← global override ← symbol override,
//! field by field, with the layer each value came from (provenance), and the check of every layer.
//!
//! Resolving a layer merges it onto the resolved layer below and checks the result once (schema, typed
//! deserialisation, the strategy's rules): the typed parameters that come out are the ones the pipeline runs, so a
//! change is merged and deserialised once. A stored layer that does not pass does not run: the layer below applies
//! (see [`invalid`]).

pub mod env;
pub mod invalid;
pub mod stored;
pub mod validation;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use strategy_sdk::FieldError;

use crate::config::updates::ParamsHandle;
use crate::host_params::HostParams;
use crate::registry::{RegisteredStrategy, Registry};

pub use env::{env_layer, merge_patch, EnvError};

/// One layer: the fields it sets.
pub type Layer = Map<String, Value>;

/// Where each effective value came from: `default`, `env`, `global` or `symbol` per field.
pub type Provenance = Map<String, Value>;

/// Parameters resolved through some layers, checked.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The merged, complete parameter document.
    pub parameters: Value,
    /// The layer each field came from.
    pub provenance: Provenance,
    /// The typed parameters the strategy runs with.
    pub params: ParamsHandle,
    /// The host-level parameters (`enabled`, risk overrides) of the same document.
    pub host: HostParams,
}

/// A stored layer resolved: it runs (`Ok`) or it does not fit the strategy (`Err`, with every reason).
pub type LayerOutcome = Result<Resolved, Vec<FieldError>>;

/// The layer names as provenance shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The global override.
    Global,
    /// A symbol override.
    Symbol,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Symbol => "symbol",
        }
    }

    /// The scope of a key (`None`: global).
    pub fn of(symbol: Option<&str>) -> Self {
        if symbol.is_some() {
            Scope::Symbol
        } else {
            Scope::Global
        }
    }
}

/// Every strategy's defaults and environment layer, resolved once at start-up.
pub struct Layers {
    registry: Arc<Registry>,
    env: BTreeMap<&'static str, Layer>,
    /// defaults ← env per strategy.
    base: BTreeMap<&'static str, Resolved>,
}

impl Layers {
    /// Reads the environment layer of every strategy. Fails on a variable that does not fit its parameter, and on
    /// variables that fit one by one but together with the defaults break a rule of the strategy.
    pub fn new(
        registry: Arc<Registry>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, EnvError> {
        let mut layers = BTreeMap::new();
        let mut base = BTreeMap::new();
        for s in registry.strategies() {
            let mut layer = env_layer(s, env)?;
            layer.extend(crate::host_params::env_layer(s.descriptor, env));
            let resolved = resolve_base(s, &layer).map_err(|errors| EnvError {
                var: layer
                    .keys()
                    .map(|f| s.descriptor.env_var_for(f))
                    .collect::<Vec<_>>()
                    .join(", "),
                value: String::new(),
                strategy: s.id(),
                field: errors.first().map(|e| e.field.clone()).unwrap_or_default(),
                reason: errors
                    .iter()
                    .map(|e| format!("{} {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            })?;
            base.insert(s.id(), resolved);
            layers.insert(s.id(), layer);
        }
        Ok(Self {
            registry,
            env: layers,
            base,
        })
    }

    /// The registry the layers belong to.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A registered strategy.
    pub fn strategy(&self, id: &str) -> Option<&RegisteredStrategy> {
        self.registry.get(id)
    }

    /// The environment layer of a strategy.
    pub fn env_layer(&self, id: &str) -> Option<&Layer> {
        self.env.get(id)
    }

    /// Whether any environment variable sets a parameter of the strategy.
    pub fn has_env(&self, id: &str) -> bool {
        self.env.get(id).is_some_and(|e| !e.is_empty())
    }

    /// Defaults ← env of a strategy, resolved.
    pub fn base(&self, id: &str) -> Option<&Resolved> {
        self.base.get(id)
    }

    /// Defaults ← env of a strategy as a document (whether or not it passes the rules).
    pub fn base_parameters(&self, id: &str) -> Option<Value> {
        let s = self.registry.get(id)?;
        let mut doc = s.defaults.clone();
        if let (Some(obj), Some(env)) = (doc.as_object_mut(), self.env.get(id)) {
            for (k, v) in env {
                obj.insert(k.clone(), v.clone());
            }
        }
        Some(doc)
    }
}

fn resolve_base(s: &RegisteredStrategy, env: &Layer) -> LayerOutcome {
    let mut parameters = s.defaults.clone();
    let mut provenance = Provenance::new();
    if let Some(obj) = parameters.as_object_mut() {
        for k in obj.keys() {
            provenance.insert(k.clone(), "default".into());
        }
        for (k, v) in env {
            obj.insert(k.clone(), v.clone());
            provenance.insert(k.clone(), "env".into());
        }
    }
    checked(s, parameters, provenance)
}

fn checked(s: &RegisteredStrategy, parameters: Value, provenance: Provenance) -> LayerOutcome {
    let params = s.check_complete(&parameters)?;
    Ok(Resolved {
        host: HostParams::from_doc(&parameters),
        params: ParamsHandle(params),
        parameters,
        provenance,
    })
}

/// `layer` merged onto `below` and checked. On failure, the layer's own schema errors come first, then those of
/// the merged document (each field and rule once).
pub fn resolve_on(
    s: &RegisteredStrategy,
    below: &Resolved,
    layer: &Layer,
    scope: Scope,
) -> LayerOutcome {
    let mut parameters = below.parameters.clone();
    let mut provenance = below.provenance.clone();
    if let Some(obj) = parameters.as_object_mut() {
        for (k, v) in layer {
            obj.insert(k.clone(), v.clone());
            provenance.insert(k.clone(), scope.name().into());
        }
    }
    checked(s, parameters, provenance).map_err(|merged_errors| {
        let mut errors = s.check_schema(&Value::Object(layer.clone()));
        push_unique(&mut errors, merged_errors, None);
        errors
    })
}

/// Appends `more` to `errors`, skipping a (field, rule) already listed; `context` names the override the error
/// comes with.
pub fn push_unique(errors: &mut Vec<FieldError>, more: Vec<FieldError>, context: Option<&str>) {
    for mut e in more {
        if let Some(c) = context {
            e.message = format!("{} (with the {c} override)", e.message);
        }
        if !errors
            .iter()
            .any(|x| x.field == e.field && x.rule == e.rule)
        {
            errors.push(e);
        }
    }
}
