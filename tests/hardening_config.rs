//! Issue 13 item 10: a stored override that no longer fits its strategy's schema (written straight into the store)
//! is shown as invalid with its validation errors, does not run (the effective values fall back to the layer
//! below), is counted, and the next write replaces it — before, it showed as effective and blocked every later
//! global write with 422.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{env_of, fresh_config_db, metric, settings, TestHost};
use realtime_strategies::config::embedded::EmbeddedStore;
use realtime_strategies::config::store::{Change, ConfigStore, Mutation};
use serde_json::{json, Map, Value};

const SKEW: &str = "/api/v1/strategies/orderbook_skew";

async fn host_on(db: &str) -> TestHost {
    TestHost::start(
        settings(&[
            "--config-db-path",
            db,
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

/// Stores `params` for `(orderbook_skew, symbol)` directly, bypassing the service's validation.
async fn store_raw(db: &str, symbol: Option<&str>, params: Value) {
    let store = EmbeddedStore::open(std::path::Path::new(db)).unwrap();
    let Value::Object(map) = params else {
        panic!("object")
    };
    store
        .apply(Change {
            strategy_id: "orderbook_skew".into(),
            symbol: symbol.map(str::to_owned),
            mutation: Mutation::Set(map),
            changed_by: "an older version".into(),
            reason: None,
            operation: "set",
            issuer: None,
            rate_limit: None,
        })
        .await
        .unwrap();
}

fn body(params: Value) -> Value {
    json!({"parameters": params, "changed_by": "ops", "reason": "fix"})
}

#[tokio::test]
async fn a_stored_override_that_does_not_fit_is_shown_invalid_falls_back_is_counted_and_replaced() {
    let db = fresh_config_db();
    // A global override of the wrong type and out of range, and a symbol override out of range.
    store_raw(
        &db,
        None,
        json!({"buy_threshold": "high", "top_levels": 99, "sell_threshold": 0.7}),
    )
    .await;
    store_raw(&db, Some("BTCUSDT"), json!({"min_spread_percent": 7.5})).await;
    let h = host_on(&db).await;
    let (_, defaults) = h.get_json(&format!("{SKEW}/defaults")).await;
    let defaults = defaults["data"].clone();
    assert!(defaults.is_object(), "{defaults}");

    let (s, g) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(s, 200, "{g}");
    let data = &g["data"];
    // The invalid global layer does not run: every value falls back to env/defaults.
    assert_eq!(
        data["parameters"]["buy_threshold"], defaults["buy_threshold"],
        "{g}"
    );
    assert_eq!(data["parameters"]["top_levels"], defaults["top_levels"]);
    assert_eq!(
        data["parameters"]["sell_threshold"],
        defaults["sell_threshold"]
    );
    assert_eq!(data["provenance"]["buy_threshold"], "default");
    assert_eq!(data["source"], "default");
    let invalid = data["invalid_overrides"].as_array().unwrap();
    assert_eq!(invalid.len(), 1, "{g}");
    assert_eq!(invalid[0]["scope"], "global");
    assert_eq!(invalid[0]["version"], 1);
    assert_eq!(invalid[0]["parameters"]["buy_threshold"], "high");
    let fields: Vec<&str> = invalid[0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"/buy_threshold"), "{fields:?}");
    assert!(fields.contains(&"/top_levels"), "{fields:?}");

    // The symbol's invalid layer falls back to the layer below as well.
    let (_, b) = h.get_json(&format!("{SKEW}/config/BTCUSDT")).await;
    assert_eq!(
        b["data"]["parameters"]["min_spread_percent"], defaults["min_spread_percent"],
        "{b}"
    );
    let invalid = b["data"]["invalid_overrides"].as_array().unwrap();
    assert_eq!(invalid.len(), 2, "{b}");
    assert_eq!(invalid[1]["scope"], "symbol");
    assert_eq!(invalid[1]["errors"][0]["field"], "/min_spread_percent");

    // Counted.
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        metric(
            &text,
            "realtime_config_invalid_overrides",
            "strategy_id=\"orderbook_skew\""
        ),
        2.0,
        "{text}"
    );

    // A merge write to the global key replaces the invalid layer (it used to fail on the stored fields).
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config"),
            body(json!({"buy_threshold": 1.7})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 2);
    let (_, g) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(g["data"]["parameters"]["buy_threshold"], 1.7);
    assert_eq!(
        g["data"]["parameters"]["top_levels"],
        defaults["top_levels"]
    );
    assert_eq!(g["data"]["provenance"]["buy_threshold"], "global");
    assert_eq!(g["data"]["invalid_overrides"], json!([]));
    // The audit keeps what was replaced.
    let (_, a) = h.get_json(&format!("{SKEW}/audit")).await;
    let newest = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["symbol"].is_null() && r["version"] == 2)
        .unwrap();
    assert_eq!(newest["old_parameters"]["buy_threshold"], "high", "{a}");
    assert_eq!(newest["new_parameters"]["buy_threshold"], 1.7);
    assert!(newest["new_parameters"]["top_levels"].is_null(), "{newest}");

    // The invalid symbol layer does not block global writes either, and is replaced by a symbol write.
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config"),
            body(json!({"sell_threshold": 0.65})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config/BTCUSDT"),
            body(json!({"min_spread_percent": 0.2})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = h.get_json(&format!("{SKEW}/config/BTCUSDT")).await;
    assert_eq!(b["data"]["parameters"]["min_spread_percent"], 0.2);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.7);
    assert_eq!(b["data"]["invalid_overrides"], json!([]));
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        metric(
            &text,
            "realtime_config_invalid_overrides",
            "strategy_id=\"orderbook_skew\""
        ),
        0.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_write_can_still_not_store_an_invalid_layer() {
    let db = fresh_config_db();
    store_raw(&db, None, json!({"buy_threshold": "high"})).await;
    let h = host_on(&db).await;
    // Replacing the invalid layer is validated like any write.
    let (s, b) = h
        .post_json(
            &format!("{SKEW}/config"),
            body(json!({"buy_threshold": 9.0})),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(
        b["error"]["details"]["errors"][0]["field"],
        "/buy_threshold"
    );
    let mut empty = Map::new();
    empty.insert("buy_threshold".into(), Value::Null);
    let (s, b) = h
        .post_json(&format!("{SKEW}/config"), body(Value::Object(empty)))
        .await;
    assert_eq!(s, 422, "a merge of only nulls stores nothing: {b}");
    h.shutdown().await;
}
