//! `GET /api/v1/strategies/{strategy_id}/performance`: the live scorecard of a strategy's published signals
//! (the scorer's statistics per horizon, for one symbol or all, over a window of event time).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use strategy_sdk::FieldError;

use crate::api::envelope::{ok, ApiResponse};
use crate::api::error::{ApiError, ApiPath, ApiQuery};
use crate::api::params::{StrategyPath, SYMBOL_PATTERN};
use crate::api::AppState;
use crate::scoring::live::Performance;

/// Longest window served (the history holds at most the newest 20,000 scored signals per strategy anyway).
const MAX_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// Query of the performance endpoint.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    /// Window ending at the newest scored signal: `15m`, `1h`, `24h`, … (default `1h`, at most `7d`).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::openapi::window_schema")]
    pub window: Option<String>,
    /// One symbol (case-insensitive); all symbols when absent.
    #[schemars(regex(pattern = SYMBOL_PATTERN))]
    pub symbol: Option<String>,
}

/// The window grammar the API documents and accepts: a whole number of seconds, minutes, hours or days between 1 s
/// and 7 d, without leading zeros (`15m`, `1h`, `24h`, `7d`).
pub const WINDOW_PATTERN: &str =
    "^([1-9][0-9]{0,2}[sm]|([1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8])h|[1-7]d)$";

/// A window in ms when `text` matches [`WINDOW_PATTERN`].
fn parse_window(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty()
        || digits.len() > 3
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let (unit_ms, max) = match unit {
        's' => (1_000, 999),
        'm' => (60_000, 999),
        'h' => (3_600_000, 168),
        'd' => (86_400_000, 7),
        _ => return None,
    };
    (n <= max)
        .then_some(n * unit_ms)
        .filter(|ms| *ms <= MAX_WINDOW_MS)
}

/// A `window` query value in ms: a duration between 1 s and 7 d (default 1 h), as [`WINDOW_PATTERN`].
pub fn window_of(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(3_600_000),
        Some(text) => parse_window(text).ok_or_else(|| {
            ApiError::Validation(vec![FieldError {
                field: "/window".into(),
                rule: "pattern".into(),
                message: format!(
                    "window must be a whole number of s, m, h or d between 1s and 7d such as 15m or 1h (got `{text}`)"
                ),
            }])
        }),
    }
}

/// `GET /api/v1/strategies/{strategy_id}/performance?window=1h&symbol=`
pub async fn performance(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id }): ApiPath<StrategyPath>,
    ApiQuery(q): ApiQuery<PerformanceQuery>,
) -> Result<Json<ApiResponse<Performance>>, ApiError> {
    let strategy = crate::api::strategies::find(&state, &strategy_id)?;
    let window_ms = window_of(q.window.as_deref())?;
    let symbol = q.symbol.map(|s| s.to_ascii_uppercase());
    if symbol.as_deref().is_some_and(|s| {
        s.is_empty() || s.len() > 32 || !s.chars().all(|c| c.is_ascii_alphanumeric())
    }) {
        return Err(ApiError::Validation(vec![FieldError {
            field: "/symbol".into(),
            rule: "pattern".into(),
            message: "symbol must be 1 to 32 letters or digits".into(),
        }]));
    }
    let performance = state
        .live
        .scorecard
        .performance(strategy.id(), window_ms, symbol.as_deref());
    Ok(ok(performance))
}
