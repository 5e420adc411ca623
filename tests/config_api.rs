//! The configuration API through real HTTP against a running host with the embedded store: every endpoint's success
//! and error cases, precedence with provenance, 422 bodies, audit, rollback/restore, auth, persistence across a
//! restart and concurrent writers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env_of, fifty_concurrent_writers, fresh_config_db, settings, TestHost};
use serde_json::{json, Value};

const SKEW: &str = "/api/v1/strategies/orderbook_skew";

fn base_args(db: &str) -> Vec<String> {
    [
        "--replay-speed",
        "0",
        "--replay-loop",
        "false",
        "--signals-to-stdout",
        "false",
        "--config-db-path",
        db,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

async fn host_with(db: &str, extra: &[&str], env: &[(&str, &str)]) -> TestHost {
    let mut args = base_args(db);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    TestHost::start(settings(&refs), env_of(env)).await
}

async fn send(
    h: &TestHost,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    h.send(method, path, body, token).await
}

async fn post(h: &TestHost, path: &str, body: Value) -> (u16, Value) {
    h.post_json(path, body).await
}

async fn delete(h: &TestHost, path: &str) -> (u16, Value) {
    h.delete_json(path).await
}

fn set_body(params: Value) -> Value {
    json!({ "parameters": params, "changed_by": "tester", "reason": "test" })
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn precedence_default_env_global_symbol_with_provenance() {
    let db = fresh_config_db();
    let h = host_with(
        &db,
        &[],
        &[
            ("ORDERBOOK_SKEW_BUY_THRESHOLD", "1.4"),
            ("ORDERBOOK_SKEW_TOP_LEVELS", "7"),
        ],
    )
    .await;
    let (s, b) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.4);
    assert_eq!(b["data"]["provenance"]["buy_threshold"], "env");
    assert_eq!(b["data"]["provenance"]["sell_threshold"], "default");
    assert_eq!(b["data"]["source"], "environment");
    assert_eq!(b["data"]["version"], 0);

    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"top_levels": 9})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 1);
    assert_eq!(b["metadata"]["action"], "created");
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config/btcusdt"),
        set_body(json!({"sell_threshold": 0.5})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["symbol"], "BTCUSDT");

    let (_, b) = h.get_json(&format!("{SKEW}/config/BTCUSDT")).await;
    let d = &b["data"];
    assert_eq!(d["parameters"]["sell_threshold"], 0.5);
    assert_eq!(d["parameters"]["top_levels"], 9);
    assert_eq!(d["parameters"]["buy_threshold"], 1.4);
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    let skew = registry.get("orderbook_skew").unwrap();
    assert_eq!(
        d["parameters"]["spread_weight"],
        skew.defaults["spread_weight"]
    );
    assert_eq!(d["provenance"]["sell_threshold"], "symbol");
    assert_eq!(d["provenance"]["top_levels"], "global");
    assert_eq!(d["provenance"]["buy_threshold"], "env");
    assert_eq!(d["provenance"]["spread_weight"], "default");
    assert_eq!(d["is_override"], true);
    assert_eq!(d["source"], "embedded");

    // Another symbol: global applies, no symbol layer.
    let (_, b) = h.get_json(&format!("{SKEW}/config/ETHUSDT")).await;
    assert_eq!(b["data"]["provenance"]["top_levels"], "global");
    assert_eq!(b["data"]["provenance"]["sell_threshold"], "default");
    assert_eq!(b["data"]["is_override"], false);

    // The strategy list reports the overrides.
    let (_, b) = h.get_json("/api/v1/strategies").await;
    let skew = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["strategy_id"] == "orderbook_skew")
        .unwrap()
        .clone();
    assert_eq!(skew["has_global_config"], true);
    assert_eq!(skew["symbol_overrides"], json!(["BTCUSDT"]));
    h.shutdown().await;
}

#[tokio::test]
async fn bad_writes_are_422_naming_every_field_and_store_nothing() {
    let db = fresh_config_db();
    let h = host_with(&db, &[], &[]).await;
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"buy_threshold": 9.0, "top_levels": "many", "nonsense": 1})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["success"], false);
    assert_eq!(b["error"]["code"], "VALIDATION_ERROR");
    let f = fields(&b);
    for want in ["/buy_threshold", "/top_levels", "/nonsense"] {
        assert!(f.contains(&want.to_owned()), "{want} missing in {f:?}");
    }
    for e in b["error"]["details"]["errors"].as_array().unwrap() {
        assert!(!e["message"].as_str().unwrap().is_empty());
        assert!(!e["rule"].as_str().unwrap().is_empty());
    }
    // Cross-field rule on the merged result: sell must stay below buy.
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config/BTCUSDT"),
        set_body(json!({"buy_threshold": 1.0, "sell_threshold": 1.0})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(fields(&b), vec!["/sell_threshold".to_owned()]);
    assert_eq!(b["error"]["details"]["errors"][0]["rule"], "cross_field");
    // Nothing stored.
    let (_, b) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(b["metadata"]["count"], 0);
    let (_, b) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(b["data"]["version"], 0);
    // Malformed bodies.
    let (s, b) = post(&h, &format!("{SKEW}/config"), json!({"parameters": {}})).await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["details"]["errors"][0]["field"], "/changed_by");
    let (s, _) = post(&h, &format!("{SKEW}/config"), json!({"changed_by": "x"})).await;
    assert_eq!(s, 422);
    // validate_only: checks without storing.
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        json!({"parameters": {"buy_threshold": 1.5}, "changed_by": "x", "validate_only": true}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["metadata"]["validation"], "passed");
    assert_eq!(b["data"], Value::Null);
    let (_, b) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(b["metadata"]["count"], 0);
    // Unknown strategy / bad symbol.
    let (s, b) = post(&h, "/api/v1/strategies/nope/config", set_body(json!({}))).await;
    assert_eq!(s, 404);
    assert_eq!(b["error"]["code"], "NOT_FOUND");
    let (s, _) = h.get_json("/api/v1/strategies/nope/config").await;
    assert_eq!(s, 404);
    let (s, _) = h.get_json(&format!("{SKEW}/config/BTC-USDT")).await;
    assert_eq!(s, 422);
    // Body size limit.
    let big = "x".repeat(100 * 1024);
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        json!({"parameters": {}, "changed_by": big}),
    )
    .await;
    assert_eq!(s, 413);
    assert_eq!(
        b["error"]["code"], "PAYLOAD_TOO_LARGE",
        "a JSON body, not plain text"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn audit_rollback_restore_and_delete() {
    let db = fresh_config_db();
    let h = host_with(&db, &[], &[]).await;
    let cfg = format!("{SKEW}/config");
    for bt in [1.3, 1.5, 1.7] {
        let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": bt}))).await;
        assert_eq!(s, 200, "{b}");
    }
    let (_, b) = h.get_json(&format!("{SKEW}/audit")).await;
    let items = b["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["version"], 3);
    assert_eq!(items[0]["action"], "UPDATE");
    assert_eq!(items[0]["old_parameters"]["buy_threshold"], 1.5);
    assert_eq!(items[0]["new_parameters"]["buy_threshold"], 1.7);
    assert_eq!(items[0]["changed_by"], "tester");
    assert_eq!(items[0]["reason"], "test");
    assert_eq!(items[2]["action"], "CREATE");
    assert_eq!(items[2]["old_parameters"], Value::Null);

    // Rollback to a version.
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "target_version": 1}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.3);
    assert_eq!(b["data"]["version"], 4);
    let (_, b) = h.get_json(&cfg).await;
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.3);
    // Rollback to previous (undo the rollback).
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.7);
    // Rollback by audit id.
    let (_, a) = h.get_json(&format!("{SKEW}/audit?limit=10")).await;
    let v2 = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == 2)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "rollback_id": v2}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.5);
    // Errors: unknown version, version < 1, unknown id.
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "target_version": 99}),
    )
    .await;
    assert_eq!(s, 404);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("version 99 not found"));
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "target_version": 0}),
    )
    .await;
    assert_eq!(s, 422);
    assert_eq!(fields(&b), vec!["/target_version".to_owned()]);
    let (s, _) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "rollback_id": "424242"}),
    )
    .await;
    assert_eq!(s, 404);

    // Delete, then restore the deleted config.
    let (s, b) = delete(&h, &format!("{cfg}?changed_by=ops&reason=cleanup")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["message"], "deleted successfully");
    let (_, b) = h.get_json(&cfg).await;
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.2);
    assert_eq!(b["data"]["source"], "default");
    let (s, _) = delete(&h, &format!("{cfg}?changed_by=ops")).await;
    assert_eq!(s, 404, "nothing left to delete");
    let (s, _) = delete(&h, &cfg).await;
    assert_eq!(s, 422, "changed_by is required");
    let (s, b) = post(&h, &format!("{SKEW}/restore"), json!({"changed_by": "ops"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.5);
    assert_eq!(b["metadata"]["action"], "restore");
    let (_, b) = h.get_json(&cfg).await;
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.5);

    // The whole sequence is audited with strictly increasing versions.
    let (_, a) = h.get_json(&format!("{SKEW}/audit?limit=1000")).await;
    let items = a["data"].as_array().unwrap();
    let ops: Vec<&str> = items
        .iter()
        .rev()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["set", "set", "set", "rollback", "rollback", "rollback", "delete", "restore"]
    );
    let versions: Vec<u64> = items
        .iter()
        .rev()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
    assert_eq!(items[1]["action"], "DELETE");
    assert_eq!(items[1]["reason"], "cleanup");
    assert_eq!(items[1]["new_parameters"], Value::Null);
    assert_eq!(items[0]["action"], "CREATE");

    // Symbol-scoped audit and delete.
    let (s, _) = post(
        &h,
        &format!("{cfg}/ETHUSDT"),
        set_body(json!({"top_levels": 3})),
    )
    .await;
    assert_eq!(s, 200);
    let (_, a) = h.get_json(&format!("{SKEW}/audit?symbol=ethusdt")).await;
    assert_eq!(a["metadata"]["count"], 1);
    assert_eq!(a["data"][0]["symbol"], "ETHUSDT");
    let (s, b) = delete(&h, &format!("{cfg}/ETHUSDT?changed_by=ops")).await;
    assert_eq!(s, 200);
    assert_eq!(b["metadata"]["symbol"], "ETHUSDT");
    let (s, _) = h.get_json(&format!("{SKEW}/audit?limit=0")).await;
    assert_eq!(s, 422);
    let (s, _) = h.get_json(&format!("{SKEW}/audit?limit=1001")).await;
    assert_eq!(s, 422);
    let (s, _) = h.get_json("/api/v1/strategies/nope/audit").await;
    assert_eq!(s, 404);
    // Nothing to roll back for a fresh key.
    let (s, b) = post(
        &h,
        "/api/v1/strategies/orderbook_skew/restore?symbol=SOLUSDT",
        json!({"changed_by": "ops"}),
    )
    .await;
    assert_eq!(s, 404);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("No previous configuration"));
    h.shutdown().await;
}

#[tokio::test]
async fn validate_endpoint_keeps_the_original_shape() {
    let db = fresh_config_db();
    let h = host_with(&db, &[], &[]).await;
    let (s, b) = post(
        &h,
        "/api/v1/config/validate",
        json!({"parameters": {"buy_threshold": 1.3, "sell_threshold": 0.75}, "strategy_id": "orderbook_skew", "symbol": "BTCUSDT"}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["success"], true);
    let d = &b["data"];
    assert_eq!(d["validation_passed"], true);
    assert_eq!(d["errors"], json!([]));
    assert_eq!(d["warnings"], json!([]));
    assert_eq!(d["conflicts"], json!([]));
    assert_eq!(d["estimated_impact"]["parameter_count"], 2);
    let (s, b) = post(
        &h,
        "/api/v1/config/validate",
        json!({"parameters": {"buy_threshold": -5, "bogus": true}, "strategy_id": "orderbook_skew"}),
    )
    .await;
    assert_eq!(s, 200);
    let d = &b["data"];
    assert_eq!(d["validation_passed"], false);
    let errors = d["errors"].as_array().unwrap();
    let buy = errors
        .iter()
        .find(|e| e["field"] == "buy_threshold")
        .unwrap();
    assert_eq!(buy["code"], "OUT_OF_RANGE");
    assert_eq!(buy["suggested_value"], 1.0);
    assert!(buy["message"].as_str().unwrap().contains("-5"));
    let bogus = errors.iter().find(|e| e["field"] == "bogus").unwrap();
    assert_eq!(bogus["code"], "UNKNOWN_PARAMETER");
    // Nothing stored.
    let (_, a) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(a["metadata"]["count"], 0);
    let (s, b) = post(&h, "/api/v1/config/validate", json!({"parameters": {}})).await;
    assert_eq!(s, 422);
    assert_eq!(fields(&b), vec!["/strategy_id".to_owned()]);
    let (s, _) = post(
        &h,
        "/api/v1/config/validate",
        json!({"parameters": {}, "strategy_id": "nope"}),
    )
    .await;
    assert_eq!(s, 404);
    h.shutdown().await;
}

#[tokio::test]
async fn writes_need_the_bearer_token_when_set() {
    let db = fresh_config_db();
    let h = host_with(&db, &["--api-token", "s3cret"], &[]).await;
    let cfg = format!("{SKEW}/config");
    let body = set_body(json!({"buy_threshold": 1.5}));
    let (s, b) = send(&h, reqwest::Method::POST, &cfg, Some(body.clone()), None).await;
    assert_eq!(s, 401);
    assert_eq!(b["error"]["code"], "UNAUTHORIZED");
    let (s, b) = send(
        &h,
        reqwest::Method::POST,
        &cfg,
        Some(body.clone()),
        Some("wrong"),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(b["error"]["code"], "FORBIDDEN");
    for (m, p) in [
        (reqwest::Method::DELETE, format!("{cfg}?changed_by=x")),
        (
            reqwest::Method::POST,
            "/api/v1/strategies/cache/refresh".to_owned(),
        ),
        (reqwest::Method::POST, format!("{SKEW}/rollback")),
        (reqwest::Method::POST, format!("{SKEW}/restore")),
    ] {
        let (s, _) = send(&h, m, &p, Some(json!({"changed_by": "x"})), None).await;
        assert_eq!(s, 401, "{p}");
    }
    // Reads stay open.
    let (s, _) = h.get_json(&cfg).await;
    assert_eq!(s, 200);
    let (s, b) = send(&h, reqwest::Method::POST, &cfg, Some(body), Some("s3cret")).await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = send(
        &h,
        reqwest::Method::POST,
        "/api/v1/strategies/cache/refresh",
        None,
        Some("s3cret"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["message"], "cache refreshed successfully");
    assert_eq!(b["metadata"]["action"], "cache_refresh");
    h.shutdown().await;
}

#[tokio::test]
async fn embedded_store_persists_across_a_restart() {
    let db = fresh_config_db();
    let h = host_with(&db, &[], &[]).await;
    let (s, _) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"buy_threshold": 1.6})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = post(
        &h,
        &format!("{SKEW}/config/BTCUSDT"),
        set_body(json!({"top_levels": 4})),
    )
    .await;
    assert_eq!(s, 200);
    h.shutdown().await;
    let h = host_with(&db, &[], &[]).await;
    let (_, b) = h.get_json(&format!("{SKEW}/config/BTCUSDT")).await;
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.6);
    assert_eq!(b["data"]["parameters"]["top_levels"], 4);
    assert_eq!(b["data"]["provenance"]["top_levels"], "symbol");
    let (_, a) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(a["metadata"]["count"], 2);
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["config_store"]["kind"], "embedded");
    assert_eq!(info["config_store"]["available"], true);
    let (_, ready) = h.get_json("/ready").await;
    assert_eq!(
        common::readiness(&ready)["checks"]["config_store_available"],
        true
    );
    h.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_writers_embedded() {
    let db = fresh_config_db();
    let h = host_with(&db, &[], &[]).await;
    fifty_concurrent_writers(
        &[&h],
        &format!("{SKEW}/config/BTCUSDT"),
        &format!("{SKEW}/audit?symbol=BTCUSDT&limit=1000"),
    )
    .await;
    h.shutdown().await;
}
