//! Admission of decoded messages before any plugin or strategy sees them: per-symbol event-time sanity.
//!
//! Every window, cooldown and expiry runs on event time, so one message dated far ahead would poison them (a
//! symbol's windows jump forward, cooldowns freeze, metric expiry of every other symbol fires). The guard keeps
//! the latest admitted event time **per symbol** and refuses:
//! - `future_timestamp`: in live mode, a message more than `MAX_CLOCK_SKEW_MS` ahead of the wall clock;
//! - `stale_timestamp`: a message more than `MAX_EVENT_TIME_REGRESSION_MS` older than the latest admitted one of
//!   its symbol (small regressions between interleaved streams of one symbol are normal; the bundled recording
//!   has up to 1 s).
//!
//! Offline runners (standalone replay, `evaluate`) keep recorded event time: they use
//! [`EventTimeGuard::offline`], which has the wall-clock check off and the regression check on.

use strategy_sdk::SymbolId;

/// Drop reason of a message dated too far ahead of the wall clock.
pub const FUTURE_TIMESTAMP: &str = "future_timestamp";
/// Drop reason of a message older than its symbol's latest admitted event time beyond the tolerance.
pub const STALE_TIMESTAMP: &str = "stale_timestamp";

/// Default `MAX_CLOCK_SKEW_MS`.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 5_000;
/// Default `MAX_EVENT_TIME_REGRESSION_MS`.
pub const DEFAULT_MAX_REGRESSION_MS: i64 = 5_000;

/// Per-symbol event-time checks (one `i64` per interned symbol).
#[derive(Debug, Clone)]
pub struct EventTimeGuard {
    max_future_ms: Option<i64>,
    max_regression_ms: i64,
    latest: Vec<i64>,
}

impl Default for EventTimeGuard {
    fn default() -> Self {
        Self::offline(DEFAULT_MAX_REGRESSION_MS)
    }
}

impl EventTimeGuard {
    /// Live mode: refuses messages more than `max_clock_skew_ms` ahead of the wall clock (`0` turns that check
    /// off) and per-symbol regressions beyond `max_regression_ms`.
    pub fn live(max_clock_skew_ms: i64, max_regression_ms: i64) -> Self {
        Self {
            max_future_ms: (max_clock_skew_ms > 0).then_some(max_clock_skew_ms),
            max_regression_ms: max_regression_ms.max(0),
            latest: Vec::new(),
        }
    }

    /// Offline mode (replay, evaluation): recorded event time is kept whatever the wall clock says; per-symbol
    /// regressions beyond `max_regression_ms` are still refused.
    pub fn offline(max_regression_ms: i64) -> Self {
        Self {
            max_future_ms: None,
            max_regression_ms: max_regression_ms.max(0),
            latest: Vec::new(),
        }
    }

    /// Whether the wall-clock check is on.
    pub fn checks_wall_clock(&self) -> bool {
        self.max_future_ms.is_some()
    }

    /// Checks one message of `symbol` dated `event_time_ms`; on success it becomes the symbol's latest time (if
    /// newer). `Err` carries the drop reason.
    pub fn admit(&mut self, symbol: SymbolId, event_time_ms: i64) -> Result<(), &'static str> {
        if let Some(max_future) = self.max_future_ms {
            if event_time_ms > wall_clock_ms().saturating_add(max_future) {
                return Err(FUTURE_TIMESTAMP);
            }
        }
        let i = symbol.index();
        if i >= self.latest.len() {
            self.latest.resize(i + 1, i64::MIN);
        }
        let latest = &mut self.latest[i];
        if *latest != i64::MIN && event_time_ms < latest.saturating_sub(self.max_regression_ms) {
            return Err(STALE_TIMESTAMP);
        }
        *latest = (*latest).max(event_time_ms);
        Ok(())
    }

    /// The latest admitted event time of a symbol.
    pub fn latest(&self, symbol: SymbolId) -> Option<i64> {
        self.latest
            .get(symbol.index())
            .copied()
            .filter(|t| *t != i64::MIN)
    }

    /// Forgets a symbol (its id may be reused by another symbol).
    pub fn forget(&mut self, symbol: SymbolId) {
        if let Some(t) = self.latest.get_mut(symbol.index()) {
            *t = i64::MIN;
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SymbolId = SymbolId(0);
    const B: SymbolId = SymbolId(1);

    #[test]
    fn live_mode_refuses_the_future_and_regressions_per_symbol() {
        let now = wall_clock_ms();
        let mut g = EventTimeGuard::live(5_000, 1_000);
        assert_eq!(g.admit(A, now + 86_400_000), Err(FUTURE_TIMESTAMP));
        assert_eq!(g.latest(A), None, "a refused message moves nothing");
        assert_eq!(g.admit(A, now), Ok(()));
        assert_eq!(g.admit(A, now - 900), Ok(()), "within the tolerance");
        assert_eq!(g.admit(A, now - 1_001), Err(STALE_TIMESTAMP));
        assert_eq!(
            g.admit(B, now - 60_000),
            Ok(()),
            "per symbol: B has its own time"
        );
        assert_eq!(g.latest(A), Some(now));
        g.forget(A);
        assert_eq!(
            g.admit(A, now - 60_000),
            Ok(()),
            "a forgotten id starts afresh"
        );
    }

    #[test]
    fn offline_mode_keeps_recorded_time_but_refuses_regressions() {
        let mut g = EventTimeGuard::offline(1_000);
        let far_future = wall_clock_ms() + 10 * 86_400_000;
        assert_eq!(g.admit(A, far_future), Ok(()));
        assert_eq!(g.admit(A, far_future - 2_000), Err(STALE_TIMESTAMP));
        assert_eq!(g.admit(A, 1_723_161_255_408), Err(STALE_TIMESTAMP));
        assert_eq!(g.admit(B, 1_723_161_255_408), Ok(()));
    }
}
