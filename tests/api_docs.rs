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

#[tokio::test]
async fn openapi_lists_every_endpoint_and_every_strategy_schema() {
    let h = TestHost::start(
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
    .await;
    let (status, doc) = h.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/strategies", "get"),
        ("/api/v1/strategies/{strategy_id}/schema", "get"),
        ("/api/v1/strategies/{strategy_id}/defaults", "get"),
        ("/api/v1/strategies/{strategy_id}/config", "get"),
        ("/api/v1/strategies/{strategy_id}/config", "post"),
        ("/api/v1/strategies/{strategy_id}/config", "delete"),
        ("/api/v1/strategies/{strategy_id}/config/{symbol}", "get"),
        ("/api/v1/strategies/{strategy_id}/config/{symbol}", "post"),
        ("/api/v1/strategies/{strategy_id}/config/{symbol}", "delete"),
        ("/api/v1/strategies/{strategy_id}/audit", "get"),
        ("/api/v1/strategies/cache/refresh", "post"),
        ("/api/v1/strategies/{strategy_id}/cache/refresh", "post"),
        ("/api/v1/strategies/{strategy_id}/config", "patch"),
        ("/api/v1/strategies/{strategy_id}/config/{symbol}", "patch"),
        ("/api/v1/strategies/{strategy_id}/rollback", "post"),
        ("/api/v1/strategies/{strategy_id}/restore", "post"),
        ("/api/v1/config/validate", "post"),
        ("/api/v1/strategies/{strategy_id}/performance", "get"),
        ("/api/v1/strategies/{strategy_id}/shadows", "get"),
        ("/api/v1/strategies/{strategy_id}/shadows", "post"),
        ("/api/v1/strategies/{strategy_id}/shadows/{name}", "delete"),
        (
            "/api/v1/strategies/{strategy_id}/shadows/{name}/promote",
            "post",
        ),
        ("/api/v1/safeguards", "get"),
        ("/api/v1/replicas", "get"),
        ("/api/v1/metrics/depth/{symbol}", "get"),
        ("/api/v1/metrics/pressure/{symbol}", "get"),
        ("/api/v1/metrics/summary", "get"),
        ("/api/v1/metrics/all", "get"),
        ("/healthz", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/info", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
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

#[tokio::test]
async fn swagger_ui_is_embedded_and_offline() {
    let h = TestHost::start(
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
    .await;
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
