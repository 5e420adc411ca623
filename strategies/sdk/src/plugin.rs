//! Built-in plugins: event consumers that feed the API rather than publish signals.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use crate::event::{EventContext, MarketEvent, SymbolId};

/// A plugin runs on the processing path next to the strategies. Same rules: no await, no allocation per event.
pub trait Plugin: Send {
    /// Handles one event.
    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>);

    /// Puts this plugin's shared read handles (if any) into `readers`, where the host's API finds them by type.
    fn register_readers(&self, _readers: &mut PluginReaders) {}

    /// Periodic housekeeping (expiry), called by the host about once a second with the latest event time.
    fn tick(&mut self, _now_ms: i64) {}

    /// Cache hints for a symbol whose message comes soon (see [`crate::cache`] and
    /// [`crate::strategy::Prefetch`]). Never changes a result. The default does nothing.
    fn prefetch(&self, _symbol: SymbolId, _what: crate::strategy::Prefetch) {}

    /// Frees everything kept for `symbol` (idle for `SYMBOL_IDLE_SECONDS`); its id may be reused for another
    /// symbol.
    fn forget(&mut self, _symbol: SymbolId) {}

    /// Another writer over this plugin's readable state, for a further processing thread of the host
    /// (`PROCESSING_THREADS`). Threads own disjoint sets of symbols, and each gets its own writer; the readers
    /// registered by the first one then answer for every thread's symbols. `None` (the default): the host builds
    /// an independent instance per thread, and only the first thread's readers are registered.
    fn thread_writer(&self) -> Option<Box<dyn Plugin>> {
        None
    }
}

/// The read handles plugins hand to the host, keyed by their type: the API asks for
/// `readers.get::<plugin_x::Reader>()` and gets that type back (no id strings, no downcast at the call site).
#[derive(Default, Clone)]
pub struct PluginReaders {
    by_type: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl PluginReaders {
    /// Stores `reader` under its type (a second reader of the same type replaces the first).
    pub fn insert<T: Any + Send + Sync>(&mut self, reader: Arc<T>) {
        self.by_type.insert(TypeId::of::<T>(), reader);
    }

    /// The reader of type `T`, when a plugin registered one.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let handle = self.by_type.get(&TypeId::of::<T>())?;
        Arc::clone(handle).downcast::<T>().ok()
    }

    /// Number of registered readers.
    pub fn len(&self) -> usize {
        self.by_type.len()
    }

    /// Whether no plugin registered a reader.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }
}

impl std::fmt::Debug for PluginReaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginReaders")
            .field("readers", &self.by_type.len())
            .finish()
    }
}
