//! The plugin (writer side) and the per-symbol cells it shares with [`MetricsReader`](crate::MetricsReader).
//!
//! Concurrency: every symbol lives in its own [`SymbolCell`] behind a `parking_lot::Mutex`. The processing task
//! computes a book's metrics without any lock, then locks the cell only to store them and push one history point
//! (a few dozen nanoseconds). Readers lock a cell only to copy the current metrics (a memcpy) or to compute the
//! window statistics and copy at most 100 points; serialization happens after the lock is released. The
//! name → cell directory (`parking_lot::RwLock<BTreeMap>`) is written only when a symbol appears or expires;
//! the processing task finds its cells through its own `Vec` indexed by the host's dense symbol id, so the
//! steady-state hot path never touches the directory.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strategy_sdk::{EventContext, MarketEvent, Plugin};

use crate::history::{History, Point};
use crate::metrics::{compute, DepthMetrics};
use crate::reader::MetricsReader;

/// Default number of symbols tracked at once (the original was configured for 100).
pub const DEFAULT_MAX_SYMBOLS: usize = 1000;
/// Default time after which a symbol without depth update expires (5 minutes, as the original).
pub const DEFAULT_TTL_MS: i64 = 5 * 60 * 1000;
/// Environment variable overriding [`DEFAULT_MAX_SYMBOLS`] when the plugin is built by the registry.
pub const ENV_MAX_SYMBOLS: &str = "DEPTH_ANALYZER_MAX_SYMBOLS";
/// Highest dense symbol id the plugin indexes directly (guards against a corrupt id).
const MAX_SYMBOL_INDEX: usize = 1 << 20;

/// Plugin settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthAnalyzerConfig {
    /// Most symbols tracked at once; events of further symbols are ignored (and counted) until one expires.
    pub max_symbols: usize,
    /// A symbol whose last depth update is older than this (event time) is dropped at the next `tick`.
    pub ttl_ms: i64,
}

impl Default for DepthAnalyzerConfig {
    fn default() -> Self {
        Self {
            max_symbols: DEFAULT_MAX_SYMBOLS,
            ttl_ms: DEFAULT_TTL_MS,
        }
    }
}

impl DepthAnalyzerConfig {
    /// Defaults, with `max_symbols` from [`ENV_MAX_SYMBOLS`] when it is set to a positive integer.
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(n) = std::env::var(ENV_MAX_SYMBOLS)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
        {
            c.max_symbols = n;
        }
        c
    }
}

/// What a symbol's cell holds.
#[derive(Debug, Default)]
pub(crate) struct SymbolData {
    /// Metrics of the newest book.
    pub current: DepthMetrics,
    /// Event time of the newest book.
    pub last_update_ms: i64,
    /// Pressure/imbalance history.
    pub history: History,
}

impl SymbolData {
    fn update(&mut self, m: DepthMetrics, t_ms: i64) {
        let mut t = t_ms;
        if let Some(last) = self.history.last_time() {
            if t < last {
                if last - t > crate::history::RETENTION_MS {
                    // The clock went back by more than the retention: start a new timeline.
                    self.history.clear();
                } else {
                    // Slightly out of order: keep the ring ordered by folding it into the newest slot.
                    t = last;
                }
            }
        }
        self.current = m;
        self.last_update_ms = t;
        self.history.push(Point {
            t_ms: t,
            pressure: m.net_pressure as f32,
            imbalance: m.imbalance_ratio as f32,
        });
    }
}

/// One tracked symbol.
#[derive(Debug)]
pub(crate) struct SymbolCell {
    pub name: Box<str>,
    pub data: Mutex<SymbolData>,
}

/// State shared between one plugin instance and its readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: DepthAnalyzerConfig,
    pub directory: RwLock<BTreeMap<Box<str>, Arc<SymbolCell>>>,
    /// Events ignored because the symbol limit was reached.
    pub rejected_events: AtomicU64,
    /// Symbols expired so far.
    pub expired_symbols: AtomicU64,
    /// Newest event time seen by `tick` (used as the summary time when no symbol is tracked).
    pub last_tick_ms: AtomicI64,
}

/// The depth analyzer plugin: computes [`DepthMetrics`] for every depth event and keeps per-symbol history.
#[derive(Debug)]
pub struct DepthAnalyzer {
    shared: Arc<Shared>,
    /// Cells by the host's dense symbol id.
    slots: Vec<Option<Arc<SymbolCell>>>,
    tracked: usize,
}

impl Default for DepthAnalyzer {
    fn default() -> Self {
        Self::new(DepthAnalyzerConfig::default())
    }
}

impl DepthAnalyzer {
    /// A plugin with the given settings.
    pub fn new(config: DepthAnalyzerConfig) -> Self {
        let config = DepthAnalyzerConfig {
            max_symbols: config.max_symbols.max(1),
            ttl_ms: config.ttl_ms.max(1),
        };
        Self {
            shared: Arc::new(Shared {
                config,
                directory: RwLock::new(BTreeMap::new()),
                rejected_events: AtomicU64::new(0),
                expired_symbols: AtomicU64::new(0),
                last_tick_ms: AtomicI64::new(0),
            }),
            slots: Vec::new(),
            tracked: 0,
        }
    }

    /// The typed read handle (what [`Plugin::reader`] returns type-erased).
    pub fn metrics_reader(&self) -> MetricsReader {
        MetricsReader::from_shared(Arc::clone(&self.shared))
    }

    /// Number of symbols currently tracked.
    pub fn tracked_symbols(&self) -> usize {
        self.tracked
    }

    /// The cell for this event's symbol, creating it when there is room.
    fn cell(&mut self, ctx: &EventContext<'_>) -> Option<Arc<SymbolCell>> {
        let idx = ctx.symbol_id.index();
        if idx >= MAX_SYMBOL_INDEX {
            return None;
        }
        if let Some(Some(cell)) = self.slots.get(idx) {
            if &*cell.name == ctx.symbol {
                return Some(Arc::clone(cell));
            }
            // The host reassigned the id to another symbol: retire the old cell.
            self.remove(idx);
        }
        if self.tracked >= self.shared.config.max_symbols {
            self.shared.rejected_events.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let cell = Arc::new(SymbolCell {
            name: ctx.symbol.into(),
            data: Mutex::new(SymbolData::default()),
        });
        if self.slots.len() <= idx {
            self.slots.resize(idx + 1, None);
        }
        self.slots[idx] = Some(Arc::clone(&cell));
        self.tracked += 1;
        self.shared
            .directory
            .write()
            .insert(ctx.symbol.into(), Arc::clone(&cell));
        Some(cell)
    }

    fn remove(&mut self, idx: usize) {
        if let Some(cell) = self.slots.get_mut(idx).and_then(Option::take) {
            self.tracked = self.tracked.saturating_sub(1);
            let mut dir = self.shared.directory.write();
            // Only remove the directory entry if it is this very cell.
            if dir.get(&cell.name).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                dir.remove(&cell.name);
            }
        }
    }
}

impl Plugin for DepthAnalyzer {
    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        // Pure computation first, outside any lock.
        let Some(metrics) = compute(book) else {
            return;
        };
        let idx = ctx.symbol_id.index();
        // Fast path: an existing cell for this id and name — no refcount traffic, no directory.
        if let Some(Some(cell)) = self.slots.get(idx) {
            if &*cell.name == ctx.symbol {
                cell.data.lock().update(metrics, ctx.event_time_ms);
                return;
            }
        }
        if let Some(cell) = self.cell(ctx) {
            cell.data.lock().update(metrics, ctx.event_time_ms);
        }
    }

    fn reader(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(self.metrics_reader()))
    }

    fn forget(&mut self, symbol: strategy_sdk::SymbolId) {
        self.remove(symbol.index());
    }

    fn tick(&mut self, now_ms: i64) {
        self.shared
            .last_tick_ms
            .fetch_max(now_ms, Ordering::Relaxed);
        let ttl = self.shared.config.ttl_ms;
        for idx in 0..self.slots.len() {
            let expired = match &self.slots[idx] {
                Some(cell) => now_ms.saturating_sub(cell.data.lock().last_update_ms) > ttl,
                None => false,
            };
            if expired {
                self.remove(idx);
                self.shared.expired_symbols.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
