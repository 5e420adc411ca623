//! Guarded configuration changes: a write may carry a [`Safeguard`]; while it is watched, the live scorecard of
//! the changed strategy (signals after the change, in event time) is compared with it, and a broken safeguard
//! rolls the change back through the audit trail (an audit record naming the safeguard and the measured values),
//! counts `realtime_safeguard_rollbacks_total` and is reported in `/info`, `GET /api/v1/safeguards` and the health
//! verdict's reason.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use strategy_sdk::FieldError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::merge::Writer;
use crate::config::store::{iso, now_ms, AuditRecord};
use crate::config::{ConfigError, ConfigService};
use crate::metrics::Metrics;
use crate::scoring::live::ScorecardHistory;
use crate::state::LiveState;

/// Guards kept for reporting (the oldest finished ones are dropped first).
const MAX_GUARDS: usize = 200;
/// A guard still undecided after this long (wall clock) is closed as `expired`.
const MAX_WATCH: Duration = Duration::from_secs(24 * 3600);
/// How often guards are judged.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What a change must keep up, judged on the signals published after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["max_signals_per_hour"], "properties": {"max_signals_per_hour": {"type": "number"}}},
    {"required": ["min_hit_rate"], "properties": {"min_hit_rate": {"type": "number"}}}
]))]
pub struct Safeguard {
    /// Most signals per hour of event time (over the first hour: most signals in total).
    #[serde(default)]
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 1_000_000))]
    pub max_signals_per_hour: Option<f64>,
    /// Least share of scored signals with a positive gross return at `horizon`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1))]
    pub min_hit_rate: Option<f64>,
    /// Horizon of the hit rate: one of the scorer's horizons (default `60s`).
    #[serde(default)]
    #[schemars(extend("enum" = ["1s", "10s", "60s", "300s", null], "default" = "60s"))]
    pub horizon: Option<String>,
    /// Scored signals needed before the hit rate is judged (and the guard can pass); default 50.
    #[serde(default, deserialize_with = "crate::api::params::whole_number")]
    #[schemars(range(min = 1, max = 100_000), extend("default" = 50))]
    pub after_signals: Option<usize>,
}

fn invalid(field: &str, rule: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Validation(vec![FieldError {
        field: format!("/safeguard/{field}"),
        rule: rule.into(),
        message: message.into(),
    }])
}

impl Safeguard {
    /// Checks the fields; the error names the field and the rule.
    pub fn check(&self, history: &ScorecardHistory) -> Result<(), ConfigError> {
        if self.max_signals_per_hour.is_none() && self.min_hit_rate.is_none() {
            return Err(ConfigError::Validation(vec![FieldError {
                field: "/safeguard".into(),
                rule: "anyOf".into(),
                message: "a safeguard needs max_signals_per_hour or min_hit_rate".into(),
            }]));
        }
        if let Some(r) = self.max_signals_per_hour {
            if !(r.is_finite() && r > 0.0 && r <= 1_000_000.0) {
                return Err(invalid(
                    "max_signals_per_hour",
                    "range",
                    "max_signals_per_hour must be > 0 and <= 1000000",
                ));
            }
        }
        if let Some(h) = self.min_hit_rate {
            if !(0.0..=1.0).contains(&h) {
                return Err(invalid(
                    "min_hit_rate",
                    "range",
                    "min_hit_rate must be between 0 and 1",
                ));
            }
        }
        if let Some(n) = self.after_signals {
            if !(1..=100_000).contains(&n) {
                return Err(invalid(
                    "after_signals",
                    "range",
                    "after_signals must be between 1 and 100000",
                ));
            }
        }
        self.horizon_index(history).map(|_| ())
    }

    fn horizon_index(&self, history: &ScorecardHistory) -> Result<usize, ConfigError> {
        let text = self.horizon.as_deref().unwrap_or("60s");
        // Exactly `<seconds>s` of a scored horizon, as the document's enum lists them.
        text.strip_suffix('s')
            .filter(|n| !n.starts_with('0'))
            .and_then(|n| n.parse::<i64>().ok())
            .and_then(|secs| history.horizon_index(secs.saturating_mul(1000)))
            .ok_or_else(|| invalid("horizon", "enum", format!("horizon must be one of the scored horizons 1s, 10s, 60s, 300s (got `{text}`)")))
    }

    fn after(&self) -> usize {
        self.after_signals.unwrap_or(50)
    }
}

/// Where a guard stands.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GuardState {
    /// Being judged.
    Watching,
    /// Held up over `after_signals` scored signals (and an hour of event time for a rate rule).
    Passed,
    /// Broken: the change was rolled back.
    RolledBack,
    /// Broken, but the rollback failed (see `detail`).
    RollbackFailed,
    /// The key changed again before a verdict; the guard no longer applies.
    Superseded,
    /// Undecided after 24 h.
    Expired,
}

/// A watched change as reported (`GET /api/v1/safeguards`, newest first).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Guard {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `null` for the global override.
    pub symbol: Option<String>,
    /// Version of the stored override the guarded change wrote.
    pub version: u64,
    /// Audit record id of the guarded change.
    pub audit_id: String,
    /// The safeguard.
    pub safeguard: Safeguard,
    /// Event time from which signals count (ms since the epoch): the newest event processed when it was armed.
    pub since_event_ms: i64,
    /// When it was armed (ISO-8601 UTC, wall clock).
    pub armed_at: String,
    /// Where it stands.
    pub state: GuardState,
    /// Signals published since the change.
    pub published: usize,
    /// Signals scored at the safeguard's horizon since the change.
    pub scored: usize,
    /// Share (0–1) of the scored signals with a positive gross return at the horizon; `null` before the first.
    pub hit_rate: Option<f64>,
    /// Published signals per hour of event time since the change; `null` before any event time passed.
    pub signals_per_hour: Option<f64>,
    /// What broke, or how the guard ended.
    pub detail: Option<String>,
    #[serde(skip)]
    old_parameters: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip)]
    horizon: usize,
    #[serde(skip)]
    armed: Instant,
}

/// Every guard of this replica.
pub struct Safeguards {
    guards: Mutex<Vec<Guard>>,
    live: Arc<LiveState>,
}

impl Safeguards {
    /// No guards yet.
    pub fn new(live: Arc<LiveState>) -> Self {
        Self {
            guards: Mutex::new(Vec::new()),
            live,
        }
    }

    /// Starts watching a change just written (`audit`), replacing a guard still watching the same key.
    /// The safeguard must have passed [`Safeguard::check`].
    pub fn arm(
        &self,
        strategy: &str,
        symbol: Option<&str>,
        safeguard: Safeguard,
        audit: &AuditRecord,
    ) -> Guard {
        let horizon = safeguard.horizon_index(&self.live.scorecard).unwrap_or(0);
        let since = self.live.last_event_time_ms.load(Ordering::Relaxed);
        let guard = Guard {
            strategy_id: strategy.to_owned(),
            symbol: symbol.map(str::to_owned),
            version: audit.version,
            audit_id: audit.id.clone(),
            safeguard,
            since_event_ms: since,
            armed_at: iso(now_ms()),
            state: GuardState::Watching,
            published: 0,
            scored: 0,
            hit_rate: None,
            signals_per_hour: None,
            detail: None,
            old_parameters: audit.old_parameters.clone(),
            horizon,
            armed: Instant::now(),
        };
        let mut guards = self.guards.lock();
        for g in guards.iter_mut() {
            if g.state == GuardState::Watching
                && g.strategy_id == strategy
                && g.symbol.as_deref() == symbol
            {
                g.state = GuardState::Superseded;
                g.detail = Some(format!(
                    "a later guarded change (v{}) replaced it",
                    audit.version
                ));
            }
        }
        if guards.len() >= MAX_GUARDS {
            if let Some(pos) = guards.iter().position(|g| g.state != GuardState::Watching) {
                guards.remove(pos);
            }
        }
        guards.push(guard.clone());
        guard
    }

    /// Every guard, newest first.
    pub fn list(&self) -> Vec<Guard> {
        let mut out = self.guards.lock().clone();
        out.reverse();
        out
    }

    /// Judges every watching guard once; returns the ones broken now (their rollback is the caller's).
    fn judge(&self, config: &ConfigService) -> Vec<Guard> {
        let mut broken = Vec::new();
        let now_event = self.live.last_event_time_ms.load(Ordering::Relaxed);
        let mut guards = self.guards.lock();
        for g in guards
            .iter_mut()
            .filter(|g| g.state == GuardState::Watching)
        {
            let current = config
                .effective(&g.strategy_id, g.symbol.as_deref())
                .ok()
                .and_then(|e| {
                    if g.symbol.is_some() {
                        e.symbol_version
                    } else {
                        e.global_version
                    }
                });
            if current != Some(g.version) {
                g.state = GuardState::Superseded;
                g.detail = Some(format!("the key changed again (now {current:?})"));
                continue;
            }
            let c = self.live.scorecard.since(
                &g.strategy_id,
                g.symbol.as_deref(),
                g.since_event_ms,
                g.horizon,
            );
            let elapsed_h =
                (c.newest_ms.max(now_event) - g.since_event_ms).max(0) as f64 / 3_600_000.0;
            g.published = c.published;
            g.scored = c.scored;
            g.hit_rate = (c.scored > 0).then(|| c.hits as f64 / c.scored as f64);
            g.signals_per_hour = (elapsed_h > 0.0).then(|| c.published as f64 / elapsed_h);
            let mut why = Vec::new();
            if let Some(max) = g.safeguard.max_signals_per_hour {
                let allowed = max * elapsed_h.max(1.0);
                if c.published as f64 > allowed {
                    why.push(format!(
                        "{} signals in {:.2} h of event time > max_signals_per_hour {max}",
                        c.published, elapsed_h
                    ));
                }
            }
            let judged_hits = c.scored >= g.safeguard.after();
            if let (Some(min), true, Some(hit)) =
                (g.safeguard.min_hit_rate, judged_hits, g.hit_rate)
            {
                if hit < min {
                    why.push(format!(
                        "hit rate {hit:.3} at {} over {} scored signals < min_hit_rate {min}",
                        g.safeguard.horizon.as_deref().unwrap_or("60s"),
                        c.scored
                    ));
                }
            }
            if !why.is_empty() {
                g.detail = Some(why.join("; "));
                broken.push(g.clone());
                continue;
            }
            let rate_done = g.safeguard.max_signals_per_hour.is_none() || elapsed_h >= 1.0;
            let hits_done = g.safeguard.min_hit_rate.is_none() || judged_hits;
            if rate_done && hits_done && (judged_hits || g.safeguard.min_hit_rate.is_none()) {
                g.state = GuardState::Passed;
                g.detail = Some(format!(
                    "held over {} scored / {} published signals",
                    c.scored, c.published
                ));
            } else if g.armed.elapsed() >= MAX_WATCH {
                g.state = GuardState::Expired;
            }
        }
        broken
    }

    fn settle(&self, guard: &Guard, state: GuardState, detail: String) {
        let mut guards = self.guards.lock();
        if let Some(g) = guards
            .iter_mut()
            .find(|g| g.audit_id == guard.audit_id && g.state == GuardState::Watching)
        {
            g.state = state;
            g.detail = Some(detail);
        }
    }

    /// Rolls a broken change back: the key returns to its parameters before the change (or loses its override if
    /// it had none), written by `safeguard` with the measured values as the reason.
    async fn roll_back(&self, config: &ConfigService, metrics: &Metrics, guard: &Guard) {
        let what = guard.detail.clone().unwrap_or_default();
        let reason = format!(
            "safeguard broken after change v{} (audit {}): {what}; safeguard {}",
            guard.version,
            guard.audit_id,
            serde_json::to_string(&guard.safeguard).unwrap_or_default()
        );
        let writer = Writer {
            changed_by: "safeguard".into(),
            reason: Some(reason.clone()),
            issuer: None,
        };
        let result = match &guard.old_parameters {
            Some(old) => config
                .writes()
                .set(
                    &guard.strategy_id,
                    guard.symbol.as_deref(),
                    old.clone(),
                    writer,
                    "rollback",
                )
                .await
                .map(|a| a.audit.version),
            None => config
                .writes()
                .delete(&guard.strategy_id, guard.symbol.as_deref(), writer)
                .await
                .map(|a| a.audit.version),
        };
        match result {
            Ok(version) => {
                metrics
                    .tuning
                    .safeguard_rollbacks
                    .with_label_values(&[&guard.strategy_id])
                    .inc();
                tracing::warn!(strategy = %guard.strategy_id, symbol = ?guard.symbol, version, reason, "safeguard broken: change rolled back");
                *self.live.safeguard_note.write() = Some((
                    Instant::now(),
                    format!(
                        "safeguard rolled back {} v{}",
                        guard.strategy_id, guard.version
                    ),
                ));
                self.settle(
                    guard,
                    GuardState::RolledBack,
                    format!("{what}; rolled back as v{version}"),
                );
            }
            Err(e) => {
                tracing::error!(strategy = %guard.strategy_id, error = %e, "safeguard broken but the rollback failed; retrying");
                if !matches!(e, crate::config::ConfigError::Unavailable(_)) {
                    self.settle(
                        guard,
                        GuardState::RollbackFailed,
                        format!("{what}; rollback failed: {e}"),
                    );
                }
            }
        }
    }

    /// Judges the guards every 250 ms until shutdown.
    pub fn spawn(
        self: &Arc<Self>,
        config: Arc<ConfigService>,
        metrics: Metrics,
        mut shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => {}
                }
                for guard in me.judge(&config) {
                    me.roll_back(&config, &metrics, &guard).await;
                }
            }
        })
    }
}
