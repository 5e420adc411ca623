//! How a write request becomes an override layer: the sent parameters are normalised (whole-number floats for
//! integer parameters), must not be empty, and are merged into the stored layer (`POST`, `PATCH`) or replace it
//! (`POST` with `"replace": true`, rollback, restore).

use serde_json::{Map, Number, Value};
use strategy_sdk::FieldError;

use crate::registry::RegisteredStrategy;

/// How the sent parameters combine with the key's stored override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// RFC 7396 merge into the stored layer: sent fields win, `null` removes a field, others stay.
    Merge,
    /// The sent parameters become the whole layer.
    Replace,
}

/// Who makes a change and why (kept in the audit record).
#[derive(Debug, Clone, Default)]
pub struct Writer {
    /// `changed_by`.
    pub changed_by: String,
    /// `reason`.
    pub reason: Option<String>,
    /// The calling service's `X-Petrosa-Issuer` header.
    pub issuer: Option<String>,
}

/// Rejects an empty parameter set: a tune with nothing in it must not wipe the layer.
pub fn require_parameters(params: &Map<String, Value>) -> Result<(), Vec<FieldError>> {
    if params.is_empty() {
        return Err(vec![FieldError {
            field: "/parameters".into(),
            rule: "minProperties".into(),
            message: "parameters must name at least one parameter to change".into(),
        }]);
    }
    Ok(())
}

fn is_integer_param(s: &RegisteredStrategy, field: &str) -> bool {
    match s.property(field).and_then(|p| p.get("type")) {
        Some(Value::String(t)) => t == "integer",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "integer"),
        _ => false,
    }
}

/// Whole-number floats (`6.0`) sent for integer parameters become integers (`6`); anything else is left for the
/// schema check to judge.
pub fn normalize_integers(s: &RegisteredStrategy, params: &mut Map<String, Value>) {
    for (field, value) in params.iter_mut() {
        let Value::Number(n) = value else { continue };
        if n.is_f64() && is_integer_param(s, field) {
            if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    *value = Value::Number(Number::from(f as i64));
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use serde_json::json;

    #[test]
    fn whole_floats_become_integers_only_for_integer_parameters() {
        let registry = Registry::load().unwrap();
        let s = registry.get("orderbook_skew").unwrap();
        let mut p = json!({"top_levels": 6.0, "buy_threshold": 2.0, "min_total_volume": 1.5})
            .as_object()
            .cloned()
            .unwrap();
        normalize_integers(s, &mut p);
        assert_eq!(
            Value::Object(p.clone()),
            json!({"top_levels": 6, "buy_threshold": 2.0, "min_total_volume": 1.5})
        );
        assert!(p["top_levels"].is_u64());
        let mut q = json!({"top_levels": 6.5}).as_object().cloned().unwrap();
        normalize_integers(s, &mut q);
        assert_eq!(q["top_levels"], json!(6.5));
    }

    #[test]
    fn empty_parameters_are_refused_with_their_field() {
        let e = require_parameters(&Map::new()).unwrap_err();
        assert_eq!(e[0].field, "/parameters");
    }
}
