//! The configuration service: effective parameters per strategy and symbol, and their propagation to the
//! processing path. (Stores, audit and the write API build on this.)

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::config::resolve::{env_layer, EnvError};
use crate::registry::Registry;
use crate::runtime::pipeline::{ParamsHandle, PipelineCommand};

/// Owns the layers of every strategy's parameters.
pub struct ConfigService {
    registry: Arc<Registry>,
    env: BTreeMap<&'static str, Map<String, Value>>,
    commands: mpsc::UnboundedSender<PipelineCommand>,
}

impl ConfigService {
    /// Reads the environment layer of every strategy (fails on a variable that does not fit its parameter).
    pub fn new(
        registry: Arc<Registry>,
        env: &dyn Fn(&str) -> Option<String>,
        commands: mpsc::UnboundedSender<PipelineCommand>,
    ) -> Result<Self, EnvError> {
        let mut layers = BTreeMap::new();
        for s in registry.strategies() {
            layers.insert(s.id(), env_layer(s, env)?);
        }
        Ok(Self {
            registry,
            env: layers,
            commands,
        })
    }

    /// Defaults ← env for a strategy.
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

    /// The environment layer of a strategy.
    pub fn env_layer(&self, id: &str) -> Option<&Map<String, Value>> {
        self.env.get(id)
    }

    /// Whether a global override exists and which symbols have overrides.
    pub async fn override_summary(&self, _id: &str) -> (bool, Vec<String>) {
        (false, Vec::new())
    }

    /// Pushes every strategy's effective global parameters to the processing path (start-up).
    pub fn push_all(&self) -> Result<(), String> {
        for s in self.registry.strategies() {
            let doc = self.base_parameters(s.id()).unwrap_or(Value::Null);
            let params = s.check_complete(&doc).map_err(|errors| {
                format!(
                    "strategy {}: effective parameters invalid: {}",
                    s.id(),
                    errors
                        .iter()
                        .map(|e| format!("{} {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            })?;
            let _ = self.commands.send(PipelineCommand::Params {
                strategy: s.id().to_owned(),
                symbol: None,
                params: Some(ParamsHandle(params)),
            });
        }
        Ok(())
    }
}
