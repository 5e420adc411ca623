//! Market metrics API over the depth analyzer plugin's reader (thin: the plugin builds the documents).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use plugin_depth_analyzer::{
    AllMetricsParams, AllMetricsQuery, AllMetricsResponse, DepthMetricsResponse,
    MarketSummaryResponse, MetricsReader, NotTrackedResponse, PressureHistoryResponse, QueryError,
    Timeframe,
};
use strategy_sdk::FieldError;

use crate::api::error::{ApiError, ApiPath, ApiQuery};
use crate::api::params::MarketSymbolPath;
use crate::api::AppState;

/// A query error of the analyzer as a field error (the field is the query parameter's name).
fn field_error(e: QueryError) -> FieldError {
    FieldError {
        field: e.field.to_owned(),
        rule: e.rule.to_owned(),
        message: e.message,
    }
}

/// The analyzer's reader (typed, found by its type), or 503 `PLUGIN_UNAVAILABLE` when the plugin is not running.
pub fn reader(state: &AppState) -> Result<Arc<MetricsReader>, ApiError> {
    state
        .plugin_readers
        .get::<MetricsReader>()
        .ok_or(ApiError::PluginUnavailable(
            plugin_depth_analyzer::PLUGIN_ID,
        ))
}

/// `GET /api/v1/metrics/depth/{symbol}`
pub async fn depth(
    State(state): State<AppState>,
    ApiPath(MarketSymbolPath { symbol }): ApiPath<MarketSymbolPath>,
) -> Result<Json<DepthMetricsResponse>, ApiError> {
    let reader = reader(&state)?;
    match reader.depth(&symbol) {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::NotTracked(NotTrackedResponse::depth(
            &symbol.to_ascii_uppercase(),
        ))),
    }
}

/// Query of the pressure endpoint.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct PressureQuery {
    /// `1m`, `5m` (default) or `15m`.
    #[schemars(with = "Option<Timeframe>", extend("default" = "5m"))]
    pub timeframe: Option<String>,
    /// Return the whole window downsampled to at most this many points (10–1000) instead of the newest 100.
    #[schemars(range(min = 10, max = 1000))]
    pub max_points: Option<usize>,
}

/// `GET /api/v1/metrics/pressure/{symbol}?timeframe=1m|5m|15m`
pub async fn pressure(
    State(state): State<AppState>,
    ApiPath(MarketSymbolPath { symbol }): ApiPath<MarketSymbolPath>,
    ApiQuery(q): ApiQuery<PressureQuery>,
) -> Result<Json<PressureHistoryResponse>, ApiError> {
    let timeframe = Timeframe::parse_opt(q.timeframe.as_deref())
        .map_err(|e| ApiError::Validation(vec![field_error(e)]))?;
    if q.max_points.is_some_and(|n| !(10..=1000).contains(&n)) {
        return Err(ApiError::Validation(vec![strategy_sdk::FieldError {
            field: "/max_points".into(),
            rule: "range".into(),
            message: "max_points must be between 10 and 1000".into(),
        }]));
    }
    let reader = reader(&state)?;
    match reader.pressure_window(&symbol, timeframe, q.max_points) {
        Some(doc) => Ok(Json(doc)),
        None => Err(ApiError::NotTracked(NotTrackedResponse::pressure(
            &symbol.to_ascii_uppercase(),
        ))),
    }
}

/// `GET /api/v1/metrics/summary`
pub async fn summary(
    State(state): State<AppState>,
) -> Result<Json<MarketSummaryResponse>, ApiError> {
    Ok(Json(reader(&state)?.summary()))
}

/// The raw query pairs of `/all`, documented as [`AllMetricsParams`] (which [`AllMetricsQuery::from_pairs`]
/// accepts, reporting every invalid parameter).
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub struct AllMetricsPairs(pub Vec<(String, String)>);

impl schemars::JsonSchema for AllMetricsPairs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        AllMetricsParams::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        AllMetricsParams::json_schema(generator)
    }
}

/// `GET /api/v1/metrics/all?symbols=&min_pressure=&max_pressure=&trend=&limit=&offset=&sort_by=&sort_order=`
pub async fn all(
    State(state): State<AppState>,
    ApiQuery(AllMetricsPairs(pairs)): ApiQuery<AllMetricsPairs>,
) -> Result<Json<AllMetricsResponse>, ApiError> {
    let query = AllMetricsQuery::from_pairs(pairs)
        .map_err(|errors| ApiError::Validation(errors.into_iter().map(field_error).collect()))?;
    Ok(Json(reader(&state)?.all(&query)))
}
