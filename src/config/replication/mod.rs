//! Keeping this replica's configuration current with the store and with the other replicas: the start-up load, a
//! reload every cache TTL (every second while the store is down), change events on NATS after every local write,
//! and a reload of a strategy when another replica announces a change.

pub mod health;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::service::ConfigError;
use crate::config::snapshot::Snapshot;
use crate::config::store::{AuditRecord, ConfigStore, StoreError, StrategyDocs};
use health::StoreHealth;

/// A change event broadcast to every replica.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ChangeEvent {
    strategy_id: String,
    symbol: Option<String>,
    version: u64,
    action: String,
    origin: String,
}

/// How many times a reload reads again when a local write was installed while it read.
const RELOAD_ATTEMPTS: u32 = 3;

/// Reloads from the store and exchanges change events with the other replicas.
pub struct Replication {
    store: Arc<dyn ConfigStore>,
    health: Arc<StoreHealth>,
    snapshot: Arc<Snapshot>,
    /// Serializes reloads (writes are ordered per key by the write service).
    reload_lock: tokio::sync::Mutex<()>,
    cache_ttl: Duration,
    instance: String,
    nats: OnceLock<(async_nats::Client, String)>,
}

impl Replication {
    /// Replication of `store` into `snapshot`, reloading every `cache_ttl` (at least a second).
    pub fn new(
        store: Arc<dyn ConfigStore>,
        health: Arc<StoreHealth>,
        snapshot: Arc<Snapshot>,
        cache_ttl: Duration,
    ) -> Self {
        Self {
            store,
            health,
            snapshot,
            reload_lock: tokio::sync::Mutex::new(()),
            cache_ttl: cache_ttl.max(Duration::from_secs(1)),
            instance: uuid::Uuid::new_v4().to_string(),
            nats: OnceLock::new(),
        }
    }

    /// The instance id this replica announces itself with.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The reload period.
    pub fn cache_ttl(&self) -> Duration {
        self.cache_ttl
    }

    /// The NATS subject of change events, once attached.
    pub fn change_subject(&self) -> Option<String> {
        self.nats.get().map(|(_, subject)| subject.clone())
    }

    /// Start-up: creates indexes and loads every override. A store that is down is reported, not fatal.
    pub async fn load_initial(&self) -> bool {
        let init = self.store.init().await;
        self.health.note(&init);
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

    /// Reloads every override from the store and applies what changed.
    pub async fn refresh(&self) -> Result<(), ConfigError> {
        self.reload(true, || self.store.load_all()).await
    }

    /// Reloads one strategy's overrides from the store.
    pub async fn reload_strategy(&self, id: &str) -> Result<(), ConfigError> {
        self.reload(false, || async {
            let docs = self.store.load_strategy(id).await?;
            Ok(BTreeMap::from([(id.to_owned(), docs)]))
        })
        .await
    }

    /// Reads with `load` and installs what it read (`whole`: every strategy was read). A local write installed
    /// while reading may be missing from what was read: then it reads again (the last try installs anyway).
    async fn reload<F, R>(&self, whole: bool, load: F) -> Result<(), ConfigError>
    where
        F: Fn() -> R,
        R: Future<Output = Result<BTreeMap<String, StrategyDocs>, StoreError>>,
    {
        let _guard = self.reload_lock.lock().await;
        for attempt in 1..=RELOAD_ATTEMPTS {
            let installs = self.snapshot.installs();
            let r = load().await;
            self.health.note(&r);
            let loaded = r?;
            if whole {
                self.health.mark_loaded();
            }
            let last = attempt == RELOAD_ATTEMPTS;
            let installed = self
                .snapshot
                .install_loaded(loaded, whole, installs, last, |loaded| {
                    self.health.versions.loaded(loaded);
                });
            if installed {
                break;
            }
        }
        Ok(())
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
                if due || !me.health.available() || !me.health.loaded() {
                    if !me.health.loaded() {
                        let init = me.store.init().await;
                        me.health.note(&init);
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

    /// Tells the other replicas about a change this replica stored.
    pub async fn broadcast(&self, audit: &AuditRecord) {
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
