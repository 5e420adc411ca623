//! Service endpoints: root, liveness, readiness, info, Prometheus metrics.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use strategy_sdk::DataStatus;

use crate::api::error::ApiError;
use crate::api::AppState;
use crate::config::replicas::ReplicaStatus;
use crate::config::replication::health::StoreStatus;
use crate::metrics::resident_memory_bytes;
use crate::state::SourceInfo;

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

/// The readiness document: 200 body of `GET /ready`, and `details` of its 503 `NOT_READY`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReadyDoc {
    /// Whether the replica takes traffic: the pipeline runs, the source is connected, nothing failed and (embedded
    /// store only) the store can be written.
    pub ready: bool,
    /// Why it is not ready (a processing failure or the embedded store's error); `null` otherwise.
    pub reason: Option<String>,
    /// When this was judged (seconds since the epoch, wall clock).
    pub timestamp: f64,
    /// The individual checks.
    pub checks: ReadyChecks,
    /// Where market data comes from.
    pub source: SourceDoc,
    /// The configuration store as this replica sees it.
    pub config_store: StoreStatus,
    /// The liveness document of `/healthz`.
    pub health_status: HealthDoc,
}

/// `checks` of a [`ReadyDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReadyChecks {
    /// Always true (it answered; the original's field).
    pub health_status: bool,
    /// Always true (the configuration service is built before the API serves).
    pub configuration_loaded: bool,
    /// Always true (the registry is loaded before the API serves).
    pub registry_loaded: bool,
    /// The processing pipeline runs.
    pub pipeline_running: bool,
    /// The market data source is connected (replay: always).
    pub source_connected: bool,
    /// Same as `source_connected` (the original's field).
    pub dependencies_available: bool,
    /// The configuration store answered its last operation (a MongoDB outage is reported here but does not make
    /// the replica unready).
    pub config_store_available: bool,
}

/// Where market data comes from (`source` of `/ready`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct SourceDoc {
    /// `nats` or `replay`.
    #[schemars(extend("enum" = ["nats", "replay"]))]
    pub kind: &'static str,
    /// The NATS URL (credentials shown as `***`) or the replayed recording.
    pub detail: String,
    /// Subscription mode: `queue_group`, `shard <i>/<n>` or the replay's pace and loop.
    pub mode: String,
}

impl From<&SourceInfo> for SourceDoc {
    fn from(s: &SourceInfo) -> Self {
        Self {
            kind: s.kind,
            detail: s.detail.clone(),
            mode: s.mode.clone(),
        }
    }
}

/// `GET /ready` — 200 with the readiness document once the registry is loaded, the pipeline runs and the source is
/// connected; otherwise 503 `NOT_READY` with the reason as message and the same document as `details`.
pub async fn ready(State(state): State<AppState>) -> Result<Json<ReadyDoc>, ApiError> {
    let pipeline = state.live.pipeline_running.load(Ordering::Relaxed);
    let source = state.live.source_connected.load(Ordering::Relaxed);
    let failure = state.live.failure();
    // The embedded store is this pod's own file: while it cannot be written the pod is not ready. A MongoDB outage
    // is shared by every replica and only reported (reads keep serving the last known config).
    let store = state.config.store_status();
    let store_down = state.config.store_kind() == "embedded" && !state.store_health.available();
    let reason = failure.clone().or_else(|| {
        store_down.then(|| {
            store
                .last_error
                .clone()
                .unwrap_or_else(|| "embedded configuration store unavailable".to_owned())
        })
    });
    let ready = pipeline && source && failure.is_none() && !store_down;
    let body = ReadyDoc {
        ready,
        reason: reason.clone(),
        timestamp: now_seconds(),
        checks: ReadyChecks {
            health_status: true,
            configuration_loaded: true,
            registry_loaded: true,
            pipeline_running: pipeline,
            source_connected: source,
            dependencies_available: source,
            config_store_available: state.store_health.available(),
        },
        source: SourceDoc::from(&state.live.source),
        config_store: store,
        health_status: health_doc(&state),
    };
    if ready {
        return Ok(Json(body));
    }
    Err(ApiError::NotReady {
        reason: reason.unwrap_or_else(|| not_ready_reason(pipeline, source)),
        readiness: serde_json::to_value(&body).unwrap_or(Value::Null),
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

/// The body of `GET /info`: configuration, source, processing counters, strategies, plugins, store and replicas.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoDoc {
    /// What runs.
    pub service: InfoService,
    /// Environment label and logging.
    pub environment: InfoEnvironment,
    /// NATS, API and HTTP settings.
    pub configuration: InfoConfiguration,
    /// Where market data comes from.
    pub source: InfoSource,
    /// Counters since the start.
    pub processing: InfoProcessing,
    /// Registered and enabled strategies, their data status and effective parameters.
    pub strategies: InfoStrategies,
    /// Ids of the linked plugins.
    pub plugins: Vec<&'static str>,
    /// The configuration store as this replica sees it.
    pub config_store: StoreStatus,
    /// This replica, the configuration versions it applies and the replicas it heard from.
    pub replica: ReplicaStatus,
}

/// `service` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoService {
    /// Service name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
    /// One sentence on what it does.
    pub description: &'static str,
}

/// `environment` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoEnvironment {
    /// `ENVIRONMENT`.
    pub environment: String,
    /// `LOG_LEVEL` (level or tracing filter).
    pub log_level: String,
    /// `LOG_FORMAT`: `text` or `json`.
    #[schemars(extend("enum" = ["text", "json"]))]
    pub log_format: String,
}

/// `configuration` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoConfiguration {
    /// `NATS_URL` with credentials shown as `***`; `null` in standalone replay.
    pub nats_url: Option<String>,
    /// Who may write configuration.
    pub api_auth: InfoApiAuth,
    /// Market data subject (`NATS_CONSUMER_TOPIC`).
    pub consumer_topic: String,
    /// Queue group (`NATS_CONSUMER_GROUP`).
    pub consumer_group: String,
    /// Signal subject prefix (`NATS_TOPIC_INTENTS`).
    pub publisher_topic: String,
    /// HTTP port (`HEALTH_CHECK_PORT`).
    pub health_check_port: u16,
}

/// `configuration.api_auth` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoApiAuth {
    /// `token` (writes need `API_TOKEN`), `open` or `refused_no_token`.
    #[schemars(extend("enum" = ["token", "open", "refused_no_token"]))]
    pub mode: &'static str,
    /// The same in a sentence (why writes are open, when they are).
    pub writes: String,
}

/// `source` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoSource {
    /// `nats` or `replay`.
    #[schemars(extend("enum" = ["nats", "replay"]))]
    pub kind: &'static str,
    /// The NATS URL (credentials shown as `***`) or the replayed recording.
    pub detail: String,
    /// Subscription mode: `queue_group`, `shard <i>/<n>` or the replay's pace and loop.
    pub mode: String,
    /// Whether the source is connected (replay: always).
    pub connected: bool,
    /// Notes about the input (e.g. a recording that had to be sorted).
    pub notes: Vec<String>,
    /// Whether the data is a live feed or a bundled recording, in a sentence.
    pub note: &'static str,
}

/// `processing` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoProcessing {
    /// Messages processed since the start (every kind).
    pub messages_processed: u64,
    /// Signals published since the start.
    pub signals_published: u64,
    /// Event time of the newest processed message (ms since the epoch; 0 before the first).
    pub last_event_time_ms: i64,
}

/// `strategies` of [`InfoDoc`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct InfoStrategies {
    /// Every linked strategy's id, sorted.
    pub registered: Vec<&'static str>,
    /// Ids of the strategies enabled in the global scope.
    pub enabled: Vec<&'static str>,
    /// Per strategy id: whether it has the data it needs.
    pub status: BTreeMap<&'static str, DataState>,
    /// Per strategy id: defaults ← environment parameters, with `enabled` as it is now (stored overrides are in
    /// `GET …/config`).
    #[schemars(with = "BTreeMap<String, Map<String, Value>>")]
    pub config: Map<String, Value>,
}

/// Whether a strategy has the data it needs (`strategies.status` of [`InfoDoc`]).
#[derive(Debug, Serialize, JsonSchema)]
pub struct DataState {
    /// `ready`, `no_data` (see `reason`) or `disabled` (not running in this process).
    #[schemars(extend("enum" = ["ready", "no_data", "disabled"]))]
    pub state: &'static str,
    /// Why it cannot signal (with `no_data` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&DataStatus> for DataState {
    fn from(s: &DataStatus) -> Self {
        match s {
            DataStatus::Ready => Self {
                state: "ready",
                reason: None,
            },
            DataStatus::NoData(why) => Self {
                state: "no_data",
                reason: Some(why.clone()),
            },
        }
    }
}

/// `GET /info` — configuration, source and strategies (enabled, data status, effective parameters).
pub async fn info(State(state): State<AppState>) -> Json<InfoDoc> {
    let s = &state.settings;
    let live = state.live.strategies.read().clone();
    let mut config = Map::new();
    let mut enabled = Vec::new();
    let mut status = BTreeMap::new();
    for reg in state.registry.strategies() {
        let id = reg.id();
        let on = state.is_enabled(id);
        if on {
            enabled.push(id);
        }
        let mut params = state.layers.base_parameters(id).unwrap_or(Value::Null);
        if let Some(obj) = params.as_object_mut() {
            obj.insert("enabled".into(), Value::Bool(on));
        }
        config.insert(id.into(), params);
        let data = live.get(id).map_or(
            DataState {
                state: "disabled",
                reason: None,
            },
            |l| DataState::from(&l.data),
        );
        status.insert(id, data);
    }
    let source = &state.live.source;
    Json(InfoDoc {
        service: InfoService {
            name: crate::SERVICE_NAME,
            version: crate::VERSION,
            description:
                "Real-time trading strategy host: market data from NATS in, trading intents out",
        },
        environment: InfoEnvironment {
            environment: s.environment.clone(),
            log_level: s.log_level.clone(),
            log_format: format!("{:?}", s.log_format).to_lowercase(),
        },
        configuration: InfoConfiguration {
            nats_url: s.nats_url_redacted(),
            api_auth: InfoApiAuth {
                mode: s.write_auth().mode(),
                writes: match s.write_auth() {
                    crate::settings::WriteAuth::Token(_) => {
                        "need Authorization: Bearer <API_TOKEN>".to_owned()
                    }
                    crate::settings::WriteAuth::Open(why) => format!("OPEN to anyone ({why})"),
                    crate::settings::WriteAuth::Refused => {
                        "refused (401): API_TOKEN is not set".to_owned()
                    }
                },
            },
            consumer_topic: s.nats_consumer_topic.clone(),
            consumer_group: s.nats_consumer_group.clone(),
            publisher_topic: s.nats_topic_intents.clone(),
            health_check_port: s.health_check_port,
        },
        source: InfoSource {
            kind: source.kind,
            detail: source.detail.clone(),
            mode: source.mode.clone(),
            connected: state.live.source_connected.load(Ordering::Relaxed),
            notes: state.live.source_notes.read().clone(),
            note: if source.kind == "replay" {
                "STANDALONE REPLAY: market data is a bundled recording, not a live feed; signals are printed, not traded"
            } else {
                "live NATS feed"
            },
        },
        processing: InfoProcessing {
            messages_processed: state.live.processed.load(Ordering::Relaxed),
            signals_published: state.live.signals.load(Ordering::Relaxed),
            last_event_time_ms: state.live.last_event_time_ms.load(Ordering::Relaxed),
        },
        strategies: InfoStrategies {
            registered: state.registry.ids(),
            enabled,
            status,
            config,
        },
        plugins: state.registry.plugins().iter().map(|p| p.id).collect(),
        config_store: state.config.store_status(),
        replica: state.replicas.status(),
    })
}

/// `GET /api/v1/replicas` — every replica heard from in the last minute with the config versions it applies.
pub async fn replicas(
    State(state): State<AppState>,
) -> Json<crate::api::envelope::ApiResponse<ReplicaStatus>> {
    crate::api::envelope::ok(state.replicas.status())
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
