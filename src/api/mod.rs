//! The HTTP API: the only module that knows about HTTP.

pub mod assets;
pub mod auth;
pub mod config;
pub mod console;
pub mod envelope;
pub mod error;
pub mod live;
pub mod market;
pub mod openapi;
pub mod params;
pub mod performance;
pub mod server;
pub mod service;
pub mod shadows;
pub mod strategies;
pub mod views;

use std::collections::BTreeSet;
use std::sync::Arc;

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
    /// Configuration service: effective parameters, store status.
    pub config: Arc<ConfigService>,
    /// Configuration writes, deletes, rollbacks, validation and the audit trail.
    pub writes: Arc<crate::config::writes::WriteService>,
    /// Reloads of the stored configuration (`cache/refresh`).
    pub replication: Arc<crate::config::replication::Replication>,
    /// The last known stored overrides.
    pub snapshot: Arc<crate::config::snapshot::Snapshot>,
    /// Defaults ← env of every strategy.
    pub layers: Arc<crate::config::layers::Layers>,
    /// Whether the configuration store answers.
    pub store_health: Arc<crate::config::replication::health::StoreHealth>,
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

/// The complete router and the OpenAPI document generated from its routes (see [`openapi`]).
pub fn router_and_document(state: AppState) -> (Router, Arc<serde_json::Value>) {
    use aide::axum::routing::{delete_with, get_with, post_with};
    use aide::axum::ApiRouter;
    use error::with_errors;
    use openapi::{json_response, named, text_response};

    // One registration per route: the path, the handler and what the handler's types cannot say (summary, tag,
    // the statuses it answers besides those of its extractors).
    let routes: ApiRouter<AppState> = ApiRouter::new()
        .api_route(
            "/",
            get_with(console::root, |op| {
                let op = op
                    .tag("service")
                    .summary("Service name and endpoint map (a browser preferring HTML is sent to /ui/)");
                let op = json_response::<service::ServiceMap>(op, 200, "Service name and endpoint map");
                text_response(op, 303, &[], "To /ui/ (the Accept header prefers text/html)")
            }),
        )
        .api_route(
            "/ui",
            get_with(console::redirect, |op| {
                text_response(op.tag("console").summary("To /ui/"), 308, &[], "To /ui/")
            }),
        )
        .api_route(
            "/ui/",
            get_with(console::page, |op| {
                let op = named(op.tag("console").summary("The web console"), "console");
                text_response(op, 200, &["text/html"], "The console page")
            }),
        )
        .api_route(
            "/healthz",
            get_with(service::healthz, |op| {
                let op = named(op.tag("service").summary("Liveness"), "health");
                let op = json_response::<service::HealthDoc>(op, 200, "Alive");
                json_response::<service::HealthDoc>(
                    op,
                    503,
                    "The processing task panicked or its input ended (reason)",
                )
            }),
        )
        .api_route(
            "/ready",
            get_with(service::ready, |op| {
                let op = named(
                    op.tag("service")
                        .summary("Readiness (503 NOT_READY with the readiness document as details)"),
                    "readiness",
                );
                with_errors(op, &[503])
            }),
        )
        .api_route(
            "/info",
            get_with(service::info, |op| {
                named(
                    op.tag("service")
                        .summary("Configuration, source, strategies and their data status"),
                    "info",
                )
            }),
        )
        .api_route(
            "/metrics",
            get_with(service::metrics, |op| {
                let op = named(op.tag("service").summary("Prometheus metrics"), "metrics");
                text_response(op, 200, &["text/plain"], "Prometheus text format")
            }),
        )
        .api_route(
            "/openapi.json",
            get_with(openapi::serve, |op| {
                named(op.tag("service").summary("This document"), "openapi_spec")
            }),
        )
        .api_route(
            "/docs",
            get_with(assets::docs, |op| {
                named(
                    op.tag("service").summary("Swagger UI (embedded, works offline)"),
                    "api_docs",
                )
            }),
        )
        .api_route(
            "/assets/{*path}",
            get_with(assets::serve, |op| {
                let op = op.tag("console").summary("Embedded static files (console, Swagger UI)");
                let op = text_response(
                    op,
                    200,
                    &assets::CONTENT_TYPES,
                    "The file (cached for a day; URLs are versioned)",
                );
                with_errors(op, &[404])
            }),
        )
        .api_route(
            "/api/v1/metrics/depth/{symbol}",
            get_with(market::depth, |op| {
                with_errors(op.tag("market-metrics").summary("Current depth metrics of a symbol"), &[404, 503])
            }),
        )
        .api_route(
            "/api/v1/metrics/pressure/{symbol}",
            get_with(market::pressure, |op| {
                with_errors(op.tag("market-metrics").summary("Pressure history and trend"), &[404, 503])
            }),
        )
        .api_route(
            "/api/v1/metrics/summary",
            get_with(market::summary, |op| {
                let op = named(op.tag("market-metrics").summary("Market-wide summary"), "market_metrics_api");
                with_errors(op, &[503])
            }),
        )
        .api_route(
            "/api/v1/metrics/all",
            get_with(market::all, |op| {
                with_errors(
                    op.tag("market-metrics")
                        .summary("All tracked symbols (filter, sort, paginate)"),
                    &[503],
                )
            }),
        )
        .api_route(
            "/api/v1/stream/signals",
            get_with(live::signals, |op| {
                with_errors(
                    op.tag("live").summary(
                        "Server-Sent Events: each published signal (event `signal`, data = the published JSON)",
                    ),
                    &[503],
                )
            }),
        )
        .api_route(
            "/api/v1/stream/market",
            get_with(live::market, |op| {
                with_errors(
                    op.tag("live").summary(
                        "Server-Sent Events: market summary and per-symbol metrics about once a second (event `market`)",
                    ),
                    &[503],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies",
            get_with(strategies::list, |op| {
                named(op.tag("configuration").summary("List all strategies"), "configuration_api")
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/schema",
            get_with(strategies::schema, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "Parameter schema of a strategy (metadata.json_schema holds the JSON Schema)",
                    ),
                    &[404],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/defaults",
            get_with(strategies::defaults, |op| {
                with_errors(op.tag("configuration").summary("Default parameters"), &[404])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/config",
            get_with(config::get_global, |op| {
                with_errors(
                    op.tag("configuration")
                        .summary("Effective global parameters with per-field provenance"),
                    &[404],
                )
            })
            .post_with(config::set_global, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "Merge parameters into the global override (\"replace\": true replaces it; validated; versioned; audited)",
                    ),
                    &[404, 429, 503],
                )
            })
            .patch_with(config::patch_global, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "RFC 7396 merge patch of the global override: null removes a field",
                    ),
                    &[404, 429, 503],
                )
            })
            .delete_with(config::delete_global, |op| {
                with_errors(op.tag("configuration").summary("Delete the global override"), &[404, 429, 503])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/config/{symbol}",
            get_with(config::get_symbol, |op| {
                with_errors(
                    op.tag("configuration")
                        .summary("Effective parameters of one symbol with provenance"),
                    &[404],
                )
            })
            .post_with(config::set_symbol, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "Merge parameters into a symbol override (\"replace\": true replaces it)",
                    ),
                    &[404, 429, 503],
                )
            })
            .patch_with(config::patch_symbol, |op| {
                with_errors(
                    op.tag("configuration")
                        .summary("RFC 7396 merge patch of a symbol override"),
                    &[404, 429, 503],
                )
            })
            .delete_with(config::delete_symbol, |op| {
                with_errors(op.tag("configuration").summary("Delete a symbol override"), &[404, 429, 503])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/audit",
            get_with(config::audit, |op| {
                with_errors(op.tag("configuration").summary("Audit trail (newest first)"), &[404, 503])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/performance",
            get_with(performance::performance, |op| {
                with_errors(
                    op.tag("scorecard").summary(
                        "Live scorecard of the strategy's published signals over a window of event time",
                    ),
                    &[404],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/shadows",
            get_with(shadows::list, |op| {
                with_errors(
                    op.tag("shadows")
                        .summary("Shadow parameter sets with their scorecards beside the live set's"),
                    &[404],
                )
            })
            .post_with(shadows::create, |op| {
                let op = op.tag("shadows").summary(
                    "Start a shadow parameter set (scored, never published; at most 8 per strategy; stored)",
                );
                let op = json_response::<
                    envelope::ApiResponse<crate::config::shadows::ShadowView, shadows::ShadowAction>,
                >(
                    op,
                    201,
                    "The shadow started",
                );
                with_errors(op, &[404, 409, 503])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/shadows/{name}",
            delete_with(shadows::delete, |op| {
                with_errors(op.tag("shadows").summary("Stop and delete a shadow"), &[404, 503])
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/shadows/{name}/promote",
            post_with(shadows::promote, |op| {
                with_errors(
                    op.tag("shadows").summary(
                        "Write the shadow's parameters into the global override (audited), optionally under a safeguard, and delete the shadow",
                    ),
                    &[404, 429, 503],
                )
            }),
        )
        .api_route(
            "/api/v1/safeguards",
            get_with(shadows::safeguards, |op| {
                op.tag("shadows").summary("Guarded changes of this replica with measured values")
            }),
        )
        .api_route(
            "/api/v1/replicas",
            get_with(service::replicas, |op| {
                op.tag("service").summary(
                    "Replicas heard from in the last minute and the config versions each applies",
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/cache/refresh",
            post_with(config::refresh, |op| {
                with_errors(
                    op.tag("configuration").summary("Reload every configuration from the store"),
                    &[503],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/cache/refresh",
            post_with(config::refresh_strategy, |op| {
                with_errors(
                    op.tag("configuration")
                        .summary("Reload one strategy's configuration from the store"),
                    &[404, 503],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/rollback",
            post_with(config::rollback, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "Roll back to a version (target_version), an audit record (rollback_id) or the state before the latest change",
                    ),
                    &[404, 429, 503],
                )
            }),
        )
        .api_route(
            "/api/v1/strategies/{strategy_id}/restore",
            post_with(config::restore, |op| {
                with_errors(
                    op.tag("configuration").summary(
                        "Like rollback; without a target it undoes the latest change, which brings a deleted config back",
                    ),
                    &[404, 429, 503],
                )
            }),
        )
        .api_route(
            "/api/v1/config/validate",
            post_with(config::validate, |op| {
                with_errors(
                    op.tag("configuration").summary("Run every write check without storing"),
                    &[404, 503],
                )
            }),
        );
    let mut api = aide::openapi::OpenApi::default();
    let router = routes.finish_api(&mut api);
    let doc = Arc::new(openapi::complete(api, &state.registry));
    let map = Arc::new(openapi::endpoint_map(&doc));
    let router = router
        .layer(axum::Extension(openapi::ApiDocument(doc.clone())))
        .layer(axum::Extension(service::EndpointMap(map)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::compression::CompressionLayer::new())
        .fallback(unknown_route)
        .with_state(state);
    (router, doc)
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    router_and_document(state).0
}
