//! Path parameters and shared field rules of the API, as types: handlers extract them and the document describes
//! them from the same definitions.

use schemars::JsonSchema;
use serde::Deserialize;

/// A symbol as the API accepts it: 1–32 ASCII letters or digits (stored upper-case).
pub const SYMBOL_PATTERN: &str = "^[A-Za-z0-9]{1,32}$";
/// An optional symbol in a query: empty means none.
pub const OPTIONAL_SYMBOL_PATTERN: &str = "^([A-Za-z0-9]{1,32})?$";
/// `changed_by`: something other than blanks (space, tab, CR, LF), 1–200 characters.
pub const CHANGED_BY_PATTERN: &str = "[^ \t\r\n]";
/// A shadow name.
pub const SHADOW_NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,31}$";

/// `{strategy_id}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StrategyPath {
    /// A registered strategy id.
    pub strategy_id: String,
}

/// `{strategy_id}/…/{symbol}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct StrategySymbolPath {
    /// A registered strategy id.
    pub strategy_id: String,
    /// Trading symbol, e.g. BTCUSDT (case-insensitive).
    #[schemars(regex(pattern = SYMBOL_PATTERN), extend("examples" = ["BTCUSDT"]))]
    pub symbol: String,
}

/// `{strategy_id}/shadows/{name}`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShadowPath {
    /// A registered strategy id.
    pub strategy_id: String,
    /// Shadow name.
    #[schemars(regex(pattern = SHADOW_NAME_PATTERN))]
    pub name: String,
}

/// `{symbol}` of the market metrics endpoints (any text: a symbol that is not tracked answers 404).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct MarketSymbolPath {
    /// Trading symbol, e.g. BTCUSDT (case-insensitive).
    #[schemars(extend("examples" = ["BTCUSDT", "ethusdt"]))]
    pub symbol: String,
}

/// `{path}` of an embedded asset.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AssetPath {
    /// Path below `/assets/`.
    #[schemars(extend("examples" = ["console/console.js", "vendor/uplot/uPlot.min.css"]))]
    pub path: String,
}

/// Deserializes an optional integer that JSON may write as a whole-number float (`2.0`): JSON Schema's `integer`
/// admits both, so the API does too. A fraction or a value out of range is a deserialization error.
pub fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    whole
        .and_then(|i| T::try_from(i).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected an integer in range, got {n}")))
}
