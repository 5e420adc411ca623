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

use common::mongo_uri;

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
/// Conflicting transactions of the two processes are retried with backoff, and a host whose attempt lost claims
/// the key so the other host's queue cannot starve it (before: a write answered 503 after the 5 s deadline).
#[tokio::test]
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
    /// Fsync the journal on every commit (`MONGO_SYNC_ON_COMMIT=1`).
    sync_on_commit: bool,
}

impl OwnMongo {
    fn script() -> String {
        format!(
            "{}/tests/scripts/mongo-server.sh",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn start_on(port: u16, data: tempfile::TempDir) -> Self {
        let me = Self {
            port,
            data,
            sync_on_commit: false,
        };
        me.start();
        me
    }

    /// A server that makes every commit durable before answering, as mongod does for a transaction committed
    /// with `j: true` (the test server ignores the transaction's journal flag).
    fn start_durable_on(port: u16, data: tempfile::TempDir) -> Self {
        let me = Self {
            port,
            data,
            sync_on_commit: true,
        };
        me.start();
        me
    }

    fn start(&self) {
        let out = Command::new("bash")
            .arg(Self::script())
            .args(["start", &self.port.to_string()])
            .env("MONGO_DATA_DIR", self.data.path())
            .env(
                "MONGO_SYNC_ON_COMMIT",
                if self.sync_on_commit { "1" } else { "0" },
            )
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
    assert_eq!(
        common::readiness(&ready)["checks"]["config_store_available"],
        false
    );
    assert_eq!(
        common::readiness(&ready)["config_store"]["available"],
        false
    );
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
    assert_eq!(
        common::readiness(&ready)["checks"]["config_store_available"],
        true
    );
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

impl OwnMongo {
    /// Kills the server with SIGKILL (no clean shutdown, no checkpoint), as a crash or `kill -9` would.
    fn kill9(&self) {
        let pidf = format!("/tmp/mongo-server-{}/pid", self.port);
        let pid = std::fs::read_to_string(&pidf).unwrap();
        let status = Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "server still answers after kill -9"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Issue 13 item 6: during an outage every write answers 503 within `MONGODB_TIMEOUT_MS`, however many are queued
/// on one key (before: one lock around the whole store call made the n-th queued write wait n × the timeout).
#[tokio::test]
async fn writes_in_an_outage_all_fail_fast_not_one_after_another() {
    let Some(_) = mongo_uri() else { return };
    let mongo = OwnMongo::start_on(free_port(), tempfile::tempdir().unwrap());
    let uri = mongo.uri();
    let db = fresh_db();
    let h = mongo_host_with_timeout(&uri, &db, None, "1500").await;
    let (s, b) = post(
        &h,
        &format!("{SKEW}/config"),
        set_body(json!({"buy_threshold": 1.6})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    mongo.stop();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        // Half on one key (they queue on its lock), half on keys of their own.
        let path = if i % 2 == 0 {
            format!("{SKEW}/config")
        } else {
            format!("{SKEW}/config/SYM{i}USDT")
        };
        let url = h.url(&path);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = reqwest::Client::new()
                .post(url)
                .json(&json!({"parameters": {"buy_threshold": 1.5 + f64::from(i) * 0.01}, "changed_by": format!("w{i}")}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap(), t.elapsed())
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (s, b, took) = t.await.unwrap();
        assert_eq!(s, 503, "{b}");
        assert_eq!(b["error"]["code"], "STORE_UNAVAILABLE", "{b}");
        slowest = slowest.max(took);
    }
    let all = started.elapsed();
    eprintln!(
        "16 writes in an outage (timeout 1500 ms): slowest {slowest:?}, all done after {all:?}"
    );
    assert!(
        slowest < Duration::from_millis(1500 + 1000),
        "slowest write answered after {slowest:?}: queued writes waited for each other"
    );
    // Reads still serve the last known config.
    let (s, b) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.6);
    h.shutdown().await;
}

/// Issue 13 item 5: every acknowledged write survives a `kill -9` of the database right after a burst, and
/// versions continue from the stored maximum after the restart (no number issued twice), on every host.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_versions_are_never_reissued() {
    let Some(_) = mongo_uri() else { return };
    let mongo = OwnMongo::start_durable_on(free_port(), tempfile::tempdir().unwrap());
    let uri = mongo.uri();
    let db = fresh_db();
    let h = mongo_host_with_timeout(&uri, &db, None, "5000").await;
    let h2 = mongo_host_with_timeout(&uri, &db, None, "5000").await;
    let cfg = format!("{SKEW}/config/BTCUSDT");
    let mut last = Value::Null;
    for trial in 0..3u32 {
        // A burst over two hosts, the last acknowledgement, then kill -9 at once.
        for i in 0..8u32 {
            let host = if i % 2 == 0 { &h } else { &h2 };
            let top = 1 + (trial * 8 + i) % 20;
            let (s, b) = post(host, &cfg, set_body(json!({"top_levels": top}))).await;
            assert_eq!(s, 200, "{b}");
            last = b["data"].clone();
        }
        mongo.kill9();
        mongo.start();
        let acked = last["version"].as_u64().unwrap();
        assert_eq!(acked, u64::from(trial + 1) * 8);
        // The database kept the last acknowledged write.
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let stored: Document = client
            .database(&db)
            .collection::<Document>("strategy_configs_symbol")
            .find_one(doc! {"strategy_id": "orderbook_skew", "symbol": "BTCUSDT"})
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.get_i64("version").unwrap() as u64,
            acked,
            "trial {trial}: the last acknowledged write was lost"
        );
        assert_eq!(
            stored
                .get_document("parameters")
                .unwrap()
                .get_i64("top_levels")
                .unwrap(),
            last["parameters"]["top_levels"].as_i64().unwrap()
        );
        let audits = client
            .database(&db)
            .collection::<Document>("strategy_config_audit")
            .count_documents(doc! {"strategy_id": "orderbook_skew", "symbol": "BTCUSDT"})
            .await
            .unwrap();
        assert_eq!(audits, acked, "trial {trial}: audit records lost");
    }
    // After the restarts both hosts continue from the stored maximum.
    let deadline = Instant::now() + Duration::from_secs(30);
    let next = loop {
        let (s, b) = post(&h2, &cfg, set_body(json!({"top_levels": 7}))).await;
        if s == 200 {
            break b;
        }
        assert_eq!(s, 503, "{b}");
        assert!(Instant::now() < deadline, "no recovery: {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(next["data"]["version"], 25);
    let (s, b) = post(&h, &cfg, set_body(json!({"top_levels": 8}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 26);
    for host in [&h, &h2] {
        let (_, text) = host.get_text("/metrics").await;
        assert_eq!(
            common::metric(&text, "realtime_config_store_regressions_total", ""),
            0.0,
            "no regression on an intact store"
        );
    }
    h2.shutdown().await;
    h.shutdown().await;
}

/// Issue 13 item 5: a store that goes backwards (documents rolled back behind the host's back) is detected on
/// reload and when it issues a version number again, counted and reported.
#[tokio::test]
async fn a_store_that_goes_backwards_is_detected_and_counted() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let h = mongo_host(&uri, &db, None).await;
    let cfg = format!("{SKEW}/config");
    for bt in [1.6, 1.7, 1.8] {
        let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": bt}))).await;
        assert_eq!(s, 200, "{b}");
    }
    // Roll the store back to version 1 behind the host's back (as a restore of an old backup would).
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let d = client.database(&db);
    d.collection::<Document>("strategy_config_audit")
        .delete_many(doc! {"strategy_id": "orderbook_skew", "version": {"$gt": 1_i64}})
        .await
        .unwrap();
    d.collection::<Document>("strategy_configs_global")
        .update_one(
            doc! {"strategy_id": "orderbook_skew"},
            doc! {"$set": {"version": 1_i64, "parameters.buy_threshold": 1.6}},
        )
        .await
        .unwrap();
    let (s, _) = post(&h, "/api/v1/strategies/cache/refresh", json!({})).await;
    assert_eq!(s, 200);
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        common::metric(
            &text,
            "realtime_config_store_regressions_total",
            "check=\"load\""
        ),
        1.0,
        "{text}"
    );
    // A second reload of the same state is not counted again.
    let (s, _) = post(&h, "/api/v1/strategies/cache/refresh", json!({})).await;
    assert_eq!(s, 200);
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        common::metric(
            &text,
            "realtime_config_store_regressions_total",
            "check=\"load\""
        ),
        1.0
    );
    // The next version comes from the store (2), a number this host already saw: reported too.
    let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.9}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 2);
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        common::metric(
            &text,
            "realtime_config_store_regressions_total",
            "check=\"write\""
        ),
        1.0
    );
    let (_, info) = h.get_json("/info").await;
    assert_eq!(info["config_store"]["regressions"], 2);
    h.shutdown().await;
    let _ = d.drop().await;
}

/// Issue 13 item 5: what the store sends — every transaction statement reads with `majority`, every commit asks
/// for `majority` with journal, and plain reads use `majority` too (watched with the driver's command monitor
/// against the real server).
#[tokio::test]
async fn the_store_asks_for_majority_journaled_writes_and_majority_reads() {
    use realtime_strategies::config::mongo::MongoStore;
    use realtime_strategies::config::store::{Change, ConfigStore, Mutation};
    use std::sync::{Arc, Mutex};
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let seen: Arc<Mutex<Vec<(String, Document)>>> = Arc::default();
    let mut options = mongodb::options::ClientOptions::parse(&uri).await.unwrap();
    let sink = seen.clone();
    options.command_event_handler = Some(mongodb::event::EventHandler::callback(
        move |ev: mongodb::event::command::CommandEvent| {
            if let mongodb::event::command::CommandEvent::Started(s) = ev {
                sink.lock()
                    .unwrap()
                    .push((s.command_name.clone(), s.command.clone()));
            }
        },
    ));
    let store = MongoStore::with_options(options, &db, 5000).unwrap();
    store.init().await.unwrap();
    let mut params = serde_json::Map::new();
    params.insert("buy_threshold".into(), json!(1.6));
    let applied = store
        .apply(Change {
            strategy_id: "orderbook_skew".into(),
            symbol: None,
            mutation: Mutation::Set(params),
            changed_by: "t".into(),
            reason: None,
            operation: "set",
            issuer: None,
            rate_limit: None,
        })
        .await
        .unwrap();
    assert_eq!(applied.audit.version, 1);
    store.load_all().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    let commit = seen
        .iter()
        .find(|(name, _)| name == "commitTransaction")
        .expect("a commit");
    let wc = commit.1.get_document("writeConcern").unwrap();
    assert_eq!(wc.get_str("w").unwrap(), "majority", "{wc}");
    assert!(wc.get_bool("j").unwrap(), "{wc}");
    let first = seen
        .iter()
        .find(|(_, c)| c.get_bool("startTransaction").unwrap_or(false))
        .expect("a transaction");
    let rc = first.1.get_document("readConcern").unwrap();
    assert_eq!(rc.get_str("level").unwrap(), "majority", "{rc}");
    let plain_find = seen
        .iter()
        .find(|(name, c)| name == "find" && !c.contains_key("txnNumber"))
        .expect("a plain read");
    assert_eq!(
        plain_find
            .1
            .get_document("readConcern")
            .unwrap()
            .get_str("level")
            .unwrap(),
        "majority"
    );
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}

/// Issue 13 item 10 on MongoDB: an override edited in the database so that it no longer fits is shown invalid,
/// does not run, is counted, and the next write replaces it.
#[tokio::test]
async fn an_override_edited_to_not_fit_is_shown_invalid_and_replaced_mongo() {
    let Some(uri) = mongo_uri() else { return };
    let db = fresh_db();
    let h = mongo_host(&uri, &db, None).await;
    let cfg = format!("{SKEW}/config");
    let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.6}))).await;
    assert_eq!(s, 200, "{b}");
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let d = client.database(&db);
    d.collection::<Document>("strategy_configs_global")
        .update_one(
            doc! {"strategy_id": "orderbook_skew"},
            doc! {"$set": {"parameters.buy_threshold": "high", "parameters.top_levels": 500_i64}},
        )
        .await
        .unwrap();
    let (s, _) = post(&h, "/api/v1/strategies/cache/refresh", json!({})).await;
    assert_eq!(s, 200);
    let (_, defaults) = h.get_json(&format!("{SKEW}/defaults")).await;
    let (_, g) = h.get_json(&cfg).await;
    assert_eq!(
        g["data"]["parameters"]["buy_threshold"], defaults["data"]["buy_threshold"],
        "{g}"
    );
    assert_eq!(g["data"]["invalid_overrides"][0]["scope"], "global", "{g}");
    assert_eq!(
        g["data"]["invalid_overrides"][0]["parameters"]["top_levels"],
        500
    );
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(
        common::metric(
            &text,
            "realtime_config_invalid_overrides",
            "strategy_id=\"orderbook_skew\""
        ),
        1.0
    );
    let (s, b) = post(&h, &cfg, set_body(json!({"buy_threshold": 1.8}))).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["version"], 2);
    assert_eq!(b["data"]["parameters"]["buy_threshold"], 1.8);
    let (_, g) = h.get_json(&cfg).await;
    assert_eq!(g["data"]["invalid_overrides"], json!([]));
    assert_eq!(g["data"]["provenance"]["buy_threshold"], "global");
    h.shutdown().await;
    let _ = d.drop().await;
}
