//! Service endpoints: root, liveness, readiness, info, Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::metrics::resident_memory_bytes;

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The endpoint map of `GET /`, read from the generated document (see [`crate::api::openapi::endpoint_map`]).
#[derive(Debug, Clone)]
pub struct EndpointMap(pub std::sync::Arc<Map<String, Value>>);

/// The body of `GET /`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ServiceMap {
    /// Service name.
    pub service: &'static str,
    /// Version.
    pub version: &'static str,
    /// Always `running`.
    pub status: &'static str,
    /// Named endpoints (`health`, `readiness`, `metrics`, `info`, `configuration_api`, `market_metrics_api`,
    /// `api_docs`, `openapi_spec`, `console`) → path.
    pub endpoints: BTreeMap<String, String>,
}

/// `GET /` — service name and endpoint map.
pub fn root(map: &EndpointMap) -> Json<ServiceMap> {
    Json(ServiceMap {
        service: crate::SERVICE_NAME,
        version: crate::VERSION,
        status: "running",
        endpoints: map
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect(),
    })
}

/// The liveness document of `GET /healthz` (also `health_status` of `/ready`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthDoc {
    /// `healthy`, or `unhealthy` when the processing task failed.
    #[schemars(extend("enum" = ["healthy", "unhealthy"]))]
    pub status: &'static str,
    /// Why the processing task failed.
    pub reason: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// Seconds since the start.
    pub uptime_seconds: f64,
    /// The original's checks.
    pub checks: HealthChecks,
    /// Version.
    pub version: &'static str,
    /// `ENVIRONMENT`.
    pub environment: String,
}

/// `checks` of a [`HealthDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct HealthChecks {
    /// Always true (it answered).
    pub server_running: bool,
    /// The processing task runs.
    pub processing_alive: bool,
    /// Always true (the original's field).
    pub uptime_seconds: bool,
    /// Always true (the original's field).
    pub memory_usage: bool,
    /// Always true (the original's field).
    pub cpu_usage: bool,
}

fn health_doc(state: &AppState) -> HealthDoc {
    let failure = state.live.failure();
    HealthDoc {
        status: if failure.is_some() {
            "unhealthy"
        } else {
            "healthy"
        },
        checks: HealthChecks {
            server_running: true,
            processing_alive: failure.is_none(),
            uptime_seconds: true,
            memory_usage: true,
            cpu_usage: true,
        },
        reason: failure,
        timestamp: now_seconds(),
        uptime_seconds: state.live.started.elapsed().as_secs_f64(),
        version: crate::VERSION,
        environment: state.settings.environment.clone(),
    }
}

/// `GET /healthz` — liveness: the process serves requests and its processing task is alive (503 with the reason
/// when it panicked or its input ended, so the orchestrator restarts the process).
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<HealthDoc>) {
    let status = if state.live.failure().is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(health_doc(&state)))
}

/// `GET /ready` — 200 with the readiness document once the registry is loaded, the pipeline runs and the source is
/// connected; otherwise 503 `NOT_READY` with the reason as message and the same document as `details`.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pipeline = state.live.pipeline_running.load(Ordering::Relaxed);
    let source = state.live.source_connected.load(Ordering::Relaxed);
    let failure = state.live.failure();
    // The embedded store is this pod's own file: while it cannot be written the pod is not ready. A MongoDB outage
    // is shared by every replica and only reported (reads keep serving the last known config).
    let store = state.config.store_status();
    let store_down = state.config.store_kind() == "embedded" && !state.config.store_available();
    let reason = failure.clone().or_else(|| {
        store_down.then(|| {
            store["last_error"]
                .as_str()
                .unwrap_or("embedded configuration store unavailable")
                .to_owned()
        })
    });
    let ready = pipeline && source && failure.is_none() && !store_down;
    let body = json!({
        "ready": ready,
        "reason": reason,
        "timestamp": now_seconds(),
        "checks": {
            "health_status": true,
            "configuration_loaded": true,
            "registry_loaded": true,
            "pipeline_running": pipeline,
            "source_connected": source,
            "dependencies_available": source,
            "config_store_available": state.config.store_available(),
        },
        "source": state.live.source,
        "config_store": store,
        "health_status": health_doc(&state),
    });
    if ready {
        return Ok(Json(body));
    }
    Err(ApiError::NotReady {
        reason: reason.unwrap_or_else(|| not_ready_reason(pipeline, source)),
        readiness: body,
    })
}

/// The reason of a 503 when no failure or store outage explains it.
fn not_ready_reason(pipeline: bool, source: bool) -> String {
    match (pipeline, source) {
        (false, _) => "the processing pipeline is not running yet".into(),
        (true, false) => "the market data source is not connected".into(),
        (true, true) => "not ready".into(),
    }
}

/// `GET /info` — configuration, source and strategies (enabled, data status, effective parameters).
pub async fn info(State(state): State<AppState>) -> Json<Value> {
    let s = &state.settings;
    let live = state.live.strategies.read().clone();
    let mut config = Map::new();
    let mut enabled = Vec::new();
    let mut status = Map::new();
    for reg in state.registry.strategies() {
        let id = reg.id();
        let on = state.is_enabled(id);
        if on {
            enabled.push(id);
        }
        let mut params = state.config.base_parameters(id).unwrap_or(Value::Null);
        if let Some(obj) = params.as_object_mut() {
            obj.insert("enabled".into(), Value::Bool(on));
        }
        config.insert(id.into(), params);
        let data = live
            .get(id)
            .map(|l| serde_json::to_value(&l.data).unwrap_or(Value::Null))
            .unwrap_or_else(|| json!({ "state": "disabled" }));
        status.insert(id.into(), data);
    }
    let plugins: Vec<_> = state.registry.plugins().iter().map(|p| p.id).collect();
    Json(json!({
        "service": {
            "name": crate::SERVICE_NAME,
            "version": crate::VERSION,
            "description": "Real-time trading strategy host: market data from NATS in, trading intents out",
        },
        "environment": {
            "environment": s.environment,
            "log_level": s.log_level,
            "log_format": format!("{:?}", s.log_format).to_lowercase(),
        },
        "configuration": {
            "nats_url": s.nats_url_redacted(),
            "api_auth": {
                "mode": s.write_auth().mode(),
                "writes": match s.write_auth() {
                    crate::settings::WriteAuth::Token(_) => "need Authorization: Bearer <API_TOKEN>".to_owned(),
                    crate::settings::WriteAuth::Open(why) => format!("OPEN to anyone ({why})"),
                    crate::settings::WriteAuth::Refused => "refused (401): API_TOKEN is not set".to_owned(),
                },
            },
            "consumer_topic": s.nats_consumer_topic,
            "consumer_group": s.nats_consumer_group,
            "publisher_topic": s.nats_topic_intents,
            "health_check_port": s.health_check_port,
        },
        "source": {
            "kind": state.live.source.kind,
            "detail": state.live.source.detail,
            "mode": state.live.source.mode,
            "connected": state.live.source_connected.load(Ordering::Relaxed),
            "notes": state.live.source_notes.read().clone(),
            "note": if state.live.source.kind == "replay" {
                "STANDALONE REPLAY: market data is a bundled recording, not a live feed; signals are printed, not traded"
            } else { "live NATS feed" },
        },
        "processing": {
            "messages_processed": state.live.processed.load(Ordering::Relaxed),
            "signals_published": state.live.signals.load(Ordering::Relaxed),
            "last_event_time_ms": state.live.last_event_time_ms.load(Ordering::Relaxed),
        },
        "strategies": {
            "registered": state.registry.ids(),
            "enabled": enabled,
            "status": status,
            "config": config,
        },
        "plugins": plugins,
        "config_store": state.config.store_status(),
        "replica": replica_doc(&state),
    }))
}

/// This replica, the config versions it applies, and the other replicas it has heard from.
fn replica_doc(state: &AppState) -> Value {
    let peers = state.replicas.peers();
    json!({
        "id": state.config.instance(),
        "config_versions_applied": state.config.applied_versions(),
        "replicas": peers,
        "all_replicas_same_version": crate::config::replicas::Replicas::all_same(&peers),
    })
}

/// `GET /api/v1/replicas` — every replica heard from in the last minute with the config versions it applies.
pub async fn replicas(
    State(state): State<AppState>,
) -> Json<crate::api::envelope::ApiResponse<Value>> {
    crate::api::envelope::ok(replica_doc(&state), None)
}

/// `GET /metrics` — Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics
        .uptime
        .set(state.live.started.elapsed().as_secs_f64());
    state.metrics.memory.set(resident_memory_bytes());
    if let Ok(reader) = crate::api::market::reader(&state) {
        let gauge = &state.metrics.symbol_net_pressure;
        gauge.reset();
        for symbol in reader.symbols() {
            if let Some((_, m)) = reader.current(&symbol) {
                gauge
                    .with_label_values(&[symbol.as_str()])
                    .set(m.net_pressure);
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
