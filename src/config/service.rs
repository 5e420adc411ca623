//! The configuration service: effective parameters per strategy and symbol, validated writes through the store,
//! and their propagation to the processing path and to every other replica. It composes four rooms:
//!
//! - [`layers`](crate::config::layers): defaults ← env ← global ← symbol, provenance and validation;
//! - [`snapshot`](crate::config::snapshot): the last known overrides, resolved, turned into parameter updates for
//!   the pipeline;
//! - [`replication`](crate::config::replication): reloads, change events between replicas, store health;
//! - [`writes`](crate::config::writes): writes, deletes, rollbacks and the audit trail.
//!
//! It builds the rooms and keeps what needs more than one of them (the effective configuration, the store status,
//! metrics); callers reach a room's own operations through its handle ([`ConfigService::writes`],
//! [`ConfigService::replication`], [`ConfigService::snapshot`], [`ConfigService::layers`],
//! [`ConfigService::health`]; the API keeps them in its state) instead of through methods here that only pass the
//! call on.
//!
//! Reads never touch the store: they serve the snapshot, which is refreshed by local writes, by change events from
//! other replicas (NATS), by a periodic reload (the original's cache TTL) and by
//! `POST /api/v1/strategies/cache/refresh`. When the store is down the snapshot keeps serving (or env/defaults if
//! it was never loaded) and writes fail with [`ConfigError::Unavailable`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use strategy_sdk::FieldError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::layers::{EnvError, Layers};
use crate::config::rate_limit::{Denied, RateLimits};
use crate::config::replication::health::{StoreHealth, StoreStatus};
use crate::config::replication::Replication;
use crate::config::snapshot::Snapshot;
use crate::config::store::{ConfigStore, StoreError};
use crate::config::updates::PipelineCommand;
use crate::config::writes::WriteService;
use crate::host_params::HostTable;
use crate::registry::Registry;

pub use crate::config::layers::Provenance;
pub use crate::config::snapshot::{Effective, KeyChanged};

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

/// Owns the layers of every strategy's parameters.
pub struct ConfigService {
    layers: Arc<Layers>,
    store: Arc<dyn ConfigStore>,
    snapshot: Arc<Snapshot>,
    health: Arc<StoreHealth>,
    replication: Arc<Replication>,
    writes: Arc<WriteService>,
}

impl ConfigService {
    /// Reads the environment layer of every strategy (fails on a variable that does not fit its parameter);
    /// every change is held to `rate_limits`.
    pub fn new(
        registry: Arc<Registry>,
        env: &dyn Fn(&str) -> Option<String>,
        commands: mpsc::UnboundedSender<PipelineCommand>,
        store: Arc<dyn ConfigStore>,
        cache_ttl: Duration,
        rate_limits: RateLimits,
    ) -> Result<Self, EnvError> {
        let layers = Arc::new(Layers::new(registry, env)?);
        let snapshot = Arc::new(Snapshot::new(layers.clone(), commands));
        let health = Arc::new(StoreHealth::new(store.clone()));
        let replication = Arc::new(Replication::new(
            store.clone(),
            health.clone(),
            snapshot.clone(),
            cache_ttl,
        ));
        let writes = Arc::new(WriteService::new(
            layers.clone(),
            snapshot.clone(),
            store.clone(),
            health.clone(),
            replication.clone(),
            rate_limits,
        ));
        Ok(Self {
            layers,
            store,
            snapshot,
            health,
            replication,
            writes,
        })
    }

    /// The write room: writes, deletes, rollbacks, validation and the audit trail.
    pub fn writes(&self) -> &Arc<WriteService> {
        &self.writes
    }

    /// The replication room: reloads from the store (`cache/refresh`), change events between replicas.
    pub fn replication(&self) -> &Arc<Replication> {
        &self.replication
    }

    /// The snapshot room: the last known overrides, resolved.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// The layers room: defaults ← env of every strategy, provenance, validation.
    pub fn layers(&self) -> &Arc<Layers> {
        &self.layers
    }

    /// The store's health: whether it answers, when it last loaded.
    pub fn health(&self) -> &Arc<StoreHealth> {
        &self.health
    }

    /// Every key whose applied override changes from now on.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<KeyChanged> {
        self.snapshot.subscribe_changes()
    }

    /// The version of the stored override this replica applies per strategy and scope (`global` or a symbol);
    /// strategies without stored overrides are absent.
    pub fn applied_versions(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.snapshot.applied_versions()
    }

    /// The instance id this replica announces itself with.
    pub fn instance(&self) -> &str {
        self.replication.instance()
    }

    /// The effective host-level parameters (`enabled`, risk overrides) of every strategy and symbol, kept current
    /// with every configuration change.
    pub fn host_table(&self) -> Arc<HostTable> {
        self.snapshot.host_table()
    }

    /// The store's kind (`mongodb` or `embedded`).
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The effective configuration of a strategy (and symbol) from the last known overrides.
    pub fn effective(&self, id: &str, symbol: Option<&str>) -> Result<Effective, ConfigError> {
        let not_found = || ConfigError::NotFound(format!("Strategy not found: {id}"));
        let s = self.layers.strategy(id).ok_or_else(not_found)?;
        let base = self.layers.base(id).ok_or_else(not_found)?;
        Ok(self.snapshot.effective(s, base, symbol, self.store.kind()))
    }

    /// Version of the most specific stored override in force for `(id, symbol)` (0: none).
    pub fn version_of(&self, id: &str, symbol: &str) -> u64 {
        self.snapshot.version_of(id, symbol)
    }

    /// Registers the configuration service's metrics (store regressions, invalid overrides).
    pub fn register_metrics(&self, registry: &prometheus::Registry) {
        let gauge = self.snapshot.invalid_overrides_gauge();
        if let Err(e) = registry.register(Box::new(self.health.versions.regressions.clone())) {
            tracing::warn!(error = %e, "configuration metrics not registered");
        }
        if let Err(e) = registry.register(Box::new(gauge.clone())) {
            tracing::warn!(error = %e, "configuration metrics not registered");
        }
        for s in self.layers.registry().strategies() {
            gauge.with_label_values(&[s.id()]);
        }
    }

    /// Start-up: creates indexes and loads every override. A store that is down is reported, not fatal.
    pub async fn load_initial(&self) -> bool {
        self.replication.load_initial().await
    }

    /// Pushes every strategy's effective parameters (global and per symbol) to the processing path (start-up).
    /// Cannot fail any more (the environment layer is checked when the service is built); kept fallible for the
    /// host's start-up sequence.
    pub fn push_all(&self) -> Result<(), String> {
        self.snapshot.push_all();
        Ok(())
    }

    /// Store status for `/ready` and `/info`.
    pub fn store_status(&self) -> StoreStatus {
        self.health.status(
            self.replication.cache_ttl(),
            self.replication.change_subject(),
        )
    }

    /// Periodic work: reload every cache TTL, and probe every second while the store is down.
    pub fn spawn_background(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        self.replication.spawn_background(shutdown)
    }

    /// Publishes change events on `subject` and reloads a strategy when another replica announces a change.
    pub async fn attach_nats(
        &self,
        client: async_nats::Client,
        subject: String,
    ) -> Result<JoinHandle<()>, String> {
        self.replication.attach_nats(client, subject).await
    }
}
