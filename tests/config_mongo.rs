//! The configuration API on the MongoDB store (a MongoDB-compatible server started by tests/run.sh, URI in
//! `TEST_MONGODB_URI`): the original's collections and document shapes, persistence across a restart, concurrent
//! writers, a database stopped mid-run, and two replicas sharing NATS + MongoDB.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{env_of, fifty_concurrent_writers, free_port, settings, NatsServer, TestHost};
use mongodb::bson::{doc, Document};
use serde_json::{json, Value};

const SKEW: &str = "/api/v1/strategies/orderbook_skew";

fn mongo_uri() -> Option<String> {
    let uri = std::env::var("TEST_MONGODB_URI")
        .ok()
        .filter(|u| !u.is_empty());
    if uri.is_none() {
        // In CI a missing server is a failure, never a silent pass.
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "TEST_MONGODB_URI is not set but CI is: start the MongoDB-compatible server (tests/run.sh does)"
        );
        eprintln!("TEST_MONGODB_URI is not set (run tests/run.sh): skipping this MongoDB test");
    }
    uri
}

fn fresh_db() -> String {
    format!("rs_test_{}", uuid::Uuid::new_v4().simple())
}

async fn mongo_host(uri: &str, db: &str, nats: Option<&str>) -> TestHost {
    mongo_host_with_timeout(uri, db, nats, "1500").await
}

async fn mongo_host_with_timeout(
    uri: &str,
    db: &str,
    nats: Option<&str>,
    timeout_ms: &str,
) -> TestHost {
    let mut args = vec![
        "--mongodb-uri",
        uri,
        "--mongodb-database",
        db,
        "--mongodb-timeout-ms",
        timeout_ms,
        "--signals-to-stdout",
        "false",
    ];
    match nats {
        Some(url) => args.extend_from_slice(&["--nats-url", url]),
        None => args.extend_from_slice(&["--replay-speed", "0", "--replay-loop", "false"]),
    }
    let h = TestHost::start(settings(&args), env_of(&[])).await;
    if nats.is_some() {
        h.wait_ready(10).await;
    }
    h
}

async fn post(h: &TestHost, path: &str, body: Value) -> (u16, Value) {
    h.post_json(path, body).await
}

fn set_body(params: Value) -> Value {
    json!({ "parameters": params, "changed_by": "tester", "reason": "mongo test" })
}

#[tokio::test]
async fn original_collections_and_persistence_across_restart() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let h = mongo_host(&uri, &db, None).await;
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"buy_threshold": 1.6})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["source"], "mongodb");
    let (s, _) = post(
        &h,
        &format!("{SKEW}/config/BTCUSDT"),
        set_body(json!({"top_levels": 4})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"buy_threshold": 1.7})),
    )
    .await;
    assert_eq!(s, 200);
    h.shutdown().await;

    // The documents have the original's shapes.
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let d = client.database(&db);
    let g: Document = d
        .collection::<Document>("strategy_configs_global")
        .find_one(doc! {"strategy_id": "orderbook_skew"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        g.get_document("parameters")
            .unwrap()
            .get_f64("buy_threshold")
            .unwrap(),
        1.7
    );
    assert_eq!(g.get_i64("version").unwrap(), 2);
    assert!(g.get_datetime("created_at").is_ok() && g.get_datetime("updated_at").is_ok());
    assert_eq!(
        g.get_document("metadata")
            .unwrap()
            .get_str("changed_by")
            .unwrap(),
        "tester"
    );
    let sdoc: Document = d
        .collection::<Document>("strategy_configs_symbol")
        .find_one(doc! {"strategy_id": "orderbook_skew", "symbol": "BTCUSDT"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sdoc.get_document("parameters")
            .unwrap()
            .get_i64("top_levels")
            .unwrap(),
        4
    );
    let a: Document = d
        .collection::<Document>("strategy_config_audit")
        .find_one(doc! {"strategy_id": "orderbook_skew", "symbol": null, "version": 2_i64})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.get_str("action").unwrap(), "UPDATE");
    assert_eq!(
        a.get_document("old_parameters")
            .unwrap()
            .get_f64("buy_threshold")
            .unwrap(),
        1.6
    );
    assert_eq!(
        a.get_document("new_parameters")
            .unwrap()
            .get_i64("version")
            .unwrap(),
        2
    );
    assert!(a.get_datetime("changed_at").is_ok());
    assert_eq!(a.get_str("reason").unwrap(), "mongo test");

    // A new host reads everything back.
    let h = mongo_host(&uri, &db, None).await;
    let (_, b) = h.get_json(&format!("{SKEW}/config/BTCUSDT")).await;
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.7);
    assert_eq!(b["data"]["parameters"]["top_levels"], 4);
    assert_eq!(b["data"]["provenance"]["buy_threshold"], "global");
    let (_, a) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(a["metadata"]["count"], 3);
    let (s, b) = post(
        &h,
        &format!("{SKEW}/rollback"),
        json!({"changed_by": "ops", "target_version": 1}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.6);
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["config_store"]["kind"], "mongodb");
    assert_eq!(info["config_store"]["available"], true);
    h.shutdown().await;
    let _ = client.database(&db).drop().await;
}

#[tokio::test]
async fn fifty_concurrent_writers_mongo() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let h = mongo_host(&uri, &db, None).await;
    let cfg = format!("{SKEW}/config/BTCUSDT");
    fifty_concurrent_writers(
        &[&h],
        &cfg,
        &format!("{SKEW}/audit?symbol=BTCUSDT&limit=1000"),
    )
    .await;
    let (_, b) = h.get_json(&cfg).await;
    // The store agrees (not just this host's snapshot).
    let (s, _) = post(&h, "/api/v1/strategies/cache/refresh", json!({})).await;
    assert_eq!(s, 200);
    let (_, b2) = h.get_json(&cfg).await;
    assert_eq!(b2["data"]["parameters"], b["data"]["parameters"]);
    h.shutdown().await;
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}

/// The same 50 writers spread over two hosts on one database: only the store's transactions serialize them.
/// Open defect (issue 13, items 5/6): with the MongoDB-compatible test server, conflicting transactions of the two
/// processes keep aborting each other and a write answers 503 after the 5 s deadline. Run it with
/// `cargo test --test config_mongo -- --ignored two_hosts` once the store serializes per key.
#[tokio::test]
#[ignore = "exposes an open store-level defect: cross-process write conflicts end in 503 (issue 13 items 5/6)"]
async fn fifty_concurrent_writers_two_hosts_mongo() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let h = mongo_host_with_timeout(&uri, &db, None, "5000").await;
    let h2 = mongo_host_with_timeout(&uri, &db, None, "5000").await;
    let cfg = format!("{SKEW}/config/BTCUSDT");
    fifty_concurrent_writers(
        &[&h, &h2],
        &cfg,
        &format!("{SKEW}/audit?symbol=BTCUSDT&limit=1000"),
    )
    .await;
    h2.shutdown().await;
    h.shutdown().await;
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}

struct OwnMongo {
    port: u16,
    data: tempfile::TempDir,
}

impl OwnMongo {
    fn script() -> String {
        format!(
            "{}/tests/scripts/mongo-server.sh",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn start_on(port: u16, data: tempfile::TempDir) -> Self {
        let me = Self { port, data };
        me.start();
        me
    }

    fn start(&self) {
        let out = Command::new("bash")
            .arg(Self::script())
            .args(["start", &self.port.to_string()])
            .env("MONGO_DATA_DIR", self.data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mongo-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn stop(&self) {
        let _ = Command::new("bash")
            .arg(Self::script())
            .args(["stop", &self.port.to_string()])
            .output();
    }

    fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn mongodb_stopped_mid_run_reads_keep_working_writes_503_then_recover() {
    let Some(_) = mongo_uri() else { return };
    let mongo = OwnMongo::start_on(free_port(), tempfile::tempdir().unwrap());
    let uri = mongo.uri();
    let db = fresh_db();
    let h = mongo_host(&uri, &db, None).await;
    let cfg = format!("{SKEW}/config");
    let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.6}))).await;
    assert_eq!(s, 200, "{b}");

    mongo.stop();
    // Reads serve the last known config, fast.
    let t = Instant::now();
    let (s, b) = h.get_json(&format!("{cfg}/BTCUSDT")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.6);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // Writes answer 503 with a clear body, within the timeouts.
    let t = Instant::now();
    let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.8}))).await;
    assert_eq!(s, 503, "{b}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(b["success"], false);
    assert_eq!(b["error"]["code"], "STORE_UNAVAILABLE");
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unavailable"));
    let (s, _) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(s, 200);
    let (_, b) = h.get_json(&cfg).await;
    assert_eq!(b["metadata"]["store_available"], false);
    assert_eq!(
        b["data"]["parameters"]["buy_threshold"], 1.6,
        "nothing half-applied"
    );
    let (_, ready) = h.get_json("/ready").await;
    assert_eq!(ready["checks"]["config_store_available"], false);
    assert_eq!(ready["config_store"]["available"], false);
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["config_store"]["available"], false);
    assert!(info["config_store"]["serving"]
        .as_str()
        .unwrap()
        .contains("last known"));
    let (s, _) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(s, 503);

    // Recovery.
    mongo.start();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.8}))).await;
        if s == 200 {
            assert_eq!(b["data"]["version"], 2, "the failed write left no trace");
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(Instant::now() < deadline, "store did not recover");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, ready) = h.get_json("/ready").await;
    assert_eq!(ready["checks"]["config_store_available"], true);
    let (_, a) = h.get_json(&format!("{SKEW}/audit")).await;
    assert_eq!(a["metadata"]["count"], 2);
    h.shutdown().await;
}

#[tokio::test]
async fn two_hosts_share_nats_and_mongodb_changes_propagate_within_100ms() {
    let Some(uri) = mongo_uri() else { return };
    let nats = NatsServer::start();
    let db = fresh_db();
    let a = mongo_host(&uri, &db, Some(&nats.url())).await;
    let b = mongo_host(&uri, &db, Some(&nats.url())).await;
    let mut latencies = Vec::new();
    for (i, bt) in [1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9].iter().enumerate() {
        let path = if i % 2 == 0 {
            format!("{SKEW}/config")
        } else {
            format!("{SKEW}/config/ETHUSDT")
        };
        let started = Instant::now();
        let (s, body) = post(&a, &path, set_body(json!({"buy_threshold": bt}))).await;
        assert_eq!(s, 200, "{body}");
        let read = format!("{SKEW}/config/ETHUSDT");
        loop {
            let (_, got) = b.get_json(&read).await;
            if got["data"]["parameters"]["buy_threshold"] == json!(bt) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "change not seen on the other host"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(started.elapsed());
        if i % 2 == 1 {
            // Drop the symbol override so the next global write is visible for ETHUSDT.
            let r = reqwest::Client::new()
                .delete(a.url(&format!("{SKEW}/config/ETHUSDT?changed_by=t")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
        }
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!("write on A → effective on B: {latencies:?}");
    assert!(
        median < Duration::from_millis(100),
        "median propagation {median:?} (all: {latencies:?})"
    );
    let (_, info) = b.get_json("/info").await;
    assert_eq!(
        info["config_store"]["change_events"],
        "realtime-strategies.config.changed"
    );
    a.shutdown().await;
    b.shutdown().await;
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}
