//! The per-symbol cells shared by the plugin (writer, [`crate::DepthAnalyzer`]) and its readers
//! ([`crate::MetricsReader`]); neither side imports the other's module for them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::DepthAnalyzerConfig;
use crate::history::{History, Point};
use crate::metrics::DepthMetrics;

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
    pub(crate) fn update(&mut self, m: DepthMetrics, t_ms: i64) {
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
    /// Symbols tracked by every writer together (the `max_symbols` limit applies to this count).
    pub tracked: AtomicUsize,
}
