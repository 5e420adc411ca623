//! Shadow parameter sets: created, listed, deleted and promoted here, stored in the configuration store (so a
//! restart keeps them), run by the processing task as [`ShadowCommand`]s. A shadow's parameters are the live
//! global parameters (defaults ← env ← global override) with its own partial set laid over them, so it follows
//! later changes of the live set and differs only where it says so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde_json::{Map, Value};
use strategy_sdk::FieldError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::service::{ConfigError, ConfigService};
use crate::config::shadow_doc::{check_name, ShadowDoc, MAX_SHADOWS_PER_STRATEGY};
use crate::config::store::{now_ms, ConfigStore};
use crate::config::updates::{ParamsHandle, PipelineCommand};
use crate::config::updates::{ShadowCommand, ShadowRun};
use crate::host_params::HostParams;
use crate::registry::Registry;

/// How often stored shadows are reloaded (picks up shadows created on other replicas, and retries a store that
/// was down at start).
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// A shadow as served (`data` of `POST …/shadows`): the stored document and its complete effective parameters.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ShadowView {
    /// The stored shadow.
    #[serde(flatten)]
    pub doc: ShadowDoc,
    /// Live global parameters with the shadow's laid over them (what it runs with); `null` if they no longer
    /// resolve.
    #[schemars(with = "Option<Map<String, Value>>")]
    pub effective_parameters: Value,
}

/// Owns the shadows of every strategy.
pub struct ShadowService {
    registry: Arc<Registry>,
    config: Arc<ConfigService>,
    store: Arc<dyn ConfigStore>,
    commands: mpsc::UnboundedSender<PipelineCommand>,
    shadows: RwLock<BTreeMap<String, BTreeMap<String, ShadowDoc>>>,
    write: tokio::sync::Mutex<()>,
}

fn invalid(field: &str, rule: &str, message: String) -> ConfigError {
    ConfigError::Validation(vec![FieldError {
        field: field.into(),
        rule: rule.into(),
        message,
    }])
}

/// Field errors of a parameter document, pointed at `/parameters/…` of the request body.
fn under_parameters(errors: Vec<FieldError>) -> ConfigError {
    ConfigError::Validation(
        errors
            .into_iter()
            .map(|e| FieldError {
                field: format!("/parameters{}", e.field),
                ..e
            })
            .collect(),
    )
}

impl ShadowService {
    /// A service with no shadows loaded yet (see [`ShadowService::spawn_background`]).
    pub fn new(
        registry: Arc<Registry>,
        config: Arc<ConfigService>,
        store: Arc<dyn ConfigStore>,
        commands: mpsc::UnboundedSender<PipelineCommand>,
    ) -> Self {
        Self {
            registry,
            config,
            store,
            commands,
            shadows: RwLock::new(BTreeMap::new()),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The complete parameters of a shadow: live global ones with `partial` laid over them, checked.
    fn effective(
        &self,
        strategy: &str,
        partial: &Map<String, Value>,
    ) -> Result<(Value, ParamsHandle, HostParams), ConfigError> {
        let s = self
            .registry
            .get(strategy)
            .ok_or_else(|| ConfigError::NotFound(format!("Strategy {strategy} not found")))?;
        let mut merged = self.config.effective(strategy, None)?.parameters;
        if let Some(obj) = merged.as_object_mut() {
            for (k, v) in partial {
                obj.insert(k.clone(), v.clone());
            }
        }
        let params = s.check_complete(&merged).map_err(under_parameters)?;
        let host = HostParams::from_doc(&merged);
        Ok((merged, ParamsHandle(params), host))
    }

    fn run(&self, doc: &ShadowDoc) -> Result<(), ConfigError> {
        let (_, params, host) = self.effective(&doc.strategy_id, &doc.parameters)?;
        let Some(s) = self.registry.get(&doc.strategy_id) else {
            return Ok(());
        };
        let _ = self
            .commands
            .send(PipelineCommand::Shadow(ShadowCommand::Run(ShadowRun {
                descriptor: s.descriptor,
                name: Arc::from(doc.name.as_str()),
                params,
                host,
                symbols: doc.symbols.clone(),
            })));
        Ok(())
    }

    /// Creates a shadow. Refused (409) when the name is taken or the strategy already runs
    /// [`MAX_SHADOWS_PER_STRATEGY`]; 422 when a field is wrong.
    pub async fn create(
        &self,
        strategy: &str,
        name: &str,
        parameters: Map<String, Value>,
        symbols: Option<Vec<String>>,
        created_by: String,
    ) -> Result<ShadowView, ConfigError> {
        let s = self
            .registry
            .get(strategy)
            .ok_or_else(|| ConfigError::NotFound(format!("Strategy {strategy} not found")))?;
        check_name(name).map_err(|m| invalid("/name", "pattern", m))?;
        if parameters.is_empty() {
            return Err(invalid(
                "/parameters",
                "minProperties",
                "parameters must change at least one field (a shadow equal to the live set compares nothing)".into(),
            ));
        }
        let schema_errors = s.check_schema(&Value::Object(parameters.clone()));
        if !schema_errors.is_empty() {
            return Err(under_parameters(schema_errors));
        }
        let symbols = match symbols {
            None => None,
            Some(list) => {
                let mut out = Vec::with_capacity(list.len());
                for raw in list {
                    let sym = raw.trim().to_ascii_uppercase();
                    if sym.is_empty()
                        || sym.len() > 32
                        || !sym.bytes().all(|b| b.is_ascii_alphanumeric())
                    {
                        return Err(invalid(
                            "/symbols",
                            "pattern",
                            format!("invalid symbol {raw:?}: expected 1-32 letters or digits"),
                        ));
                    }
                    out.push(sym);
                }
                if out.is_empty() || out.len() > 100 {
                    return Err(invalid(
                        "/symbols",
                        "size",
                        "symbols must list 1 to 100 symbols, or be left out for all".into(),
                    ));
                }
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
        };
        let (effective, _, _) = self.effective(strategy, &parameters)?;
        let _guard = self.write.lock().await;
        {
            let map = self.shadows.read();
            let of = map.get(strategy);
            if of.is_some_and(|m| m.contains_key(name)) {
                return Err(ConfigError::Conflict(format!(
                    "shadow {name} of {strategy} exists; delete it first or pick another name"
                )));
            }
            if of.map_or(0, BTreeMap::len) >= MAX_SHADOWS_PER_STRATEGY {
                return Err(ConfigError::Conflict(format!(
                    "{strategy} already runs {MAX_SHADOWS_PER_STRATEGY} shadows (the most allowed); delete one first"
                )));
            }
        }
        let doc = ShadowDoc {
            strategy_id: strategy.to_owned(),
            name: name.to_owned(),
            parameters,
            symbols,
            created_by,
            created_at_ms: now_ms(),
        };
        self.store.put_shadow(&doc).await?;
        self.shadows
            .write()
            .entry(strategy.to_owned())
            .or_default()
            .insert(name.to_owned(), doc.clone());
        self.run(&doc)?;
        Ok(ShadowView {
            doc,
            effective_parameters: effective,
        })
    }

    /// Deletes a shadow (404 when there is none).
    pub async fn delete(&self, strategy: &str, name: &str) -> Result<ShadowDoc, ConfigError> {
        let _guard = self.write.lock().await;
        let doc = self
            .shadows
            .read()
            .get(strategy)
            .and_then(|m| m.get(name))
            .cloned()
            .ok_or_else(|| {
                ConfigError::NotFound(format!("shadow {name} of {strategy} not found"))
            })?;
        self.store.delete_shadow(strategy, name).await?;
        self.remove_local(strategy, name);
        Ok(doc)
    }

    fn remove_local(&self, strategy: &str, name: &str) {
        let mut map = self.shadows.write();
        if let Some(m) = map.get_mut(strategy) {
            m.remove(name);
            if m.is_empty() {
                map.remove(strategy);
            }
        }
        let _ = self
            .commands
            .send(PipelineCommand::Shadow(ShadowCommand::Stop {
                strategy: strategy.to_owned(),
                name: name.to_owned(),
            }));
    }

    /// The shadows of a strategy with their effective parameters.
    pub fn list(&self, strategy: &str) -> Vec<ShadowView> {
        let docs: Vec<ShadowDoc> = self
            .shadows
            .read()
            .get(strategy)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        docs.into_iter()
            .map(|doc| {
                let effective_parameters = self
                    .effective(strategy, &doc.parameters)
                    .map(|(v, _, _)| v)
                    .unwrap_or(Value::Null);
                ShadowView {
                    doc,
                    effective_parameters,
                }
            })
            .collect()
    }

    /// One shadow.
    pub fn get(&self, strategy: &str, name: &str) -> Option<ShadowDoc> {
        self.shadows
            .read()
            .get(strategy)
            .and_then(|m| m.get(name))
            .cloned()
    }

    /// Re-sends the parameters of every shadow of `strategy` (its live global parameters changed).
    pub fn refresh_strategy(&self, strategy: &str) {
        let docs: Vec<ShadowDoc> = self
            .shadows
            .read()
            .get(strategy)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for doc in docs {
            if let Err(e) = self.run(&doc) {
                tracing::warn!(strategy, shadow = %doc.name, error = %e, "shadow no longer valid on the new live parameters; it keeps its previous ones");
            }
        }
    }

    /// Loads the stored shadows and runs what changed (new ones start, deleted ones stop).
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let stored = self.store.load_shadows().await?;
        let _guard = self.write.lock().await;
        let mut fresh: BTreeMap<String, BTreeMap<String, ShadowDoc>> = BTreeMap::new();
        for doc in stored {
            if self.registry.get(&doc.strategy_id).is_none() {
                continue;
            }
            fresh
                .entry(doc.strategy_id.clone())
                .or_default()
                .insert(doc.name.clone(), doc);
        }
        let old = self.shadows.read().clone();
        for (strategy, names) in &old {
            for name in names.keys() {
                if !fresh.get(strategy).is_some_and(|m| m.contains_key(name)) {
                    let _ = self
                        .commands
                        .send(PipelineCommand::Shadow(ShadowCommand::Stop {
                            strategy: strategy.clone(),
                            name: name.clone(),
                        }));
                }
            }
        }
        for (strategy, names) in &fresh {
            for (name, doc) in names {
                if old.get(strategy).and_then(|m| m.get(name)) != Some(doc) {
                    if let Err(e) = self.run(doc) {
                        tracing::warn!(strategy, shadow = %name, error = %e, "stored shadow does not validate; not run");
                    }
                }
            }
        }
        *self.shadows.write() = fresh;
        Ok(())
    }

    /// Loads stored shadows now and every [`RELOAD_EVERY`], and re-sends a strategy's shadows whenever its live
    /// global parameters change.
    pub fn spawn_background(
        self: &Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let me = self.clone();
        let mut changes = self.config.subscribe_changes();
        tokio::spawn(async move {
            if let Err(e) = me.reload().await {
                tracing::warn!(error = %e, "shadows not loaded; retrying");
            }
            let mut tick = tokio::time::interval(RELOAD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => {
                        if let Err(e) = me.reload().await {
                            tracing::debug!(error = %e, "shadow reload failed; retrying");
                        }
                    }
                    change = changes.recv() => match change {
                        Ok(c) if c.symbol.is_none() => me.refresh_strategy(&c.strategy_id),
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            let ids: Vec<String> = me.shadows.read().keys().cloned().collect();
                            for id in ids {
                                me.refresh_strategy(&id);
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        })
    }
}
