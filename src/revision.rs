//! Strategy revision ids: `srev_{module_hash[:12]}_{parameter_hash[:12]}`, the key under which the decision
//! service looks up a strategy's characterization.
//!
//! - `module_hash` = SHA-256 of `"<crate name>@<crate version>"` of the crate that registered the strategy;
//! - `parameter_hash` = SHA-256 of the canonical JSON (keys sorted, no white space) of the strategy's **default**
//!   parameters, so tuning live parameters never makes the id stale.
//!
//! The `evaluate --characterization` artifact and the optional `strategy_revision_id` field of published signals
//! both use [`strategy_revision_id`], so a signal always names the revision its characterization was made for.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::registry::RegisteredStrategy;

/// Full hashes behind a revision id (the characterization artifact carries them for audits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revision {
    /// `srev_{module_hash[:12]}_{parameter_hash[:12]}`.
    pub revision_id: String,
    /// 64-hex SHA-256 of `"<crate name>@<crate version>"`.
    pub module_hash: String,
    /// 64-hex SHA-256 of the canonical JSON of the default parameters.
    pub parameter_hash: String,
}

/// The revision of a registered strategy.
pub fn revision(strategy: &RegisteredStrategy) -> Revision {
    let d = strategy.descriptor;
    let module_hash = sha256_hex(format!("{}@{}", d.crate_name, d.crate_version).as_bytes());
    let parameter_hash = sha256_hex(canonical_json(&strategy.defaults).as_bytes());
    Revision {
        revision_id: format!("srev_{}_{}", &module_hash[..12], &parameter_hash[..12]),
        module_hash,
        parameter_hash,
    }
}

/// The revision id of a registered strategy (see the module documentation).
pub fn strategy_revision_id(strategy: &RegisteredStrategy) -> String {
    revision(strategy).revision_id
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// JSON with object keys sorted at every level and no white space (Python's
/// `json.dumps(v, sort_keys=True, separators=(",", ":"))` for the values parameters hold).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[1,{"z":2,"y":1}],"c":1.5}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":1.5,"d":[1,{"y":1,"z":2}]},"b":1}"#
        );
    }

    #[test]
    fn revision_ids_have_the_documented_shape_and_differ_per_strategy() {
        let registry = Registry::load().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for s in registry.strategies() {
            assert!(
                !s.descriptor.crate_name.is_empty(),
                "{} has no crate name",
                s.id()
            );
            let r = revision(s);
            assert_eq!(r.revision_id.len(), "srev_".len() + 12 + 1 + 12);
            assert!(r.revision_id.starts_with("srev_"));
            assert_eq!(&r.revision_id[5..17], &r.module_hash[..12]);
            assert_eq!(
                r.parameter_hash,
                sha256_hex(canonical_json(&s.defaults).as_bytes())
            );
            assert!(
                seen.insert(r.revision_id),
                "duplicate revision id for {}",
                s.id()
            );
        }
    }
}
