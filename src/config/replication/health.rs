//! Whether the configuration store answers, when it last loaded, and whether it went backwards: what `/ready` and
//! `/info` report and what tells writes queued behind a failing one to answer at once.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Serialize;

use crate::config::regression::VersionWatch;
use crate::config::store::{iso, now_ms, ConfigStore, StoreError};

/// The store's health as seen by this replica.
pub struct StoreHealth {
    store: Arc<dyn ConfigStore>,
    available: AtomicBool,
    loaded: AtomicBool,
    last_load_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    /// Counts store failures, so writes queued behind a failing one answer at once instead of trying again.
    outages: AtomicU64,
    /// Versions seen per key, to detect a store that went backwards.
    pub versions: VersionWatch,
}

impl StoreHealth {
    /// Health of `store`, unknown until its first answer.
    pub fn new(store: Arc<dyn ConfigStore>) -> Self {
        Self {
            store,
            available: AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            last_load_ms: AtomicI64::new(0),
            last_error: Mutex::new(None),
            outages: AtomicU64::new(0),
            versions: VersionWatch::default(),
        }
    }

    /// Records the outcome of a store operation (only unavailability counts against the store).
    pub fn note<T>(&self, r: &Result<T, StoreError>) {
        match r {
            Ok(_) => {
                if !self.available.swap(true, Ordering::Relaxed) {
                    tracing::info!(store = self.store.kind(), "configuration store available");
                }
                *self.last_error.lock() = None;
            }
            Err(StoreError::Unavailable(m)) => {
                self.outages.fetch_add(1, Ordering::Relaxed);
                if self.available.swap(false, Ordering::Relaxed) {
                    tracing::warn!(store = self.store.kind(), error = %m, "configuration store unavailable; serving the last known config");
                }
                *self.last_error.lock() = Some(m.clone());
            }
            Err(_) => {}
        }
    }

    /// A full load succeeded now.
    pub fn mark_loaded(&self) {
        self.loaded.store(true, Ordering::Relaxed);
        self.last_load_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// Whether the store answered the last operation.
    pub fn available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Whether the overrides were loaded at least once.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    /// Store failures so far.
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// The last failure's message.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// The status document of `/ready` and `/info`.
    pub fn status(&self, cache_ttl: Duration, change_events: Option<String>) -> StoreStatus {
        let available = self.available();
        let loaded = self.loaded();
        let last = self.last_load_ms.load(Ordering::Relaxed);
        StoreStatus {
            kind: self.store.kind(),
            location: self.store.location(),
            available,
            loaded,
            last_loaded_at: (last > 0).then(|| iso(last)),
            last_error: self.last_error(),
            serving: if available {
                "store"
            } else if loaded {
                "last known config (store unavailable)"
            } else {
                "environment and defaults (store unavailable)"
            },
            writes: if available {
                "accepted"
            } else {
                "rejected with 503 until the store answers"
            },
            cache_ttl_seconds: cache_ttl.as_secs(),
            change_events,
            regressions: self.versions.total(),
        }
    }
}

/// The configuration store as this replica sees it (`config_store` of `/ready` and `/info`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StoreStatus {
    /// `mongodb` or `embedded`.
    #[schemars(extend("enum" = ["mongodb", "embedded"]))]
    pub kind: &'static str,
    /// Where it is: the embedded store's file path, or `database <name>` for MongoDB (no URI, so no credentials).
    pub location: String,
    /// Whether the store answered the last operation.
    pub available: bool,
    /// Whether the stored overrides were loaded at least once since the start.
    pub loaded: bool,
    /// When the last full load succeeded (ISO-8601 UTC); `null` before the first.
    pub last_loaded_at: Option<String>,
    /// Message of the last store failure; `null` while the store answers.
    pub last_error: Option<String>,
    /// What reads serve: `store`, `last known config (store unavailable)` or `environment and defaults (store
    /// unavailable)`.
    pub serving: &'static str,
    /// Whether configuration writes are `accepted`, or `rejected with 503 until the store answers`.
    pub writes: &'static str,
    /// Seconds between periodic reloads of the stored overrides (`CONFIG_CACHE_TTL_SECONDS`).
    pub cache_ttl_seconds: u64,
    /// NATS subject of configuration change events between replicas; `null` without NATS.
    pub change_events: Option<String>,
    /// Times the store answered an older version of a key than this replica had already seen (load and write).
    pub regressions: u64,
}
