//! The HTTP API: the only module that knows about HTTP.

pub mod assets;
pub mod config;
pub mod console;
pub mod envelope;
pub mod error;
pub mod live;
pub mod market;
pub mod openapi;
pub mod performance;
pub mod server;
pub mod service;
pub mod shadows;
pub mod strategies;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::config::ConfigService;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::state::LiveState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Registered strategies and plugins.
    pub registry: Arc<Registry>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Live processing state.
    pub live: Arc<LiveState>,
    /// Metrics.
    pub metrics: Metrics,
    /// Configuration service.
    pub config: Arc<ConfigService>,
    /// Shadow parameter sets.
    pub shadows: Arc<crate::config::shadows::ShadowService>,
    /// Guarded changes being watched.
    pub safeguards: Arc<crate::safeguard::Safeguards>,
    /// Which replica applies which config version.
    pub replicas: Arc<crate::config::replicas::Replicas>,
    /// Ids of strategies enabled by their environment switch at start-up (`STRATEGY_ENABLED_<ID>`).
    pub enabled: Arc<BTreeSet<&'static str>>,
    /// Read handles of plugins, by type (`plugin_readers.get::<plugin_depth_analyzer::MetricsReader>()`).
    pub plugin_readers: Arc<strategy_sdk::PluginReaders>,
    /// Live streams: client cap and the shared market snapshot.
    pub live_hub: Arc<live::LiveHub>,
}

impl AppState {
    /// Whether a strategy is enabled (globally): its effective host-level `enabled` parameter, whose environment
    /// layer is `STRATEGY_ENABLED_<ID>`.
    pub fn is_enabled(&self, id: &str) -> bool {
        self.live.host_params.enabled(id)
    }
}

/// Any path no route matches: a JSON 404 like every other API error.
async fn unknown_route(uri: axum::http::Uri) -> error::ApiError {
    error::ApiError::NotFound(format!("no endpoint at {}; see /openapi.json", uri.path()))
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(console::root))
        .route("/ui", get(console::redirect))
        .route("/ui/", get(console::page))
        .route("/healthz", get(service::healthz))
        .route("/ready", get(service::ready))
        .route("/info", get(service::info))
        .route("/metrics", get(service::metrics))
        .route("/openapi.json", get(openapi::serve))
        .route("/api/v1/metrics/depth/{symbol}", get(market::depth))
        .route("/api/v1/metrics/pressure/{symbol}", get(market::pressure))
        .route("/api/v1/metrics/summary", get(market::summary))
        .route("/api/v1/metrics/all", get(market::all))
        .route("/api/v1/stream/signals", get(live::signals))
        .route("/api/v1/stream/market", get(live::market))
        .route("/docs", get(assets::docs))
        .route("/assets/{*path}", get(assets::serve))
        .route("/api/v1/strategies", get(strategies::list))
        .route(
            "/api/v1/strategies/{strategy_id}/schema",
            get(strategies::schema),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/defaults",
            get(strategies::defaults),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/config",
            get(config::get_global)
                .post(config::set_global)
                .patch(config::patch_global)
                .delete(config::delete_global),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/config/{symbol}",
            get(config::get_symbol)
                .post(config::set_symbol)
                .patch(config::patch_symbol)
                .delete(config::delete_symbol),
        )
        .route("/api/v1/strategies/{strategy_id}/audit", get(config::audit))
        .route(
            "/api/v1/strategies/{strategy_id}/performance",
            get(performance::performance),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/shadows",
            get(shadows::list).post(shadows::create),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/shadows/{name}",
            axum::routing::delete(shadows::delete),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/shadows/{name}/promote",
            post(shadows::promote),
        )
        .route("/api/v1/safeguards", get(shadows::safeguards))
        .route("/api/v1/replicas", get(service::replicas))
        .route("/api/v1/strategies/cache/refresh", post(config::refresh))
        .route(
            "/api/v1/strategies/{strategy_id}/cache/refresh",
            post(config::refresh_strategy),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/rollback",
            post(config::rollback),
        )
        .route(
            "/api/v1/strategies/{strategy_id}/restore",
            post(config::restore),
        )
        .route("/api/v1/config/validate", post(config::validate))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::compression::CompressionLayer::new())
        .fallback(unknown_route)
        .with_state(state)
}
