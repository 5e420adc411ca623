//! The generated OpenAPI document and the embedded Swagger UI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env_of, settings, TestHost};
use serde_json::Value;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// A concrete URL path for a documented template (`{strategy_id}` → a registered id, …).
fn concrete(template: &str) -> String {
    template
        .replace("{strategy_id}", "orderbook_skew")
        .replace("{symbol}", "BTCUSDT")
        .replace("{name}", "no-such-shadow")
        .replace("{path}", "console/console.js")
}

/// Every `(METHOD, path)` the original service documented (tests/data/original-openapi.json).
fn original_operations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/original-openapi.json"
    ))
    .unwrap();
    let original: Value = serde_json::from_str(&text).unwrap();
    realtime_strategies::api::openapi::operations(&original)
}

/// A host replaying the bundled recording once at full speed, quietly: the API with data behind it.
async fn still_replay_host() -> TestHost {
    TestHost::start(
        settings(&[
            "--replay-speed",
            "0",
            "--replay-loop",
            "false",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await
}

#[tokio::test]
async fn openapi_lists_every_endpoint_and_every_strategy_schema() {
    let h = still_replay_host().await;
    let (status, doc) = h.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    // The routes the router serves and the document lists come from one registration; the endpoints added since
    // the original must be there as well as the original's.
    let served = realtime_strategies::api::openapi::operations(&doc);
    let mut expected = original_operations();
    assert!(expected.len() >= 19, "{expected:?}");
    for (method, path) in [
        ("PATCH", "/api/v1/strategies/{strategy_id}/config"),
        ("PATCH", "/api/v1/strategies/{strategy_id}/config/{symbol}"),
        ("POST", "/api/v1/strategies/{strategy_id}/cache/refresh"),
        ("GET", "/api/v1/strategies/{strategy_id}/performance"),
        ("GET", "/api/v1/strategies/{strategy_id}/shadows"),
        ("POST", "/api/v1/strategies/{strategy_id}/shadows"),
        ("DELETE", "/api/v1/strategies/{strategy_id}/shadows/{name}"),
        (
            "POST",
            "/api/v1/strategies/{strategy_id}/shadows/{name}/promote",
        ),
        ("GET", "/api/v1/safeguards"),
        ("GET", "/api/v1/replicas"),
    ] {
        expected.push((method.into(), path.into()));
    }
    for (method, path) in &expected {
        assert!(
            paths
                .get(path)
                .and_then(|p| p.get(method.to_ascii_lowercase()))
                .is_some(),
            "{method} {path} missing"
        );
        assert!(served.contains(&(method.clone(), path.clone())));
    }
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in registry.strategies() {
        let schema = &schemas[&format!("{}_parameters", s.id())];
        assert_eq!(
            schema["properties"].as_object().unwrap().len(),
            s.all_fields().count(),
            "{}",
            s.id()
        );
        assert!(schema.get("$schema").is_none());
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("foreign ref {r}"));
        assert!(schemas.contains_key(name), "dangling ref {r}");
    }
    h.shutdown().await;
}

/// The named schema a JSON schema stands for: a `$ref`, a `$ref` under `allOf`, or an array of a `$ref`.
fn named_schema(schema: &Value) -> Option<&str> {
    if let Some(r) = schema["$ref"].as_str() {
        return r.strip_prefix("#/components/schemas/");
    }
    if let [only] = schema["allOf"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        return named_schema(only);
    }
    if schema["type"] == "array" {
        return named_schema(&schema["items"]);
    }
    None
}

/// Every JSON success answer is a named schema, and the configuration API's wrapper names its `data` and its
/// `metadata` (or documents it as always null) too: an
/// answer documented as a bare `object` (what `serde_json::json!` bodies gave: "object", anything goes) says
/// nothing to a client and lets schemathesis accept any shape.
#[tokio::test]
async fn every_json_answer_has_a_named_schema() {
    let h = still_replay_host().await;
    let (_, doc) = h.get_json("/openapi.json").await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut named = Vec::new();
    for (method, path) in realtime_strategies::api::openapi::operations(&doc) {
        if path == "/openapi.json" {
            continue; // the OpenAPI document itself
        }
        let responses = doc["paths"][&path][method.to_ascii_lowercase()]["responses"]
            .as_object()
            .unwrap();
        for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
            let Some(schema) = response
                .pointer("/content/application~1json/schema")
                .cloned()
            else {
                continue; // HTML, text, event streams
            };
            let name = named_schema(&schema)
                .unwrap_or_else(|| panic!("{method} {path} {status}: no named schema ({schema})"));
            let component = &schemas[name];
            assert!(
                component.is_object(),
                "{method} {path} {status}: {name} missing"
            );
            if name.starts_with("ApiResponse_") {
                let data = &component["properties"]["data"];
                let inner = named_schema(data).or_else(|| {
                    // `Option<T>` payloads: anyOf [T, null].
                    data["anyOf"].as_array()?.iter().find_map(named_schema)
                });
                assert!(
                    inner.is_some(),
                    "{method} {path} {status}: {name}.data is not a named schema ({data})"
                );
                let metadata = &component["properties"]["metadata"];
                assert!(
                    metadata["type"] == "null" || named_schema(metadata).is_some(),
                    "{method} {path} {status}: {name}.metadata is neither null nor a named schema ({metadata})"
                );
            }
            named.push((
                method.clone(),
                path.clone(),
                status.clone(),
                name.to_owned(),
            ));
        }
    }
    // The answers once built with `json!` (issue 16 item 1), by name, so a rename is a conscious change.
    for (method, path, status, name) in [
        ("GET", "/info", "200", "InfoDoc"),
        ("GET", "/ready", "200", "ReadyDoc"),
        (
            "GET",
            "/api/v1/replicas",
            "200",
            "ApiResponse_ReplicaStatus",
        ),
        (
            "GET",
            "/api/v1/safeguards",
            "200",
            "ApiResponse_Array_of_Guard",
        ),
        (
            "GET",
            "/api/v1/strategies/{strategy_id}/shadows",
            "200",
            "ApiResponse_ShadowList",
        ),
        (
            "POST",
            "/api/v1/strategies/{strategy_id}/shadows",
            "201",
            "ApiResponse_ShadowView_ShadowAction",
        ),
        (
            "DELETE",
            "/api/v1/strategies/{strategy_id}/shadows/{name}",
            "200",
            "ApiResponse_ShadowDoc_ShadowAction",
        ),
    ] {
        assert!(
            named.contains(&(method.into(), path.into(), status.into(), name.into())),
            "{method} {path} {status} is not {name}: {named:?}"
        );
    }
    assert!(named.len() >= 30, "{}", named.len());
    h.shutdown().await;
}

/// Every documented operation is served (no fallback 404, no 405), every served route is documented (an
/// undocumented path answers the fallback), and the endpoint map of `GET /` lists documented paths only.
#[tokio::test]
async fn every_documented_operation_is_served_and_nothing_else() {
    let h = still_replay_host().await;
    let (_, doc) = h.get_json("/openapi.json").await;
    let operations = realtime_strategies::api::openapi::operations(&doc);
    assert!(operations.len() >= 40, "{}", operations.len());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, template) in &operations {
        let url = h.url(&concrete(template));
        let r = client
            .request(method.parse().unwrap(), &url)
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_ne!(status, 405, "{method} {template}: not served");
        if status == 404 {
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                !message.starts_with("no endpoint at"),
                "{method} {template}: not served ({body})"
            );
        }
        let documented = doc["paths"][template.as_str()][method.to_ascii_lowercase()]["responses"]
            .as_object()
            .unwrap();
        assert!(
            documented.contains_key(&status.to_string()),
            "{method} {template} answered undocumented {status}"
        );
    }
    // Paths of the document are the only ones the router serves.
    let (status, body) = h.get_json("/api/v1/not-an-endpoint").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("no endpoint at"));
    // The endpoint map is read from the document.
    let (status, root) = h.get_json("/").await;
    assert_eq!(status, 200);
    let endpoints = root["endpoints"].as_object().unwrap();
    assert_eq!(endpoints["console"], "/ui/");
    assert_eq!(endpoints.len(), 9, "{endpoints:?}");
    for path in endpoints.values() {
        assert!(doc["paths"].get(path.as_str().unwrap()).is_some(), "{path}");
    }
    h.shutdown().await;
}

#[tokio::test]
async fn swagger_ui_is_embedded_and_offline() {
    let h = still_replay_host().await;
    let (status, html) = h.get_text("/docs").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external URL in /docs"
    );
    for asset in [
        "/assets/vendor/swagger-ui/swagger-ui-bundle.js",
        "/assets/vendor/swagger-ui/swagger-ui.css",
    ] {
        assert!(html.contains(asset));
        let r = reqwest::get(h.url(asset)).await.unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            ct.starts_with(if asset.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            }),
            "{ct}"
        );
        assert!(r.headers().get("cache-control").is_some());
        assert!(r.bytes().await.unwrap().len() > 10_000);
    }
    let r = reqwest::get(h.url("/assets/nope.js")).await.unwrap();
    assert_eq!(r.status(), 404);
    h.shutdown().await;
}
