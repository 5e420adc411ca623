//! The last known configuration: every strategy's stored overrides, resolved, served to readers without touching
//! the store, and turned into parameter updates for the pipeline whenever a layer changes (a local write, a reload,
//! another replica's change). Each change is announced as a [`KeyChanged`] to whoever subscribes (shadows follow
//! the live set, replica reports).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, mpsc};

use crate::config::layers::invalid::invalid_doc;
use crate::config::layers::stored::Stored;
use crate::config::layers::validation::Prepared;
use crate::config::layers::{Layers, Provenance, Resolved};
use crate::config::store::{iso, Applied, ConfigDoc, StrategyDocs};
use crate::config::updates::PipelineCommand;
use crate::host_params::HostTable;
use crate::registry::RegisteredStrategy;

/// The effective configuration of a (strategy, symbol).
#[derive(Debug, Clone)]
pub struct Effective {
    /// Merged parameters (complete).
    pub parameters: serde_json::Value,
    /// Per field: `default`, `env`, `global` or `symbol`.
    pub provenance: Provenance,
    /// Version of the most specific stored override (0 if none).
    pub version: u64,
    /// `mongodb`/`embedded` (an override applies), `environment` or `default`.
    pub source: String,
    /// Whether a symbol override applies.
    pub is_override: bool,
    /// Creation time of the most specific override.
    pub created_at: Option<String>,
    /// Update time of the most specific override.
    pub updated_at: Option<String>,
    /// Version of the global override, if any.
    pub global_version: Option<u64>,
    /// Version of the symbol override, if any.
    pub symbol_version: Option<u64>,
    /// Stored overrides of this key that do not fit the strategy and do not run, with their validation errors.
    pub invalid_overrides: Vec<serde_json::Value>,
}

/// A key whose stored override this replica now applies (sent after every install that changed it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChanged {
    /// Strategy id.
    pub strategy_id: String,
    /// Symbol, `None` for the global override.
    pub symbol: Option<String>,
    /// Version now applied (0: no stored override, env/defaults).
    pub version: u64,
}

/// The resolved overrides of every strategy and the channel to the pipeline.
pub struct Snapshot {
    layers: Arc<Layers>,
    strategies: RwLock<BTreeMap<String, Stored>>,
    /// Held while the snapshot is updated and the new parameters are pushed (no await inside).
    install_lock: Mutex<()>,
    /// Counts installed writes, so a reload that raced with a write is redone instead of installing older data.
    installs: AtomicU64,
    commands: mpsc::UnboundedSender<PipelineCommand>,
    host: Arc<HostTable>,
    changes: broadcast::Sender<KeyChanged>,
    /// `realtime_config_invalid_overrides{strategy_id}`: stored overrides that do not fit their strategy.
    invalid_overrides: prometheus::IntGaugeVec,
}

impl Snapshot {
    /// An empty snapshot (env and defaults apply) sending updates on `commands`.
    pub fn new(layers: Arc<Layers>, commands: mpsc::UnboundedSender<PipelineCommand>) -> Self {
        Self {
            layers,
            strategies: RwLock::new(BTreeMap::new()),
            install_lock: Mutex::new(()),
            installs: AtomicU64::new(0),
            commands,
            host: Arc::new(HostTable::new()),
            changes: broadcast::channel(1024).0,
            invalid_overrides: invalid_overrides_gauge(),
        }
    }

    /// Every key whose applied override changes from now on.
    pub fn subscribe_changes(&self) -> broadcast::Receiver<KeyChanged> {
        self.changes.subscribe()
    }

    /// The effective host-level parameters (`enabled`, risk overrides) of every strategy and symbol.
    pub fn host_table(&self) -> Arc<HostTable> {
        self.host.clone()
    }

    /// The gauge of stored overrides that do not fit their strategy.
    pub fn invalid_overrides_gauge(&self) -> &prometheus::IntGaugeVec {
        &self.invalid_overrides
    }

    /// Calls `f` with a strategy's resolved overrides (`None`: nothing stored).
    pub fn with_stored<R>(&self, id: &str, f: impl FnOnce(Option<&Stored>) -> R) -> R {
        f(self.strategies.read().get(id))
    }

    /// The stored documents of a strategy.
    pub fn docs(&self, id: &str) -> StrategyDocs {
        self.with_stored(id, |st| st.map(|st| st.docs.clone()).unwrap_or_default())
    }

    /// The version of the stored override this replica applies per strategy and scope (`global` or a symbol);
    /// strategies without stored overrides are absent.
    pub fn applied_versions(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        self.strategies
            .read()
            .iter()
            .map(|(id, st)| {
                let mut scopes = BTreeMap::new();
                if let Some(g) = &st.docs.global {
                    scopes.insert("global".to_owned(), g.version);
                }
                for (sym, d) in &st.docs.symbols {
                    scopes.insert(sym.clone(), d.version);
                }
                (id.clone(), scopes)
            })
            .collect()
    }

    /// Whether a global override exists and which symbols have overrides.
    pub fn override_summary(&self, id: &str) -> (bool, Vec<String>) {
        self.with_stored(id, |st| match st {
            Some(st) => (
                st.docs.global.is_some(),
                st.docs.symbols.keys().cloned().collect(),
            ),
            None => (false, Vec::new()),
        })
    }

    /// Version of the most specific stored override in force for `(id, symbol)` (0: none).
    pub fn version_of(&self, id: &str, symbol: &str) -> u64 {
        self.with_stored(id, |st| {
            st.and_then(|st| st.docs.symbols.get(symbol).or(st.docs.global.as_ref()))
                .map_or(0, |d| d.version)
        })
    }

    /// The effective configuration of `s` (and a symbol); `store_kind` names the source when an override applies.
    pub fn effective(
        &self,
        s: &RegisteredStrategy,
        base: &Resolved,
        symbol: Option<&str>,
        store_kind: &str,
    ) -> Effective {
        let strategies = self.strategies.read();
        let empty = Stored::default();
        let st = strategies.get(s.id()).unwrap_or(&empty);
        let global = st.docs.global.as_ref().zip(st.global.as_ref());
        let sym = symbol.and_then(|sym| st.docs.symbols.get(sym).zip(st.symbols.get(sym)));
        let mut invalid = Vec::new();
        if let Some((d, Err(errors))) = global {
            invalid.push(invalid_doc(None, d.version, &d.parameters, errors));
        }
        if let Some((d, Err(errors))) = sym {
            invalid.push(invalid_doc(symbol, d.version, &d.parameters, errors));
        }
        let global = global.filter(|(_, o)| o.is_ok()).map(|(d, _)| d);
        let sym = sym.filter(|(_, o)| o.is_ok()).map(|(d, _)| d);
        let resolved = st.running(base, symbol);
        let top = sym.or(global);
        let source = match top {
            Some(_) => store_kind.to_owned(),
            None if self.layers.has_env(s.id()) => "environment".into(),
            None => "default".into(),
        };
        Effective {
            parameters: resolved.parameters.clone(),
            provenance: resolved.provenance.clone(),
            version: top.map_or(0, |d| d.version),
            source,
            is_override: sym.is_some(),
            created_at: top.map(|d| iso(d.created_at_ms)),
            updated_at: top.map(|d| iso(d.updated_at_ms)),
            global_version: global.map(|d| d.version),
            symbol_version: sym.map(|d| d.version),
            invalid_overrides: invalid,
        }
    }

    /// Number of writes installed so far (a reload compares it before and after reading the store).
    pub fn installs(&self) -> u64 {
        self.installs.load(Ordering::Relaxed)
    }

    /// Puts a stored change into the snapshot unless a reload already brought a newer version of its key.
    /// `prepared`: what the write's check resolved, reused when it matches what was stored.
    pub fn install_applied(&self, applied: &Applied, prepared: Option<&Prepared>) {
        let id = &applied.audit.strategy_id;
        let symbol = applied.audit.symbol.as_deref();
        let _install = self.install_lock.lock();
        let mut docs = self.docs(id);
        let current = match symbol {
            Some(s) => docs.symbols.get(s),
            None => docs.global.as_ref(),
        };
        if current.is_some_and(|d| d.version > applied.audit.version) {
            return;
        }
        match (&applied.doc, symbol) {
            (Some(d), Some(s)) => {
                docs.symbols.insert(s.to_owned(), d.clone());
            }
            (Some(d), None) => docs.global = Some(d.clone()),
            (None, Some(s)) => {
                docs.symbols.remove(s);
            }
            (None, None) => docs.global = None,
        }
        self.install(id, docs, prepared);
        self.installs.fetch_add(1, Ordering::Relaxed);
    }

    /// Installs what a reload read (`whole`: `loaded` holds every strategy, so one missing from it has no stored
    /// override any more). Returns `false` without installing when a write was installed since
    /// `installs_before`, unless `force`: the caller reads again. `on_install` sees what is installed first.
    pub fn install_loaded(
        &self,
        loaded: BTreeMap<String, StrategyDocs>,
        whole: bool,
        installs_before: u64,
        force: bool,
        on_install: impl FnOnce(&BTreeMap<String, StrategyDocs>),
    ) -> bool {
        let _install = self.install_lock.lock();
        if self.installs() != installs_before && !force {
            return false;
        }
        on_install(&loaded);
        let mut ids: Vec<String> = loaded.keys().cloned().collect();
        if whole {
            ids.extend(self.strategies.read().keys().cloned());
            ids.sort();
            ids.dedup();
        }
        for id in ids {
            let docs = loaded.get(&id).cloned().unwrap_or_default();
            self.install(&id, docs, None);
        }
        true
    }

    /// Replaces a strategy's stored overrides and pushes every changed effective parameter set to the pipeline.
    fn install(&self, id: &str, new: StrategyDocs, prepared: Option<&Prepared>) {
        let Some(s) = self.layers.strategy(id) else {
            return;
        };
        let Some(base) = self.layers.base(id) else {
            return;
        };
        let (old, now) = {
            let mut strategies = self.strategies.write();
            let old = strategies.get(id).cloned().unwrap_or_default();
            if old.docs == new {
                return;
            }
            let now = Stored::resolve(s, base, new, Some(&old), prepared);
            if now.docs.global.is_none() && now.docs.symbols.is_empty() {
                strategies.remove(id);
            } else {
                strategies.insert(id.to_owned(), now.clone());
            }
            (old, now)
        };
        self.note_invalid(s, &now);
        self.announce(id, &old.docs, &now.docs);
        let global_changed = old.docs.global != now.docs.global;
        if global_changed {
            self.push(id, None, now.running_global(base));
        }
        for (sym, d) in &now.docs.symbols {
            if global_changed || old.docs.symbols.get(sym) != Some(d) {
                self.push(id, Some(sym), now.running(base, Some(sym)));
            }
        }
        for sym in old.docs.symbols.keys() {
            if !now.docs.symbols.contains_key(sym) {
                self.host.set(id, Some(sym), None);
                let _ = self.commands.send(PipelineCommand::Params {
                    strategy: id.to_owned(),
                    symbol: Some(sym.clone()),
                    params: None,
                });
            }
        }
    }

    /// Sends a [`KeyChanged`] for every key whose stored override changed.
    fn announce(&self, id: &str, old: &StrategyDocs, new: &StrategyDocs) {
        let changed = |symbol: Option<&String>, doc: Option<&ConfigDoc>| KeyChanged {
            strategy_id: id.to_owned(),
            symbol: symbol.cloned(),
            version: doc.map_or(0, |d| d.version),
        };
        if old.global != new.global {
            let _ = self.changes.send(changed(None, new.global.as_ref()));
        }
        for (sym, d) in &new.symbols {
            if old.symbols.get(sym) != Some(d) {
                let _ = self.changes.send(changed(Some(sym), Some(d)));
            }
        }
        for sym in old.symbols.keys() {
            if !new.symbols.contains_key(sym) {
                let _ = self.changes.send(changed(Some(sym), None));
            }
        }
    }

    /// Counts and logs the stored overrides of a strategy that do not fit it (they do not run).
    fn note_invalid(&self, s: &RegisteredStrategy, stored: &Stored) {
        let invalid = stored.invalid();
        let gauge = self.invalid_overrides.with_label_values(&[s.id()]);
        #[allow(clippy::cast_possible_wrap)]
        gauge.set(invalid.len() as i64);
        for (symbol, errors) in invalid {
            tracing::warn!(
                strategy = s.id(),
                symbol = symbol.unwrap_or("global"),
                errors = %errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "),
                "stored configuration override does not fit the strategy: not applied (the layer below is); the next write replaces it"
            );
        }
    }

    fn push(&self, id: &str, symbol: Option<&str>, resolved: &Resolved) {
        self.host.set(id, symbol, Some(resolved.host));
        let _ = self.commands.send(PipelineCommand::Params {
            strategy: id.to_owned(),
            symbol: symbol.map(str::to_owned),
            params: Some(resolved.params.clone()),
        });
    }

    /// Pushes every strategy's effective parameters (global and per symbol) to the pipeline (start-up).
    pub fn push_all(&self) {
        let strategies = self.strategies.read().clone();
        for s in self.layers.registry().strategies() {
            let Some(base) = self.layers.base(s.id()) else {
                continue;
            };
            let st = strategies.get(s.id());
            match st {
                Some(st) => {
                    self.push(s.id(), None, st.running_global(base));
                    for sym in st.docs.symbols.keys() {
                        self.push(s.id(), Some(sym), st.running(base, Some(sym)));
                    }
                }
                None => self.push(s.id(), None, base),
            }
        }
    }
}

#[allow(clippy::expect_used)]
fn invalid_overrides_gauge() -> prometheus::IntGaugeVec {
    prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "realtime_config_invalid_overrides",
            "Stored configuration overrides that do not fit their strategy and do not run (the layer below applies)",
        ),
        &["strategy_id"],
    )
    .expect("static metric")
}
