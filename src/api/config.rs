//! The configuration API, generated from the registry: get / set / delete of global and per-symbol overrides,
//! audit trail, cache refresh, rollback, restore and validation — the original's paths and bodies, real statuses.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use strategy_sdk::FieldError;

use crate::api::auth::WriteAccess;
use crate::api::envelope::{ok, with_metadata, ApiResponse, NoMetadata};
use crate::api::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::api::params::{
    StrategyPath, StrategySymbolPath, CHANGED_BY_PATTERN, OPTIONAL_SYMBOL_PATTERN,
};
use crate::api::views::{
    AppliedResponse, AuditTrailItem, ConfigResponse, EstimatedImpact, MessageResponse,
    SuggestedFix, ValidationIssue, ValidationResponse,
};
use crate::api::AppState;
use crate::config::merge::{require_parameters, WriteMode, Writer};
use crate::config::replicas::AckReport;
use crate::config::store::Applied;
use crate::settings::WriteAuth;

/// A handler's answer: `data` of type `T` in the envelope, or an error.
type ApiResult<T, M = NoMetadata> = Result<Json<ApiResponse<T, M>>, ApiError>;

/// Body of `POST …/config` and `POST …/config/{symbol}` (the original's `ConfigUpdateRequest`, plus `replace`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConfigUpdateRequest {
    /// Parameters to change: merged into the stored override (`null` removes a field), or replacing it when
    /// `replace` is true. Must not be empty.
    #[schemars(schema_with = "crate::api::openapi::override_schema")]
    pub parameters: Map<String, Value>,
    /// Replace the whole stored override instead of merging into it.
    #[serde(default)]
    pub replace: bool,
    /// Who makes the change.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Only validate, store nothing.
    #[serde(default)]
    pub validate_only: bool,
    /// Roll the change back automatically if the live scorecard breaks this after it (see `GET /api/v1/safeguards`).
    #[serde(default)]
    pub safeguard: Option<crate::safeguard::Safeguard>,
}

/// Body of `POST …/rollback` and `POST …/restore` (the original's `RollbackRequest`).
#[derive(Debug, Deserialize, JsonSchema)]
pub struct RollbackRequest {
    /// Version to roll back to (>= 1).
    #[serde(default, deserialize_with = "crate::api::params::whole_number")]
    #[schemars(range(min = 1))]
    pub target_version: Option<i64>,
    /// Audit record whose parameters to restore.
    #[serde(default)]
    pub rollback_id: Option<String>,
    /// Who.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Body of `POST /api/v1/config/validate` (the original's `ConfigValidationRequest`).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("required" = ["parameters", "strategy_id"]))]
pub struct ConfigValidationRequest {
    /// Parameters to validate (a complete or partial override; may be empty).
    #[schemars(schema_with = "crate::api::openapi::validate_parameters_schema")]
    pub parameters: Map<String, Value>,
    /// Strategy (required).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::openapi::strategy_id_schema")]
    pub strategy_id: Option<String>,
    /// Symbol (validates against that symbol's context); empty or absent: the global context.
    #[serde(default)]
    #[schemars(regex(pattern = OPTIONAL_SYMBOL_PATTERN))]
    pub symbol: Option<String>,
}

/// Query of the delete endpoints.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteQuery {
    /// Who deletes.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Query of the audit endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuditQuery {
    /// Only this symbol's records.
    #[serde(default)]
    #[schemars(regex(pattern = OPTIONAL_SYMBOL_PATTERN))]
    pub symbol: Option<String>,
    /// Records to return (1..=1000, default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000), extend("default" = 50))]
    pub limit: Option<i64>,
}

/// Query of rollback / restore.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SymbolQuery {
    /// Symbol whose override to roll back (global when absent or empty).
    #[serde(default)]
    #[schemars(regex(pattern = OPTIONAL_SYMBOL_PATTERN))]
    pub symbol: Option<String>,
}

/// Header the Petrosa services (the CIO's output router) send their shared token in.
pub const INTERNAL_TOKEN_HEADER: &str = "x-petrosa-internal-token";
/// Header naming the calling service (`CIO`); stored in the audit record.
pub const ISSUER_HEADER: &str = "x-petrosa-issuer";

/// The one authorization check of every write. With `API_TOKEN`: `Authorization: Bearer <token>` or
/// `X-Petrosa-Internal-Token: <token>`, compared in constant time; an empty header counts as missing; no token →
/// 401, a wrong one → 403. Without a token writes are refused unless they were opened explicitly (see
/// `Settings::write_auth`).
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = match state.settings.write_auth() {
        WriteAuth::Token(t) => t,
        WriteAuth::Open(_) => return Ok(()),
        WriteAuth::Refused => return Err(ApiError::WritesNotConfigured),
    };
    let expected = expected.as_str();
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let internal = headers
        .get(INTERNAL_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let given: Vec<&str> = [bearer, internal]
        .into_iter()
        .flatten()
        .filter(|t| !t.is_empty())
        .collect();
    if given.is_empty() {
        return Err(ApiError::Unauthorized);
    }
    // Every candidate is compared (no early exit), each in constant time.
    let matched = given.iter().fold(false, |ok, t| {
        constant_time_eq(t.as_bytes(), expected.as_bytes()) | ok
    });
    if matched {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// The `X-Petrosa-Issuer` header (trimmed, at most 100 characters), if sent.
pub(crate) fn issuer_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ISSUER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(100).collect())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Upper-cases and checks a symbol (letters and digits, 1–32 characters).
pub(crate) fn symbol_of(raw: &str) -> Result<String, ApiError> {
    let s = raw.to_ascii_uppercase();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::BadRequest {
            code: "INVALID_SYMBOL",
            message: format!("invalid symbol {raw:?}: expected 1-32 letters or digits"),
            field: Some("/symbol".into()),
        });
    }
    Ok(s)
}

/// Checks `changed_by` as documented (1–200 characters, not only blanks) and trims the blanks.
pub(crate) fn changed_by_of(raw: &str) -> Result<String, ApiError> {
    const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];
    let s = raw.trim_matches(BLANKS);
    if s.is_empty() || raw.chars().count() > 200 {
        return Err(ApiError::Validation(vec![FieldError {
            field: "/changed_by".into(),
            rule: "minLength".into(),
            message: "changed_by must name who makes the change (1-200 characters)".into(),
        }]));
    }
    Ok(s.to_owned())
}

/// `metadata` of `GET …/config[/{symbol}]`: the store the parameters come from and whether it answers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StoreMeta {
    /// `mongodb` or `embedded`.
    #[schemars(extend("enum" = ["mongodb", "embedded"]))]
    pub store: &'static str,
    /// Whether the store answered its last operation.
    pub store_available: bool,
    /// True while the store is unavailable: the answer is the last known configuration.
    pub stale: bool,
}

fn store_meta(state: &AppState) -> StoreMeta {
    let available = state.store_health.available();
    StoreMeta {
        store: state.config.store_kind(),
        store_available: available,
        stale: !available,
    }
}

/// `metadata` of a configuration write (set, patch, rollback, restore, promote): what was done, the audit record
/// and which replicas applied it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WriteMeta {
    /// What was done: `created` or `updated` (POST), `create`, `update` or `delete` (PATCH), `rollback`,
    /// `restore` or `promoted`.
    pub action: String,
    /// Id of the audit record of the change.
    pub audit_id: String,
    /// Version of the stored override after the change.
    pub version: u64,
    /// The safeguard armed with the change (POST with `safeguard` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safeguard: Option<crate::safeguard::Guard>,
    /// Which replicas applied the change within `CONFIG_ACK_WAIT_MS`.
    pub replicas: AckReport,
}

/// `metadata` of `POST …/config[/{symbol}]`: the write, or only that validation passed (`validate_only`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum UpdateMeta {
    /// The change was stored.
    Written(Box<WriteMeta>),
    /// `validate_only`: every check passed and nothing was stored.
    Validated {
        /// Always `passed` (a failed validation answers 422).
        #[schemars(extend("const" = "passed"))]
        validation: &'static str,
    },
}

/// `metadata` of `DELETE …/config[/{symbol}]`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteMeta {
    /// Symbol, `null` for the global override.
    pub symbol: Option<String>,
    /// Version recorded for the delete in the audit trail.
    pub version: u64,
    /// Id of the audit record of the delete.
    pub audit_id: String,
    /// Which replicas applied the delete within `CONFIG_ACK_WAIT_MS`.
    pub replicas: AckReport,
}

/// `metadata` of `GET …/audit`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditMeta {
    /// Records returned.
    pub count: usize,
}

/// `metadata` of the cache refreshes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RefreshMeta {
    /// Always `cache_refresh`.
    #[schemars(extend("const" = "cache_refresh"))]
    pub action: &'static str,
    /// The strategy reloaded (`POST …/{strategy_id}/cache/refresh` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<String>,
}

async fn get_config(
    state: &AppState,
    id: &str,
    symbol: Option<&str>,
) -> ApiResult<ConfigResponse, StoreMeta> {
    let e = state.config.effective(id, symbol)?;
    Ok(with_metadata(
        ConfigResponse::new(id, symbol, &e, state.config.store_kind()),
        store_meta(state),
    ))
}

/// `GET /api/v1/strategies/{strategy_id}/config` — effective global parameters with provenance.
pub async fn get_global(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
) -> ApiResult<ConfigResponse, StoreMeta> {
    get_config(&state, &id, None).await
}

/// `GET /api/v1/strategies/{strategy_id}/config/{symbol}` — effective parameters of a symbol with provenance.
pub async fn get_symbol(
    State(state): State<AppState>,
    ApiPath(StrategySymbolPath {
        strategy_id: id,
        symbol,
    }): ApiPath<StrategySymbolPath>,
) -> ApiResult<ConfigResponse, StoreMeta> {
    let symbol = symbol_of(&symbol)?;
    get_config(&state, &id, Some(&symbol)).await
}

/// The replicas that acknowledged an applied change within `CONFIG_ACK_WAIT_MS` (this one included), for a write's
/// response.
pub(crate) async fn acks(
    state: &AppState,
    waiter: crate::config::replicas::AckWaiter,
    id: &str,
    symbol: Option<&str>,
    applied: &Applied,
) -> AckReport {
    let version = applied.doc.as_ref().map_or(0, |d| d.version);
    let acknowledged = state
        .replicas
        .acknowledged(waiter, id, symbol, version)
        .await;
    let known = state.replicas.peers().len();
    AckReport {
        all_acknowledged: acknowledged.len() >= known,
        acknowledged_by: acknowledged,
        known_replicas: known,
        applied_version: version,
    }
}

/// The document of an applied write, with the effective parameters now.
pub(crate) fn applied_data(
    state: &AppState,
    id: &str,
    symbol: Option<&str>,
    applied: &Applied,
) -> AppliedResponse {
    let effective = state.config.effective(id, symbol).ok();
    AppliedResponse::new(
        id,
        symbol,
        applied,
        effective.as_ref(),
        state.config.store_kind(),
    )
}

async fn update(
    state: AppState,
    headers: HeaderMap,
    id: String,
    symbol: Option<String>,
    body: Result<ApiJson<ConfigUpdateRequest>, ApiError>,
) -> ApiResult<Option<AppliedResponse>, UpdateMeta> {
    let symbol = symbol.as_deref().map(symbol_of).transpose()?;
    let ApiJson(req) = body?;
    let changed_by = changed_by_of(&req.changed_by)?;
    crate::api::strategies::find(&state, &id)?;
    require_parameters(&req.parameters).map_err(ApiError::Validation)?;
    if let Some(guard) = &req.safeguard {
        guard.check(&state.live.scorecard)?;
    }
    let mode = if req.replace {
        WriteMode::Replace
    } else {
        WriteMode::Merge
    };
    if req.validate_only {
        let layer = match mode {
            WriteMode::Replace => req.parameters.clone(),
            WriteMode::Merge => {
                state
                    .writes
                    .merged_layer(&id, symbol.as_deref(), &req.parameters)?
            }
        };
        let errors = state.writes.validate(&id, symbol.as_deref(), &layer)?;
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        return Ok(with_metadata(
            None,
            UpdateMeta::Validated {
                validation: "passed",
            },
        ));
    }
    let writer = Writer {
        changed_by,
        reason: req.reason,
        issuer: issuer_of(&headers),
    };
    let waiter = state.replicas.waiter();
    let applied = state
        .writes
        .write(&id, symbol.as_deref(), req.parameters, writer, mode)
        .await?;
    let action = if applied.audit.action == "CREATE" {
        "created"
    } else {
        "updated"
    };
    let guard = req.safeguard.map(|g| {
        state
            .safeguards
            .arm(&id, symbol.as_deref(), g, &applied.audit)
    });
    let meta = WriteMeta {
        action: action.to_owned(),
        audit_id: applied.audit.id.clone(),
        version: applied.audit.version,
        safeguard: guard,
        replicas: acks(&state, waiter, &id, symbol.as_deref(), &applied).await,
    };
    Ok(with_metadata(
        Some(applied_data(&state, &id, symbol.as_deref(), &applied)),
        UpdateMeta::Written(Box::new(meta)),
    ))
}

/// Body of `PATCH …/config[/{symbol}]`: an RFC 7396 merge patch of the stored override in `parameters`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConfigPatchRequest {
    /// The merge patch: fields set here replace the stored ones, `null` removes a field.
    #[schemars(schema_with = "crate::api::openapi::override_schema")]
    pub parameters: Map<String, Value>,
    /// Who makes the change.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

async fn patch(
    state: AppState,
    headers: HeaderMap,
    id: String,
    symbol: Option<String>,
    body: Result<ApiJson<ConfigPatchRequest>, ApiError>,
) -> ApiResult<AppliedResponse, WriteMeta> {
    let symbol = symbol.as_deref().map(symbol_of).transpose()?;
    let ApiJson(req) = body?;
    let changed_by = changed_by_of(&req.changed_by)?;
    crate::api::strategies::find(&state, &id)?;
    require_parameters(&req.parameters).map_err(ApiError::Validation)?;
    let writer = Writer {
        changed_by,
        reason: req.reason,
        issuer: issuer_of(&headers),
    };
    let waiter = state.replicas.waiter();
    let applied = state
        .writes
        .write(
            &id,
            symbol.as_deref(),
            req.parameters,
            writer,
            WriteMode::Merge,
        )
        .await?;
    let replicas = acks(&state, waiter, &id, symbol.as_deref(), &applied).await;
    Ok(with_metadata(
        applied_data(&state, &id, symbol.as_deref(), &applied),
        WriteMeta {
            action: applied.audit.action.to_ascii_lowercase(),
            audit_id: applied.audit.id.clone(),
            version: applied.audit.version,
            safeguard: None,
            replicas,
        },
    ))
}

/// `PATCH /api/v1/strategies/{strategy_id}/config` — RFC 7396 merge patch of the global override.
pub async fn patch_global(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    headers: HeaderMap,
    body: Result<ApiJson<ConfigPatchRequest>, ApiError>,
) -> ApiResult<AppliedResponse, WriteMeta> {
    patch(state, headers, id, None, body).await
}

/// `PATCH /api/v1/strategies/{strategy_id}/config/{symbol}` — RFC 7396 merge patch of a symbol override.
pub async fn patch_symbol(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategySymbolPath {
        strategy_id: id,
        symbol,
    }): ApiPath<StrategySymbolPath>,
    headers: HeaderMap,
    body: Result<ApiJson<ConfigPatchRequest>, ApiError>,
) -> ApiResult<AppliedResponse, WriteMeta> {
    patch(state, headers, id, Some(symbol), body).await
}

/// `POST /api/v1/strategies/{strategy_id}/config`
pub async fn set_global(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    headers: HeaderMap,
    body: Result<ApiJson<ConfigUpdateRequest>, ApiError>,
) -> ApiResult<Option<AppliedResponse>, UpdateMeta> {
    update(state, headers, id, None, body).await
}

/// `POST /api/v1/strategies/{strategy_id}/config/{symbol}`
pub async fn set_symbol(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategySymbolPath {
        strategy_id: id,
        symbol,
    }): ApiPath<StrategySymbolPath>,
    headers: HeaderMap,
    body: Result<ApiJson<ConfigUpdateRequest>, ApiError>,
) -> ApiResult<Option<AppliedResponse>, UpdateMeta> {
    update(state, headers, id, Some(symbol), body).await
}

async fn remove(
    state: AppState,
    headers: HeaderMap,
    id: String,
    symbol: Option<String>,
    query: Result<ApiQuery<DeleteQuery>, ApiError>,
) -> ApiResult<MessageResponse, DeleteMeta> {
    let symbol = symbol.as_deref().map(symbol_of).transpose()?;
    let ApiQuery(q) = query?;
    let changed_by = changed_by_of(&q.changed_by)?;
    let writer = Writer {
        changed_by,
        reason: q.reason,
        issuer: issuer_of(&headers),
    };
    let waiter = state.replicas.waiter();
    let applied = state.writes.delete(&id, symbol.as_deref(), writer).await?;
    let replicas = acks(&state, waiter, &id, symbol.as_deref(), &applied).await;
    Ok(with_metadata(
        MessageResponse {
            message: "deleted successfully".into(),
        },
        DeleteMeta {
            symbol,
            version: applied.audit.version,
            audit_id: applied.audit.id.clone(),
            replicas,
        },
    ))
}

/// `DELETE /api/v1/strategies/{strategy_id}/config?changed_by=…&reason=…`
pub async fn delete_global(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    headers: HeaderMap,
    query: Result<ApiQuery<DeleteQuery>, ApiError>,
) -> ApiResult<MessageResponse, DeleteMeta> {
    remove(state, headers, id, None, query).await
}

/// `DELETE /api/v1/strategies/{strategy_id}/config/{symbol}?changed_by=…&reason=…`
pub async fn delete_symbol(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategySymbolPath {
        strategy_id: id,
        symbol,
    }): ApiPath<StrategySymbolPath>,
    headers: HeaderMap,
    query: Result<ApiQuery<DeleteQuery>, ApiError>,
) -> ApiResult<MessageResponse, DeleteMeta> {
    remove(state, headers, id, Some(symbol), query).await
}

/// `GET /api/v1/strategies/{strategy_id}/audit?symbol=&limit=` — newest first.
pub async fn audit(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    query: Result<ApiQuery<AuditQuery>, ApiError>,
) -> ApiResult<Vec<AuditTrailItem>, AuditMeta> {
    let ApiQuery(q) = query?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Validation(vec![FieldError {
            field: "/limit".into(),
            rule: if limit < 1 { "minimum" } else { "maximum" }.into(),
            message: format!("limit must be between 1 and 1000, got {limit}"),
        }]));
    }
    let symbol = q
        .symbol
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(symbol_of)
        .transpose()?;
    let key = symbol.as_deref().map(Some);
    let records = state
        .writes
        .audit(&id, key, usize::try_from(limit).unwrap_or(50))
        .await?;
    let items: Vec<AuditTrailItem> = records.iter().map(AuditTrailItem::from).collect();
    let count = items.len();
    Ok(with_metadata(items, AuditMeta { count }))
}

/// `POST /api/v1/strategies/cache/refresh` — reloads every stored override now.
pub async fn refresh(
    State(state): State<AppState>,
    _access: WriteAccess,
) -> ApiResult<MessageResponse, RefreshMeta> {
    state.replication.refresh().await?;
    Ok(with_metadata(
        MessageResponse {
            message: "cache refreshed successfully".into(),
        },
        RefreshMeta {
            action: "cache_refresh",
            strategy_id: None,
        },
    ))
}

/// `POST /api/v1/strategies/{strategy_id}/cache/refresh` — reloads one strategy's stored overrides now.
pub async fn refresh_strategy(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
) -> ApiResult<MessageResponse, RefreshMeta> {
    crate::api::strategies::find(&state, &id)?;
    state.replication.reload_strategy(&id).await?;
    Ok(with_metadata(
        MessageResponse {
            message: format!("cache refreshed for {id}"),
        },
        RefreshMeta {
            action: "cache_refresh",
            strategy_id: Some(id),
        },
    ))
}

async fn roll(
    state: AppState,
    headers: HeaderMap,
    id: String,
    query: Result<ApiQuery<SymbolQuery>, ApiError>,
    body: Result<ApiJson<RollbackRequest>, ApiError>,
    restore: bool,
) -> ApiResult<AppliedResponse, WriteMeta> {
    let ApiQuery(q) = query?;
    let symbol = q
        .symbol
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(symbol_of)
        .transpose()?;
    let ApiJson(req) = body?;
    let changed_by = changed_by_of(&req.changed_by)?;
    let writer = Writer {
        changed_by,
        reason: req.reason,
        issuer: issuer_of(&headers),
    };
    let target = match req.target_version {
        Some(v) if v < 1 => {
            return Err(ApiError::Validation(vec![FieldError {
                field: "/target_version".into(),
                rule: "minimum".into(),
                message: format!("Invalid version number (must be >= 1), got {v}"),
            }]))
        }
        Some(v) => Some(v.unsigned_abs()),
        None => None,
    };
    let waiter = state.replicas.waiter();
    let applied = state
        .writes
        .rollback(
            &id,
            symbol.as_deref(),
            target,
            req.rollback_id.as_deref().filter(|r| !r.is_empty()),
            writer,
            restore,
        )
        .await?;
    Ok(with_metadata(
        applied_data(&state, &id, symbol.as_deref(), &applied),
        WriteMeta {
            action: if restore { "restore" } else { "rollback" }.to_owned(),
            audit_id: applied.audit.id.clone(),
            version: applied.audit.version,
            safeguard: None,
            replicas: acks(&state, waiter, &id, symbol.as_deref(), &applied).await,
        },
    ))
}

/// `POST /api/v1/strategies/{strategy_id}/rollback?symbol=`
pub async fn rollback(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    headers: HeaderMap,
    query: Result<ApiQuery<SymbolQuery>, ApiError>,
    body: Result<ApiJson<RollbackRequest>, ApiError>,
) -> ApiResult<AppliedResponse, WriteMeta> {
    roll(state, headers, id, query, body, false).await
}

/// `POST /api/v1/strategies/{strategy_id}/restore?symbol=` — like rollback; without a target it undoes the latest
/// change, which after a delete brings the deleted config back.
pub async fn restore(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    headers: HeaderMap,
    query: Result<ApiQuery<SymbolQuery>, ApiError>,
    body: Result<ApiJson<RollbackRequest>, ApiError>,
) -> ApiResult<AppliedResponse, WriteMeta> {
    roll(state, headers, id, query, body, true).await
}

fn code_of(rule: &str) -> &'static str {
    match rule {
        "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => "OUT_OF_RANGE",
        "type" => "INVALID_TYPE",
        "additionalProperties" => "UNKNOWN_PARAMETER",
        "cross_field" => "CROSS_FIELD_CONFLICT",
        "enum" | "const" => "INVALID_VALUE",
        _ => "VALIDATION_ERROR",
    }
}

/// `POST /api/v1/config/validate` — the write checks without storing; 200 with `validation_passed`.
pub async fn validate(
    State(state): State<AppState>,
    _access: WriteAccess,
    body: Result<ApiJson<ConfigValidationRequest>, ApiError>,
) -> ApiResult<ValidationResponse> {
    let ApiJson(req) = body?;
    let Some(id) = req.strategy_id.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::Validation(vec![FieldError {
            field: "/strategy_id".into(),
            rule: "required".into(),
            message: "strategy_id is required".into(),
        }]));
    };
    let symbol = req
        .symbol
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(symbol_of)
        .transpose()?;
    let errors = state
        .writes
        .validate(id, symbol.as_deref(), &req.parameters)?;
    let strategy = state.registry.get(id);
    let mut fixes = Vec::new();
    let items: Vec<ValidationIssue> = errors
        .iter()
        .map(|e| {
            let name = e.field.trim_start_matches('/');
            let code = code_of(&e.rule);
            let prop = strategy.and_then(|s| s.property(name));
            let suggested = match (code, prop) {
                ("OUT_OF_RANGE", Some(p)) => {
                    let key = if e.rule.contains("inimum") {
                        "minimum"
                    } else {
                        "maximum"
                    };
                    p.get(key).cloned()
                }
                ("INVALID_TYPE", Some(_)) | ("CROSS_FIELD_CONFLICT", Some(_)) => {
                    strategy.and_then(|s| s.defaults.get(name).cloned())
                }
                _ => None,
            };
            if let Some(v) = &suggested {
                fixes.push(SuggestedFix {
                    field: name.to_owned(),
                    suggested_value: v.clone(),
                    reason: e.message.clone(),
                });
            }
            ValidationIssue {
                field: name.to_owned(),
                pointer: e.field.clone(),
                rule: e.rule.clone(),
                message: e.message.clone(),
                code,
                suggested_value: suggested,
            }
        })
        .collect();
    let risk = if req.parameters.len() > 3 {
        "medium"
    } else {
        "low"
    };
    Ok(ok(ValidationResponse {
        validation_passed: items.is_empty(),
        errors: items,
        warnings: Vec::new(),
        suggested_fixes: fixes,
        estimated_impact: EstimatedImpact {
            risk_level: risk,
            parameter_count: req.parameters.len(),
        },
        conflicts: Vec::new(),
    }))
}
