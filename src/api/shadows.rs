//! Shadow parameter sets over HTTP: `GET|POST /api/v1/strategies/{id}/shadows`,
//! `DELETE …/shadows/{name}`, `POST …/shadows/{name}/promote`. Writes need the token like every config write.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::auth::WriteAccess;
use crate::api::config::WriteMeta;
use crate::api::config::{changed_by_of, issuer_of};
use crate::api::envelope::{ok, with_metadata, ApiResponse, NoMetadata};
use crate::api::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::api::params::{
    ShadowPath, StrategyPath, CHANGED_BY_PATTERN, SHADOW_NAME_PATTERN, SYMBOL_PATTERN,
};
use crate::api::performance::window_of;
use crate::api::AppState;
use crate::config::merge::{WriteMode, Writer};
use crate::config::shadow_doc::ShadowDoc;
use crate::config::shadows::ShadowView;
use crate::safeguard::{Guard, Safeguard};
use crate::scoring::live::{HorizonRow, Performance};
use crate::scoring::stats::HorizonStats;

type ApiResult<T, M = NoMetadata> = Result<Json<ApiResponse<T, M>>, ApiError>;

/// Body of `POST …/shadows`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShadowRequest {
    /// Name, unique per strategy (1–32 of `a-z 0-9 _ -`).
    #[schemars(regex(pattern = SHADOW_NAME_PATTERN))]
    pub name: String,
    /// Parameters laid over the live global ones (partial, validated like a config write; at least one).
    #[schemars(schema_with = "crate::api::openapi::override_schema")]
    pub parameters: Map<String, Value>,
    /// Symbols it runs on; all when absent.
    #[serde(default)]
    #[schemars(length(min = 1, max = 100), inner(regex(pattern = SYMBOL_PATTERN)))]
    pub symbols: Option<Vec<String>>,
    /// Who creates it.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
}

/// Body of `POST …/shadows/{name}/promote`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteRequest {
    /// Who promotes it.
    #[schemars(length(min = 1, max = 200), regex(pattern = CHANGED_BY_PATTERN))]
    pub changed_by: String,
    /// Why (prepended to the comparison summary in the audit record).
    #[serde(default)]
    pub reason: Option<String>,
    /// Window of the comparison (default `1h`).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::openapi::window_schema")]
    pub window: Option<String>,
    /// Safeguard the promoted change runs under (rolled back when the live scorecard breaks it).
    #[serde(default)]
    pub safeguard: Option<Safeguard>,
}

/// Query of `GET …/shadows`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowsQuery {
    /// Window of the scorecards (default `1h`).
    #[serde(default)]
    #[schemars(schema_with = "crate::api::openapi::window_schema")]
    pub window: Option<String>,
}

/// The scorecard row at 60 s (or the first horizon) of a performance document.
fn headline(p: &Performance) -> Option<&HorizonRow> {
    p.horizons
        .iter()
        .find(|h| (h.horizon_s - p.curve_horizon_s).abs() < 1e-9)
        .or(p.horizons.first())
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.digits$}"))
}

/// `metadata` of `POST …/shadows` and `DELETE …/shadows/{name}`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShadowAction {
    /// `created` or `deleted`.
    #[schemars(extend("enum" = ["created", "deleted"]))]
    pub action: &'static str,
}

/// A shadow against the live set at the headline horizon (`comparison` of a listed shadow and of a promote).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Comparison {
    /// Window of both scorecards, in seconds of event time.
    pub window_s: f64,
    /// Horizon compared, in seconds (60 s when scored, else the first horizon).
    pub horizon_s: f64,
    /// The shadow's statistics at that horizon; `null` without scored signals.
    pub shadow: Option<HorizonStats>,
    /// The live set's statistics at that horizon; `null` without scored signals.
    pub live: Option<HorizonStats>,
    /// The same in one line (what promote writes as its audit reason).
    pub summary: String,
}

/// One line comparing a shadow with the live set (what promote writes as its audit reason).
fn comparison(name: &str, window_s: f64, live: &Performance, shadow: &Performance) -> Comparison {
    let (l, s) = (headline(live), headline(shadow));
    let side = |r: Option<&HorizonRow>| match r {
        Some(r) => format!(
            "n={} hit {} net {} bps, {:.1}/h",
            r.stats.n,
            fmt_opt(r.stats.hit_rate, 3),
            fmt_opt(r.stats.mean_net_bps, 2),
            r.stats.signals_per_hour
        ),
        None => "no signals".to_owned(),
    };
    let summary = format!(
        "promote shadow {name}: over {window_s:.0} s at the {:.0} s horizon, shadow {} vs live {}",
        shadow.curve_horizon_s,
        side(s),
        side(l)
    );
    Comparison {
        window_s,
        horizon_s: shadow.curve_horizon_s,
        shadow: s.map(|r| r.stats.clone()),
        live: l.map(|r| r.stats.clone()),
        summary,
    }
}

/// A shadow as `GET …/shadows` lists it: the stored shadow, when it was created, its scorecard and how it
/// compares with the live set.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedShadow {
    /// The stored shadow and its effective parameters.
    #[serde(flatten)]
    pub view: ShadowView,
    /// When it was created (ISO-8601 UTC; `created_at_ms` as text).
    pub created_at: String,
    /// Its scorecard over the window (scored like the live set, never published).
    pub performance: Performance,
    /// Against the live set at the headline horizon.
    pub comparison: Comparison,
}

/// `data` of `GET …/shadows`: the live set's scorecard and every shadow's beside it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ShadowList {
    /// Strategy id.
    pub strategy_id: String,
    /// Window of the scorecards, in seconds of event time.
    pub window_s: f64,
    /// Most shadows one strategy may run at once.
    pub max_shadows: usize,
    /// The live (published) set's scorecard over the window.
    pub live: Performance,
    /// Every shadow of the strategy, by name.
    pub shadows: Vec<ListedShadow>,
}

/// `data` of `POST …/shadows/{name}/promote`: the write's document, the comparison it was promoted on, the
/// promoted (now deleted) shadow and the safeguard it runs under.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PromoteResponse {
    /// The write.
    #[serde(flatten)]
    pub applied: crate::api::views::AppliedResponse,
    /// Shadow vs live at the headline horizon (the audit record's reason ends with its `summary`).
    pub comparison: Comparison,
    /// The shadow as it was stored (now deleted).
    pub promoted_shadow: crate::config::shadow_doc::ShadowDoc,
    /// The armed safeguard, `null` without one.
    pub safeguard: Option<crate::safeguard::Guard>,
}

fn shadow_name(raw: &str) -> Result<String, ApiError> {
    crate::config::shadow_doc::check_name(raw).map_err(|m| ApiError::BadRequest {
        code: "INVALID_SHADOW_NAME",
        message: m,
        field: Some("/name".into()),
    })?;
    Ok(raw.to_owned())
}

/// `GET /api/v1/strategies/{strategy_id}/shadows?window=1h` — the shadows with their scorecards beside the live
/// set's.
pub async fn list(
    State(state): State<AppState>,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    ApiQuery(q): ApiQuery<ShadowsQuery>,
) -> ApiResult<ShadowList> {
    let s = crate::api::strategies::find(&state, &id)?;
    let window_ms = window_of(q.window.as_deref())?;
    let live = state.live.scorecard.performance(s.id(), window_ms, None);
    let window_s = window_ms as f64 / 1000.0;
    let shadows = state
        .shadows
        .list(s.id())
        .into_iter()
        .map(|view| {
            let performance =
                state
                    .live
                    .scorecard
                    .performance_of(s.id(), Some(&view.doc.name), window_ms, None);
            ListedShadow {
                comparison: comparison(&view.doc.name, window_s, &live, &performance),
                created_at: crate::config::store::iso(view.doc.created_at_ms),
                performance,
                view,
            }
        })
        .collect();
    Ok(ok(ShadowList {
        strategy_id: s.id().to_owned(),
        window_s,
        max_shadows: crate::config::shadow_doc::MAX_SHADOWS_PER_STRATEGY,
        live,
        shadows,
    }))
}

/// `POST /api/v1/strategies/{strategy_id}/shadows` — starts a shadow (201).
pub async fn create(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(StrategyPath { strategy_id: id }): ApiPath<StrategyPath>,
    body: Result<ApiJson<CreateShadowRequest>, ApiError>,
) -> Result<(StatusCode, Json<ApiResponse<ShadowView, ShadowAction>>), ApiError> {
    let ApiJson(req) = body?;
    let s = crate::api::strategies::find(&state, &id)?;
    let name = shadow_name(&req.name)?;
    let by = changed_by_of(&req.changed_by)?;
    let view = state
        .shadows
        .create(s.id(), &name, req.parameters, req.symbols, by)
        .await?;
    Ok((
        StatusCode::CREATED,
        with_metadata(view, ShadowAction { action: "created" }),
    ))
}

/// `DELETE /api/v1/strategies/{strategy_id}/shadows/{name}` — stops and deletes a shadow.
pub async fn delete(
    State(state): State<AppState>,
    _access: WriteAccess,
    ApiPath(ShadowPath {
        strategy_id: id,
        name,
    }): ApiPath<ShadowPath>,
) -> ApiResult<ShadowDoc, ShadowAction> {
    let s = crate::api::strategies::find(&state, &id)?;
    let name = shadow_name(&name)?;
    let doc = state.shadows.delete(s.id(), &name).await?;
    Ok(with_metadata(doc, ShadowAction { action: "deleted" }))
}

/// `POST /api/v1/strategies/{strategy_id}/shadows/{name}/promote` — writes the shadow's parameters into the
/// global override through the audited config path (reason: the comparison summary), optionally under a
/// safeguard, then deletes the shadow.
pub async fn promote(
    State(state): State<AppState>,
    _access: WriteAccess,
    headers: HeaderMap,
    ApiPath(ShadowPath {
        strategy_id: id,
        name,
    }): ApiPath<ShadowPath>,
    body: Result<ApiJson<PromoteRequest>, ApiError>,
) -> ApiResult<PromoteResponse, WriteMeta> {
    let ApiJson(req) = body?;
    let s = crate::api::strategies::find(&state, &id)?;
    let name = shadow_name(&name)?;
    let by = changed_by_of(&req.changed_by)?;
    if let Some(guard) = &req.safeguard {
        guard.check(&state.live.scorecard)?;
    }
    let window_ms = window_of(req.window.as_deref())?;
    let doc = state
        .shadows
        .get(s.id(), &name)
        .ok_or_else(|| ApiError::NotFound(format!("shadow {name} of {} not found", s.id())))?;
    let live = state.live.scorecard.performance(s.id(), window_ms, None);
    let perf = state
        .live
        .scorecard
        .performance_of(s.id(), Some(&name), window_ms, None);
    let cmp = comparison(&name, window_ms as f64 / 1000.0, &live, &perf);
    let summary = cmp.summary.clone();
    let reason = match req
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => format!("{r} — {summary}"),
        None => summary,
    };
    let writer = Writer {
        changed_by: by,
        reason: Some(reason),
        issuer: issuer_of(&headers),
    };
    let waiter = state.replicas.waiter();
    let applied = state
        .writes
        .write(
            s.id(),
            None,
            doc.parameters.clone(),
            writer,
            WriteMode::Merge,
        )
        .await?;
    let replicas = crate::api::config::acks(&state, waiter, s.id(), None, &applied).await;
    let guard = req
        .safeguard
        .map(|g| state.safeguards.arm(s.id(), None, g, &applied.audit));
    if let Err(e) = state.shadows.delete(s.id(), &name).await {
        tracing::warn!(error = %e, shadow = %name, "promoted shadow not deleted; delete it by hand");
    }
    let data = PromoteResponse {
        applied: crate::api::config::applied_data(&state, s.id(), None, &applied),
        comparison: cmp,
        promoted_shadow: doc,
        safeguard: guard,
    };
    Ok(with_metadata(
        data,
        WriteMeta {
            action: "promoted".to_owned(),
            audit_id: applied.audit.id.clone(),
            version: applied.audit.version,
            safeguard: None,
            replicas,
        },
    ))
}

/// `GET /api/v1/safeguards` — every guarded change of this replica, newest first, with the measured values.
pub async fn safeguards(State(state): State<AppState>) -> Json<ApiResponse<Vec<Guard>>> {
    ok(state.safeguards.list())
}
