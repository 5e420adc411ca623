//! The configuration service: effective parameters per strategy and symbol, validated writes through the store,
//! and their propagation to the processing path and to every other replica.
//!
//! Reads never touch the store: they serve the in-memory snapshot of the overrides (the last known config), which
//! is refreshed by local writes, by change events from other replicas (NATS), by a periodic reload (the original's
//! cache TTL) and by `POST /api/v1/strategies/cache/refresh`. When the store is down the snapshot keeps serving
//! (or env/defaults if it was never loaded) and writes fail with [`ConfigError::Unavailable`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use strategy_sdk::FieldError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::merge::{normalize_integers, require_parameters, WriteMode, Writer};
use crate::config::rate_limit::{Denied, RateLimits};
use crate::config::resolve::{env_layer, EnvError};
use crate::config::store::{
    iso, now_ms, Applied, AuditRecord, Change, ConfigDoc, ConfigStore, LayerCheck, Mutation,
    StoreError, StrategyDocs,
};
use crate::config::updates::{ParamsHandle, PipelineCommand};
use crate::host_params::{HostParams, HostTable};
use crate::registry::{RegisteredStrategy, Registry};

/// Why a configuration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Unknown strategy, version or audit record.
    #[error("{0}")]
    NotFound(String),
    /// The parameters fail the schema or the strategy's rules; every offending field is listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The store cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// The writer is over its write rate limit.
    #[error("rate limit exceeded: {}", .0.reason)]
    RateLimited(Denied),
    /// The request conflicts with what exists (a shadow name taken, too many shadows).
    #[error("{0}")]
    Conflict(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ConfigError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => ConfigError::Unavailable(format!(
                "configuration store unavailable, nothing was changed: {m}"
            )),
            StoreError::NothingToDelete(k) => {
                ConfigError::NotFound(format!("No configuration stored for {k}"))
            }
            StoreError::Invalid(errors) => ConfigError::Validation(errors),
            StoreError::RateLimited(d) => ConfigError::RateLimited(d),
            StoreError::Other(m) => ConfigError::Internal(m),
        }
    }
}

/// Where one effective value came from.
pub type Provenance = Map<String, Value>;

/// The effective configuration of a (strategy, symbol).
#[derive(Debug, Clone)]
pub struct Effective {
    /// Merged parameters (complete).
    pub parameters: Value,
    /// Per field: `default`, `env`, `global` or `symbol`.
    pub provenance: Provenance,
    /// Version of the most specific stored override (0 if none).
    pub version: u64,
    /// `mongodb`/`embedded` (an override applies), `environment` or `default`.
    pub source: String,
    /// Whether a symbol override applies.
    pub is_override: bool,
    /// Creation time of the most specific override.
    pub created_at: Option<String>,
    /// Update time of the most specific override.
    pub updated_at: Option<String>,
    /// Version of the global override, if any.
    pub global_version: Option<u64>,
    /// Version of the symbol override, if any.
    pub symbol_version: Option<u64>,
    /// Stored overrides of this key that do not fit the strategy and do not run, with their validation errors.
    pub invalid_overrides: Vec<Value>,
}

struct StoreStatus {
    available: AtomicBool,
    loaded: AtomicBool,
    last_load_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
}

/// Owns the layers of every strategy's parameters.
pub struct ConfigService {
    registry: Arc<Registry>,
    env: BTreeMap<&'static str, Map<String, Value>>,
    commands: mpsc::UnboundedSender<PipelineCommand>,
    store: Arc<dyn ConfigStore>,
    snapshot: RwLock<BTreeMap<String, StrategyDocs>>,
    /// Serializes reloads (writes are ordered per key by `key_locks`).
    write_lock: tokio::sync::Mutex<()>,
    /// One lock per (strategy, symbol): writes to one key are ordered, other keys proceed.
    key_locks: crate::config::key_lock::KeyLocks,
    /// Held while the snapshot is updated and the new parameters are pushed (no await inside).
    install_lock: Mutex<()>,
    /// Counts installed writes, so a reload that raced with a write is redone instead of installing older data.
    installs: AtomicU64,
    /// Counts store failures, so writes queued behind a failing one answer at once instead of trying again.
    outages: AtomicU64,
    /// Versions seen per key, to detect a store that went backwards.
    versions: crate::config::regression::VersionWatch,
    /// `realtime_config_invalid_overrides{strategy_id}`: stored overrides that do not fit their strategy.
    invalid_overrides: prometheus::IntGaugeVec,
    status: StoreStatus,
    cache_ttl: Duration,
    instance: String,
    nats: OnceLock<(async_nats::Client, String)>,
    rate_limits: RateLimits,
    host: Arc<HostTable>,
    changes: tokio::sync::broadcast::Sender<KeyChanged>,
}

/// A key whose stored override this replica now applies (sent after every install that changed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChanged {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `None` for the global override.
    pub symbol: Option<String>,
    /// Version now applied (0: no stored override, env/defaults).
    pub version: u64,
}

/// A change event broadcast to every replica.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChangeEvent {
    strategy_id: String,
    symbol: Option<String>,
    version: u64,
    action: String,
    origin: String,
}

impl ConfigService {
    /// Reads the environment layer of every strategy (fails on a variable that does not fit its parameter).
    pub fn new(
        registry: Arc<Registry>,
        env: &dyn Fn(&str) -> Option<String>,
        commands: mpsc::UnboundedSender<PipelineCommand>,
        store: Arc<dyn ConfigStore>,
        cache_ttl: Duration,
    ) -> Result<Self, EnvError> {
        let mut layers = BTreeMap::new();
        for s in registry.strategies() {
            let mut layer = env_layer(s, env)?;
            layer.extend(crate::host_params::env_layer(s.descriptor, env));
            layers.insert(s.id(), layer);
        }
        Ok(Self {
            registry,
            env: layers,
            commands,
            store,
            snapshot: RwLock::new(BTreeMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
            key_locks: Default::default(),
            install_lock: Mutex::new(()),
            installs: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            versions: Default::default(),
            invalid_overrides: invalid_overrides_gauge(),
            status: StoreStatus {
                available: AtomicBool::new(false),
                loaded: AtomicBool::new(false),
                last_load_ms: AtomicI64::new(0),
                last_error: Mutex::new(None),
            },
            cache_ttl: cache_ttl.max(Duration::from_secs(1)),
            instance: uuid::Uuid::new_v4().to_string(),
            nats: OnceLock::new(),
            rate_limits: RateLimits {
                per_agent: 0,
                cooldown_seconds: 0,
                global: 0,
            },
            host: Arc::new(HostTable::new()),
            changes: tokio::sync::broadcast::channel(1024).0,
        })
    }

    /// Every key whose applied override changes from now on.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<KeyChanged> {
        self.changes.subscribe()
    }

    /// The version of the stored override this replica applies per strategy and scope (`global` or a symbol);
    /// strategies without stored overrides are absent.
    pub fn applied_versions(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.snapshot
            .read()
            .iter()
            .map(|(id, docs)| {
                let mut scopes = BTreeMap::new();
                if let Some(g) = &docs.global {
                    scopes.insert("global".to_owned(), g.version);
                }
                for (sym, d) in &docs.symbols {
                    scopes.insert(sym.clone(), d.version);
                }
                (id.clone(), scopes)
            })
            .collect()
    }

    /// The instance id this replica announces itself with.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The effective host-level parameters (`enabled`, risk overrides) of every strategy and symbol, kept current
    /// with every configuration change.
    pub fn host_table(&self) -> Arc<HostTable> {
        self.host.clone()
    }

    /// Enforces the write rate limit on every change (off until this is called).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// The store's kind (`mongodb` or `embedded`).
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    fn lookup(&self, id: &str) -> Result<&RegisteredStrategy, ConfigError> {
        self.registry
            .get(id)
            .ok_or_else(|| ConfigError::NotFound(format!("Strategy not found: {id}")))
    }

    fn note<T>(&self, r: &Result<T, StoreError>) {
        match r {
            Ok(_) => {
                if !self.status.available.swap(true, Ordering::Relaxed) {
                    tracing::info!(store = self.store.kind(), "configuration store available");
                }
                *self.status.last_error.lock() = None;
            }
            Err(StoreError::Unavailable(m)) => {
                self.outages.fetch_add(1, Ordering::Relaxed);
                if self.status.available.swap(false, Ordering::Relaxed) {
                    tracing::warn!(store = self.store.kind(), error = %m, "configuration store unavailable; serving the last known config");
                }
                *self.status.last_error.lock() = Some(m.clone());
            }
            Err(_) => {}
        }
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

    /// Whether a global override exists and which symbols have overrides (from the last known config).
    pub async fn override_summary(&self, id: &str) -> (bool, Vec<String>) {
        let snap = self.snapshot.read();
        match snap.get(id) {
            Some(d) => (d.global.is_some(), d.symbols.keys().cloned().collect()),
            None => (false, Vec::new()),
        }
    }

    /// Effective parameters with `global` and `symbol` layers given explicitly, plus provenance.
    fn merge(
        &self,
        s: &RegisteredStrategy,
        global: Option<&Map<String, Value>>,
        symbol: Option<&Map<String, Value>>,
    ) -> (Value, Provenance) {
        // A stored layer that no longer fits the strategy does not run: the layer below applies.
        let env = self.env.get(s.id());
        let (global, symbol) = crate::config::validity::runnable(s, env, global, symbol);
        merge_layers(s, env, global, symbol)
    }

    /// The effective configuration of a strategy (and symbol) from the last known overrides.
    pub fn effective(&self, id: &str, symbol: Option<&str>) -> Result<Effective, ConfigError> {
        let s = self.lookup(id)?;
        let snap = self.snapshot.read();
        let docs = snap.get(id);
        let env = self.env.get(id);
        let stored_global = docs.and_then(|d| d.global.as_ref());
        let stored_sym = symbol.and_then(|sym| docs.and_then(|d| d.symbols.get(sym)));
        let (runs_global, runs_sym) = crate::config::validity::runnable(
            s,
            env,
            stored_global.map(|g| &g.parameters),
            stored_sym.map(|d| &d.parameters),
        );
        let global = stored_global.filter(|_| runs_global.is_some());
        let sym = stored_sym.filter(|_| runs_sym.is_some());
        let mut invalid = Vec::new();
        if let Some(g) = stored_global.filter(|_| runs_global.is_none()) {
            let errors = crate::config::validity::layer_errors(s, env, None, &g.parameters, false);
            invalid.push(crate::config::validity::invalid_doc(
                None,
                g.version,
                &g.parameters,
                &errors,
            ));
        }
        if let Some(d) = stored_sym.filter(|_| runs_sym.is_none()) {
            let errors =
                crate::config::validity::layer_errors(s, env, runs_global, &d.parameters, true);
            invalid.push(crate::config::validity::invalid_doc(
                symbol,
                d.version,
                &d.parameters,
                &errors,
            ));
        }
        let (parameters, provenance) = merge_layers(s, env, runs_global, runs_sym);
        let top: Option<&ConfigDoc> = sym.or(global);
        let source = match top {
            Some(_) => self.store.kind().to_owned(),
            None if self.env.get(id).is_some_and(|e| !e.is_empty()) => "environment".into(),
            None => "default".into(),
        };
        Ok(Effective {
            parameters,
            provenance,
            version: top.map_or(0, |d| d.version),
            source,
            is_override: sym.is_some(),
            created_at: top.map(|d| iso(d.created_at_ms)),
            updated_at: top.map(|d| iso(d.updated_at_ms)),
            global_version: global.map(|d| d.version),
            symbol_version: sym.map(|d| d.version),
            invalid_overrides: invalid,
        })
    }

    /// Whether the stored override of `(id, symbol)` exists and does not fit the strategy (it does not run).
    fn stored_layer_invalid(&self, s: &RegisteredStrategy, symbol: Option<&str>) -> bool {
        let snap = self.snapshot.read();
        let Some(docs) = snap.get(s.id()) else {
            return false;
        };
        crate::config::validity::invalid_layers(s, self.env.get(s.id()), docs)
            .iter()
            .any(|(sym, _)| sym.as_deref() == symbol)
    }

    /// Validates an override for a key without storing it: the partial document against the schema, the merged
    /// result against the schema and the strategy's rules, and (for a global override) the merged result of every
    /// stored symbol override on top of it.
    pub fn validate(
        &self,
        id: &str,
        symbol: Option<&str>,
        params: &Map<String, Value>,
    ) -> Result<Vec<FieldError>, ConfigError> {
        let s = self.lookup(id)?;
        let mut params = params.clone();
        normalize_integers(s, &mut params);
        let snap = self.snapshot.read();
        let docs = snap.get(id).cloned().unwrap_or_default();
        Ok(validate_layer(s, self.env.get(id), &docs, symbol, &params))
    }

    /// The last known stored override of `(id, symbol)` with `patch` merged into it (RFC 7396), for `validate_only`.
    pub fn merged_layer(
        &self,
        id: &str,
        symbol: Option<&str>,
        patch: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ConfigError> {
        self.lookup(id)?;
        let snap = self.snapshot.read();
        let docs = snap.get(id);
        let stored = match symbol {
            Some(sym) => docs.and_then(|d| d.symbols.get(sym)),
            None => docs.and_then(|d| d.global.as_ref()),
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

    /// A check of a complete layer for `(id, symbol)` that the store runs inside the change's transaction (merge
    /// writes), against the last known overrides of the strategy's other keys.
    fn layer_check(&self, id: &str, symbol: Option<&str>) -> LayerCheck {
        let registry = self.registry.clone();
        let env = self.env.get(id).cloned();
        let docs = self.snapshot.read().get(id).cloned().unwrap_or_default();
        let id = id.to_owned();
        let symbol = symbol.map(str::to_owned);
        Arc::new(move |layer: &Map<String, Value>| {
            let Some(s) = registry.get(&id) else {
                return Ok(());
            };
            let errors = validate_layer(s, env.as_ref(), &docs, symbol.as_deref(), layer);
            if errors.is_empty() {
                Ok(())
            } else {
                Err(errors)
            }
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
        let mutation = match mode {
            WriteMode::Replace => {
                let errors = self.validate(id, symbol, &params)?;
                if !errors.is_empty() {
                    return Err(ConfigError::Validation(errors));
                }
                Mutation::Set(params)
            }
            // A stored layer that does not fit the strategy is replaced, not merged into.
            WriteMode::Merge if self.stored_layer_invalid(s, symbol) => {
                params.retain(|_, v| !v.is_null());
                require_parameters(&params).map_err(ConfigError::Validation)?;
                let errors = self.validate(id, symbol, &params)?;
                if !errors.is_empty() {
                    return Err(ConfigError::Validation(errors));
                }
                Mutation::Set(params)
            }
            WriteMode::Merge => {
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
                    check: self.layer_check(id, symbol),
                }
            }
        };
        let rate_limit = self.rate_limits.for_writer(&writer.changed_by);
        self.change(Change {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            mutation,
            changed_by: writer.changed_by,
            reason: writer.reason,
            operation: "set",
            issuer: writer.issuer,
            rate_limit,
        })
        .await
    }

    /// Validates and stores an override (`operation`: `set`, `rollback` or `restore`).
    pub async fn set(
        &self,
        id: &str,
        symbol: Option<&str>,
        params: Map<String, Value>,
        writer: Writer,
        operation: &'static str,
    ) -> Result<Applied, ConfigError> {
        let errors = self.validate(id, symbol, &params)?;
        if !errors.is_empty() {
            return Err(ConfigError::Validation(errors));
        }
        let mut params = params;
        if let Some(s) = self.registry.get(id) {
            normalize_integers(s, &mut params);
        }
        let rate_limit = self.rate_limits.for_writer(&writer.changed_by);
        self.change(Change {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            mutation: Mutation::Set(params),
            changed_by: writer.changed_by,
            reason: writer.reason,
            operation,
            issuer: writer.issuer,
            rate_limit,
        })
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
        let rate_limit = self.rate_limits.for_writer(&writer.changed_by);
        self.change(Change {
            strategy_id: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            mutation: Mutation::Delete,
            changed_by: writer.changed_by,
            reason: writer.reason,
            operation: "delete",
            issuer: writer.issuer,
            rate_limit,
        })
        .await
    }

    /// Version of the most specific stored override in force for `(id, symbol)` (0: none).
    pub fn version_of(&self, id: &str, symbol: &str) -> u64 {
        let snap = self.snapshot.read();
        snap.get(id)
            .and_then(|d| d.symbols.get(symbol).or(d.global.as_ref()))
            .map_or(0, |d| d.version)
    }

    async fn change(&self, change: Change) -> Result<Applied, ConfigError> {
        use tracing::Instrument;
        let span = tracing::info_span!(
            target: "otel",
            "config.change",
            strategy = %change.strategy_id,
            symbol = change.symbol.as_deref().unwrap_or("global"),
            operation = change.operation,
            changed_by = %change.changed_by,
            issuer = change.issuer.as_deref().unwrap_or(""),
        );
        self.change_inner(change).instrument(span).await
    }

    async fn change_inner(&self, change: Change) -> Result<Applied, ConfigError> {
        let key = crate::config::store::key_name(&change.strategy_id, change.symbol.as_deref());
        // Writes to one key are ordered; other keys do not wait. A write queued behind one that found the store
        // down answers at once (the outage was just seen), so n queued writes take one timeout, not n.
        let outages = self.outages.load(Ordering::Relaxed);
        let _guard = self.key_locks.lock(&key).await;
        if self.outages.load(Ordering::Relaxed) != outages && !self.store_available() {
            let why = self.status.last_error.lock().clone().unwrap_or_default();
            return Err(StoreError::Unavailable(why).into());
        }
        let result = self.store.apply(change).await;
        self.note(&result);
        let applied = result?;
        self.install_applied(&applied);
        drop(_guard);
        self.broadcast(&applied.audit).await;
        Ok(applied)
    }

    /// Puts a stored change into the snapshot (unless a reload already brought a newer version of its key).
    fn install_applied(&self, applied: &Applied) {
        let id = &applied.audit.strategy_id;
        let symbol = applied.audit.symbol.as_deref();
        self.versions.applied(id, symbol, applied.audit.version);
        let _install = self.install_lock.lock();
        let mut docs = self.snapshot.read().get(id).cloned().unwrap_or_default();
        let current = match symbol {
            Some(s) => docs.symbols.get(s),
            None => docs.global.as_ref(),
        };
        if current.is_some_and(|d| d.version > applied.audit.version) {
            return;
        }
        match (&applied.doc, symbol) {
            (Some(d), Some(s)) => {
                docs.symbols.insert(s.to_owned(), d.clone());
            }
            (Some(d), None) => docs.global = Some(d.clone()),
            (None, Some(s)) => {
                docs.symbols.remove(s);
            }
            (None, None) => docs.global = None,
        }
        self.install(id, docs);
        self.installs.fetch_add(1, Ordering::Relaxed);
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
            let record = self.timed_audit_by_id(rid).await?;
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

    async fn timed_audit_by_id(&self, rid: &str) -> Result<Option<AuditRecord>, ConfigError> {
        let r = self.store.audit_by_id(rid).await;
        self.note(&r);
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
        self.note(&r);
        Ok(r?)
    }

    /// Reloads every override from the store and applies what changed.
    pub async fn refresh(&self) -> Result<(), ConfigError> {
        let _guard = self.write_lock.lock().await;
        for attempt in 1..=3 {
            let installs = self.installs.load(Ordering::Relaxed);
            let r = self.store.load_all().await;
            self.note(&r);
            let all = r?;
            self.status.loaded.store(true, Ordering::Relaxed);
            self.status.last_load_ms.store(now_ms(), Ordering::Relaxed);
            let _install = self.install_lock.lock();
            // A write installed meanwhile may be missing from what was read: read again (last try: install).
            if self.installs.load(Ordering::Relaxed) != installs && attempt < 3 {
                continue;
            }
            self.versions.loaded(&all);
            let ids: Vec<String> = {
                let snap = self.snapshot.read();
                snap.keys().chain(all.keys()).cloned().collect()
            };
            for id in ids {
                let docs = all.get(&id).cloned().unwrap_or_default();
                self.install(&id, docs);
            }
            break;
        }
        Ok(())
    }

    /// Reloads one strategy's overrides from the store.
    pub async fn reload_strategy(&self, id: &str) -> Result<(), ConfigError> {
        let _guard = self.write_lock.lock().await;
        for attempt in 1..=3 {
            let installs = self.installs.load(Ordering::Relaxed);
            let r = self.store.load_strategy(id).await;
            self.note(&r);
            let docs = r?;
            let _install = self.install_lock.lock();
            if self.installs.load(Ordering::Relaxed) != installs && attempt < 3 {
                continue;
            }
            let id = id.to_owned();
            self.versions.loaded([(&id, &docs)]);
            self.install(&id, docs);
            break;
        }
        Ok(())
    }

    /// Registers the configuration service's metrics (store regressions).
    pub fn register_metrics(&self, registry: &prometheus::Registry) {
        if let Err(e) = registry.register(Box::new(self.versions.regressions.clone())) {
            tracing::warn!(error = %e, "configuration metrics not registered");
        }
        if let Err(e) = registry.register(Box::new(self.invalid_overrides.clone())) {
            tracing::warn!(error = %e, "configuration metrics not registered");
        }
        for s in self.registry.strategies() {
            self.invalid_overrides.with_label_values(&[s.id()]);
        }
    }

    /// Start-up: creates indexes and loads every override. A store that is down is reported, not fatal.
    pub async fn load_initial(&self) -> bool {
        let init = self.store.init().await;
        self.note(&init);
        if let Err(e) = init {
            tracing::warn!(error = %e, "configuration store not initialised; using env/defaults until it answers");
            return false;
        }
        match self.refresh().await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "configuration not loaded; using env/defaults until the store answers");
                false
            }
        }
    }

    /// Replaces a strategy's snapshot and pushes every changed effective parameter set to the processing path.
    fn install(&self, id: &str, new: StrategyDocs) {
        let Some(s) = self.registry.get(id) else {
            return;
        };
        let old = {
            let mut snap = self.snapshot.write();
            let old = snap.get(id).cloned().unwrap_or_default();
            if new.global.is_none() && new.symbols.is_empty() {
                snap.remove(id);
            } else {
                snap.insert(id.to_owned(), new.clone());
            }
            old
        };
        if old == new {
            return;
        }
        self.note_invalid(s, &new);
        let global_changed = old.global != new.global;
        let changed = |symbol: Option<&String>, doc: Option<&ConfigDoc>| KeyChanged {
            strategy_id: id.to_owned(),
            symbol: symbol.cloned(),
            version: doc.map_or(0, |d| d.version),
        };
        if global_changed {
            let _ = self.changes.send(changed(None, new.global.as_ref()));
        }
        for (sym, d) in &new.symbols {
            if old.symbols.get(sym) != Some(d) {
                let _ = self.changes.send(changed(Some(sym), Some(d)));
            }
        }
        for sym in old.symbols.keys() {
            if !new.symbols.contains_key(sym) {
                let _ = self.changes.send(changed(Some(sym), None));
            }
        }
        let global = new.global.as_ref().map(|g| &g.parameters);
        if global_changed {
            self.push(s, None, global, None);
        }
        for (sym, d) in &new.symbols {
            if global_changed || old.symbols.get(sym) != Some(d) {
                self.push(s, Some(sym), global, Some(&d.parameters));
            }
        }
        for sym in old.symbols.keys() {
            if !new.symbols.contains_key(sym) {
                self.host.set(id, Some(sym), None);
                let _ = self.commands.send(PipelineCommand::Params {
                    strategy: id.to_owned(),
                    symbol: Some(sym.clone()),
                    params: None,
                });
            }
        }
    }

    /// Counts and logs the stored overrides of a strategy that do not fit it (they do not run).
    fn note_invalid(&self, s: &RegisteredStrategy, docs: &StrategyDocs) {
        let invalid = crate::config::validity::invalid_layers(s, self.env.get(s.id()), docs);
        let gauge = self.invalid_overrides.with_label_values(&[s.id()]);
        #[allow(clippy::cast_possible_wrap)]
        gauge.set(invalid.len() as i64);
        for (symbol, errors) in invalid {
            tracing::warn!(
                strategy = s.id(),
                symbol = symbol.as_deref().unwrap_or("global"),
                errors = %errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
                "stored configuration override does not fit the strategy: not applied (the layer below is); the next write replaces it"
            );
        }
    }

    fn push(
        &self,
        s: &RegisteredStrategy,
        symbol: Option<&str>,
        global: Option<&Map<String, Value>>,
        sym: Option<&Map<String, Value>>,
    ) {
        let (merged, _) = self.merge(s, global, sym);
        match s.check_complete(&merged) {
            Ok(params) => {
                self.host
                    .set(s.id(), symbol, Some(HostParams::from_doc(&merged)));
                let _ = self.commands.send(PipelineCommand::Params {
                    strategy: s.id().to_owned(),
                    symbol: symbol.map(str::to_owned),
                    params: Some(ParamsHandle(params)),
                });
            }
            Err(errors) => tracing::error!(
                strategy = s.id(),
                symbol = ?symbol,
                ?errors,
                "stored configuration is invalid for this version; the running parameters are kept"
            ),
        }
    }

    /// Pushes every strategy's effective parameters (global and per symbol) to the processing path (start-up).
    pub fn push_all(&self) -> Result<(), String> {
        let snap = self.snapshot.read().clone();
        for s in self.registry.strategies() {
            let docs = snap.get(s.id());
            let global = docs.and_then(|d| d.global.as_ref()).map(|g| &g.parameters);
            let (doc, _) = self.merge(s, global, None);
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
            });
            let params = match (params, global) {
                (Ok(p), _) => {
                    self.host
                        .set(s.id(), None, Some(HostParams::from_doc(&doc)));
                    p
                }
                // A stored override that no longer validates must not stop the host: fall back to env/defaults.
                (Err(e), Some(_)) => {
                    tracing::error!(error = %e, "ignoring the stored global override");
                    let (doc, _) = self.merge(s, None, None);
                    let p = s.check_complete(&doc).map_err(|_| e)?;
                    self.host
                        .set(s.id(), None, Some(HostParams::from_doc(&doc)));
                    p
                }
                (Err(e), None) => return Err(e),
            };
            let _ = self.commands.send(PipelineCommand::Params {
                strategy: s.id().to_owned(),
                symbol: None,
                params: Some(ParamsHandle(params)),
            });
            for (sym, d) in docs.map(|d| &d.symbols).into_iter().flatten() {
                self.push(s, Some(sym), global, Some(&d.parameters));
            }
        }
        Ok(())
    }

    /// Store status for `/ready` and `/info`.
    pub fn store_status(&self) -> Value {
        let available = self.status.available.load(Ordering::Relaxed);
        let loaded = self.status.loaded.load(Ordering::Relaxed);
        let last = self.status.last_load_ms.load(Ordering::Relaxed);
        json!({
            "kind": self.store.kind(),
            "location": self.store.location(),
            "available": available,
            "loaded": loaded,
            "last_loaded_at": (last > 0).then(|| iso(last)),
            "last_error": self.status.last_error.lock().clone(),
            "serving": if available { "store" } else if loaded { "last known config (store unavailable)" } else { "environment and defaults (store unavailable)" },
            "writes": if available { "accepted" } else { "rejected with 503 until the store answers" },
            "cache_ttl_seconds": self.cache_ttl.as_secs(),
            "change_events": self.nats.get().map(|(_, subject)| subject.clone()),
            "regressions": self.versions.total(),
        })
    }

    /// Whether the store answered the last operation.
    pub fn store_available(&self) -> bool {
        self.status.available.load(Ordering::Relaxed)
    }

    /// Periodic work: reload every cache TTL, and probe every second while the store is down.
    pub fn spawn_background(
        self: &Arc<Self>,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_full = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                let due = last_full.elapsed() >= me.cache_ttl;
                if due || !me.store_available() || !me.status.loaded.load(Ordering::Relaxed) {
                    if !me.status.loaded.load(Ordering::Relaxed) {
                        let init = me.store.init().await;
                        me.note(&init);
                    }
                    let refreshed = me.refresh().await.is_ok();
                    if refreshed || due {
                        last_full = tokio::time::Instant::now();
                    }
                }
            }
        })
    }

    /// Publishes change events on `subject` and reloads a strategy when another replica announces a change.
    pub async fn attach_nats(
        self: &Arc<Self>,
        client: async_nats::Client,
        subject: String,
    ) -> Result<JoinHandle<()>, String> {
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.nats.set((client, subject));
        let me = self.clone();
        Ok(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Ok(event) = serde_json::from_slice::<ChangeEvent>(&msg.payload) else {
                    tracing::warn!("ignoring a malformed configuration change event");
                    continue;
                };
                if event.origin == me.instance {
                    continue;
                }
                tracing::debug!(strategy = %event.strategy_id, version = event.version, "configuration changed on another replica");
                if let Err(e) = me.reload_strategy(&event.strategy_id).await {
                    tracing::warn!(error = %e, strategy = %event.strategy_id, "reload after a change event failed; the periodic reload will retry");
                }
            }
        }))
    }

    async fn broadcast(&self, audit: &AuditRecord) {
        let Some((client, subject)) = self.nats.get() else {
            return;
        };
        let event = ChangeEvent {
            strategy_id: audit.strategy_id.clone(),
            symbol: audit.symbol.clone(),
            version: audit.version,
            action: audit.action.clone(),
            origin: self.instance.clone(),
        };
        let Ok(payload) = serde_json::to_vec(&event) else {
            return;
        };
        if let Err(e) = client.publish(subject.clone(), payload.into()).await {
            tracing::warn!(error = %e, "configuration change event not published; replicas catch up on their periodic reload");
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
    }
}

#[allow(clippy::expect_used)]
fn invalid_overrides_gauge() -> prometheus::IntGaugeVec {
    prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "realtime_config_invalid_overrides",
            "Stored configuration overrides that do not fit their strategy and do not run (the layer below applies)",
        ),
        &["strategy_id"],
    )
    .expect("static metric")
}

/// Defaults ← env ← global ← symbol, field by field, with the layer each effective value came from.
fn merge_layers(
    s: &RegisteredStrategy,
    env: Option<&Map<String, Value>>,
    global: Option<&Map<String, Value>>,
    symbol: Option<&Map<String, Value>>,
) -> (Value, Provenance) {
    crate::config::validity::merge_layers(s, env, global, symbol)
}

/// Every problem of `params` as the override of `(strategy, symbol)`: the layer against the schema, the merged
/// result against the schema and rules, and for a global layer each stored symbol override merged on top of it.
fn validate_layer(
    s: &RegisteredStrategy,
    env: Option<&Map<String, Value>>,
    docs: &StrategyDocs,
    symbol: Option<&str>,
    params: &Map<String, Value>,
) -> Vec<FieldError> {
    let mut errors = s.check_schema(&Value::Object(params.clone()));
    // The global layer that runs (a stored one that does not fit the strategy does not count).
    let (stored_global, _) = crate::config::validity::runnable(
        s,
        env,
        docs.global.as_ref().map(|g| &g.parameters),
        None,
    );
    let mut push = |errs: Vec<FieldError>, context: Option<&str>| {
        for mut e in errs {
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
    };
    match symbol {
        Some(_) => {
            let (merged, _) = merge_layers(s, env, stored_global, Some(params));
            if let Err(errs) = s.check_complete(&merged) {
                push(errs, None);
            }
        }
        None => {
            let (merged, _) = merge_layers(s, env, Some(params), None);
            if let Err(errs) = s.check_complete(&merged) {
                push(errs, None);
            }
            for (sym, d) in &docs.symbols {
                // A symbol override that does not run today is not protected by refusing this write.
                if !crate::config::validity::layer_errors(
                    s,
                    env,
                    stored_global,
                    &d.parameters,
                    true,
                )
                .is_empty()
                {
                    continue;
                }
                let (merged, _) = merge_layers(s, env, Some(params), Some(&d.parameters));
                if let Err(errs) = s.check_complete(&merged) {
                    push(errs, Some(sym));
                }
            }
        }
    }
    errors
}
