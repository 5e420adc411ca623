//! The OpenAPI 3.1 document, generated with `aide` from the routes themselves: every route is registered once (in
//! [`crate::api::router`]) with its handler, and the handler's extractors and return types (the same structs it
//! deserializes and serializes, through their `schemars` derives) give the parameters, the request body and the
//! responses. What only the running host knows is added once the routes are collected: every registered strategy's
//! parameter schema (its `schemars` schema, JSON Schema 2020-12, the OpenAPI 3.1 dialect) under
//! `components.schemas`, and the registered ids as the enum of `strategy_id`.
//!
//! The endpoint map of `GET /` is read from the same document (operations named with [`named`]), and the tests
//! enumerate the served routes from it too.

use std::sync::Arc;

use aide::openapi::OpenApi;
use aide::transform::TransformOperation;
use axum::{Extension, Json};
use serde_json::{json, Map, Value};

use crate::registry::Registry;

/// Extension key of an operation's name in the endpoint map of `GET /`.
pub const ENDPOINT_NAME: &str = "x-endpoint-name";

/// The served document.
#[derive(Debug, Clone)]
pub struct ApiDocument(pub Arc<Value>);

/// `GET /openapi.json`
pub async fn serve(Extension(doc): Extension<ApiDocument>) -> Json<Value> {
    Json(doc.0.as_ref().clone())
}

/// Names an operation in the endpoint map of `GET /`.
pub fn named<'a>(op: TransformOperation<'a>, name: &str) -> TransformOperation<'a> {
    op.with(|mut op| {
        op.inner_mut()
            .extensions
            .insert(ENDPOINT_NAME.into(), Value::String(name.into()));
        op
    })
}

/// Schema of a partial parameter override in a write (`parameters`): one of the registered strategies'
/// parameter schemas, at least one field.
pub fn override_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "$ref": "#/components/schemas/StrategyParameterOverride" })
}

/// Schema of `parameters` in a validation request: any object (checking it is the endpoint's job; what does not fit
/// the strategy's schema is reported in the 200 answer).
pub fn validate_parameters_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Parameters to check against the schema and rules of `strategy_id` (StrategyParameters)"
    })
}

/// Schema of a strategy id in a body: one of the registered ids.
pub fn strategy_id_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "$ref": "#/components/schemas/StrategyId" })
}

/// Schema of a scorecard `window` (see [`crate::api::performance::WINDOW_PATTERN`]).
pub fn window_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "null"],
        "pattern": crate::api::performance::WINDOW_PATTERN,
        "default": "1h",
        "description": "Window ending at the newest scored signal: a whole number of s, m, h or d, 1s to 7d (e.g. 15m, 1h, 24h)"
    })
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

/// Rewrites axum's wildcard segments (`{*path}`) to OpenAPI path templates (`{path}`).
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// Completes the document aide collected from the routes with what the registry knows, and returns it as JSON.
pub fn complete(api: OpenApi, registry: &Registry) -> Value {
    let mut doc = serde_json::to_value(&api).unwrap_or_else(|_| json!({}));
    let ids: Vec<&str> = registry.ids();
    doc["openapi"] = json!("3.1.0");
    doc["info"] = json!({
        "title": "realtime-strategies",
        "version": crate::VERSION,
        "description": "Configuration and market metrics API of the real-time strategy host. Generated from the \
            routes' handlers and types and from the registered strategies: adding a strategy crate or an endpoint \
            updates this document.",
    });
    doc["jsonSchemaDialect"] = json!("https://json-schema.org/draft/2020-12/schema");
    doc["x-strategies"] = json!(ids);

    // Paths: OpenAPI templates, and `strategy_id` restricted to the registered ids.
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        let taken = std::mem::take(paths);
        for (path, mut item) in taken {
            if let Some(ops) = item.as_object_mut() {
                for op in ops.values_mut() {
                    if let Some(Value::Array(params)) = op.get_mut("parameters") {
                        for p in params {
                            if p["name"] == "path" && p["in"] == "path" {
                                p["schema"] = json!({"type": "string"});
                            }
                            // aide keeps `default: null` of optional query parameters whose null type it strips.
                            if p["schema"].get("default").is_some_and(Value::is_null) {
                                if let Some(schema) = p["schema"].as_object_mut() {
                                    schema.remove("default");
                                }
                            }
                            if p["name"] == "strategy_id" {
                                p["schema"] = json!({"$ref": "#/components/schemas/StrategyId"});
                            }
                        }
                    }
                }
            }
            paths.insert(openapi_path(&path), item);
        }
    }

    let components = doc
        .as_object_mut()
        .map(|d| d.entry("components").or_insert_with(|| json!({})));
    let Some(components) = components else {
        return doc;
    };
    if !components["schemas"].is_object() {
        components["schemas"] = json!({});
    }
    let mut refs = Vec::new();
    let mut override_refs = Vec::new();
    if let Some(schemas) = components["schemas"].as_object_mut() {
        for s in registry.strategies() {
            let name = format!("{}_parameters", s.id());
            let mut schema = hoist(&s.schema, &format!("{}_", s.id()), schemas);
            schema["title"] = json!(format!("{} parameters", s.descriptor.name));
            schema["x-strategy-id"] = json!(s.id());
            // In an override every field may also be `null`: it removes the field from the stored override.
            let mut partial = schema.clone();
            partial["title"] = json!(format!("{} parameter override", s.descriptor.name));
            if let Some(props) = partial["properties"].as_object_mut() {
                for p in props.values_mut() {
                    *p = json!({ "anyOf": [p.take(), { "type": "null" }] });
                }
            }
            if let Some(obj) = partial.as_object_mut() {
                obj.remove("required");
                obj.remove("default");
            }
            let override_name = format!("{}_override", s.id());
            schemas.insert(name.clone(), schema);
            schemas.insert(override_name.clone(), partial);
            refs.push(json!({ "$ref": format!("#/components/schemas/{name}") }));
            override_refs.push(json!({ "$ref": format!("#/components/schemas/{override_name}") }));
        }
        schemas.insert(
            "StrategyId".into(),
            json!({ "type": "string", "enum": ids, "description": "A registered strategy id" }),
        );
        schemas.insert(
            "StrategyParameters".into(),
            json!({
                "type": "object",
                "description": "Parameters of one registered strategy (the strategy's own parameter schema)",
                "anyOf": refs,
            }),
        );
        schemas.insert(
            "StrategyParameterOverride".into(),
            json!({
                "type": "object",
                "minProperties": 1,
                "description": "Partial parameter override of the strategy named in the path: fields of its \
                    parameter schema (one of the registered strategies' schemas); at least one. What does not fit \
                    that strategy's schema, its cross-field rules (e.g. sell_threshold < buy_threshold) or, merged, the \
                    stored overrides is refused with 422 naming each field; null removes a field",
                "anyOf": override_refs,
            }),
        );
    }
    components["securitySchemes"] = json!({
        "bearer": { "type": "http", "scheme": "bearer",
                    "description": "API_TOKEN, required on writes (Authorization: Bearer <token>)" },
        "internal_token": { "type": "apiKey", "in": "header", "name": "X-Petrosa-Internal-Token",
                            "description": "API_TOKEN in the header the Petrosa services send" }
    });
    doc
}

/// Every operation of a document as `(METHOD, path)`, in document order.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.push((m.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

/// The endpoint map of `GET /`: every named operation's name → its path.
pub fn endpoint_map(doc: &Value) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            if let Some(ops) = item.as_object() {
                for op in ops.values() {
                    if let Some(name) = op.get(ENDPOINT_NAME).and_then(Value::as_str) {
                        map.insert(name.to_owned(), Value::String(path.clone()));
                    }
                }
            }
        }
    }
    map
}

/// A response body described by `schema` under each of `content_types`.
pub fn body(
    content_types: &[&str],
    schema: &schemars::Schema,
) -> indexmap::IndexMap<String, aide::openapi::MediaType> {
    content_types
        .iter()
        .map(|ct| {
            let media = aide::openapi::MediaType {
                schema: Some(aide::openapi::SchemaObject {
                    json_schema: schema.clone(),
                    example: None,
                    external_docs: None,
                }),
                ..Default::default()
            };
            ((*ct).to_owned(), media)
        })
        .collect()
}

/// Documents the response of `status` (replacing what was documented for it).
fn set_response<'a>(
    mut op: TransformOperation<'a>,
    status: u16,
    description: &str,
    content: indexmap::IndexMap<String, aide::openapi::MediaType>,
) -> TransformOperation<'a> {
    use aide::openapi::{ReferenceOr, Response, StatusCode};
    let responses = op
        .inner_mut()
        .responses
        .get_or_insert_with(Default::default);
    responses.responses.insert(
        StatusCode::Code(status),
        ReferenceOr::Item(Response {
            description: description.into(),
            content,
            ..Default::default()
        }),
    );
    op
}

/// Documents a non-JSON response (`text/html`, `text/plain`, `text/event-stream`, …) of an operation.
pub fn text_response<'a>(
    op: TransformOperation<'a>,
    status: u16,
    content_types: &[&str],
    description: &str,
) -> TransformOperation<'a> {
    let text = schemars::json_schema!({ "type": "string" });
    set_response(op, status, description, body(content_types, &text))
}

/// Documents a JSON response of type `T` with `status` (for handlers whose return type cannot say it, e.g. a
/// status chosen at run time).
pub fn json_response<'a, T: schemars::JsonSchema>(
    op: TransformOperation<'a>,
    status: u16,
    description: &str,
) -> TransformOperation<'a> {
    let schema = aide::generate::in_context(|ctx| ctx.schema.subschema_for::<T>());
    set_response(
        op,
        status,
        description,
        body(&["application/json"], &schema),
    )
}
