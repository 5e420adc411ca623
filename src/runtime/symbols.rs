//! Interning of symbol names into dense ids.

use std::collections::HashMap;
use std::sync::Arc;

use strategy_sdk::SymbolId;

/// Maps symbol names to dense [`SymbolId`]s. Lookups of known symbols allocate nothing.
#[derive(Debug, Default)]
pub struct SymbolTable {
    ids: HashMap<Arc<str>, SymbolId>,
    names: Vec<Arc<str>>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `symbol`, assigning the next one if it is new.
    pub fn intern(&mut self, symbol: &str) -> SymbolId {
        if let Some(&id) = self.ids.get(symbol) {
            return id;
        }
        let id = SymbolId(self.names.len() as u32);
        let name: Arc<str> = Arc::from(symbol);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The name of an id.
    pub fn name(&self, id: SymbolId) -> Option<&str> {
        self.names.get(id.index()).map(|s| &**s)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}
