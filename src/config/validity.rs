//! Stored overrides that no longer fit their strategy (written by an older version, edited in the database, a
//! range tightened since): such a layer does not run. The effective parameters fall back to the layer below (an
//! invalid global override is skipped, an invalid symbol override leaves the symbol on the global parameters),
//! the configuration API shows the layer as invalid with its validation errors, the gauge
//! `realtime_config_invalid_overrides{strategy_id}` counts them, and the next write to the key replaces it.

use serde_json::{json, Map, Value};
use strategy_sdk::FieldError;

use crate::config::store::StrategyDocs;
use crate::registry::RegisteredStrategy;

type Layer = Map<String, Value>;

/// Defaults ← env ← global ← symbol, field by field, with the layer each effective value came from.
pub fn merge_layers(
    s: &RegisteredStrategy,
    env: Option<&Layer>,
    global: Option<&Layer>,
    symbol: Option<&Layer>,
) -> (Value, Map<String, Value>) {
    let mut doc = s.defaults.clone();
    let mut prov = Map::new();
    if let Some(obj) = doc.as_object() {
        for k in obj.keys() {
            prov.insert(k.clone(), "default".into());
        }
    }
    let layers = [("env", env), ("global", global), ("symbol", symbol)];
    if let Some(obj) = doc.as_object_mut() {
        for (name, layer) in layers {
            for (k, v) in layer.into_iter().flatten() {
                obj.insert(k.clone(), v.clone());
                prov.insert(k.clone(), name.into());
            }
        }
    }
    (doc, prov)
}

/// Why a stored layer cannot run: its own fields against the schema, then the merged parameters (env and, for a
/// symbol layer, the global layer that runs under it) against the schema and the strategy's rules.
pub fn layer_errors(
    s: &RegisteredStrategy,
    env: Option<&Layer>,
    global_below: Option<&Layer>,
    layer: &Layer,
    symbol_layer: bool,
) -> Vec<FieldError> {
    let mut errors = s.check_schema(&Value::Object(layer.clone()));
    let (merged, _) = if symbol_layer {
        merge_layers(s, env, global_below, Some(layer))
    } else {
        merge_layers(s, env, Some(layer), None)
    };
    if let Err(more) = s.check_complete(&merged) {
        for e in more {
            if !errors
                .iter()
                .any(|x| x.field == e.field && x.rule == e.rule)
            {
                errors.push(e);
            }
        }
    }
    errors
}

/// The stored layers that run: an invalid global layer is dropped, a symbol layer is checked on top of the global
/// layer that runs and dropped when invalid.
pub fn runnable<'a>(
    s: &RegisteredStrategy,
    env: Option<&Layer>,
    global: Option<&'a Layer>,
    symbol: Option<&'a Layer>,
) -> (Option<&'a Layer>, Option<&'a Layer>) {
    let global = global.filter(|g| layer_errors(s, env, None, g, false).is_empty());
    let symbol = symbol.filter(|l| layer_errors(s, env, global, l, true).is_empty());
    (global, symbol)
}

/// One stored override that does not run, as the API shows it.
pub fn invalid_doc(
    symbol: Option<&str>,
    version: u64,
    parameters: &Layer,
    errors: &[FieldError],
) -> Value {
    json!({
        "scope": if symbol.is_some() { "symbol" } else { "global" },
        "symbol": symbol,
        "version": version,
        "parameters": parameters,
        "errors": errors,
        "effect": "not applied: the effective values fall back to the layer below; the next write to this key replaces it",
    })
}

/// The stored overrides of a strategy that do not run (global first, then symbols).
pub fn invalid_layers(
    s: &RegisteredStrategy,
    env: Option<&Layer>,
    docs: &StrategyDocs,
) -> Vec<(Option<String>, Vec<FieldError>)> {
    let mut out = Vec::new();
    let global = docs.global.as_ref().map(|g| &g.parameters);
    let global_errors = global
        .map(|g| layer_errors(s, env, None, g, false))
        .unwrap_or_default();
    let runs = if global_errors.is_empty() {
        global
    } else {
        out.push((None, global_errors));
        None
    };
    for (sym, d) in &docs.symbols {
        let errors = layer_errors(s, env, runs, &d.parameters, true);
        if !errors.is_empty() {
            out.push((Some(sym.clone()), errors));
        }
    }
    out
}
