//! Interning of symbol names into dense ids, with ids freed and reused when symbols go idle.

use std::collections::HashMap;
use std::sync::Arc;

use strategy_sdk::decode::MAX_SYMBOL_LEN;
use strategy_sdk::SymbolId;

/// A symbol name as a hash-map key. Names of at most [`MAX_SYMBOL_LEN`] bytes — every name a message can carry,
/// since the decoders refuse longer symbols — are held inline: a lookup compares a few machine words in the map's
/// own memory instead of following a pointer to the name and calling `memcmp`, and allocates nothing. Longer names
/// (only the configuration could hold one) are boxed. Built only by [`SymbolKey::new`] and [`SymbolKey::upper`], so
/// each name has exactly one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolKey(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// A name of `len` bytes, then zeros.
    Inline {
        len: u8,
        bytes: [u8; MAX_SYMBOL_LEN],
    },
    /// A name longer than [`MAX_SYMBOL_LEN`] bytes.
    Long(Box<str>),
}

impl SymbolKey {
    /// The key of `symbol`.
    #[inline]
    pub fn new(symbol: &str) -> Self {
        Self::inline(symbol.as_bytes(), |b| b).unwrap_or_else(|| Self(Repr::Long(symbol.into())))
    }

    /// The key of `symbol` upper-cased (ASCII): the name the decoders report for a `stream` token's symbol, without
    /// building the string first. `None` when it is longer than [`MAX_SYMBOL_LEN`] bytes (no decoder accepts it).
    #[inline]
    pub fn upper(symbol: &[u8]) -> Option<Self> {
        Self::inline(symbol, |b| b.to_ascii_uppercase())
    }

    #[inline]
    fn inline(symbol: &[u8], map: impl Fn(u8) -> u8) -> Option<Self> {
        if symbol.len() > MAX_SYMBOL_LEN {
            return None;
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        for (to, &from) in bytes.iter_mut().zip(symbol) {
            *to = map(from);
        }
        Some(Self(Repr::Inline {
            len: symbol.len() as u8,
            bytes,
        }))
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Long(name) => name.as_bytes(),
        }
    }

    /// Whether the name is held inline (at most [`MAX_SYMBOL_LEN`] bytes).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

/// Hashes the name's bytes only (equal keys have equal bytes): a short name takes the hasher's short-input path
/// instead of hashing the padding too.
impl std::hash::Hash for SymbolKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

/// Maps symbol names to dense [`SymbolId`]s. Lookups of known symbols allocate nothing. A forgotten symbol's id
/// goes to a free list and is handed to the next new symbol (so per-id state elsewhere stays bounded); whoever
/// keeps per-id state must have dropped it before the id is reused (see `Pipeline::forget_idle`).
#[derive(Debug, Default)]
pub struct SymbolTable {
    /// Looked up once or twice per message: inline keys, and foldhash (seeded per process), which costs a fraction
    /// of the default SipHash.
    ids: HashMap<SymbolKey, SymbolId, foldhash::fast::RandomState>,
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
        self.get_key(&SymbolKey::new(symbol))
    }

    /// The id of the symbol with this key if it is interned.
    #[inline]
    pub fn get_key(&self, key: &SymbolKey) -> Option<SymbolId> {
        self.ids.get(key).copied()
    }

    /// The id of `symbol`, assigning a free or the next one if it is new.
    pub fn intern(&mut self, symbol: &str) -> SymbolId {
        let key = SymbolKey::new(symbol);
        if let Some(&id) = self.ids.get(&key) {
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
        self.ids.insert(key, id);
        id
    }

    /// Frees `id`: its name is forgotten and the id will be reused.
    pub fn forget(&mut self, id: SymbolId) {
        if let Some(name) = self.names.get_mut(id.index()).and_then(Option::take) {
            self.ids.remove(&SymbolKey::new(&name));
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

    #[test]
    fn keys_tell_every_name_apart_inline_or_long() {
        let mut t = SymbolTable::new();
        let longest = "X".repeat(MAX_SYMBOL_LEN);
        let longer = "X".repeat(MAX_SYMBOL_LEN + 1);
        let names = ["A", "A\0", "AB", "BA", "", &longest, &longer];
        let ids: Vec<_> = names.iter().map(|n| t.intern(n)).collect();
        for (name, id) in names.iter().zip(&ids) {
            assert_eq!(t.get(name), Some(*id), "{name:?}");
            assert_eq!(t.name(*id), Some(*name));
            assert_eq!(SymbolKey::new(name).as_bytes(), name.as_bytes());
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), names.len());
        assert!(SymbolKey::new(&longest).is_inline());
        assert!(!SymbolKey::new(&longer).is_inline());
        t.forget(ids[6]);
        assert_eq!(t.get(&longer), None);
        assert_eq!(t.len(), names.len() - 1);
    }

    #[test]
    fn upper_keys_are_the_keys_of_the_upper_cased_names() {
        for raw in ["btcusdt", "BtC1000x", "", "ETHUSDT"] {
            assert_eq!(
                SymbolKey::upper(raw.as_bytes()),
                Some(SymbolKey::new(&raw.to_ascii_uppercase()))
            );
        }
        assert_eq!(SymbolKey::upper(&[b'a'; MAX_SYMBOL_LEN + 1]), None);
    }
}
