//! Built-in plugins: event consumers that feed the API rather than publish signals.

use std::any::Any;
use std::sync::Arc;

use crate::event::{EventContext, MarketEvent, SymbolId};

/// A plugin runs on the processing path next to the strategies. Same rules: no await, no allocation per event.
pub trait Plugin: Send {
    /// Handles one event.
    fn on_event(&mut self, ctx: &EventContext<'_>, event: &MarketEvent<'_>);

    /// A shared read handle for the API (downcast by the host to the plugin's reader type).
    fn reader(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }

    /// Periodic housekeeping (expiry), called by the host about once a second with the latest event time.
    fn tick(&mut self, _now_ms: i64) {}

    /// Frees everything kept for `symbol` (idle for `SYMBOL_IDLE_SECONDS`); its id may be reused for another
    /// symbol.
    fn forget(&mut self, _symbol: SymbolId) {}
}
