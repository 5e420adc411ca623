//! The plugin (writer side): settings, and the per-symbol cells (see [`crate::cell`]) it writes for
//! [`MetricsReader`](crate::MetricsReader).
//!
//! Concurrency: every symbol lives in its own [`SymbolCell`] behind a `parking_lot::Mutex`. The processing task
//! computes a book's metrics without any lock, then locks the cell only to store them and push one history point
//! (a few dozen nanoseconds). Readers lock a cell only to copy the current metrics (a memcpy) or to compute the
//! window statistics and copy at most 100 points; serialization happens after the lock is released. The
//! name → cell directory (`parking_lot::RwLock<BTreeMap>`) is written only when a symbol appears or expires;
//! the processing task finds its cells through its own `Vec` indexed by the host's dense symbol id, so the
//! steady-state hot path never touches the directory.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strategy_sdk::{EventContext, MarketEvent, Plugin, PluginReaders};

use crate::cell::{Shared, SymbolCell, SymbolData};
use crate::config::DepthAnalyzerConfig;
use crate::metrics::compute;
use crate::reader::MetricsReader;

/// Highest dense symbol id the plugin indexes directly (guards against a corrupt id).
const MAX_SYMBOL_INDEX: usize = 1 << 20;

/// The depth analyzer plugin: computes [`DepthMetrics`] for every depth event and keeps per-symbol history.
#[derive(Debug)]
pub struct DepthAnalyzer {
    shared: Arc<Shared>,
    /// Cells by the host's dense symbol id (ids are per processing thread: each writer has its own slots).
    slots: Vec<Option<Arc<SymbolCell>>>,
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
                tracked: AtomicUsize::new(0),
            }),
            slots: Vec::new(),
        }
    }

    /// The typed read handle (what [`Plugin::register_readers`] registers).
    pub fn metrics_reader(&self) -> MetricsReader {
        MetricsReader::from_shared(Arc::clone(&self.shared))
    }

    /// Number of symbols currently tracked.
    pub fn tracked_symbols(&self) -> usize {
        self.shared.tracked.load(Ordering::Relaxed)
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
        // One limit across every writer (processing thread) of this state.
        let max = self.shared.config.max_symbols;
        if self
            .shared
            .tracked
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_err()
        {
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
        self.shared
            .directory
            .write()
            .insert(ctx.symbol.into(), Arc::clone(&cell));
        Some(cell)
    }

    fn remove(&mut self, idx: usize) {
        if let Some(cell) = self.slots.get_mut(idx).and_then(Option::take) {
            let _ = self
                .shared
                .tracked
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
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

    /// The symbol's entry, then its cell (the lock and the newest metrics) and name (compared on every event).
    fn prefetch(&self, symbol: strategy_sdk::SymbolId, what: strategy_sdk::Prefetch) {
        let Some(entry) = self.slots.get(symbol.index()) else {
            return;
        };
        match (what, entry) {
            (strategy_sdk::Prefetch::Slot, _) => strategy_sdk::cache::prefetch(entry),
            (strategy_sdk::Prefetch::State, Some(cell)) => {
                strategy_sdk::cache::prefetch(&**cell);
                strategy_sdk::cache::prefetch_slice(cell.name.as_bytes());
            }
            (strategy_sdk::Prefetch::State, None) => {}
        }
    }

    fn register_readers(&self, readers: &mut PluginReaders) {
        readers.insert(Arc::new(self.metrics_reader()));
    }

    fn forget(&mut self, symbol: strategy_sdk::SymbolId) {
        self.remove(symbol.index());
    }

    fn thread_writer(&self) -> Option<Box<dyn Plugin>> {
        Some(Box::new(Self {
            shared: Arc::clone(&self.shared),
            slots: Vec::new(),
        }))
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
