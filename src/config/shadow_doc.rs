//! A stored shadow parameter set: a partial parameter set that runs beside a strategy's live one on the same
//! events, is scored the same way and never publishes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most shadows one strategy may run at once.
pub const MAX_SHADOWS_PER_STRATEGY: usize = 8;

/// One shadow as stored (embedded table `shadows`, MongoDB collection `strategy_shadows`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShadowDoc {
    /// Strategy id.
    pub strategy_id: String,
    /// Name, unique per strategy: 1–32 of `a-z 0-9 _ -`, starting with a letter or digit.
    pub name: String,
    /// Parameters laid over the live global parameters (partial: only the fields it changes).
    pub parameters: Map<String, Value>,
    /// Symbols it runs on (upper case); all symbols when `null`.
    pub symbols: Option<Vec<String>>,
    /// Who created it.
    pub created_by: String,
    /// When it was created (ms since the epoch, wall clock).
    pub created_at_ms: i64,
}

impl ShadowDoc {
    /// Whether the shadow sees `symbol`'s events.
    pub fn covers(&self, symbol: &str) -> bool {
        self.symbols
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == symbol))
    }
}

/// Checks a shadow name; the message says the rule.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "name must be 1-32 characters of a-z, 0-9, '_' or '-', starting with a letter or digit (got {name:?})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        assert!(check_name("tight-skew_2").is_ok());
        for bad in ["", "-x", "Upper", "a b", &"x".repeat(33), "é"] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_shadow_without_symbols_covers_every_symbol() {
        let mut doc = ShadowDoc {
            strategy_id: "s".into(),
            name: "n".into(),
            parameters: Map::new(),
            symbols: None,
            created_by: "me".into(),
            created_at_ms: 0,
        };
        assert!(doc.covers("BTCUSDT"));
        doc.symbols = Some(vec!["ETHUSDT".into()]);
        assert!(!doc.covers("BTCUSDT"));
        assert!(doc.covers("ETHUSDT"));
    }
}
