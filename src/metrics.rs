//! Prometheus metrics of the host (the `prometheus` crate, text format).

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use strategy_sdk::decode::DecodeError;
use strategy_sdk::StreamKind;

/// Every metric the host exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Messages received from the source, by stream type (`unknown` when undecodable).
    pub messages_received: IntCounterVec,
    /// Messages decoded and run through plugins and strategies, by stream type.
    pub messages_processed: IntCounterVec,
    /// Messages dropped, by reason.
    pub messages_dropped: IntCounterVec,
    /// Signals generated, by strategy and action.
    pub signals_generated: IntCounterVec,
    /// Signals published, by strategy.
    pub signals_published: IntCounterVec,
    /// Signal publish failures, by strategy.
    pub signals_failed: IntCounterVec,
    /// Slow-consumer events reported by the NATS client (messages lost in the client buffer).
    pub nats_slow_consumer: IntCounter,
    /// NATS connection state (1 = connected).
    pub nats_connected: IntGauge,
    /// Messages the NATS client has read from the server (all subscriptions). At rest,
    /// `realtime_nats_in_messages - realtime_messages_received_total` is the exact number lost to a full
    /// subscription buffer; `realtime_nats_slow_consumer_total` is only a lower bound (the client coalesces events).
    pub nats_in_messages: IntGauge,
    /// Per-message processing time (decode + plugins + strategies), by stream type.
    pub processing_latency: HistogramVec,
    /// Time from receipt to signal published.
    pub signal_latency: Histogram,
    /// Symbols known to the processing path.
    pub symbols_tracked: IntGauge,
    /// Processing threads running (`PROCESSING_THREADS`).
    pub processing_threads: IntGauge,
    /// Symbols freed after `SYMBOL_IDLE_SECONDS` without a message.
    pub symbols_freed: IntCounter,
    /// Signals not published, by strategy and reason (`stale`: older than `SIGNAL_MAX_AGE_MS`).
    pub signals_dropped: IntCounterVec,
    /// Enabled strategies.
    pub enabled_strategies: IntGauge,
    /// Seconds since start.
    pub uptime: Gauge,
    /// Resident memory in bytes.
    pub memory: IntGauge,
    /// CPU time (user + system) consumed by the process, in seconds.
    pub cpu_seconds: Gauge,
    /// Average CPU use since start, in percent of one core (the original's `cpu_usage_percent`).
    pub cpu_percent: Gauge,
    /// Circuit breaker state by component (0 closed, 1 open).
    pub circuit_breaker: IntGaugeVec,
    /// Config changes applied, by strategy and scope.
    pub config_changes: IntCounterVec,
    /// Net order-book pressure per symbol from the depth analyzer (refreshed on each scrape).
    pub symbol_net_pressure: prometheus::GaugeVec,
    /// Wall clock minus the event time of the latest processed message, per symbol (refreshed every second).
    pub consumer_lag: prometheus::GaugeVec,
    /// Live scorecard: gross bps of published signals by strategy and horizon.
    pub signal_return_bps: HistogramVec,
    /// Live scorecard outcomes by strategy (`scored`, `hit` at 60 s, `unscored`).
    pub signal_outcomes: IntCounterVec,
    /// The health verdict last published (0 healthy, 1 unhealthy, 2 unknown).
    pub health_verdict: IntGauge,
    /// Shadows, safeguards and applied config versions.
    pub tuning: TuningMetrics,
}

/// Metrics of the tuning workflow: shadow parameter sets, guarded changes and the config version each replica
/// applies.
#[derive(Clone)]
pub struct TuningMetrics {
    /// Shadow parameter sets running in this replica.
    pub shadows_running: IntGauge,
    /// Signals of shadows (scored, never published) by strategy and shadow.
    pub shadow_signals: IntCounterVec,
    /// Version of the stored override this replica applies, by strategy and scope (`global` or the symbol).
    pub config_version_applied: IntGaugeVec,
    /// Changes rolled back because their safeguard broke, by strategy.
    pub safeguard_rollbacks: IntCounterVec,
}

impl TuningMetrics {
    #[allow(clippy::expect_used)]
    fn new(registry: &Registry) -> Self {
        let shadows_running = IntGauge::new(
            "realtime_shadows_running",
            "Shadow parameter sets running in this replica (scored, never published)",
        )
        .expect("metric");
        let config_version_applied = IntGaugeVec::new(
            Opts::new(
                "realtime_config_version_applied",
                "Version of the stored configuration override this replica applies (scope: global or a symbol)",
            ),
            &["strategy_id", "scope"],
        )
        .expect("metric");
        for c in [
            Box::new(shadows_running.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(config_version_applied.clone()),
        ] {
            registry.register(c).expect("metric registration");
        }
        Self {
            shadows_running,
            shadow_signals: counter_vec(
                registry,
                "realtime_shadow_signals_total",
                "Signals of shadow parameter sets (scored, never published)",
                &["strategy_id", "shadow"],
            ),
            config_version_applied,
            safeguard_rollbacks: counter_vec(
                registry,
                "realtime_safeguard_rollbacks_total",
                "Configuration changes rolled back because the live scorecard broke their safeguard",
                &["strategy_id"],
            ),
        }
    }
}

fn counter_vec(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c =
        IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| panic!("{name}: {e}"));
    reg.register(Box::new(c.clone()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    c
}

impl Metrics {
    /// Creates and registers every metric (names are static: a failure here is a programming error).
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let registry = Registry::new();
        let r = &registry;
        let messages_received = counter_vec(
            r,
            "realtime_messages_received_total",
            "Messages received from the source by stream type",
            &["message_type"],
        );
        let messages_processed = counter_vec(
            r,
            "realtime_messages_processed_total",
            "Messages processed by stream type",
            &["message_type"],
        );
        let messages_dropped = counter_vec(
            r,
            "realtime_messages_dropped_total",
            "Messages dropped by reason",
            &["reason"],
        );
        let signals_generated = counter_vec(
            r,
            "realtime_signals_generated_total",
            "Signals generated by strategy and action",
            &["strategy_id", "action"],
        );
        let signals_published = counter_vec(
            r,
            "realtime_signals_published_total",
            "Signals published by strategy",
            &["strategy_id"],
        );
        let signals_failed = counter_vec(
            r,
            "realtime_signals_publish_failed_total",
            "Signal publish failures by strategy",
            &["strategy_id"],
        );
        let config_changes = counter_vec(
            r,
            "realtime_config_changes_total",
            "Configuration changes applied by strategy and scope",
            &["strategy_id", "scope"],
        );
        let nats_slow_consumer = IntCounter::new(
            "realtime_nats_slow_consumer_total",
            "Messages lost to a full NATS subscription buffer (slow consumer events)",
        )
        .expect("metric");
        let nats_in_messages = IntGauge::new(
            "realtime_nats_in_messages",
            "Messages read from the NATS server by the client (all subscriptions)",
        )
        .expect("metric");
        let nats_connected = IntGauge::new(
            "realtime_nats_connected",
            "NATS connection state (1 = connected)",
        )
        .expect("metric");
        let processing_latency = HistogramVec::new(
            HistogramOpts::new(
                "realtime_message_processing_latency_seconds",
                "Decode + plugins + strategies time per processed message (in the live loop, from the end of the previous message of its batch, so the hand-off of that message's signals is included)",
            )
            .buckets(vec![
                1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2,
            ]),
            &["message_type"],
        )
        .expect("metric");
        let signal_latency = Histogram::with_opts(
            HistogramOpts::new(
                "realtime_signal_latency_seconds",
                "Time from message receipt to signal published",
            )
            .buckets(vec![1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2]),
        )
        .expect("metric");
        let symbols_tracked = IntGauge::new(
            "realtime_symbols_tracked",
            "Symbols known to the processing path",
        )
        .expect("metric");
        let processing_threads = IntGauge::new(
            "realtime_processing_threads",
            "Processing threads running (PROCESSING_THREADS), each owning a partition of the symbols",
        )
        .expect("metric");
        let symbols_freed = IntCounter::new(
            "realtime_symbols_freed_total",
            "Symbols whose state was freed after SYMBOL_IDLE_SECONDS without a message",
        )
        .expect("metric");
        let signals_dropped = IntCounterVec::new(
            prometheus::Opts::new(
                "realtime_signals_dropped_total",
                "Signals not published, by strategy and reason (stale: older than SIGNAL_MAX_AGE_MS)",
            ),
            &["strategy", "reason"],
        )
        .expect("metric");
        let enabled_strategies =
            IntGauge::new("enabled_strategies_count", "Number of enabled strategies")
                .expect("metric");
        let uptime =
            Gauge::new("service_uptime_seconds", "Service uptime in seconds").expect("metric");
        let cpu_seconds = Gauge::new(
            "realtime_process_cpu_seconds",
            "CPU time (user + system) used by the process",
        )
        .expect("metric");
        let cpu_percent = Gauge::new(
            "cpu_usage_percent",
            "CPU usage percentage (of one core, average since start)",
        )
        .expect("metric");
        let memory =
            IntGauge::new("memory_usage_bytes", "Resident memory in bytes").expect("metric");
        let symbol_net_pressure = prometheus::GaugeVec::new(
            Opts::new(
                "realtime_symbol_net_pressure",
                "Net order-book pressure (-100..100) per symbol from the depth analyzer",
            ),
            &["symbol"],
        )
        .expect("metric");
        let signal_return_bps = HistogramVec::new(
            HistogramOpts::new(
                "realtime_signal_return_bps",
                "Live scorecard: gross return of published signals in bps at each horizon (entry after 200 ms at \
                 the touch, exit at the other side)",
            )
            .buckets(vec![
                -100.0, -50.0, -20.0, -10.0, -5.0, -2.0, 0.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
            ]),
            &["strategy_id", "horizon"],
        )
        .expect("metric");
        let signal_outcomes = counter_vec(
            &registry,
            "realtime_signal_outcomes_total",
            "Live scorecard outcomes of published signals: scored, hit (gross > 0 at 60 s), unscored (not tracked)",
            &["strategy_id", "outcome"],
        );
        let consumer_lag = prometheus::GaugeVec::new(
            Opts::new(
                "realtime_consumer_lag_seconds",
                "Wall clock minus the event time of the latest processed message, per symbol",
            ),
            &["symbol"],
        )
        .expect("metric");
        let health_verdict = IntGauge::new(
            "realtime_health_verdict",
            "Health verdict last published on NATS (0 healthy, 1 unhealthy, 2 unknown)",
        )
        .expect("metric");
        health_verdict.set(2);
        let circuit_breaker = IntGaugeVec::new(
            Opts::new(
                "circuit_breaker_state",
                "Circuit breaker state (0=closed, 1=open)",
            ),
            &["component"],
        )
        .expect("metric");
        for c in [
            Box::new(nats_slow_consumer.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(nats_connected.clone()),
            Box::new(nats_in_messages.clone()),
            Box::new(processing_latency.clone()),
            Box::new(signal_latency.clone()),
            Box::new(symbols_tracked.clone()),
            Box::new(processing_threads.clone()),
            Box::new(symbols_freed.clone()),
            Box::new(signals_dropped.clone()),
            Box::new(enabled_strategies.clone()),
            Box::new(uptime.clone()),
            Box::new(memory.clone()),
            Box::new(cpu_seconds.clone()),
            Box::new(cpu_percent.clone()),
            Box::new(circuit_breaker.clone()),
            Box::new(symbol_net_pressure.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(signal_return_bps.clone()),
            Box::new(health_verdict.clone()),
        ] {
            registry.register(c).expect("metric registration");
        }
        for kind in StreamKind::ALL {
            messages_received.with_label_values(&[kind.as_str()]);
            messages_processed.with_label_values(&[kind.as_str()]);
        }
        for reason in DecodeError::ALL {
            messages_dropped.with_label_values(&[reason.reason()]);
        }
        for reason in crate::runtime::DROP_REASONS {
            messages_dropped.with_label_values(&[reason]);
        }
        let tuning = TuningMetrics::new(&registry);
        Self {
            registry,
            messages_received,
            messages_processed,
            messages_dropped,
            signals_generated,
            signals_published,
            signals_failed,
            nats_slow_consumer,
            nats_connected,
            nats_in_messages,
            processing_latency,
            signal_latency,
            symbols_tracked,
            processing_threads,
            symbols_freed,
            signals_dropped,
            enabled_strategies,
            uptime,
            memory,
            cpu_seconds,
            cpu_percent,
            circuit_breaker,
            config_changes,
            symbol_net_pressure,
            consumer_lag,
            health_verdict,
            signal_return_bps,
            signal_outcomes,
            tuning,
        }
    }

    /// The registry, for components that own their metrics (registered once at start).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric (process gauges refreshed first).
    pub fn render(&self) -> String {
        self.memory.set(resident_memory_bytes());
        let cpu = process_cpu_seconds();
        self.cpu_seconds.set(cpu);
        let uptime = self.uptime.get();
        if uptime > 0.0 {
            self.cpu_percent.set(100.0 * cpu / uptime);
        }
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), 0 elsewhere.
pub fn resident_memory_bytes() -> i64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<i64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// User + system CPU seconds of this process (Linux `/proc/self/stat`, clock ticks of 1/100 s), 0 elsewhere.
pub fn process_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
            let rest = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_reason_shows_at_zero_from_the_start() {
        let text = Metrics::new().render();
        let reasons = DecodeError::ALL
            .iter()
            .map(|e| e.reason())
            .chain(crate::runtime::DROP_REASONS);
        for reason in reasons {
            let line = format!("realtime_messages_dropped_total{{reason=\"{reason}\"}} 0");
            assert!(text.lines().any(|l| l == line), "{line} missing");
        }
    }
}
