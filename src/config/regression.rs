//! Detection of a configuration store that went backwards: a stored version below one this host has already
//! seen or applied (a restore from an old backup, a rollback of unreplicated writes, documents removed behind the
//! service's back). Such a store re-issues version numbers; it is counted in
//! `realtime_config_store_regressions_total` and logged as a warning, once per key and stored version.

use std::collections::HashMap;

use parking_lot::Mutex;
use prometheus::{IntCounterVec, Opts};

use crate::config::store::{key_name, StrategyDocs};

#[derive(Default, Clone, Copy)]
struct Seen {
    max: u64,
    reported_at: Option<u64>,
}

/// The highest version seen per key and the regressions found.
pub struct VersionWatch {
    seen: Mutex<HashMap<String, Seen>>,
    /// `realtime_config_store_regressions_total{check}`: `load` (a reload found a stored version below one seen
    /// before) or `write` (a change was given a version this host had already seen).
    pub regressions: IntCounterVec,
}

impl Default for VersionWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl VersionWatch {
    /// An empty watch.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let regressions = IntCounterVec::new(
            Opts::new(
                "realtime_config_store_regressions_total",
                "Configuration store went backwards: a stored version below one this host already saw (check=load) \
                 or a version number issued again (check=write)",
            ),
            &["check"],
        )
        .expect("static metric");
        for c in ["load", "write"] {
            regressions.with_label_values(&[c]);
        }
        Self {
            seen: Mutex::new(HashMap::new()),
            regressions,
        }
    }

    /// A change of `(strategy, symbol)` was stored as `version`; false (and counted) when that number is not above
    /// every version this host saw for the key.
    pub fn applied(&self, strategy: &str, symbol: Option<&str>, version: u64) -> bool {
        let key = key_name(strategy, symbol);
        let mut seen = self.seen.lock();
        let entry = seen.entry(key.clone()).or_default();
        let fine = version > entry.max;
        if !fine {
            self.regressions.with_label_values(&["write"]).inc();
            tracing::warn!(
                key,
                version,
                seen = entry.max,
                "configuration store went backwards: it issued version {version} again (this host already saw {}); \
                 acknowledged changes were lost — check the database's backups and replication",
                entry.max
            );
        }
        entry.max = entry.max.max(version);
        fine
    }

    /// Compares a reload with the versions seen before; returns how many keys went backwards.
    pub fn loaded<'a>(
        &self,
        docs: impl IntoIterator<Item = (&'a String, &'a StrategyDocs)>,
    ) -> usize {
        let mut found = 0;
        let mut seen = self.seen.lock();
        for (strategy, d) in docs {
            let keys = d.global.iter().map(|g| (None, g.version)).chain(
                d.symbols
                    .iter()
                    .map(|(s, doc)| (Some(s.as_str()), doc.version)),
            );
            for (symbol, version) in keys {
                let key = key_name(strategy, symbol);
                let entry = seen.entry(key.clone()).or_default();
                if version < entry.max {
                    if entry.reported_at != Some(version) {
                        entry.reported_at = Some(version);
                        found += 1;
                        self.regressions.with_label_values(&["load"]).inc();
                        tracing::warn!(
                            key,
                            stored = version,
                            seen = entry.max,
                            "configuration store went backwards: it holds version {version} where this host already \
                             saw {}; acknowledged changes were lost — check the database's backups and replication",
                            entry.max
                        );
                    }
                } else {
                    entry.max = version;
                    entry.reported_at = None;
                }
            }
        }
        found
    }

    /// Total regressions found.
    pub fn total(&self) -> u64 {
        ["load", "write"]
            .iter()
            .map(|c| self.regressions.with_label_values(&[c]).get())
            .sum()
    }
}
