//! Strategy discovery endpoints, generated from the registry: list, schema, defaults.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::envelope::{with_metadata, ApiResponse};
use crate::api::error::{ApiError, ApiPath};
use crate::api::params::StrategyPath;
use crate::api::AppState;
use crate::registry::RegisteredStrategy;

/// One entry of `GET /api/v1/strategies`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StrategyListItem {
    /// Strategy id.
    pub strategy_id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Whether a global override is stored.
    pub has_global_config: bool,
    /// Symbols with a stored override.
    pub symbol_overrides: Vec<String>,
    /// Number of parameters.
    pub parameter_count: usize,
    /// Whether the strategy runs in this host.
    pub enabled: bool,
    /// Family.
    #[serde(rename = "type")]
    pub category: &'static str,
    /// Consumed streams.
    pub consumes: Vec<&'static str>,
}

/// One parameter as the original's schema endpoint describes it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ParameterSchemaItem {
    /// Parameter name.
    pub name: String,
    /// `int`, `float`, `bool`, `str`, `list` or `dict`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What it controls.
    pub description: String,
    /// Default value.
    pub default: Value,
    /// Minimum (numeric).
    pub min: Option<f64>,
    /// Maximum (numeric).
    pub max: Option<f64>,
    /// Allowed values (enums).
    pub allowed_values: Option<Value>,
    /// Example value.
    pub example: Value,
}

/// Looks a strategy up or answers 404.
pub fn find<'a>(state: &'a AppState, id: &str) -> Result<&'a RegisteredStrategy, ApiError> {
    state
        .registry
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("Strategy not found: {id}")))
}

/// `metadata` of `GET /api/v1/strategies`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListMeta {
    /// Strategies listed (every linked one).
    pub total_count: usize,
}

/// `metadata` of `GET …/schema`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SchemaMeta {
    /// Display name of the strategy.
    pub strategy_name: &'static str,
    /// The strategy's complete parameter schema (JSON Schema 2020-12), for schema-driven forms.
    #[schemars(with = "Map<String, Value>")]
    pub json_schema: Value,
}

/// `metadata` of `GET …/defaults`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DefaultsMeta {
    /// Display name of the strategy.
    pub strategy_name: &'static str,
}

/// `GET /api/v1/strategies`
pub async fn list(
    State(state): State<AppState>,
) -> Json<ApiResponse<Vec<StrategyListItem>, ListMeta>> {
    let mut items = Vec::new();
    for s in state.registry.strategies() {
        let (has_global_config, symbol_overrides) = state.snapshot.override_summary(s.id());
        items.push(StrategyListItem {
            strategy_id: s.id(),
            name: s.descriptor.name,
            description: s.descriptor.description,
            has_global_config,
            symbol_overrides,
            parameter_count: s.all_fields().count(),
            enabled: state.is_enabled(s.id()),
            category: s.descriptor.category,
            consumes: s.descriptor.consumes.iter().map(|k| k.as_str()).collect(),
        });
    }
    let count = items.len();
    with_metadata(items, ListMeta { total_count: count })
}

/// `GET /api/v1/strategies/{strategy_id}/schema` — the original's parameter list, plus the full JSON Schema in
/// `metadata.json_schema` for schema-driven UIs.
pub async fn schema(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
) -> Result<Json<ApiResponse<Vec<ParameterSchemaItem>, SchemaMeta>>, ApiError> {
    let s = find(&state, &id)?;
    let items = s.all_fields().map(|name| parameter_item(s, name)).collect();
    Ok(with_metadata(
        items,
        SchemaMeta {
            strategy_name: s.descriptor.name,
            json_schema: s.schema.clone(),
        },
    ))
}

/// A strategy's complete parameter document (documented as one of the registered strategies' parameter schemas).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct StrategyParameters(pub Value);

impl schemars::JsonSchema for StrategyParameters {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StrategyParameters".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Filled in from the registry when the document is completed (`openapi::complete`).
        schemars::json_schema!({ "type": "object" })
    }
}

/// `GET /api/v1/strategies/{strategy_id}/defaults`
pub async fn defaults(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
) -> Result<Json<ApiResponse<StrategyParameters, DefaultsMeta>>, ApiError> {
    let s = find(&state, &id)?;
    Ok(with_metadata(
        StrategyParameters(s.defaults.clone()),
        DefaultsMeta {
            strategy_name: s.descriptor.name,
        },
    ))
}

fn parameter_item(s: &RegisteredStrategy, name: &str) -> ParameterSchemaItem {
    let prop = s.property(name).cloned().unwrap_or(Value::Null);
    let types: Vec<&str> = match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match types.iter().find(|t| **t != "null").copied() {
        Some("integer") => "int",
        Some("number") => "float",
        Some("boolean") => "bool",
        Some("array") => "list",
        Some("object") => "dict",
        _ => "str",
    };
    let default = s.defaults.get(name).cloned().unwrap_or(Value::Null);
    let example = prop
        .get("examples")
        .and_then(|e| e.get(0))
        .cloned()
        .unwrap_or_else(|| default.clone());
    ParameterSchemaItem {
        name: name.to_owned(),
        kind,
        description: prop
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        default,
        min: prop.get("minimum").and_then(Value::as_f64),
        max: prop.get("maximum").and_then(Value::as_f64),
        allowed_values: prop
            .get("enum")
            .cloned()
            .or_else(|| prop.get("items").and_then(|i| i.get("enum")).cloned()),
        example,
    }
}
