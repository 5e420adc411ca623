//! The environment layer of a strategy's parameters (variables converted by the schema's types), and RFC 7396 merge
//! patches.

use serde_json::{Map, Value};

use crate::registry::RegisteredStrategy;

/// An environment variable that does not fit its parameter.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {var} = {value:?} is invalid for {strategy}.{field}: {reason}")]
pub struct EnvError {
    /// Variable name.
    pub var: String,
    /// Its value.
    pub value: String,
    /// Strategy id.
    pub strategy: &'static str,
    /// Parameter field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// The environment layer of one strategy: every parameter whose variable (the original's name, else
/// `<ID>_<FIELD>`) is set, converted to the parameter's JSON type and checked against the schema.
pub fn env_layer(
    strategy: &RegisteredStrategy,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map<String, Value>, EnvError> {
    let mut layer = Map::new();
    for field in &strategy.fields {
        let var = strategy.descriptor.env_var_for(field);
        let Some(raw) = env(&var) else { continue };
        // `type` is a string, or a list such as ["number", "null"] for optional parameters.
        let kind = match strategy.property(field).and_then(|p| p.get("type")) {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("string"),
            _ => "string",
        };
        let value = convert(&raw, kind);
        let mut probe = Map::new();
        probe.insert(field.clone(), value.clone());
        if let Some(e) = strategy
            .check_schema(&Value::Object(probe))
            .into_iter()
            .next()
        {
            return Err(EnvError {
                var,
                value: raw,
                strategy: strategy.id(),
                field: field.clone(),
                reason: e.message,
            });
        }
        layer.insert(field.clone(), value);
    }
    Ok(layer)
}

fn convert(raw: &str, kind: &str) -> Value {
    let trimmed = raw.trim();
    match kind {
        "boolean" => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => Value::String(raw.to_owned()),
        },
        "integer" | "number" => {
            serde_json::from_str::<Value>(trimmed).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        "array" => serde_json::from_str::<Value>(trimmed)
            .ok()
            .filter(Value::is_array)
            .unwrap_or_else(|| {
                Value::Array(
                    trimmed
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                )
            }),
        _ => Value::String(raw.to_owned()),
    }
}

/// JSON merge patch (RFC 7386) of `patch` onto `target`: objects merge field by field, `null` removes a field.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_and_removes() {
        let mut a = json!({"x": 1, "y": 2, "n": {"a": 1}});
        merge_patch(&mut a, &json!({"y": null, "z": 3, "n": {"b": 2}}));
        assert_eq!(a, json!({"x": 1, "z": 3, "n": {"a": 1, "b": 2}}));
    }

    #[test]
    fn converts_env_strings_by_schema_type() {
        assert_eq!(convert("1.5", "number"), json!(1.5));
        assert_eq!(convert("TRUE", "boolean"), json!(true));
        assert_eq!(
            convert("binance, coinbase", "array"),
            json!(["binance", "coinbase"])
        );
        assert_eq!(convert("abc", "number"), json!("abc"));
    }
}
