//! Live state shared between the processing task and the HTTP API (atomics and short-held locks only).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use serde::Serialize;
use strategy_sdk::DataStatus;
use tokio::sync::{broadcast, watch};

/// Where market data comes from.
#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    /// `nats` or `replay`.
    pub kind: &'static str,
    /// NATS URL or replay file.
    pub detail: String,
    /// Subscription mode (`queue_group`, `shard i/n`, `replay`).
    pub mode: String,
}

/// Status of one strategy as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyLive {
    /// Whether it runs.
    pub enabled: bool,
    /// Data availability.
    pub data: DataStatus,
}

/// Shared live state.
#[derive(Debug)]
pub struct LiveState {
    /// Process start.
    pub started: Instant,
    /// Data source.
    pub source: SourceInfo,
    /// True while the source is connected (replay: always).
    pub source_connected: AtomicBool,
    /// True once the registry is loaded and the pipeline runs.
    pub pipeline_running: AtomicBool,
    /// Latest event time processed (ms).
    pub last_event_time_ms: AtomicI64,
    /// Messages processed (all kinds).
    pub processed: AtomicU64,
    /// Signals published.
    pub signals: AtomicU64,
    /// Per-strategy status, refreshed by the processing task.
    pub strategies: RwLock<BTreeMap<&'static str, StrategyLive>>,
    /// Recently published signals as JSON (live feed; slow receivers lag and skip, never block).
    pub signal_feed: broadcast::Sender<Arc<str>>,
    /// Turns true when the host shuts down: live streams end so graceful HTTP shutdown does not wait on them.
    pub shutting_down: watch::Sender<bool>,
    /// Why processing stopped when it should not have (task panicked, input ended); `/healthz` and `/ready` fail
    /// with it so the orchestrator restarts the process.
    pub failure: RwLock<Option<String>>,
    /// Notes about the input shown in `/info` (e.g. a replay recording that had to be sorted).
    pub source_notes: RwLock<Vec<String>>,
    /// Host-level parameters (`enabled`, risk overrides) applied to every signal leaving the pipeline.
    pub host_params: Arc<crate::host_params::HostTable>,
    /// The live scorecard's scored signals (written by the processing task, read by the performance endpoint).
    pub scorecard: Arc<crate::scoring::live::ScorecardHistory>,
    /// The latest safeguard rollback (when, what), reported by the health verdict for 10 minutes.
    pub safeguard_note: RwLock<Option<(Instant, String)>>,
}

impl LiveState {
    /// New state for a source.
    pub fn new(source: SourceInfo) -> Self {
        let (signal_feed, _) = broadcast::channel(256);
        let (shutting_down, _) = watch::channel(false);
        Self {
            started: Instant::now(),
            source,
            source_connected: AtomicBool::new(false),
            pipeline_running: AtomicBool::new(false),
            last_event_time_ms: AtomicI64::new(0),
            processed: AtomicU64::new(0),
            signals: AtomicU64::new(0),
            strategies: RwLock::new(BTreeMap::new()),
            signal_feed,
            shutting_down,
            failure: RwLock::new(None),
            source_notes: RwLock::new(Vec::new()),
            host_params: Arc::new(crate::host_params::HostTable::new()),
            scorecard: Arc::new(crate::scoring::live::ScorecardHistory::new(
                crate::scoring::ScoreSettings::default(),
            )),
            safeguard_note: RwLock::new(None),
        }
    }

    /// Uses the configuration service's table of host-level parameters.
    pub fn with_host_params(mut self, table: Arc<crate::host_params::HostTable>) -> Self {
        self.host_params = table;
        self
    }

    /// Records that processing failed (the first reason wins) and logs it.
    pub fn fail(&self, reason: String) {
        tracing::error!(reason, "processing stopped: the host is unhealthy");
        let mut failure = self.failure.write();
        if failure.is_none() {
            *failure = Some(reason);
        }
    }

    /// Why processing failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure.read().clone()
    }

    /// Completes when the host starts shutting down.
    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutting_down.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Ready: pipeline running, source connected, no failure.
    pub fn ready(&self) -> bool {
        self.pipeline_running.load(Ordering::Relaxed)
            && self.source_connected.load(Ordering::Relaxed)
            && self.failure.read().is_none()
    }
}
