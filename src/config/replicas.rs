//! Which replica runs what: every replica reports the config version it applies per strategy and scope — in
//! `/info`, as `realtime_config_version_applied{strategy_id,scope}`, and on NATS (`<CONFIG_CHANGES_SUBJECT>.replicas`)
//! after every change it applies (an acknowledgement) and every 15 s. A writer waits up to `CONFIG_ACK_WAIT_MS` for
//! the acknowledgements of the replicas it knows and lists them in the write's response.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use parking_lot::RwLock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::config::service::{ConfigService, KeyChanged};
use crate::metrics::Metrics;

/// How often a replica reports itself without a change.
const REPORT_EVERY: Duration = Duration::from_secs(15);
/// A replica silent for this long is forgotten.
const PEER_TTL: Duration = Duration::from_secs(60);

/// Applied versions: strategy → scope (`global` or a symbol) → version.
pub type Versions = BTreeMap<String, BTreeMap<String, u64>>;

/// What one replica says about itself on NATS.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// Instance id (new at every start).
    pub replica: String,
    /// Host name (the pod's name in Kubernetes).
    pub hostname: String,
    /// Versions it applies.
    pub versions: Versions,
    /// The change this report acknowledges, if it follows one.
    #[serde(default)]
    pub ack: Option<Ack>,
}

/// An acknowledgement: this replica now applies `version` of `(strategy_id, symbol)` (0: no override).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `None` for the global override.
    pub symbol: Option<String>,
    /// Version applied.
    pub version: u64,
}

/// A replica as this one last heard of it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Peer {
    /// Instance id (new at every start).
    pub replica: String,
    /// Host name (the pod's name in Kubernetes; `unknown` without `HOSTNAME`).
    pub hostname: String,
    /// Whether it is the replica that answers.
    pub this_replica: bool,
    /// Seconds since its last report (0 for the replica that answers).
    pub seen_s_ago: f64,
    /// Stored override versions it applies: strategy id → scope (`global` or a symbol) → version.
    pub versions: Versions,
}

/// This replica, the configuration versions it applies and the replicas it heard from (`replica` of `/info`,
/// `data` of `GET /api/v1/replicas`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReplicaStatus {
    /// This replica's instance id (new at every start).
    pub id: String,
    /// Stored override versions this replica applies: strategy id → scope (`global` or a symbol) → version;
    /// strategies without stored overrides are absent.
    pub config_versions_applied: Versions,
    /// Every replica heard from in the last minute, this one first.
    pub replicas: Vec<Peer>,
    /// Whether every listed replica applies the same versions.
    pub all_replicas_same_version: bool,
}

/// Which replicas applied a configuration write within `CONFIG_ACK_WAIT_MS` (`metadata.replicas` of a write).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AckReport {
    /// Instance ids of the replicas that acknowledged the write's version (this one included).
    pub acknowledged_by: Vec<String>,
    /// Replicas heard from in the last minute, this one included.
    pub known_replicas: usize,
    /// Whether every known replica acknowledged.
    pub all_acknowledged: bool,
    /// Version of the stored override the acknowledgements are for (0: the override was removed).
    pub applied_version: u64,
}

struct Known {
    hostname: String,
    versions: Versions,
    seen: Instant,
}

/// This replica's reporting and its view of the others.
pub struct Replicas {
    config: Arc<ConfigService>,
    hostname: String,
    metrics: Metrics,
    peers: RwLock<BTreeMap<String, Known>>,
    acks: broadcast::Sender<(String, Ack)>,
    nats: OnceLock<(async_nats::Client, String)>,
    ack_wait: Duration,
}

/// Waits for acknowledgements of one write; created before the write so no acknowledgement is missed.
pub struct AckWaiter {
    rx: broadcast::Receiver<(String, Ack)>,
}

impl Replicas {
    /// Reporting for `config`'s replica; `ack_wait` bounds how long a write waits for acknowledgements.
    pub fn new(config: Arc<ConfigService>, metrics: Metrics, ack_wait: Duration) -> Self {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        Self {
            config,
            hostname,
            metrics,
            peers: RwLock::new(BTreeMap::new()),
            acks: broadcast::channel(1024).0,
            nats: OnceLock::new(),
            ack_wait,
        }
    }

    fn report(&self, ack: Option<Ack>) -> ReplicaReport {
        ReplicaReport {
            replica: self.config.instance().to_owned(),
            hostname: self.hostname.clone(),
            versions: self.config.applied_versions(),
            ack,
        }
    }

    async fn publish(&self, ack: Option<Ack>) {
        let Some((client, subject)) = self.nats.get() else {
            return;
        };
        let Ok(body) = serde_json::to_vec(&self.report(ack)) else {
            return;
        };
        if let Err(e) = client.publish(subject.clone(), body.into()).await {
            tracing::debug!(error = %e, "replica report not published");
        }
    }

    fn heard(&self, report: ReplicaReport) {
        if let Some(ack) = &report.ack {
            let _ = self.acks.send((report.replica.clone(), ack.clone()));
        }
        self.peers.write().insert(
            report.replica,
            Known {
                hostname: report.hostname,
                versions: report.versions,
                seen: Instant::now(),
            },
        );
    }

    fn set_gauge(&self, change: &KeyChanged) {
        let scope = change.symbol.as_deref().unwrap_or("global");
        self.metrics
            .tuning
            .config_version_applied
            .with_label_values(&[&change.strategy_id, scope])
            .set(change.version as i64);
    }

    /// Sets the gauge for every key applied so far (start-up: changes before the listener subscribed).
    fn seed_gauge(&self) {
        for (strategy, scopes) in self.config.applied_versions() {
            for (scope, version) in scopes {
                self.metrics
                    .tuning
                    .config_version_applied
                    .with_label_values(&[&strategy, &scope])
                    .set(version as i64);
            }
        }
    }

    /// Every replica heard from in the last minute, this one first (its versions read now).
    pub fn peers(&self) -> Vec<Peer> {
        let me = self.config.instance().to_owned();
        let mut out = vec![Peer {
            replica: me.clone(),
            hostname: self.hostname.clone(),
            this_replica: true,
            seen_s_ago: 0.0,
            versions: self.config.applied_versions(),
        }];
        for (id, k) in self.peers.read().iter() {
            if *id != me && k.seen.elapsed() < PEER_TTL {
                out.push(Peer {
                    replica: id.clone(),
                    hostname: k.hostname.clone(),
                    this_replica: false,
                    seen_s_ago: k.seen.elapsed().as_secs_f64(),
                    versions: k.versions.clone(),
                });
            }
        }
        out
    }

    /// This replica, the versions it applies and every replica heard from in the last minute.
    pub fn status(&self) -> ReplicaStatus {
        let replicas = self.peers();
        ReplicaStatus {
            id: self.config.instance().to_owned(),
            config_versions_applied: self.config.applied_versions(),
            all_replicas_same_version: Self::all_same(&replicas),
            replicas,
        }
    }

    /// Whether every known replica applies the same versions.
    pub fn all_same(peers: &[Peer]) -> bool {
        peers.windows(2).all(|w| w[0].versions == w[1].versions)
    }

    /// Starts listening for acknowledgements of a write about to happen.
    pub fn waiter(&self) -> AckWaiter {
        AckWaiter {
            rx: self.acks.subscribe(),
        }
    }

    /// The replicas that acknowledged `version` of `(strategy, symbol)`: waits until every replica heard from in the
    /// last minute (and this one) has, or `CONFIG_ACK_WAIT_MS` passed. Without NATS only this replica applies
    /// configuration, and it has by the time the write returns.
    pub async fn acknowledged(
        &self,
        mut waiter: AckWaiter,
        strategy: &str,
        symbol: Option<&str>,
        version: u64,
    ) -> Vec<String> {
        let me = self.config.instance().to_owned();
        if self.nats.get().is_none() {
            return vec![me];
        }
        let expected: BTreeSet<String> = self.peers().into_iter().map(|p| p.replica).collect();
        let mut acked = BTreeSet::new();
        let deadline = tokio::time::Instant::now() + self.ack_wait;
        while !expected.is_subset(&acked) {
            match tokio::time::timeout_at(deadline, waiter.rx.recv()).await {
                Ok(Ok((replica, ack))) => {
                    if ack.strategy_id == strategy
                        && ack.symbol.as_deref() == symbol
                        && ack.version == version
                    {
                        acked.insert(replica);
                    }
                }
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
            }
        }
        acked.into_iter().collect()
    }

    /// Reports on `<subject>.replicas` after every applied change and every 15 s, and listens to the others.
    pub async fn attach_nats(
        self: &Arc<Self>,
        client: async_nats::Client,
        changes_subject: &str,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, String> {
        let subject = format!("{changes_subject}.replicas");
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .map_err(|e| e.to_string())?;
        let _ = self.nats.set((client, subject));
        let me = self.clone();
        let mut changes = self.config.subscribe_changes();
        Ok(tokio::spawn(async move {
            me.seed_gauge();
            me.publish(None).await;
            let mut tick = tokio::time::interval(REPORT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => me.publish(None).await,
                    msg = sub.next() => {
                        let Some(msg) = msg else { return };
                        match serde_json::from_slice::<ReplicaReport>(&msg.payload) {
                            Ok(report) => me.heard(report),
                            Err(_) => tracing::warn!("ignoring a malformed replica report"),
                        }
                    }
                    change = changes.recv() => match change {
                        Ok(c) => {
                            me.set_gauge(&c);
                            me.publish(Some(Ack { strategy_id: c.strategy_id, symbol: c.symbol, version: c.version })).await;
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => me.publish(None).await,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }))
    }

    /// Keeps the gauge current without NATS (standalone): one task following applied changes.
    pub fn spawn_gauge(self: &Arc<Self>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        let me = self.clone();
        let mut changes = self.config.subscribe_changes();
        tokio::spawn(async move {
            me.seed_gauge();
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    change = changes.recv() => match change {
                        Ok(c) => me.set_gauge(&c),
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        })
    }
}
