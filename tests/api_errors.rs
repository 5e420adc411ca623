//! Issue 16 item 2: every API error answers one JSON body (`success: false`, `error: {code, message, details}`)
//! with the right status and code — market symbols not tracked (the original's fields kept in `details`), unknown
//! assets, a host that is not ready, malformed queries, paths and bodies — and a 500 does not leak its detail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env_of, mongo_uri, settings, TestHost};
use serde_json::{json, Value};

async fn replay_host() -> TestHost {
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

/// Asserts the one error body shape and returns its `error` object.
fn error_of(status: u16, body: &Value, want_status: u16, want_code: &str) -> Value {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body["error"].clone()
}

async fn get_raw(h: &TestHost, path: &str) -> (u16, String, Value) {
    let r = reqwest::get(h.url(path)).await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let body = r.json::<Value>().await.expect("a JSON body");
    (status, ct, body)
}

#[tokio::test]
async fn market_symbols_not_tracked_answer_the_one_body_with_the_originals_fields() {
    let h = replay_host().await;
    let (s, ct, b) = get_raw(&h, "/api/v1/metrics/depth/xyzusdt").await;
    assert!(ct.starts_with("application/json"), "{ct}");
    let e = error_of(s, &b, 404, "NOT_TRACKED");
    assert_eq!(e["message"], "No metrics available for XYZUSDT");
    assert_eq!(
        e["details"],
        json!({
            "error": "No metrics available for XYZUSDT",
            "message": "Symbol may not be actively tracked or data is stale",
            "suggestion": "Check GET /api/v1/metrics/all to see tracked symbols"
        })
    );
    let (s, b) = h
        .get_json("/api/v1/metrics/pressure/XYZUSDT?timeframe=1m")
        .await;
    let e = error_of(s, &b, 404, "NOT_TRACKED");
    assert_eq!(
        e["details"],
        json!({
            "error": "No pressure history available for XYZUSDT",
            "message": "Symbol may not be actively tracked"
        })
    );
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_assets_are_a_json_404() {
    let h = replay_host().await;
    let (s, ct, b) = get_raw(&h, "/assets/nope.js").await;
    assert!(ct.starts_with("application/json"), "{ct}");
    let e = error_of(s, &b, 404, "NOT_FOUND");
    assert!(e["message"].as_str().unwrap().contains("nope.js"), "{e}");
    h.shutdown().await;
}

#[tokio::test]
async fn malformed_queries_paths_and_bodies_are_json_422s_naming_the_field() {
    let h = replay_host().await;
    // A query value of the wrong type (was axum's plain-text 400).
    let (s, b) = h
        .get_json("/api/v1/metrics/pressure/BTCUSDT?max_points=many")
        .await;
    let e = error_of(s, &b, 422, "INVALID_QUERY");
    assert_eq!(e["details"]["errors"][0]["field"], "query", "{e}");
    // A path segment that is not UTF-8 (was axum's plain-text 400).
    let (s, _, b) = get_raw(&h, "/api/v1/strategies/%FF%FE/schema").await;
    let e = error_of(s, &b, 422, "INVALID_PATH");
    assert_eq!(e["details"]["errors"][0]["field"], "path", "{e}");
    // A body that is not JSON, and one that misses a field.
    let r = reqwest::Client::new()
        .post(h.url("/api/v1/config/validate"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    let b: Value = r.json().await.unwrap();
    let e = error_of(s, &b, 422, "INVALID_BODY");
    assert_eq!(e["details"]["errors"][0]["field"], "body", "{e}");
    let (s, b) = h
        .post_json("/api/v1/config/validate", json!({"parameters": {}}))
        .await;
    let e = error_of(s, &b, 422, "VALIDATION_ERROR");
    assert_eq!(e["details"]["errors"][0]["field"], "/strategy_id", "{e}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_host_that_is_not_ready_answers_503_not_ready_with_its_readiness_document() {
    // A NATS server nobody listens on: the source never connects.
    let port = common::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    let (s, b) = h.get_json("/ready").await;
    let e = error_of(s, &b, 503, "NOT_READY");
    assert_eq!(e["details"]["ready"], false, "{e}");
    assert_eq!(e["details"]["checks"]["source_connected"], false, "{e}");
    assert!(e["message"].as_str().unwrap().contains("source"), "{e}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_500_does_not_leak_the_internal_message() {
    let Some(uri) = mongo_uri() else { return };
    // The audit collection refuses every document (a $jsonSchema validator): a config write fails with a server
    // error that is neither a connection problem nor a timeout, i.e. an internal error whose text names the
    // collection and the failing document.
    let db = format!("rs_test_{}", uuid::Uuid::new_v4().simple());
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    client
        .database(&db)
        .create_collection("strategy_config_audit")
        .validator(mongodb::bson::doc! { "$jsonSchema": { "required": ["refused_by_test"] } })
        .await
        .unwrap();
    let h = TestHost::start(
        settings(&[
            "--mongodb-uri",
            &uri,
            "--mongodb-database",
            &db,
            "--mongodb-timeout-ms",
            "3000",
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
    let (s, b) = h
        .post_json(
            "/api/v1/strategies/orderbook_skew/config",
            json!({ "parameters": { "buy_threshold": 1.6 }, "changed_by": "tester", "reason": "500 test" }),
        )
        .await;
    let e = error_of(s, &b, 500, "INTERNAL_ERROR");
    let id = e["details"]["error_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "{e}");
    // The random error id is taken out first: a UUID's hex digits can contain "121" (MongoDB's validation code).
    let text = b.to_string().to_ascii_lowercase().replace(id, "");
    for leak in ["validation", "strategy_config_audit", "121", &db] {
        assert!(!text.contains(leak), "the detail leaked ({leak}): {text}");
    }
    assert!(e["message"].as_str().unwrap().contains(id), "{e}");
    h.shutdown().await;
    let _ = client.database(&db).drop().await;
}
