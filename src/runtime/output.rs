//! Where signals go: NATS subjects `<prefix>.<strategy_id>`, and/or stdout as JSON lines.

use std::io::Write;
use std::sync::Arc;

use strategy_sdk::Signal;

use crate::metrics::Metrics;
use crate::state::LiveState;

/// Signal destinations.
#[derive(Clone)]
pub struct SignalOutput {
    nats: Option<(async_nats::Client, String)>,
    stdout: bool,
    metrics: Metrics,
    live: Arc<LiveState>,
    revision_ids: Option<Arc<std::collections::HashMap<&'static str, String>>>,
}

impl SignalOutput {
    /// Publishes to `prefix.<strategy_id>` on `nats` (if any) and prints to stdout if `stdout`.
    pub fn new(
        nats: Option<(async_nats::Client, String)>,
        stdout: bool,
        metrics: Metrics,
        live: Arc<LiveState>,
    ) -> Self {
        let nats = nats.map(|(c, prefix)| (c, prefix.trim_end_matches(['.', '*', '>']).to_owned()));
        Self {
            nats,
            stdout,
            metrics,
            live,
            revision_ids: None,
        }
    }

    /// Adds `strategy_revision_id` (by strategy id) to every published signal (`SIGNAL_REVISION_ID=true`).
    pub fn with_revision_ids(
        mut self,
        ids: std::collections::HashMap<&'static str, String>,
    ) -> Self {
        self.revision_ids = Some(Arc::new(ids));
        self
    }

    /// Subject of a strategy's signals.
    pub fn subject(prefix: &str, strategy_id: &str) -> String {
        format!("{prefix}.{}", strategy_id.replace([' ', '.'], "_"))
    }

    /// Publishes one signal. Never fails the caller: errors are counted and logged.
    pub async fn publish(&self, signal: &Signal) {
        let id = uuid::Uuid::new_v4().to_string();
        let mut contract = signal.to_contract(&id);
        if let Some(ids) = &self.revision_ids {
            contract.strategy_revision_id = ids.get(signal.strategy_id).map(String::as_str);
        }
        let body = match serde_json::to_string(&contract) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(strategy = signal.strategy_id, error = %e, "cannot serialize signal");
                return;
            }
        };
        let mut ok = true;
        if let Some((client, prefix)) = &self.nats {
            let subject = Self::subject(prefix, signal.strategy_id);
            if let Err(e) = client.publish(subject, body.clone().into()).await {
                ok = false;
                self.metrics
                    .signals_failed
                    .with_label_values(&[signal.strategy_id])
                    .inc();
                tracing::warn!(strategy = signal.strategy_id, error = %e, "signal publish failed");
            }
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{body}");
        }
        if ok {
            self.metrics
                .signals_published
                .with_label_values(&[signal.strategy_id])
                .inc();
            self.live
                .signals
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = self.live.signal_feed.send(Arc::from(body));
        }
    }

    /// Flushes buffered NATS publications (at shutdown).
    pub async fn flush(&self) {
        if let Some((client, _)) = &self.nats {
            let _ = client.flush().await;
        }
    }
}
