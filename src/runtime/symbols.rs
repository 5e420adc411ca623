//! Interning of symbol names into dense ids, with ids freed and reused when symbols go idle.

use std::collections::HashMap;
use std::sync::Arc;

use strategy_sdk::SymbolId;

/// Maps symbol names to dense [`SymbolId`]s. Lookups of known symbols allocate nothing. A forgotten symbol's id
/// goes to a free list and is handed to the next new symbol (so per-id state elsewhere stays bounded); whoever
/// keeps per-id state must have dropped it before the id is reused (see `Pipeline::forget_idle`).
#[derive(Debug, Default)]
pub struct SymbolTable {
    /// Looked up once per message: foldhash (seeded per process) costs a fraction of the default SipHash.
    ids: HashMap<Arc<str>, SymbolId, foldhash::fast::RandomState>,
    names: Vec<Option<Arc<str>>>,
    free: Vec<SymbolId>,
}

impl SymbolTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `symbol` if it is interned.
    pub fn get(&self, symbol: &str) -> Option<SymbolId> {
        self.ids.get(symbol).copied()
    }

    /// The id of `symbol`, assigning a free or the next one if it is new.
    pub fn intern(&mut self, symbol: &str) -> SymbolId {
        if let Some(&id) = self.ids.get(symbol) {
            return id;
        }
        let name: Arc<str> = Arc::from(symbol);
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id.index()] = Some(name.clone());
                id
            }
            None => {
                let id = SymbolId(self.names.len() as u32);
                self.names.push(Some(name.clone()));
                id
            }
        };
        self.ids.insert(name, id);
        id
    }

    /// Frees `id`: its name is forgotten and the id will be reused.
    pub fn forget(&mut self, id: SymbolId) {
        if let Some(name) = self.names.get_mut(id.index()).and_then(Option::take) {
            self.ids.remove(&name);
            self.free.push(id);
        }
    }

    /// The name of an id.
    pub fn name(&self, id: SymbolId) -> Option<&str> {
        self.names.get(id.index()).and_then(|s| s.as_deref())
    }

    /// Number of symbols interned now.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Highest id ever assigned + 1 (the size of per-id vectors).
    pub fn capacity(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgotten_ids_are_reused() {
        let mut t = SymbolTable::new();
        let a = t.intern("A");
        let b = t.intern("B");
        t.forget(a);
        assert_eq!(t.name(a), None);
        assert_eq!(t.len(), 1);
        let c = t.intern("C");
        assert_eq!(c, a, "the freed id is reused");
        assert_eq!(t.name(c), Some("C"));
        assert_eq!(t.get("A"), None);
        assert_eq!(t.intern("B"), b);
        assert_eq!(t.capacity(), 2);
    }
}
