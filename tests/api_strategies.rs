//! The generated discovery endpoints through real HTTP against the running host.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env_of, settings, TestHost};
use serde_json::json;

async fn host() -> TestHost {
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
async fn lists_every_registered_strategy() {
    let h = host().await;
    let (status, body) = h.get_json("/api/v1/strategies").await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    let items = body["data"].as_array().unwrap();
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    assert_eq!(items.len(), registry.strategies().len());
    let skew = items
        .iter()
        .find(|i| i["strategy_id"] == "orderbook_skew")
        .unwrap();
    assert_eq!(skew["name"], "Order Book Skew");
    assert_eq!(
        skew["parameter_count"],
        9 + 4,
        "9 own + enabled, stop_loss_pct, take_profit_pct, risk_floor_pct"
    );
    assert_eq!(skew["has_global_config"], false);
    assert!(skew["symbol_overrides"].as_array().unwrap().is_empty());
    assert_eq!(body["metadata"]["total_count"], items.len());
    h.shutdown().await;
}

#[tokio::test]
async fn schema_matches_the_original_shape() {
    let h = host().await;
    let (status, body) = h.get_json("/api/v1/strategies/orderbook_skew/schema").await;
    assert_eq!(status, 200);
    let params = body["data"].as_array().unwrap();
    assert_eq!(params.len(), 9 + 4);
    assert_eq!(params[0]["name"], "top_levels", "declaration order is kept");
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        &names[9..],
        [
            "enabled",
            "stop_loss_pct",
            "take_profit_pct",
            "risk_floor_pct"
        ],
        "host-level parameters follow the strategy's own"
    );
    let props = &body["metadata"]["json_schema"]["properties"];
    assert_eq!(props["enabled"]["type"], "boolean");
    assert_eq!(props["stop_loss_pct"]["type"], json!(["number", "null"]));
    assert_eq!(params[0]["type"], "int");
    assert_eq!(params[0]["min"], 1.0);
    assert_eq!(params[0]["max"], 20.0);
    assert_eq!(params[0]["default"], 5);
    let buy = params
        .iter()
        .find(|p| p["name"] == "buy_threshold")
        .unwrap();
    assert_eq!(buy["type"], "float");
    assert_eq!(
        buy["description"],
        "Bid/ask ratio threshold for buy signal (>1.0 means more bids)"
    );
    for p in params {
        for key in [
            "name",
            "type",
            "description",
            "default",
            "min",
            "max",
            "allowed_values",
            "example",
        ] {
            assert!(p.get(key).is_some(), "{key} missing in {p}");
        }
    }
    let schema = &body["metadata"]["json_schema"];
    assert_eq!(schema["properties"]["top_levels"]["maximum"], 20);
    h.shutdown().await;
}

#[tokio::test]
async fn defaults_of_every_strategy() {
    let h = host().await;
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    for s in registry.strategies() {
        let (status, body) = h
            .get_json(&format!("/api/v1/strategies/{}/defaults", s.id()))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["data"], s.defaults, "{}", s.id());
        assert_eq!(body["metadata"]["strategy_name"], s.descriptor.name);
    }
    let (_, body) = h
        .get_json("/api/v1/strategies/orderbook_skew/defaults")
        .await;
    assert_eq!(body["data"]["buy_threshold"], 1.2);
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_strategy_is_a_json_404() {
    let h = host().await;
    for path in ["schema", "defaults"] {
        let (status, body) = h
            .get_json(&format!("/api/v1/strategies/no_such/{path}"))
            .await;
        assert_eq!(status, 404);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "NOT_FOUND");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such"));
    }
    h.shutdown().await;
}

#[tokio::test]
async fn service_endpoints_answer() {
    let h = host().await;
    let (status, body) = h.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    h.wait_ready(10).await;
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["source"]["kind"], "replay");
    assert!(info["source"]["note"].as_str().unwrap().contains("REPLAY"));
    assert!(info["strategies"]["enabled"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "orderbook_skew"));
    let (status, text) = h.get_text("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("realtime_messages_processed_total"));
    h.shutdown().await;
}

#[tokio::test]
async fn strategy_switch_disables_a_strategy() {
    let h = TestHost::start(
        settings(&[
            "--replay-speed",
            "0",
            "--replay-loop",
            "false",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[("STRATEGY_ENABLED_ORDERBOOK_SKEW", "false")]),
    )
    .await;
    let (_, body) = h.get_json("/api/v1/strategies").await;
    let skew = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["strategy_id"] == "orderbook_skew")
        .cloned()
        .unwrap();
    assert_eq!(skew["enabled"], false);
    h.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let h = host().await;
    let (status, body) = h.get_json("/api/v1/nothing/here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nothing/here"));
    h.shutdown().await;
}
