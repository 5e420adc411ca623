//! Health verdicts for the decision service: every `HEALTH_VERDICT_INTERVAL_SECONDS` the host judges its own
//! inputs and publishes `{"subsystem", "verdict": "healthy"|"unhealthy"|"unknown", "reason", "timestamp"}` on
//! `HEALTH_VERDICT_SUBJECT` (default `evaluator.realtime-strategies.verdict`, the subject form the CIO's
//! `EvaluatorSubscriber` reads from `evaluator.>`).
//!
//! Inputs, judged each tick: market-data silence (no message processed for `HEALTH_VERDICT_MAX_SILENCE_SECONDS`),
//! consumer lag (wall clock minus the latest event time over `HEALTH_VERDICT_MAX_LAG_SECONDS`), the decode-drop
//! rate of the tick (over `HEALTH_VERDICT_MAX_DROP_RATE`), a collapse of the signal rate below 10 % of the host's
//! own recent baseline, and the configuration store's availability.
//!
//! Hysteresis: the published verdict changes only after the same raw verdict on 3 consecutive ticks; the verdict
//! is published on every tick, so a transition goes out on the tick that commits it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ConfigService;
use crate::metrics::Metrics;
use crate::state::LiveState;

/// Consecutive equal raw verdicts needed to change the published one.
pub const HYSTERESIS_TICKS: u32 = 3;
/// A signal rate below this fraction of the baseline is a collapse.
pub const COLLAPSE_FRACTION: f64 = 0.10;
/// Baseline signals per tick below which no collapse is judged (too few signals to tell).
const MIN_BASELINE_PER_TICK: f64 = 3.0;
/// Weight of the newest tick in the baseline (exponential moving average over ~20 ticks).
const BASELINE_ALPHA: f64 = 0.05;
/// Longest reason text (the CIO keeps 200 characters).
pub const MAX_REASON: usize = 200;

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Inputs flow and look sane.
    Healthy,
    /// An input is broken; the CIO pauses arbitration on this subsystem.
    Unhealthy,
    /// Not enough evidence yet (start-up).
    Unknown,
}

impl Verdict {
    fn gauge(self) -> i64 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Unhealthy => 1,
            Verdict::Unknown => 2,
        }
    }
}

/// Thresholds and timing.
#[derive(Debug, Clone)]
pub struct VerdictConfig {
    /// Subject to publish on.
    pub subject: String,
    /// Tick interval.
    pub interval: Duration,
    /// Longest tolerated time without a processed message.
    pub max_silence: Duration,
    /// Largest tolerated consumer lag.
    pub max_lag: Duration,
    /// Largest tolerated share of dropped messages in one tick.
    pub max_drop_rate: f64,
}

impl VerdictConfig {
    /// The subsystem name: the subject's middle part (`evaluator.<subsystem>.verdict`).
    pub fn subsystem(&self) -> String {
        let parts: Vec<&str> = self.subject.split('.').collect();
        if parts.len() >= 3 && parts[0] == "evaluator" && parts[parts.len() - 1] == "verdict" {
            parts[1..parts.len() - 1].join(".")
        } else {
            crate::SERVICE_NAME.to_owned()
        }
    }
}

/// One tick's readings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readings {
    /// Seconds since a message was last processed (`None`: none yet).
    pub silence_s: Option<f64>,
    /// Seconds since start.
    pub uptime_s: f64,
    /// Largest consumer lag in seconds (`None`: no message yet).
    pub lag_s: Option<f64>,
    /// Messages received this tick (processed + dropped).
    pub received: u64,
    /// Messages dropped this tick.
    pub dropped: u64,
    /// Signals published this tick.
    pub signals: u64,
    /// Whether the configuration store answers.
    pub store_available: bool,
}

/// The judge: raw verdicts from readings, the signal-rate baseline and the hysteresis.
#[derive(Debug)]
pub struct Judge {
    config: VerdictConfig,
    baseline: Option<f64>,
    candidate: Verdict,
    streak: u32,
    published: Verdict,
}

impl Judge {
    /// A judge that starts at `unknown`.
    pub fn new(config: VerdictConfig) -> Self {
        Self {
            config,
            baseline: None,
            candidate: Verdict::Unknown,
            streak: 0,
            published: Verdict::Unknown,
        }
    }

    /// The raw verdict of one tick and why.
    pub fn raw(&mut self, r: &Readings) -> (Verdict, String) {
        let max_silence = self.config.max_silence.as_secs_f64();
        let verdict = match r.silence_s {
            None if r.uptime_s < max_silence => {
                (Verdict::Unknown, "no market data processed yet".to_owned())
            }
            None => (
                Verdict::Unhealthy,
                format!("no market data processed since start ({:.0} s)", r.uptime_s),
            ),
            Some(s) if s > max_silence => (
                Verdict::Unhealthy,
                format!("market data silent for {s:.1} s (limit {max_silence:.0} s)"),
            ),
            _ => match r.lag_s {
                Some(lag) if lag > self.config.max_lag.as_secs_f64() => (
                    Verdict::Unhealthy,
                    format!(
                        "consumer lag {lag:.1} s (limit {:.0} s)",
                        self.config.max_lag.as_secs_f64()
                    ),
                ),
                _ => self.rates(r),
            },
        };
        // The baseline learns only from ticks with input, so silence does not drag it down.
        if r.received > 0 {
            let x = r.signals as f64;
            self.baseline = Some(match self.baseline {
                None => x,
                Some(b) => b + BASELINE_ALPHA * (x - b),
            });
        }
        let (v, mut reason) = verdict;
        if reason.chars().count() > MAX_REASON {
            reason = reason.chars().take(MAX_REASON).collect();
        }
        (v, reason)
    }

    fn rates(&self, r: &Readings) -> (Verdict, String) {
        if !r.store_available {
            return (
                Verdict::Unhealthy,
                "configuration store unavailable (serving the last known config)".into(),
            );
        }
        if r.received > 0 {
            let rate = r.dropped as f64 / r.received as f64;
            if rate > self.config.max_drop_rate {
                return (
                    Verdict::Unhealthy,
                    format!(
                        "{:.1} % of messages dropped as undecodable or out of range",
                        100.0 * rate
                    ),
                );
            }
        }
        if let Some(b) = self.baseline {
            if b >= MIN_BASELINE_PER_TICK && (r.signals as f64) < COLLAPSE_FRACTION * b {
                return (
                    Verdict::Unhealthy,
                    format!(
                        "signal rate collapsed: {} this interval vs a baseline of {b:.1}",
                        r.signals
                    ),
                );
            }
        }
        (
            Verdict::Healthy,
            format!(
                "market data flowing ({} messages, {} signals this interval)",
                r.received, r.signals
            ),
        )
    }

    /// Feeds one raw verdict through the hysteresis; returns the verdict to publish and whether it just changed.
    pub fn commit(&mut self, raw: Verdict) -> (Verdict, bool) {
        if raw == self.candidate {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.candidate = raw;
            self.streak = 1;
        }
        if self.streak >= HYSTERESIS_TICKS && self.candidate != self.published {
            self.published = self.candidate;
            return (self.published, true);
        }
        (self.published, false)
    }
}

/// The published message.
#[derive(Debug, Serialize)]
struct Message<'a> {
    subsystem: &'a str,
    verdict: Verdict,
    reason: &'a str,
    timestamp: String,
    service: &'static str,
    version: &'static str,
}

fn counter_total(c: &prometheus::IntCounterVec) -> u64 {
    c.collect()
        .iter()
        .flat_map(|mf| mf.get_metric().iter())
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

/// Starts the verdict task on `client`.
pub fn spawn(
    config: VerdictConfig,
    client: async_nats::Client,
    live: Arc<LiveState>,
    metrics: Metrics,
    store: Arc<ConfigService>,
    max_lag_ms: Arc<AtomicI64>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let subsystem = config.subsystem();
        let subject = config.subject.clone();
        let mut judge = Judge::new(config.clone());
        let mut tick = tokio::time::interval(config.interval.max(Duration::from_millis(50)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_processed = live.processed.load(Ordering::Relaxed);
        let mut last_progress: Option<std::time::Instant> = None;
        let mut last_dropped = counter_total(&metrics.messages_dropped);
        let mut last_signals = live.signals.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let processed = live.processed.load(Ordering::Relaxed);
            let dropped = counter_total(&metrics.messages_dropped);
            let signals = live.signals.load(Ordering::Relaxed);
            if processed > last_processed {
                last_progress = Some(std::time::Instant::now());
            }
            let lag_ms = max_lag_ms.load(Ordering::Relaxed);
            let readings = Readings {
                silence_s: last_progress.map(|t| t.elapsed().as_secs_f64()),
                uptime_s: live.started.elapsed().as_secs_f64(),
                lag_s: (lag_ms >= 0).then(|| lag_ms as f64 / 1000.0),
                received: (processed - last_processed.min(processed))
                    + (dropped - last_dropped.min(dropped)),
                dropped: dropped - last_dropped.min(dropped),
                signals: signals - last_signals.min(signals),
                store_available: store.health().available(),
            };
            last_processed = processed;
            last_dropped = dropped;
            last_signals = signals;
            let (raw, raw_reason) = judge.raw(&readings);
            let (verdict, changed) = judge.commit(raw);
            // The reason explains the published verdict: the raw reason when they agree, else the pending change.
            let reason = if raw == verdict {
                raw_reason
            } else {
                let mut r =
                    format!("still {verdict:?} (hysteresis); now: {raw_reason}").to_lowercase();
                r.truncate(MAX_REASON);
                r
            };
            // A safeguard rollback in the last 10 minutes is reported beside the verdict.
            let reason = match live.safeguard_note.read().as_ref() {
                Some((at, note)) if at.elapsed() < Duration::from_secs(600) => {
                    let mut r = format!("{reason}; {note}");
                    if r.chars().count() > MAX_REASON {
                        r = r.chars().take(MAX_REASON).collect();
                    }
                    r
                }
                _ => reason,
            };
            metrics.health_verdict.set(verdict.gauge());
            if changed {
                tracing::info!(?verdict, reason, "health verdict changed");
            }
            let msg = Message {
                subsystem: &subsystem,
                verdict,
                reason: &reason,
                timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                service: crate::SERVICE_NAME,
                version: crate::VERSION,
            };
            if let Ok(body) = serde_json::to_vec(&msg) {
                if let Err(e) = client.publish(subject.clone(), body.into()).await {
                    tracing::debug!(error = %e, "health verdict not published");
                }
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn judge() -> Judge {
        Judge::new(VerdictConfig {
            subject: "evaluator.realtime-strategies.verdict".into(),
            interval: Duration::from_secs(30),
            max_silence: Duration::from_secs(60),
            max_lag: Duration::from_secs(30),
            max_drop_rate: 0.05,
        })
    }

    fn flowing(signals: u64) -> Readings {
        Readings {
            silence_s: Some(0.5),
            uptime_s: 100.0,
            lag_s: Some(0.2),
            received: 1000,
            dropped: 0,
            signals,
            store_available: true,
        }
    }

    #[test]
    fn subsystem_comes_from_the_subject() {
        assert_eq!(judge().config.subsystem(), "realtime-strategies");
    }

    #[test]
    fn each_input_can_make_it_unhealthy() {
        let mut j = judge();
        assert_eq!(j.raw(&flowing(10)).0, Verdict::Healthy);
        let silent = Readings {
            silence_s: Some(61.0),
            ..flowing(0)
        };
        assert_eq!(j.raw(&silent).0, Verdict::Unhealthy);
        let lagging = Readings {
            lag_s: Some(31.0),
            ..flowing(10)
        };
        assert!(j.raw(&lagging).1.contains("lag"));
        let dropping = Readings {
            dropped: 100,
            ..flowing(10)
        };
        assert!(j.raw(&dropping).1.contains("dropped"));
        let store = Readings {
            store_available: false,
            ..flowing(10)
        };
        assert!(j.raw(&store).1.contains("store"));
        for _ in 0..30 {
            j.raw(&flowing(10));
        }
        let (v, reason) = j.raw(&flowing(0));
        assert_eq!(v, Verdict::Unhealthy);
        assert!(reason.contains("collapsed"), "{reason}");
        let start = Readings {
            silence_s: None,
            uptime_s: 5.0,
            ..flowing(0)
        };
        assert_eq!(judge().raw(&start).0, Verdict::Unknown);
    }

    #[test]
    fn three_tick_hysteresis() {
        let mut j = judge();
        assert_eq!(j.commit(Verdict::Healthy), (Verdict::Unknown, false));
        assert_eq!(j.commit(Verdict::Healthy), (Verdict::Unknown, false));
        assert_eq!(j.commit(Verdict::Healthy), (Verdict::Healthy, true));
        assert_eq!(j.commit(Verdict::Unhealthy), (Verdict::Healthy, false));
        assert_eq!(j.commit(Verdict::Healthy), (Verdict::Healthy, false));
        assert_eq!(j.commit(Verdict::Unhealthy), (Verdict::Healthy, false));
        assert_eq!(j.commit(Verdict::Unhealthy), (Verdict::Healthy, false));
        assert_eq!(j.commit(Verdict::Unhealthy), (Verdict::Unhealthy, true));
    }
}
