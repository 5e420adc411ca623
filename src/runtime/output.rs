//! Where signals go: NATS subjects `<prefix>.<strategy_id>`, and/or stdout as JSON lines.

use std::io::Write;
use std::sync::Arc;

use strategy_sdk::Signal;

use crate::metrics::Metrics;
use crate::state::LiveState;

/// Signal destinations.
///
/// `signals published` counts signals the NATS server accepted: publications are handed to the client, then
/// confirmed by a flush (when the queue runs empty, at most every [`CONFIRM_BATCH`] signals); a failed flush
/// counts them as failed instead.
pub struct SignalOutput {
    nats: Option<(async_nats::Client, String)>,
    stdout: bool,
    metrics: Metrics,
    live: Arc<LiveState>,
    revision_ids: Option<Arc<std::collections::HashMap<&'static str, String>>>,
    max_age_ms: Option<i64>,
    pending: Vec<&'static str>,
    config: Option<Arc<crate::config::ConfigService>>,
}

/// Most publications awaiting confirmation before a flush.
pub const CONFIRM_BATCH: usize = 256;

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
            max_age_ms: None,
            pending: Vec::new(),
            config: None,
        }
    }

    /// Names the configuration version in force in each signal's span (OpenTelemetry export).
    pub fn with_config(mut self, config: Arc<crate::config::ConfigService>) -> Self {
        self.config = Some(config);
        self
    }

    /// Adds `strategy_revision_id` (by strategy id) to every published signal (`SIGNAL_REVISION_ID=true`).
    pub fn with_revision_ids(
        mut self,
        ids: std::collections::HashMap<&'static str, String>,
    ) -> Self {
        self.revision_ids = Some(Arc::new(ids));
        self
    }

    /// Drops signals whose event time is more than `max_age_ms` behind the wall clock (live mode after an outage:
    /// no burst of stale signals); `0` or less turns it off.
    pub fn with_max_age_ms(mut self, max_age_ms: i64) -> Self {
        self.max_age_ms = (max_age_ms > 0).then_some(max_age_ms);
        self
    }

    /// Whether the signal is too old to publish (counted).
    fn stale(&self, signal: &Signal) -> bool {
        let Some(max_age) = self.max_age_ms else {
            return false;
        };
        let age = crate::runtime::admission::wall_clock_ms().saturating_sub(signal.event_time_ms);
        if age > max_age {
            self.metrics
                .signals_dropped
                .with_label_values(&[signal.strategy_id, "stale"])
                .inc();
            return true;
        }
        false
    }

    /// Subject of a strategy's signals.
    pub fn subject(prefix: &str, strategy_id: &str) -> String {
        format!("{prefix}.{}", strategy_id.replace([' ', '.'], "_"))
    }

    /// Publishes one signal. Never fails the caller: errors are counted and logged. NATS publications are counted
    /// as published once [`SignalOutput::confirm`] flushed them.
    pub async fn publish(&mut self, signal: &Signal) {
        if self.stale(signal) {
            return;
        }
        let id = uuid::Uuid::new_v4().to_string();
        // One span per signal when traces are exported, a child of the market data message's trace.
        let span = crate::telemetry::otel_enabled().then(|| {
            let version = self
                .config
                .as_ref()
                .map_or(0, |c| c.version_of(signal.strategy_id, &signal.symbol));
            let span = tracing::info_span!(
                target: "otel",
                "signal.publish",
                strategy = signal.strategy_id,
                symbol = %signal.symbol,
                action = signal.action.as_str(),
                confidence = signal.confidence,
                config_version = version,
                signal_id = %id,
            );
            if let Some(tp) = &signal.traceparent {
                crate::telemetry::set_remote_parent(&span, tp);
            }
            span
        });
        let traceparent = span.as_ref().and_then(crate::telemetry::traceparent_of);
        let mut contract = signal.to_contract(&id);
        if let Some(tp) = traceparent.as_deref() {
            contract.otel_trace_context =
                Some(strategy_sdk::signal::TraceContext { traceparent: tp });
        }
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
            let _ = self.live.signal_feed.send(Arc::from(body));
            if self.nats.is_some() {
                self.pending.push(signal.strategy_id);
            } else {
                self.count_published(signal.strategy_id);
            }
        }
    }

    fn count_published(&self, strategy_id: &str) {
        self.metrics
            .signals_published
            .with_label_values(&[strategy_id])
            .inc();
        self.live
            .signals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Number of NATS publications awaiting confirmation.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Flushes the NATS connection and counts the publications since the last confirmation as published, or as
    /// failed when the flush fails.
    pub async fn confirm(&mut self) {
        let Some((client, _)) = &self.nats else {
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let flushed = client.flush().await;
        for id in std::mem::take(&mut self.pending) {
            match &flushed {
                Ok(()) => self.count_published(id),
                Err(_) => self.metrics.signals_failed.with_label_values(&[id]).inc(),
            }
        }
        if let Err(e) = flushed {
            tracing::warn!(error = %e, "signal flush failed; publications counted as failed");
        }
    }

    /// Flushes buffered NATS publications (at shutdown) and confirms them.
    pub async fn flush(&mut self) {
        self.confirm().await;
        if let Some((client, _)) = &self.nats {
            let _ = client.flush().await;
        }
    }
}
