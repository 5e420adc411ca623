//! Stored overrides that no longer fit their strategy (written by an older version, edited in the database, a
//! range tightened since): such a layer does not run. The effective parameters fall back to the layer below (an
//! invalid global override is skipped, an invalid symbol override leaves the symbol on the global parameters),
//! the configuration API shows the layer as invalid with its validation errors, the gauge
//! `realtime_config_invalid_overrides{strategy_id}` counts them, and the next write to the key replaces it.

use serde_json::{json, Value};
use strategy_sdk::FieldError;

use crate::config::layers::Layer;

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
