//! The check of a new override before it is stored: the layer on the layers that run below it, and for a global
//! override every symbol override that runs today on top of it (a global change must not break a symbol). What the
//! check resolves is kept ([`Prepared`]) so installing the stored change merges and deserialises nothing again.

use std::collections::BTreeMap;

use strategy_sdk::FieldError;

use crate::config::layers::stored::Stored;
use crate::config::layers::{push_unique, resolve_on, Layer, Resolved, Scope};
use crate::config::store::ConfigDoc;
use crate::registry::RegisteredStrategy;

/// The resolutions a successful check computed, for the install of the same layer to reuse.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A global override and every symbol override that runs on it.
    Global {
        /// The checked layer.
        layer: Layer,
        /// It on defaults ← env.
        resolved: Resolved,
        /// Each running symbol override on it: its layer and resolution.
        symbols: BTreeMap<String, (Layer, Resolved)>,
    },
    /// A symbol override.
    Symbol {
        /// The symbol.
        symbol: String,
        /// The stored global layer it was checked on (`None`: none stored).
        global_below: Option<Layer>,
        /// The checked layer.
        layer: Layer,
        /// It on the global layer that runs.
        resolved: Resolved,
    },
}

impl Prepared {
    /// The resolution of a global layer with these parameters, if this check made it.
    pub fn global_for(&self, parameters: &Layer) -> Option<&Resolved> {
        match self {
            Prepared::Global {
                layer, resolved, ..
            } if layer == parameters => Some(resolved),
            _ => None,
        }
    }

    /// The resolution of `symbol`'s layer with these parameters on the stored `global`, if this check made it.
    pub fn symbol_for(
        &self,
        symbol: &str,
        parameters: &Layer,
        global: &Option<ConfigDoc>,
    ) -> Option<&Resolved> {
        let stored_global = global.as_ref().map(|g| &g.parameters);
        match self {
            Prepared::Global { layer, symbols, .. } if stored_global == Some(layer) => symbols
                .get(symbol)
                .filter(|(l, _)| l == parameters)
                .map(|(_, r)| r),
            Prepared::Symbol {
                symbol: sym,
                global_below,
                layer,
                resolved,
            } if sym == symbol && layer == parameters && global_below.as_ref() == stored_global => {
                Some(resolved)
            }
            _ => None,
        }
    }
}

/// Checks `layer` as the override of `(strategy, symbol)` against the strategy's stored overrides. Every problem
/// is listed: the layer's own fields against the schema, the merged result against the schema and rules, and for a
/// global layer each running symbol override on top of it (its errors name the symbol).
pub fn validate(
    s: &RegisteredStrategy,
    base: &Resolved,
    stored: Option<&Stored>,
    symbol: Option<&str>,
    layer: &Layer,
) -> Result<Prepared, Vec<FieldError>> {
    match symbol {
        Some(sym) => {
            let below = stored.map_or(base, |st| st.running_global(base));
            let resolved = resolve_on(s, below, layer, Scope::Symbol)?;
            Ok(Prepared::Symbol {
                symbol: sym.to_owned(),
                global_below: stored
                    .and_then(|st| st.docs.global.as_ref().map(|g| g.parameters.clone())),
                layer: layer.clone(),
                resolved,
            })
        }
        None => {
            let resolved = resolve_on(s, base, layer, Scope::Global)?;
            let mut errors = Vec::new();
            let mut symbols = BTreeMap::new();
            let running = stored
                .into_iter()
                .flat_map(|st| st.symbols.iter())
                .filter(|(_, outcome)| outcome.is_ok());
            for (sym, _) in running {
                let Some(doc) = stored.and_then(|st| st.docs.symbols.get(sym)) else {
                    continue;
                };
                match resolve_on(s, &resolved, &doc.parameters, Scope::Symbol) {
                    Ok(r) => {
                        symbols.insert(sym.clone(), (doc.parameters.clone(), r));
                    }
                    Err(errs) => push_unique(&mut errors, errs, Some(sym)),
                }
            }
            if !errors.is_empty() {
                return Err(errors);
            }
            Ok(Prepared::Global {
                layer: layer.clone(),
                resolved,
                symbols,
            })
        }
    }
}
