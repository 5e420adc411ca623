//! The OpenAPI 3.1 document, generated at start-up from the registry: every endpoint, and every registered
//! strategy's parameter schema (JSON Schema 2020-12, the OpenAPI 3.1 dialect) under `components.schemas`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::AppState;
use crate::registry::Registry;

/// `GET /openapi.json`
pub async fn serve(State(state): State<AppState>) -> Json<Value> {
    Json(document(&state.registry))
}

fn path_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": "string" } })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn strategy_id_param(ids: &[&str]) -> Value {
    json!({ "name": "strategy_id", "in": "path", "required": true, "description": "Registered strategy id",
            "schema": { "type": "string", "enum": ids } })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_responses(codes: &[&str]) -> Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            let text = match *code {
                "401" => "Missing token (API_TOKEN is set): Authorization: Bearer or X-Petrosa-Internal-Token",
                "403" => "Wrong token (Authorization: Bearer or X-Petrosa-Internal-Token)",
                "429" => {
                    "Write rate limit exceeded: {success:false, error:\"rate_limit_exceeded\", reason, retry_after} and a Retry-After header; nothing was changed"
                }
                "404" => "Unknown strategy, symbol or version (NOT_FOUND); a market symbol not tracked (NOT_TRACKED, the original's document in error.details)",
                "409" => "Nothing to restore or roll back to",
                "422" => {
                    "Invalid input; error.details.errors names every field (JSON pointer) and rule"
                }
                "503" => "Configuration store unavailable, nothing was written (STORE_UNAVAILABLE); the depth analyzer plugin is not running (PLUGIN_UNAVAILABLE); not ready (NOT_READY, the readiness document in error.details)",
                _ => "Error",
            };
            (
                (*code).to_owned(),
                json_response(text, reference("ErrorResponse")),
            )
        })
        .collect()
}

fn operation(
    tag: &str,
    summary: &str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: Value,
    errors: &[&str],
) -> Value {
    let mut responses = error_responses(errors);
    responses.insert("200".into(), ok);
    let mut op =
        json!({ "tags": [tag], "summary": summary, "parameters": params, "responses": responses });
    if let Some(schema) = body {
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": schema } } });
    }
    op
}

/// An operation whose success answers 201 instead of 200.
fn created(mut op: Value) -> Value {
    if let Some(responses) = op["responses"].as_object_mut() {
        if let Some(ok) = responses.remove("200") {
            responses.insert("201".into(), ok);
        }
    }
    op
}

/// Moves `$defs` of a schemars schema into `components.schemas` (prefixed) and rewrites its `$ref`s.
fn hoist(schema: &Value, prefix: &str, components: &mut Map<String, Value>) -> Value {
    fn rewrite(v: &mut Value, prefix: &str) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get_mut("$ref") {
                    if let Some(name) = r.strip_prefix("#/$defs/") {
                        *r = format!("#/components/schemas/{prefix}{name}");
                    }
                }
                map.values_mut().for_each(|v| rewrite(v, prefix));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, prefix)),
            _ => {}
        }
    }
    let mut s = schema.clone();
    if let Some(obj) = s.as_object_mut() {
        obj.remove("$schema");
        if let Some(Value::Object(defs)) = obj.remove("$defs") {
            for (name, mut def) in defs {
                rewrite(&mut def, prefix);
                components.insert(format!("{prefix}{name}"), def);
            }
        }
    }
    rewrite(&mut s, prefix);
    s
}

/// Builds the document.
pub fn document(registry: &Registry) -> Value {
    let ids: Vec<&str> = registry.ids();
    let mut schemas = base_schemas();
    let mut param_refs = Vec::new();
    for s in registry.strategies() {
        let name = format!("{}_parameters", s.id());
        let mut schema = hoist(&s.schema, &format!("{}_", s.id()), &mut schemas);
        schema["title"] = json!(format!("{} parameters", s.descriptor.name));
        schema["x-strategy-id"] = json!(s.id());
        schemas.insert(name.clone(), schema);
        param_refs.push(reference(&name));
    }
    let mut update = schemas
        .get("ConfigUpdateRequest")
        .cloned()
        .unwrap_or(Value::Null);
    update["properties"]["parameters"] = json!({
        "description": "Partial parameter override (merge patch: null removes a field's override); one of the strategies' parameter schemas",
        "anyOf": param_refs.clone(),
    });
    let param_refs_shadow = param_refs;
    update["properties"]["parameters"]["minProperties"] = json!(1);
    let mut patch = update.clone();
    if let Some(props) = patch["properties"].as_object_mut() {
        props.remove("validate_only");
        props.remove("replace");
    }
    patch["description"] =
        json!("RFC 7396 merge patch of the stored override in `parameters` (null removes a field)");
    update["properties"]["safeguard"] = reference("Safeguard");
    schemas.insert("ConfigUpdateRequest".into(), update);
    schemas.insert("ConfigPatchRequest".into(), patch);
    schemas.insert(
        "Safeguard".into(),
        json!({
            "type": "object", "additionalProperties": false,
            "description": "Rolls the change back (audit operation rollback, changed_by safeguard) when the live scorecard breaks it after the change; needs max_signals_per_hour or min_hit_rate",
            "properties": {
                "max_signals_per_hour": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1000000},
                "min_hit_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "horizon": {"type": ["string", "null"], "enum": ["5s", "30s", "60s", "300s", null], "default": "60s"},
                "after_signals": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000, "default": 50}
            }
        }),
    );
    schemas.insert(
        "CreateShadowRequest".into(),
        json!({
            "type": "object", "additionalProperties": false, "required": ["name", "parameters", "changed_by"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
                "parameters": {"type": "object", "minProperties": 1, "description": "Laid over the live global parameters; one of the strategies' parameter schemas", "anyOf": param_refs_shadow},
                "symbols": {"type": ["array", "null"], "minItems": 1, "maxItems": 100, "items": {"type": "string", "pattern": "^[A-Za-z0-9]{1,32}$"}},
                "changed_by": {"type": "string", "minLength": 1, "maxLength": 200}
            }
        }),
    );
    schemas.insert(
        "PromoteRequest".into(),
        json!({
            "type": "object", "additionalProperties": false, "required": ["changed_by"],
            "properties": {
                "changed_by": {"type": "string", "minLength": 1, "maxLength": 200},
                "reason": {"type": ["string", "null"]},
                "window": {"type": ["string", "null"], "default": "1h"},
                "safeguard": {"anyOf": [{"$ref": "#/components/schemas/Safeguard"}, {"type": "null"}]}
            }
        }),
    );

    let sid = || strategy_id_param(&ids);
    let symbol = || path_param("symbol", "Trading symbol, e.g. BTCUSDT (case-insensitive)");
    let api = |r: &str| {
        json_response(
            "Successful response",
            json!({ "allOf": [reference("APIResponse")], "description": r }),
        )
    };
    let audit_query = || {
        vec![
            sid(),
            query_param(
                "symbol",
                "Only this symbol's records",
                json!({"type": "string"}),
            ),
            query_param(
                "limit",
                "Maximum records (1-1000)",
                json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
            ),
        ]
    };
    let who = || {
        vec![
            query_param(
                "changed_by",
                "Who makes the change",
                json!({"type": "string"}),
            ),
            query_param("reason", "Why", json!({"type": "string"})),
        ]
    };
    let config_write = ["401", "403", "404", "422", "429", "503"];

    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    add(
        "/",
        "get",
        operation(
            "service",
            "Service name and endpoint map",
            vec![],
            None,
            json_response("OK", json!({"type": "object"})),
            &[],
        ),
    );
    add(
        "/healthz",
        "get",
        operation(
            "service",
            "Liveness",
            vec![],
            None,
            json_response("Alive", json!({"type": "object"})),
            &[],
        ),
    );
    add(
        "/ready",
        "get",
        operation(
            "service",
            "Readiness (503 while the source is disconnected)",
            vec![],
            None,
            json_response("Ready", json!({"type": "object"})),
            &["503"],
        ),
    );
    add(
        "/info",
        "get",
        operation(
            "service",
            "Configuration, source, strategies and their data status",
            vec![],
            None,
            json_response("OK", json!({"type": "object"})),
            &[],
        ),
    );
    add(
        "/metrics",
        "get",
        json!({"tags": ["service"], "summary": "Prometheus metrics (text format)", "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}),
    );

    add(
        "/api/v1/strategies",
        "get",
        operation(
            "configuration",
            "List all strategies",
            vec![],
            None,
            api("data: StrategyListItem[]"),
            &[],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/schema",
        "get",
        operation(
            "configuration",
            "Parameter schema of a strategy (metadata.json_schema holds the JSON Schema)",
            vec![sid()],
            None,
            api("data: ParameterSchemaItem[]"),
            &["404"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/defaults",
        "get",
        operation(
            "configuration",
            "Default parameters",
            vec![sid()],
            None,
            api("data: parameters"),
            &["404"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config",
        "get",
        operation(
            "configuration",
            "Effective global parameters with per-field provenance",
            vec![sid()],
            None,
            api("data: ConfigResponse"),
            &["404"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config",
        "post",
        operation(
            "configuration",
            "Merge parameters into the global override (\"replace\": true replaces it; validated; versioned; audited)",
            vec![sid()],
            Some(reference("ConfigUpdateRequest")),
            api("data: ConfigResponse"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config",
        "patch",
        operation(
            "configuration",
            "Merge patch (RFC 7396) of the global override: null removes a field",
            vec![sid()],
            Some(reference("ConfigPatchRequest")),
            api("data: ConfigResponse"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config",
        "delete",
        operation(
            "configuration",
            "Delete the global override",
            [vec![sid()], who()].concat(),
            None,
            api("deleted"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config/{symbol}",
        "get",
        operation(
            "configuration",
            "Effective parameters of one symbol with provenance",
            vec![sid(), symbol()],
            None,
            api("data: ConfigResponse"),
            &["404"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config/{symbol}",
        "post",
        operation(
            "configuration",
            "Merge parameters into a symbol override (\"replace\": true replaces it)",
            vec![sid(), symbol()],
            Some(reference("ConfigUpdateRequest")),
            api("data: ConfigResponse"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config/{symbol}",
        "patch",
        operation(
            "configuration",
            "Merge patch (RFC 7396) of a symbol override",
            vec![sid(), symbol()],
            Some(reference("ConfigPatchRequest")),
            api("data: ConfigResponse"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/config/{symbol}",
        "delete",
        operation(
            "configuration",
            "Delete a symbol override",
            [vec![sid(), symbol()], who()].concat(),
            None,
            api("deleted"),
            &config_write,
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/audit",
        "get",
        operation(
            "configuration",
            "Audit trail (newest first)",
            audit_query(),
            None,
            api("data: AuditTrailItem[]"),
            &["404", "422"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/performance",
        "get",
        operation(
            "scorecard",
            "Live scorecard of the strategy's published signals: hit rate, mean gross/net bps, CI, IC, \
             bracket and drawdown per horizon (the evaluate scorer's definitions), over a window of event time",
            vec![
                sid(),
                query_param(
                    "window",
                    "Window ending at the newest scored signal, e.g. 15m, 1h, 24h (1s to 7d)",
                    json!({"type": "string", "default": "1h"}),
                ),
                query_param(
                    "symbol",
                    "Only this symbol (1-32 letters or digits)",
                    json!({"type": "string", "pattern": "^[A-Za-z0-9]{1,32}$"}),
                ),
            ],
            None,
            api("data: {strategy_id, window_s, symbol, settings, horizons[], by_symbol{}}"),
            &["404", "422"],
        ),
    );
    let window = || {
        query_param(
            "window",
            "Window of the scorecards, e.g. 15m, 1h (1s to 7d)",
            json!({"type": "string", "default": "1h"}),
        )
    };
    let shadow = || path_param("name", "Shadow name");
    add(
        "/api/v1/strategies/{strategy_id}/shadows",
        "get",
        operation(
            "shadows",
            "Shadow parameter sets with their scorecards beside the live set's",
            vec![sid(), window()],
            None,
            api("data: {strategy_id, window_s, max_shadows, live: Performance, shadows[]: {name, parameters, symbols, effective_parameters, performance, comparison}}"),
            &["404", "422"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/shadows",
        "post",
        created(operation(
            "shadows",
            "Start a shadow parameter set (scored, never published; at most 8 per strategy; stored)",
            vec![sid()],
            Some(reference("CreateShadowRequest")),
            api("data: shadow"),
            &["401", "403", "404", "409", "422", "503"],
        )),
    );
    add(
        "/api/v1/strategies/{strategy_id}/shadows/{name}",
        "delete",
        operation(
            "shadows",
            "Stop and delete a shadow",
            vec![sid(), shadow()],
            None,
            api("data: the deleted shadow"),
            &["401", "403", "404", "422", "503"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/shadows/{name}/promote",
        "post",
        operation(
            "shadows",
            "Write the shadow's parameters into the global override (audited; reason: the comparison), optionally under a safeguard, and delete the shadow",
            vec![sid(), shadow()],
            Some(reference("PromoteRequest")),
            api("data: ConfigResponse + comparison, promoted_shadow, safeguard"),
            &["401", "403", "404", "422", "429", "503"],
        ),
    );
    add(
        "/api/v1/safeguards",
        "get",
        operation(
            "shadows",
            "Guarded changes of this replica (watching, passed, rolled_back, superseded, expired) with measured values",
            vec![],
            None,
            api("data: Guard[]"),
            &[],
        ),
    );
    add(
        "/api/v1/replicas",
        "get",
        operation(
            "service",
            "Replicas heard from in the last minute and the config versions each applies",
            vec![],
            None,
            api("data: {id, config_versions_applied, replicas[], all_replicas_same_version}"),
            &[],
        ),
    );
    add(
        "/api/v1/strategies/cache/refresh",
        "post",
        operation(
            "configuration",
            "Reload every configuration from the store",
            vec![],
            None,
            api("refreshed"),
            &["401", "403", "503"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/cache/refresh",
        "post",
        operation(
            "configuration",
            "Reload one strategy's configuration from the store",
            vec![sid()],
            None,
            api("refreshed"),
            &["401", "403", "404", "503"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/rollback",
        "post",
        operation(
            "configuration",
            "Roll back to a previous version",
            vec![
                sid(),
                query_param(
                    "symbol",
                    "Symbol override to roll back",
                    json!({"type": "string"}),
                ),
            ],
            Some(reference("RollbackRequest")),
            api("data: ConfigResponse"),
            &["401", "403", "404", "409", "422", "503"],
        ),
    );
    add(
        "/api/v1/strategies/{strategy_id}/restore",
        "post",
        operation(
            "configuration",
            "Restore a deleted configuration",
            vec![
                sid(),
                query_param(
                    "symbol",
                    "Symbol override to restore",
                    json!({"type": "string"}),
                ),
            ],
            Some(reference("RestoreRequest")),
            api("data: ConfigResponse"),
            &["401", "403", "404", "409", "503"],
        ),
    );
    add(
        "/api/v1/config/validate",
        "post",
        operation(
            "configuration",
            "Validate parameters without storing",
            vec![],
            Some(reference("ConfigValidationRequest")),
            api("data: validation result"),
            &["404", "422"],
        ),
    );

    let sym_metric = || path_param("symbol", "Trading symbol, e.g. BTCUSDT");
    add(
        "/api/v1/metrics/depth/{symbol}",
        "get",
        operation(
            "market-metrics",
            "Current depth metrics of a symbol",
            vec![sym_metric()],
            None,
            json_response("Depth metrics", json!({"type": "object"})),
            &["404"],
        ),
    );
    add(
        "/api/v1/metrics/pressure/{symbol}",
        "get",
        operation(
            "market-metrics",
            "Pressure history and trend",
            vec![
                sym_metric(),
                query_param(
                    "timeframe",
                    "Window",
                    json!({"type": "string", "enum": ["1m", "5m", "15m"], "default": "5m"}),
                ),
                query_param(
                    "max_points",
                    "Return the whole window downsampled to at most this many points (means of consecutive samples; `downsampling` says how) instead of the newest 100",
                    json!({"type": "integer", "minimum": 10, "maximum": 1000}),
                ),
            ],
            None,
            json_response("Pressure history", json!({"type": "object"})),
            &["404", "422"],
        ),
    );
    add(
        "/api/v1/metrics/summary",
        "get",
        operation(
            "market-metrics",
            "Market-wide summary",
            vec![],
            None,
            json_response("Summary", json!({"type": "object"})),
            &[],
        ),
    );
    add(
        "/api/v1/metrics/all",
        "get",
        operation(
            "market-metrics",
            "All tracked symbols (filter, sort, paginate)",
            vec![
                query_param(
                    "symbols",
                    "Comma-separated symbols",
                    json!({"type": "string"}),
                ),
                query_param(
                    "min_pressure",
                    "Minimum net pressure",
                    json!({"type": "number"}),
                ),
                query_param(
                    "max_pressure",
                    "Maximum net pressure",
                    json!({"type": "number"}),
                ),
                query_param(
                    "trend",
                    "Trend filter",
                    json!({"type": "string", "enum": ["bullish", "bearish", "neutral"]}),
                ),
                query_param(
                    "limit",
                    "Page size",
                    json!({"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}),
                ),
                query_param(
                    "offset",
                    "Offset",
                    json!({"type": "integer", "minimum": 0, "default": 0}),
                ),
                query_param("sort_by", "Sort field", json!({"type": "string"})),
                query_param(
                    "sort_order",
                    "asc or desc",
                    json!({"type": "string", "enum": ["asc", "desc"]}),
                ),
            ],
            None,
            json_response("All metrics", json!({"type": "object"})),
            &["422"],
        ),
    );
    add(
        "/api/v1/stream/signals",
        "get",
        json!({"tags": ["live"], "summary": "Server-Sent Events: each published signal (event `signal`, data = the published JSON)", "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}, "503": {"description": "LIVE_MAX_CLIENTS streams are open (code TOO_MANY_CLIENTS)"}}}),
    );
    add(
        "/api/v1/stream/market",
        "get",
        json!({"tags": ["live"], "summary": "Server-Sent Events: market summary and per-symbol metrics about once a second (event `market`)", "responses": {"200": {"description": "event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}}, "503": {"description": "LIVE_MAX_CLIENTS streams are open (code TOO_MANY_CLIENTS)"}}}),
    );
    add(
        "/docs",
        "get",
        json!({"tags": ["service"], "summary": "Swagger UI (embedded, works offline)", "responses": {"200": {"description": "HTML"}}}),
    );
    add(
        "/openapi.json",
        "get",
        json!({"tags": ["service"], "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}),
    );

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "realtime-strategies",
            "version": crate::VERSION,
            "description": "Configuration and market metrics API of the real-time strategy host. Generated from the registered strategies: adding a strategy crate updates this document.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "Required on writes when API_TOKEN is set" } }
        },
        "x-strategies": ids,
    })
}

fn base_schemas() -> Map<String, Value> {
    let v = json!({
        "APIResponse": {
            "type": "object", "required": ["success"],
            "properties": {
                "success": {"type": "boolean"}, "data": {}, "error": {"type": ["object", "null"]},
                "metadata": {"type": ["object", "null"]}
            }
        },
        "FieldError": {
            "type": "object", "required": ["field", "rule", "message"],
            "properties": {
                "field": {"type": "string", "description": "JSON pointer of the offending field"},
                "rule": {"type": "string", "description": "Failed rule (minimum, type, additionalProperties, cross_field, …)"},
                "message": {"type": "string"}
            }
        },
        "ErrorResponse": {
            "type": "object",
            "properties": {
                "success": {"const": false}, "data": {"type": "null"}, "metadata": {"type": "null"},
                "error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"},
                    "details": {"type": ["object", "null"], "properties": {"errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}}}}
                }}
            }
        },
        "ConfigUpdateRequest": {
            "type": "object", "required": ["parameters", "changed_by"],
            "properties": {
                "parameters": {"type": "object"},
                "changed_by": {"type": "string", "description": "Who makes the change"},
                "reason": {"type": ["string", "null"]},
                "validate_only": {"type": "boolean", "default": false},
                "replace": {"type": "boolean", "default": false, "description": "Replace the stored override instead of merging into it"}
            }
        },
        "RollbackRequest": {
            "type": "object", "required": ["changed_by"],
            "properties": {
                "changed_by": {"type": "string"}, "target_version": {"type": ["integer", "null"]},
                "reason": {"type": ["string", "null"]}
            }
        },
        "RestoreRequest": {
            "type": "object", "required": ["changed_by"],
            "properties": {"changed_by": {"type": "string"}, "reason": {"type": ["string", "null"]}}
        },
        "ConfigValidationRequest": {
            "type": "object", "required": ["parameters", "strategy_id"],
            "properties": {
                "parameters": {"type": "object"}, "strategy_id": {"type": "string"},
                "symbol": {"type": ["string", "null"]}
            }
        }
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
