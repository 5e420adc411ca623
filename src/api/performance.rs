//! `GET /api/v1/strategies/{strategy_id}/performance`: the live scorecard of a strategy's published signals
//! (the scorer's statistics per horizon, for one symbol or all, over a window of event time).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use strategy_sdk::FieldError;

use crate::api::envelope::{ok, ApiResponse};
use crate::api::error::{ApiError, ApiPath, ApiQuery};
use crate::api::AppState;
use crate::scoring::live::Performance;

/// Longest window served (the history holds at most the newest 20,000 scored signals per strategy anyway).
const MAX_WINDOW_MS: i64 = 7 * 24 * 3_600_000;

/// Query of the performance endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    /// Window ending at the newest scored signal: `15m`, `1h`, `24h`, … (default `1h`, at most `7d`).
    pub window: Option<String>,
    /// One symbol (upper case); all symbols when absent.
    pub symbol: Option<String>,
}

/// A `window` query value in ms: a duration between 1 s and 7 d (default 1 h).
pub fn window_of(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(3_600_000),
        Some(text) => crate::evaluate::duration_ms(text)
            .ok()
            .filter(|ms| *ms > 0 && *ms <= MAX_WINDOW_MS)
            .ok_or_else(|| {
                ApiError::Validation(vec![FieldError {
                    field: "/window".into(),
                    rule: "duration".into(),
                    message: format!(
                        "window must be a duration between 1s and 7d such as 15m or 1h (got `{text}`)"
                    ),
                }])
            }),
    }
}

/// `GET /api/v1/strategies/{strategy_id}/performance?window=1h&symbol=`
pub async fn performance(
    State(state): State<AppState>,
    ApiPath(strategy_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PerformanceQuery>,
) -> Result<Json<ApiResponse<Performance>>, ApiError> {
    let strategy = crate::api::strategies::find(&state, &strategy_id)?;
    let window_ms = window_of(q.window.as_deref())?;
    let symbol = q.symbol.map(|s| s.trim().to_ascii_uppercase());
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
    Ok(ok(performance, None))
}
