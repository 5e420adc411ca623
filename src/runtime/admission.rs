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

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use strategy_sdk::SymbolId;

use crate::runtime::symbols::SymbolTable;

/// Drop reason of a message dated too far ahead of the wall clock.
pub const FUTURE_TIMESTAMP: &str = "future_timestamp";
/// Drop reason of a message older than its symbol's latest admitted event time beyond the tolerance.
pub const STALE_TIMESTAMP: &str = "stale_timestamp";

/// Drop reason of a new symbol while `MAX_SYMBOLS` symbols are tracked.
pub const SYMBOL_LIMIT: &str = "symbol_limit";
/// Drop reason of a symbol outside `SYMBOL_ALLOWLIST`.
pub const SYMBOL_NOT_ALLOWED: &str = "symbol_not_allowed";
/// Default `MAX_SYMBOLS`: worst case (every symbol a busy depth20 stream, ~150 KB of state across the depth
/// analyzer and the depth strategies) ~75 MB, which fits a 256 Mi pod.
pub const DEFAULT_MAX_SYMBOLS: usize = 500;
/// Default `SYMBOL_IDLE_SECONDS`.
pub const DEFAULT_SYMBOL_IDLE_SECONDS: u64 = 900;

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
    /// The wall clock its caller read once for a whole batch of messages (ms), instead of a clock read per
    /// message; `None`: read it per message.
    batch_wall_ms: Option<i64>,
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
            batch_wall_ms: None,
        }
    }

    /// Offline mode (replay, evaluation): recorded event time is kept whatever the wall clock says; per-symbol
    /// regressions beyond `max_regression_ms` are still refused.
    pub fn offline(max_regression_ms: i64) -> Self {
        Self {
            max_future_ms: None,
            max_regression_ms: max_regression_ms.max(0),
            latest: Vec::new(),
            batch_wall_ms: None,
        }
    }

    /// Sets the wall clock (ms) the future-timestamp check compares with until the next call: the caller reads
    /// it once per batch of messages.
    pub fn set_batch_wall_clock_ms(&mut self, now_ms: i64) {
        self.batch_wall_ms = Some(now_ms);
    }

    /// Whether the wall-clock check is on.
    pub fn checks_wall_clock(&self) -> bool {
        self.max_future_ms.is_some()
    }

    /// Checks one message of `symbol` dated `event_time_ms`; on success it becomes the symbol's latest time (if
    /// newer). `Err` carries the drop reason.
    pub fn admit(&mut self, symbol: SymbolId, event_time_ms: i64) -> Result<(), &'static str> {
        if let Some(max_future) = self.max_future_ms {
            let now_ms = self.batch_wall_ms.unwrap_or_else(wall_clock_ms);
            if event_time_ms > now_ms.saturating_add(max_future) {
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

/// Which symbols get state: at most `max_symbols` at once, only allow-listed ones when a list is given, and symbols
/// idle for `idle_seconds` are freed (their ids reused). Symbols with a configuration override are pinned: never
/// freed, never refused.
#[derive(Debug)]
pub struct SymbolAdmission {
    max_symbols: usize,
    allowlist: Option<HashSet<Box<str>>>,
    idle_seconds: u32,
    started: Instant,
    now_seconds: u32,
    last_seen: Vec<u32>,
    pinned: Vec<bool>,
    /// With several processing threads: the host-wide count of symbols, each counted by the thread that owns it.
    shared: Option<SharedBudget>,
}

/// `MAX_SYMBOLS` across processing threads: one count for the host; a thread counts (charges) the symbols it owns.
/// A thread also interns other threads' symbols for cross-symbol strategies; those are not charged (its own table
/// stays below `MAX_SYMBOLS` as well).
#[derive(Debug)]
struct SharedBudget {
    count: Arc<AtomicUsize>,
    owns: crate::runtime::pipeline::ShardFilter,
    charged: Vec<bool>,
}

impl Default for SymbolAdmission {
    fn default() -> Self {
        Self::new(usize::MAX, None, 0)
    }
}

impl SymbolAdmission {
    /// Limits: `max_symbols` at once, an optional allowlist (upper-case names), `idle_seconds` before a symbol is
    /// freed (0 = never).
    pub fn new(max_symbols: usize, allowlist: Option<Vec<String>>, idle_seconds: u64) -> Self {
        Self {
            max_symbols: max_symbols.max(1),
            allowlist: allowlist.map(|l| {
                l.into_iter()
                    .map(|s| s.trim().to_ascii_uppercase().into_boxed_str())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            idle_seconds: u32::try_from(idle_seconds).unwrap_or(u32::MAX),
            started: Instant::now(),
            now_seconds: 0,
            last_seen: Vec::new(),
            pinned: Vec::new(),
            shared: None,
        }
    }

    /// Shares the `MAX_SYMBOLS` budget with the other processing threads (`count` is the same for all; `owns` is
    /// this thread's partition).
    pub fn with_shared_budget(
        mut self,
        count: Arc<AtomicUsize>,
        owns: crate::runtime::pipeline::ShardFilter,
    ) -> Self {
        self.shared = Some(SharedBudget {
            count,
            owns,
            charged: Vec::new(),
        });
        self
    }

    /// Symbols this admission counts: its table's, or with a shared budget only those it charged.
    pub fn tracked(&self, table: &SymbolTable) -> usize {
        match &self.shared {
            Some(b) => b.charged.iter().filter(|c| **c).count(),
            None => table.len(),
        }
    }

    /// The id of `symbol` if it may have state, interning it when new; `Err` carries the drop reason. Known
    /// symbols cost one hash lookup.
    pub fn admit(
        &mut self,
        table: &mut SymbolTable,
        symbol: &str,
    ) -> Result<SymbolId, &'static str> {
        let id = match table.get(symbol) {
            Some(id) => id,
            None => {
                if let Some(allow) = &self.allowlist {
                    if !allow.contains(symbol) {
                        return Err(SYMBOL_NOT_ALLOWED);
                    }
                }
                if table.len() >= self.max_symbols {
                    return Err(SYMBOL_LIMIT);
                }
                let charge = match &self.shared {
                    Some(b) if b.owns.owns(symbol) => {
                        let max = self.max_symbols;
                        if b.count
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                (n < max).then_some(n + 1)
                            })
                            .is_err()
                        {
                            return Err(SYMBOL_LIMIT);
                        }
                        true
                    }
                    _ => false,
                };
                let id = table.intern(symbol);
                self.fresh(id);
                if charge {
                    self.charge(id);
                }
                id
            }
        };
        self.last_seen[id.index()] = self.now_seconds;
        Ok(id)
    }

    /// Interns a symbol named by the configuration and pins it (`pin` false unpins it: its override was deleted).
    pub fn configured(&mut self, table: &mut SymbolTable, symbol: &str, pin: bool) -> SymbolId {
        let known = table.get(symbol);
        let id = table.intern(symbol);
        if known.is_none() {
            self.fresh(id);
            if let Some(b) = &self.shared {
                if b.owns.owns(symbol) {
                    // Configured symbols are admitted whatever the limit (pinned), and counted.
                    b.count.fetch_add(1, Ordering::Relaxed);
                    self.charge(id);
                }
            }
        }
        self.pinned[id.index()] = pin;
        self.last_seen[id.index()] = self.now_seconds;
        id
    }

    fn charge(&mut self, id: SymbolId) {
        if let Some(b) = &mut self.shared {
            let i = id.index();
            if i >= b.charged.len() {
                b.charged.resize(i + 1, false);
            }
            b.charged[i] = true;
        }
    }

    /// Releases a freed id's share of the budget.
    fn release(&mut self, id: SymbolId) {
        if let Some(b) = &mut self.shared {
            if let Some(c) = b.charged.get_mut(id.index()) {
                if std::mem::take(c) {
                    b.count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn fresh(&mut self, id: SymbolId) {
        let i = id.index();
        if i >= self.last_seen.len() {
            self.last_seen.resize(i + 1, 0);
            self.pinned.resize(i + 1, false);
        }
        self.pinned[i] = false;
        self.last_seen[i] = self.now_seconds;
    }

    /// Advances the clock (about once a second) and returns the ids idle for `idle_seconds`, removed from the
    /// table. The caller must drop every per-id state of each before the next message (the ids are reused).
    pub fn take_idle(&mut self, table: &mut SymbolTable, out: &mut Vec<SymbolId>) {
        self.now_seconds = u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX);
        if self.idle_seconds == 0 {
            return;
        }
        for i in 0..self.last_seen.len() {
            let id = SymbolId(i as u32);
            if !self.pinned[i]
                && table.name(id).is_some()
                && self.now_seconds.saturating_sub(self.last_seen[i]) >= self.idle_seconds
            {
                table.forget(id);
                self.release(id);
                out.push(id);
            }
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
    fn threads_share_one_symbol_budget_and_count_only_their_own_symbols() {
        use crate::runtime::pipeline::{shard_of, ShardFilter};
        let count = Arc::new(AtomicUsize::new(0));
        let mut threads: Vec<(SymbolAdmission, SymbolTable)> = (0..2)
            .map(|index| {
                let a = SymbolAdmission::new(3, None, 1)
                    .with_shared_budget(count.clone(), ShardFilter { count: 2, index });
                (a, SymbolTable::new())
            })
            .collect();
        let names: Vec<String> = (0..40).map(|i| format!("S{i}USDT")).collect();
        let owner = |s: &str| shard_of(s, 2) as usize;
        // Every thread interns every symbol (as for a cross-symbol kind); only owners charge the budget.
        let mut admitted = Vec::new();
        for name in &names {
            let (a, t) = &mut threads[owner(name)];
            let owned = a.admit(t, name);
            let (a, t) = &mut threads[1 - owner(name)];
            let foreign = a.admit(t, name);
            if owned.is_ok() {
                admitted.push(name.clone());
            }
            if admitted.len() < 3 {
                assert!(foreign.is_ok(), "foreign symbols are not charged");
            }
        }
        assert_eq!(
            admitted,
            names[..3].to_vec(),
            "the host admits MAX_SYMBOLS in total"
        );
        assert_eq!(count.load(Ordering::Relaxed), 3);
        let tracked: usize = threads.iter().map(|(a, t)| a.tracked(t)).sum();
        assert_eq!(tracked, 3);
        // Freed symbols give their share back.
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        for (a, t) in &mut threads {
            let mut idle = Vec::new();
            a.take_idle(t, &mut idle);
        }
        assert_eq!(count.load(Ordering::Relaxed), 0);
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
