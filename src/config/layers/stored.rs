//! A strategy's stored overrides, each resolved on the layers that run below it: what the configuration API shows
//! and what the pipeline runs, computed once per change of a layer.

use std::collections::BTreeMap;

use strategy_sdk::FieldError;

use crate::config::layers::validation::Prepared;
use crate::config::layers::{resolve_on, LayerOutcome, Resolved, Scope};
use crate::config::store::StrategyDocs;
use crate::registry::RegisteredStrategy;

/// The stored overrides of one strategy with their resolutions.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// The stored documents.
    pub docs: StrategyDocs,
    /// The global override on defaults ← env (absent: none stored).
    pub global: Option<LayerOutcome>,
    /// Each symbol override on the global layer that runs.
    pub symbols: BTreeMap<String, LayerOutcome>,
}

impl Stored {
    /// Resolves every stored layer of `docs`, reusing what `old` (the previous state) and `prepared` (a write's
    /// validation) already resolved for unchanged layers.
    pub fn resolve(
        s: &RegisteredStrategy,
        base: &Resolved,
        docs: StrategyDocs,
        old: Option<&Stored>,
        prepared: Option<&Prepared>,
    ) -> Self {
        let global_unchanged = old.is_some_and(|o| o.docs.global == docs.global);
        let global = match &docs.global {
            None => None,
            Some(_) if global_unchanged => old.and_then(|o| o.global.clone()),
            Some(d) => Some(match prepared.and_then(|p| p.global_for(&d.parameters)) {
                Some(r) => Ok(r.clone()),
                None => resolve_on(s, base, &d.parameters, Scope::Global),
            }),
        };
        let below = match &global {
            Some(Ok(g)) => g,
            _ => base,
        };
        let symbols = docs
            .symbols
            .iter()
            .map(|(sym, d)| {
                let reused = if global_unchanged {
                    old.filter(|o| o.docs.symbols.get(sym) == Some(d))
                        .and_then(|o| o.symbols.get(sym).cloned())
                } else {
                    None
                };
                let outcome = reused
                    .or_else(|| {
                        prepared
                            .and_then(|p| p.symbol_for(sym, &d.parameters, &docs.global))
                            .map(|r| Ok(r.clone()))
                    })
                    .unwrap_or_else(|| resolve_on(s, below, &d.parameters, Scope::Symbol));
                (sym.clone(), outcome)
            })
            .collect();
        Self {
            docs,
            global,
            symbols,
        }
    }

    /// The global parameters that run: the global override when it fits, else defaults ← env.
    pub fn running_global<'a>(&'a self, base: &'a Resolved) -> &'a Resolved {
        match &self.global {
            Some(Ok(g)) => g,
            _ => base,
        }
    }

    /// The parameters that run for `symbol` (`None`: the global ones).
    pub fn running<'a>(&'a self, base: &'a Resolved, symbol: Option<&str>) -> &'a Resolved {
        match symbol.and_then(|sym| self.symbols.get(sym)) {
            Some(Ok(r)) => r,
            _ => self.running_global(base),
        }
    }

    /// The stored overrides that do not run (global first, then symbols), with their errors.
    pub fn invalid(&self) -> Vec<(Option<&str>, &[FieldError])> {
        let global = match &self.global {
            Some(Err(errors)) => Some((None, errors.as_slice())),
            _ => None,
        };
        global
            .into_iter()
            .chain(self.symbols.iter().filter_map(|(sym, o)| match o {
                Err(errors) => Some((Some(sym.as_str()), errors.as_slice())),
                Ok(_) => None,
            }))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Map, Value};

    use super::*;
    use crate::config::layers::validation::validate;
    use crate::config::layers::Layers;
    use crate::config::store::ConfigDoc;
    use crate::registry::Registry;

    fn layer(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn doc(symbol: Option<&str>, parameters: Map<String, Value>, version: u64) -> ConfigDoc {
        ConfigDoc {
            strategy_id: "orderbook_skew".into(),
            symbol: symbol.map(str::to_owned),
            parameters,
            version,
            created_at_ms: 0,
            updated_at_ms: 0,
            created_by: "test".into(),
            metadata: Map::new(),
        }
    }

    fn layers() -> Layers {
        Layers::new(Arc::new(Registry::load().unwrap()), &|_| None).unwrap()
    }

    #[test]
    fn a_symbol_layer_runs_on_the_global_one_with_provenance() {
        let layers = layers();
        let s = layers.strategy("orderbook_skew").unwrap();
        let base = layers.base("orderbook_skew").unwrap();
        let mut docs = StrategyDocs {
            global: Some(doc(None, layer(json!({"buy_threshold": 1.5})), 1)),
            ..Default::default()
        };
        docs.symbols.insert(
            "ETHUSDT".into(),
            doc(Some("ETHUSDT"), layer(json!({"top_levels": 7})), 1),
        );
        let stored = Stored::resolve(s, base, docs, None, None);
        let eth = stored.running(base, Some("ETHUSDT"));
        assert_eq!(eth.parameters["buy_threshold"], json!(1.5));
        assert_eq!(eth.parameters["top_levels"], json!(7));
        assert_eq!(eth.provenance["buy_threshold"], json!("global"));
        assert_eq!(eth.provenance["top_levels"], json!("symbol"));
        assert_eq!(eth.provenance["sell_threshold"], json!("default"));
        assert!(stored.invalid().is_empty());
    }

    #[test]
    fn a_layer_that_breaks_a_rule_does_not_run_and_the_layer_below_applies() {
        let layers = layers();
        let s = layers.strategy("orderbook_skew").unwrap();
        let base = layers.base("orderbook_skew").unwrap();
        let mut docs = StrategyDocs::default();
        // sell_threshold must stay below buy_threshold (1.2 by default).
        docs.symbols.insert(
            "ETHUSDT".into(),
            doc(Some("ETHUSDT"), layer(json!({"sell_threshold": 1.3})), 4),
        );
        let stored = Stored::resolve(s, base, docs, None, None);
        let invalid = stored.invalid();
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].0, Some("ETHUSDT"));
        assert!(invalid[0]
            .1
            .iter()
            .any(|e| e.field.contains("sell_threshold")));
        assert_eq!(
            stored.running(base, Some("ETHUSDT")).parameters,
            base.parameters
        );
    }

    #[test]
    fn installing_a_checked_write_reuses_its_resolution_instead_of_merging_again() {
        let layers = layers();
        let s = layers.strategy("orderbook_skew").unwrap();
        let base = layers.base("orderbook_skew").unwrap();
        let before = Stored::resolve(s, base, StrategyDocs::default(), None, None);
        let sent = layer(json!({"top_levels": 9}));
        let prepared = validate(s, base, Some(&before), Some("BTCUSDT"), &sent).unwrap();
        let mut docs = StrategyDocs::default();
        docs.symbols
            .insert("BTCUSDT".into(), doc(Some("BTCUSDT"), sent.clone(), 1));
        let after = Stored::resolve(s, base, docs.clone(), Some(&before), Some(&prepared));
        let Prepared::Symbol { resolved, .. } = &prepared else {
            panic!("a symbol write prepares a symbol layer");
        };
        let installed = after.running(base, Some("BTCUSDT"));
        assert!(Arc::ptr_eq(&installed.params.0, &resolved.params.0));
        // Without the check's result the layer is resolved (and deserialised) anew.
        let fresh = Stored::resolve(s, base, docs, Some(&before), None);
        assert!(!Arc::ptr_eq(
            &fresh.running(base, Some("BTCUSDT")).params.0,
            &resolved.params.0
        ));
        assert_eq!(
            fresh.running(base, Some("BTCUSDT")).parameters,
            resolved.parameters
        );
    }

    #[test]
    fn a_global_write_that_breaks_a_running_symbol_override_is_refused_naming_it() {
        let layers = layers();
        let s = layers.strategy("orderbook_skew").unwrap();
        let base = layers.base("orderbook_skew").unwrap();
        let mut docs = StrategyDocs::default();
        docs.symbols.insert(
            "ETHUSDT".into(),
            doc(Some("ETHUSDT"), layer(json!({"sell_threshold": 1.0})), 1),
        );
        let stored = Stored::resolve(s, base, docs, None, None);
        assert!(stored.invalid().is_empty());
        let errors = validate(
            s,
            base,
            Some(&stored),
            None,
            &layer(json!({"buy_threshold": 1.0})),
        )
        .unwrap_err();
        assert!(
            errors.iter().any(|e| e.message.contains("ETHUSDT")),
            "{errors:?}"
        );
    }
}
