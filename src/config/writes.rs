//! Changes to the configuration: a write (merged into the stored override or replacing it), a delete, a rollback
//! or restore from the audit trail. Each is checked against the strategy's layers, ordered per key, stored with
//! its audit record in one store transaction, installed in the snapshot (pushing the new parameters to the
//! pipeline) and announced to the other replicas.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};
use strategy_sdk::FieldError;

use crate::config::key_lock::KeyLocks;
use crate::config::layers::validation::{validate, Prepared};
use crate::config::layers::{Layer, Layers};
use crate::config::merge::{normalize_integers, require_parameters, WriteMode, Writer};
use crate::config::rate_limit::RateLimits;
use crate::config::replication::health::StoreHealth;
use crate::config::replication::Replication;
use crate::config::service::ConfigError;
use crate::config::snapshot::Snapshot;
use crate::config::store::{
    key_name, Applied, AuditRecord, Change, ConfigStore, LayerCheck, Mutation, StoreError,
};
use crate::registry::RegisteredStrategy;

/// Where a write's check leaves what it resolved: filled before the store is called (a replacing write) or by
/// the check the store runs inside its transaction (a merging write).
type PreparedSlot = Arc<Mutex<Option<Prepared>>>;

/// The write side of the configuration service.
pub struct WriteService {
    layers: Arc<Layers>,
    snapshot: Arc<Snapshot>,
    store: Arc<dyn ConfigStore>,
    health: Arc<StoreHealth>,
    replication: Arc<Replication>,
    /// One lock per (strategy, symbol): writes to one key are ordered, other keys proceed.
    key_locks: KeyLocks,
    rate_limits: RateLimits,
}

impl WriteService {
    /// Writes through `store` into `snapshot`, every change under `rate_limits`.
    pub fn new(
        layers: Arc<Layers>,
        snapshot: Arc<Snapshot>,
        store: Arc<dyn ConfigStore>,
        health: Arc<StoreHealth>,
        replication: Arc<Replication>,
        rate_limits: RateLimits,
    ) -> Self {
        Self {
            layers,
            snapshot,
            store,
            health,
            replication,
            key_locks: KeyLocks::default(),
            rate_limits,
        }
    }

    fn lookup(&self, id: &str) -> Result<&RegisteredStrategy, ConfigError> {
        self.layers
            .strategy(id)
            .ok_or_else(|| ConfigError::NotFound(format!("Strategy not found: {id}")))
    }

    /// Checks `layer` (normalised) as the override of `(s, symbol)` against the last known overrides.
    fn check(
        &self,
        s: &RegisteredStrategy,
        symbol: Option<&str>,
        layer: &Layer,
    ) -> Result<Prepared, ConfigError> {
        let base = self
            .layers
            .base(s.id())
            .ok_or_else(|| ConfigError::NotFound(format!("Strategy not found: {}", s.id())))?;
        self.snapshot
            .with_stored(s.id(), |stored| validate(s, base, stored, symbol, layer))
            .map_err(ConfigError::Validation)
    }

    /// Validates an override for a key without storing it: the partial document against the schema, the merged
    /// result against the schema and the strategy's rules, and (for a global override) the merged result of every
    /// stored symbol override on top of it. Every problem, none when it would be accepted.
    pub fn validate(
        &self,
        id: &str,
        symbol: Option<&str>,
        params: &Map<String, Value>,
    ) -> Result<Vec<FieldError>, ConfigError> {
        let s = self.lookup(id)?;
        let mut params = params.clone();
        normalize_integers(s, &mut params);
        match self.check(s, symbol, &params) {
            Ok(_) => Ok(Vec::new()),
            Err(ConfigError::Validation(errors)) => Ok(errors),
            Err(e) => Err(e),
        }
    }

    /// The last known stored override of `(id, symbol)` with `patch` merged into it (RFC 7396), for `validate_only`.
    pub fn merged_layer(
        &self,
        id: &str,
        symbol: Option<&str>,
        patch: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        self.lookup(id)?;
        let docs = self.snapshot.docs(id);
        let stored = match symbol {
            Some(sym) => docs.symbols.get(sym),
            None => docs.global.as_ref(),
        };
        let mut layer = stored.map(|d| d.parameters.clone()).unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                layer.remove(k);
            } else {
                layer.insert(k.clone(), v.clone());
            }
        }
        Ok(layer)
    }

    /// Whether the stored override of `(id, symbol)` exists and does not fit the strategy (it does not run).
    fn stored_layer_invalid(&self, id: &str, symbol: Option<&str>) -> bool {
        self.snapshot.with_stored(id, |stored| {
            stored.is_some_and(|st| match symbol {
                Some(sym) => st.symbols.get(sym).is_some_and(Result::is_err),
                None => st.global.as_ref().is_some_and(Result::is_err),
            })
        })
    }

    /// The check of a merged layer that the store runs inside the change's transaction, against the last known
    /// overrides of the strategy's other keys; what it resolves lands in `slot`.
    fn layer_check(
        &self,
        s: &RegisteredStrategy,
        symbol: Option<&str>,
        slot: PreparedSlot,
    ) -> LayerCheck {
        let registry = self.layers.registry().clone();
        let base = self.layers.base(s.id()).cloned();
        let stored = self.snapshot.with_stored(s.id(), |st| st.cloned());
        let id = s.id().to_owned();
        let symbol = symbol.map(str::to_owned);
        Arc::new(move |layer: &Map<String, Value>| {
            let (Some(s), Some(base)) = (registry.get(&id), base.as_ref()) else {
                return Ok(());
            };
            let prepared = validate(s, base, stored.as_ref(), symbol.as_deref(), layer)?;
            *slot.lock() = Some(prepared);
            Ok(())
        })
    }

    /// Writes parameters to a key: merged into its stored override (`WriteMode::Merge`, RFC 7396 inside the
    /// store's transaction) or replacing it. An empty parameter set is refused. The write rate limit applies.
    pub async fn write(
        &self,
        id: &str,
        symbol: Option<&str>,
        mut params: Map<String, Value>,
        writer: Writer,
        mode: WriteMode,
    ) -> Result<Applied, ConfigError> {
        let s = self.lookup(id)?;
        require_parameters(&params).map_err(ConfigError::Validation)?;
        normalize_integers(s, &mut params);
        let slot = PreparedSlot::default();
        let mutation = match mode {
            // A stored layer that does not fit the strategy is replaced, not merged into.
            WriteMode::Merge if !self.stored_layer_invalid(id, symbol) => {
                // Nulls remove fields, so only the non-null part is checked against the schema up front; the
                // merged layer is checked in the transaction.
                let sent: Map<String, Value> = params
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let errors = s.check_schema(&Value::Object(sent));
                if !errors.is_empty() {
                    return Err(ConfigError::Validation(errors));
                }
                Mutation::Merge {
                    patch: params,
                    check: self.layer_check(s, symbol, slot.clone()),
                }
            }
            WriteMode::Merge | WriteMode::Replace => {
                if mode == WriteMode::Merge {
                    params.retain(|_, v| !v.is_null());
                    require_parameters(&params).map_err(ConfigError::Validation)?;
                }
                *slot.lock() = Some(self.check(s, symbol, &params)?);
                Mutation::Set(params)
            }
        };
        self.change(id, symbol, mutation, writer, "set", slot).await
    }

    /// Validates and stores an override (`operation`: `set`, `rollback` or `restore`).
    pub async fn set(
        &self,
        id: &str,
        symbol: Option<&str>,
        mut params: Map<String, Value>,
        writer: Writer,
        operation: &'static str,
    ) -> Result<Applied, ConfigError> {
        let s = self.lookup(id)?;
        normalize_integers(s, &mut params);
        let slot = PreparedSlot::new(Mutex::new(Some(self.check(s, symbol, &params)?)));
        self.change(id, symbol, Mutation::Set(params), writer, operation, slot)
            .await
    }

    /// Deletes an override.
    pub async fn delete(
        &self,
        id: &str,
        symbol: Option<&str>,
        writer: Writer,
    ) -> Result<Applied, ConfigError> {
        self.lookup(id)?;
        self.change(
            id,
            symbol,
            Mutation::Delete,
            writer,
            "delete",
            PreparedSlot::default(),
        )
        .await
    }

    async fn change(
        &self,
        id: &str,
        symbol: Option<&str>,
        mutation: Mutation,
        writer: Writer,
        operation: &'static str,
        prepared: PreparedSlot,
    ) -> Result<Applied, ConfigError> {
        use tracing::Instrument;
        let change = Change {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            mutation,
            rate_limit: self.rate_limits.for_writer(&writer.changed_by),
            changed_by: writer.changed_by,
            reason: writer.reason,
            operation,
            issuer: writer.issuer,
        };
        let span = tracing::info_span!(
            target: "otel",
            "config.change",
            strategy = %change.strategy_id,
            symbol = change.symbol.as_deref().unwrap_or("global"),
            operation = change.operation,
            changed_by = %change.changed_by,
            issuer = change.issuer.as_deref().unwrap_or(""),
        );
        self.apply(change, prepared).instrument(span).await
    }

    async fn apply(&self, change: Change, prepared: PreparedSlot) -> Result<Applied, ConfigError> {
        let key = key_name(&change.strategy_id, change.symbol.as_deref());
        // Writes to one key are ordered; other keys do not wait. A write queued behind one that found the store
        // down answers at once (the outage was just seen), so n queued writes take one timeout, not n.
        let outages = self.health.outages();
        let guard = self.key_locks.lock(&key).await;
        if self.health.outages() != outages && !self.health.available() {
            let why = self.health.last_error().unwrap_or_default();
            return Err(StoreError::Unavailable(why).into());
        }
        let result = self.store.apply(change).await;
        self.health.note(&result);
        let applied = result?;
        let audit = &applied.audit;
        self.health
            .versions
            .applied(&audit.strategy_id, audit.symbol.as_deref(), audit.version);
        let prepared = prepared.lock().take();
        self.snapshot.install_applied(&applied, prepared.as_ref());
        drop(guard);
        self.replication.broadcast(&applied.audit).await;
        Ok(applied)
    }

    /// Rolls a key back to a version (`target_version`), to an audit record's parameters (`rollback_id`), or to
    /// the state before its latest change. `restore` names the audit operation (`POST …/restore`).
    #[allow(clippy::too_many_arguments)]
    pub async fn rollback(
        &self,
        id: &str,
        symbol: Option<&str>,
        target_version: Option<u64>,
        rollback_id: Option<&str>,
        writer: Writer,
        restore: bool,
    ) -> Result<Applied, ConfigError> {
        self.lookup(id)?;
        let (params, default_reason) = if let Some(rid) = rollback_id {
            let record = self.audit_by_id(rid).await?;
            let record = record.filter(|r| r.strategy_id == id).ok_or_else(|| {
                ConfigError::NotFound(format!(
                    "Configuration with ID {rid} not found for strategy {id}"
                ))
            })?;
            let params = record
                .new_parameters
                .or(record.old_parameters)
                .ok_or_else(|| {
                    ConfigError::NotFound(format!("Audit record {rid} holds no parameters"))
                })?;
            (params, format!("Rollback to ID {rid}"))
        } else if let Some(v) = target_version {
            let history = self.audit(id, Some(symbol), usize::MAX).await?;
            let params = history
                .into_iter()
                .find(|r| r.version == v && r.new_parameters.is_some())
                .and_then(|r| r.new_parameters)
                .ok_or_else(|| {
                    ConfigError::NotFound(format!("Configuration version {v} not found for {id}"))
                })?;
            (params, format!("Rollback to version {v}"))
        } else {
            let history = self.audit(id, Some(symbol), 1).await?;
            let params = history
                .into_iter()
                .next()
                .and_then(|r| r.old_parameters)
                .ok_or_else(|| {
                    ConfigError::NotFound(format!(
                        "No previous configuration found for {id} to rollback to"
                    ))
                })?;
            (params, "Rollback to previous".to_owned())
        };
        let operation = if restore { "restore" } else { "rollback" };
        let writer = Writer {
            reason: Some(writer.reason.unwrap_or(default_reason)),
            ..writer
        };
        self.set(id, symbol, params, writer, operation).await
    }

    async fn audit_by_id(&self, rid: &str) -> Result<Option<AuditRecord>, ConfigError> {
        let r = self.store.audit_by_id(rid).await;
        self.health.note(&r);
        Ok(r?)
    }

    /// Audit records of a strategy, newest first (`key`: `None` = all keys, `Some(None)` = global,
    /// `Some(Some(symbol))` = one symbol).
    pub async fn audit(
        &self,
        id: &str,
        key: Option<Option<&str>>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ConfigError> {
        self.lookup(id)?;
        let r = self.store.audit(id, key, limit).await;
        self.health.note(&r);
        Ok(r?)
    }
}
