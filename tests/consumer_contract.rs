//! The decision service (CIO) as our real consumer: the test plays it — its headers (`X-Petrosa-Internal-Token`,
//! `X-Petrosa-Issuer: CIO`), its one-parameter tunes with integers sent as floats, its empty tunes, its pause with
//! `enabled=false` — against a real host on a real nats-server, and checks the write rate limit across two hosts
//! sharing one MongoDB-compatible store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{depth_lines, env_of, settings, NatsServer, TestHost};
use futures::StreamExt;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

const SKEW: &str = "/api/v1/strategies/orderbook_skew";
const TOKEN: &str = "s3cret-internal";

/// An HTTP client configured like the CIO's output router.
fn cio_client(token: &str) -> reqwest::Client {
    let mut h = HeaderMap::new();
    h.insert("X-Petrosa-Issuer", HeaderValue::from_static("CIO"));
    h.insert(
        "X-Petrosa-Internal-Token",
        HeaderValue::from_str(token).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value, Option<String>) {
    let r = client
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), retry)
}

/// The CIO's tune: one parameter, its `changed_by`, `validate_only: false`.
fn tune(params: Value) -> Value {
    json!({"parameters": params, "changed_by": "petrosa-cio:orderbook_skew", "reason": "cio tune", "validate_only": false})
}

/// Publishes the recording's depth lines in a loop (event times shifted forward an hour each round) until stopped.
fn spawn_feeder(client: async_nats::Client, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    common::spawn_depth_feeder(client, stop, 3_600_000, Duration::from_millis(2))
}

/// Signals received with their arrival time, for `window`.
async fn collect(sub: &mut async_nats::Subscriber, window: Duration) -> Vec<(Instant, Value)> {
    let end = Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout_at(end.into(), sub.next()).await {
        out.push((
            Instant::now(),
            serde_json::from_slice(&msg.payload).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn the_cio_tunes_pauses_and_resumes_a_strategy() {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--api-token",
            TOKEN,
        ]),
        // Signals must flow continuously to show each change within 100 ms: no minimum interval.
        env_of(&[("ORDERBOOK_SKEW_MIN_SIGNAL_INTERVAL_SECONDS", "0")]),
    )
    .await;
    h.wait_ready(10).await;
    let cio = cio_client(TOKEN);
    let cfg = h.url(&format!("{SKEW}/config"));
    let post = reqwest::Method::POST;

    // Its token header is accepted; a wrong one is refused (403); an empty one counts as missing (401).
    let (s, b, _) = call(
        &cio_client("wrong"),
        post.clone(),
        cfg.clone(),
        tune(json!({"buy_threshold": 1.5})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, _, _) = call(
        &cio_client(""),
        post.clone(),
        cfg.clone(),
        tune(json!({"buy_threshold": 1.5})),
    )
    .await;
    assert_eq!(s, 401);
    let (s, _, _) = call(
        &reqwest::Client::new(),
        post.clone(),
        cfg.clone(),
        tune(json!({"buy_threshold": 1.5})),
    )
    .await;
    assert_eq!(s, 401);

    // One-parameter tunes in sequence keep every value; an integer sent as 6.0 is stored as 6.
    for p in [
        json!({"buy_threshold": 1.5}),
        json!({"top_levels": 6.0}),
        json!({"sell_threshold": 0.7}),
    ] {
        let (s, b, _) = call(&cio, post.clone(), cfg.clone(), tune(p)).await;
        assert_eq!(s, 200, "{b}");
    }
    let (_, b) = h.get_json(&format!("{SKEW}/config")).await;
    let p = &b["data"]["parameters"];
    assert_eq!(p["buy_threshold"], json!(1.5));
    assert_eq!(p["top_levels"], json!(6));
    assert!(p["top_levels"].is_u64(), "stored as an integer: {p}");
    assert_eq!(p["sell_threshold"], json!(0.7));
    assert_eq!(b["data"]["provenance"]["top_levels"], "global");
    let version = b["data"]["version"].clone();

    // An empty tune is refused and changes nothing; a fractional integer names its field.
    let (s, b, _) = call(&cio, post.clone(), cfg.clone(), tune(json!({}))).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["details"]["errors"][0]["field"], "/parameters");
    let (s, b, _) = call(
        &cio,
        post.clone(),
        cfg.clone(),
        tune(json!({"top_levels": 6.5})),
    )
    .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["details"]["errors"][0]["field"], "/top_levels");
    let (_, b) = h.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(b["data"]["version"], version, "nothing stored");

    // PATCH with null removes a key and keeps the others.
    let (s, b, _) = call(
        &cio,
        reqwest::Method::PATCH,
        cfg.clone(),
        json!({"parameters": {"sell_threshold": null}, "changed_by": "ops"}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["data"]["parameters"],
        json!({"buy_threshold": 1.5, "top_levels": 6})
    );
    // "replace": true replaces the whole layer.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        cfg.clone(),
        json!({"parameters": {"buy_threshold": 1.3}, "changed_by": "ops", "replace": true}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["parameters"], json!({"buy_threshold": 1.3}));

    // Audit: full old and new layers, and the issuer header.
    let (_, a) = h.get_json(&format!("{SKEW}/audit?limit=10")).await;
    let items = a["data"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["new_parameters"]["buy_threshold"], json!(1.3));
    assert_eq!(items[0]["old_parameters"]["top_levels"], json!(6));
    assert!(items.iter().all(|r| r["issuer"] == "CIO"), "{a}");

    // Per-strategy cache refresh.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        h.url(&format!("{SKEW}/cache/refresh")),
        Value::Null,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, _, _) = call(
        &cio,
        post.clone(),
        h.url("/api/v1/strategies/nope/cache/refresh"),
        Value::Null,
    )
    .await;
    assert_eq!(s, 404);

    // Live signals: feed the recording continuously.
    let client = async_nats::connect(url).await.unwrap();
    let mut signals = client
        .subscribe("cio.intent.trading.orderbook_skew")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = spawn_feeder(client.clone(), stop.clone());
    let before = collect(&mut signals, Duration::from_millis(1500)).await;
    assert!(!before.is_empty(), "signals flow before the pause");

    // Host-level risk overrides reach the signals.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        cfg.clone(),
        tune(json!({"stop_loss_pct": 0.011, "take_profit_pct": 0.033})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let _ = collect(&mut signals, Duration::from_millis(200)).await;
    let tuned = collect(&mut signals, Duration::from_millis(1000)).await;
    assert!(!tuned.is_empty());
    for (_, sig) in &tuned {
        assert_eq!(sig["stop_loss_pct"], json!(0.011), "{sig}");
        assert_eq!(sig["take_profit_pct"], json!(0.033), "{sig}");
    }

    // Pause: nothing published later than 100 ms after the answer.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        cfg.clone(),
        tune(json!({"enabled": false})),
    )
    .await;
    let paused_at = Instant::now();
    assert_eq!(s, 200, "{b}");
    let during = collect(&mut signals, Duration::from_millis(1500)).await;
    let late: Vec<Duration> = during
        .iter()
        .map(|(t, _)| t.duration_since(paused_at))
        .filter(|d| *d > Duration::from_millis(100))
        .collect();
    assert!(late.is_empty(), "signals after the pause: {late:?}");
    eprintln!(
        "pause: {} signal(s) in flight, last {:?} after the answer",
        during.len(),
        during.last().map(|(t, _)| t.duration_since(paused_at))
    );
    let (_, list) = h.get_json("/api/v1/strategies").await;
    let skew = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["strategy_id"] == "orderbook_skew")
        .unwrap()
        .clone();
    assert_eq!(skew["enabled"], false);
    let (_, info) = h.get_json("/info").await;
    assert!(!info["strategies"]["enabled"]
        .as_array()
        .unwrap()
        .contains(&json!("orderbook_skew")));

    // Resume: signals come back.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        cfg.clone(),
        tune(json!({"enabled": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let after = collect(&mut signals, Duration::from_millis(1500)).await;
    assert!(!after.is_empty(), "signals resume");

    // Pause one symbol only.
    let (s, b, _) = call(
        &cio,
        post.clone(),
        h.url(&format!("{SKEW}/config/BTCUSDT")),
        tune(json!({"enabled": false})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let _ = collect(&mut signals, Duration::from_millis(150)).await;
    let mixed = collect(&mut signals, Duration::from_millis(1500)).await;
    assert!(
        mixed.iter().all(|(_, s)| s["symbol"] != "BTCUSDT"),
        "BTCUSDT paused"
    );
    assert!(
        mixed.iter().any(|(_, s)| s["symbol"] == "ETHUSDT"),
        "ETHUSDT still signals"
    );

    // Both pauses are audited.
    let (_, a) = h.get_json(&format!("{SKEW}/audit?limit=50")).await;
    let enabled_changes: Vec<&Value> = a["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["new_parameters"].get("enabled").is_some())
        .collect();
    assert!(enabled_changes.len() >= 3, "{a}");

    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    h.shutdown().await;
}

use common::mongo_uri;

async fn limited_host(uri: &str, db: &str) -> TestHost {
    TestHost::start(
        settings(&[
            "--mongodb-uri",
            uri,
            "--mongodb-database",
            db,
            "--signals-to-stdout",
            "false",
            "--replay-speed",
            "0",
            "--replay-loop",
            "false",
            "--config-rate-limit-per-agent",
            "10",
            "--config-rate-limit-cooldown",
            "300",
            "--config-rate-limit-global",
            "100",
        ]),
        env_of(&[]),
    )
    .await
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_hosts_through_the_store_and_survives_a_restart() {
    let Some(uri) = mongo_uri() else { return };
    let db = format!("rs_test_{}", uuid::Uuid::new_v4().simple());
    let a = limited_host(&uri, &db).await;
    let b = limited_host(&uri, &db).await;
    let cio = cio_client("");
    let post = reqwest::Method::POST;
    let on = |h: &TestHost| h.url(&format!("{SKEW}/config"));

    let (s, body, _) = call(
        &cio,
        post.clone(),
        on(&a),
        tune(json!({"buy_threshold": 1.5})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // The same writer on the other host, inside the cooldown: 429 in the original's shape.
    let (s, body, retry) = call(
        &cio,
        post.clone(),
        on(&b),
        tune(json!({"sell_threshold": 0.7})),
    )
    .await;
    assert_eq!(s, 429, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"], "rate_limit_exceeded");
    assert_eq!(body["reason"], "cooldown_period");
    let after = body["retry_after"].as_u64().unwrap();
    assert!((290..=300).contains(&after), "{body}");
    assert_eq!(retry.as_deref(), Some(after.to_string().as_str()));
    // Nothing was changed by the refused write.
    let (_, cfg) = b.get_json(&format!("{SKEW}/config")).await;
    assert_eq!(cfg["data"]["parameters"]["sell_threshold"], json!(0.8));
    // Validation-only calls and rollback/emergency writers are not limited.
    let (s, body, _) = call(&cio, post.clone(), on(&b), json!({"parameters": {"sell_threshold": 0.7}, "changed_by": "petrosa-cio:orderbook_skew", "validate_only": true})).await;
    assert_eq!(s, 200, "{body}");
    let (s, body, _) = call(
        &cio,
        post.clone(),
        on(&b),
        json!({"parameters": {"sell_threshold": 0.7}, "changed_by": "EMERGENCY-ops"}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    // A failed change does not count: a writer's refused (422) write leaves its next valid one free.
    let (s, _, _) = call(
        &cio,
        post.clone(),
        on(&a),
        json!({"parameters": {"buy_threshold": 99.0}, "changed_by": "ops"}),
    )
    .await;
    assert_eq!(s, 422);
    let (s, body, _) = call(
        &cio,
        post.clone(),
        on(&a),
        json!({"parameters": {"buy_threshold": 1.6}, "changed_by": "ops"}),
    )
    .await;
    assert_eq!(s, 200, "{body}");

    // A restarted replica still refuses the first writer.
    b.shutdown().await;
    let b2 = limited_host(&uri, &db).await;
    let (s, body, _) = call(
        &cio,
        post.clone(),
        on(&b2),
        tune(json!({"top_levels": 6.0})),
    )
    .await;
    assert_eq!(s, 429, "{body}");
    a.shutdown().await;
    b2.shutdown().await;
    if let Ok(c) = mongodb::Client::with_uri_str(&uri).await {
        let _ = c.database(&db).drop().await;
    }
}

#[tokio::test]
async fn the_embedded_store_keeps_the_rate_limit_across_a_restart() {
    let db = common::fresh_config_db();
    let args = |db: &str| {
        settings(&[
            "--config-db-path",
            db,
            "--signals-to-stdout",
            "false",
            "--replay-speed",
            "0",
            "--replay-loop",
            "false",
            "--config-rate-limit-cooldown",
            "300",
        ])
    };
    let h = TestHost::start(args(&db), env_of(&[])).await;
    let cio = cio_client("");
    let (s, body, _) = call(
        &cio,
        reqwest::Method::POST,
        h.url(&format!("{SKEW}/config")),
        tune(json!({"buy_threshold": 1.5})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    h.shutdown().await;
    let h = TestHost::start(args(&db), env_of(&[])).await;
    let (s, body, retry) = call(
        &cio,
        reqwest::Method::POST,
        h.url(&format!("{SKEW}/config")),
        tune(json!({"buy_threshold": 1.6})),
    )
    .await;
    assert_eq!(s, 429, "{body}");
    assert!(retry.is_some());
    h.shutdown().await;
}

/// Publishes the recording's depth lines with each line's event time moved to the wall clock of its publication,
/// until stopped.
fn spawn_live_feeder(
    client: async_nats::Client,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let lines = depth_lines(400);
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for line in &lines {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let v: Value = serde_json::from_str(line).unwrap();
                let recorded =
                    chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap())
                        .unwrap()
                        .timestamp_millis();
                let offset = chrono::Utc::now().timestamp_millis() - recorded;
                let shifted =
                    realtime_strategies::runtime::source::shift_times(line, offset).unwrap();
                let _ = client
                    .publish("binance.websocket.data", shifted.into())
                    .await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    })
}

/// Waits for a verdict message with `verdict`, checking the shape of every message on the way.
async fn wait_verdict(
    sub: &mut async_nats::Subscriber,
    verdict: &str,
    within: Duration,
) -> (Duration, Value) {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let msg = tokio::time::timeout(left, sub.next())
            .await
            .unwrap_or_else(|_| panic!("no {verdict} verdict within {within:?}"))
            .unwrap();
        assert_eq!(
            msg.subject.as_str(),
            "evaluator.realtime-strategies.verdict"
        );
        let v: Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(v["subsystem"], "realtime-strategies", "{v}");
        assert!(
            ["healthy", "unhealthy", "unknown"].contains(&v["verdict"].as_str().unwrap()),
            "{v}"
        );
        assert!(v["reason"].as_str().unwrap().chars().count() <= 200, "{v}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).is_ok(),
            "{v}"
        );
        if v["verdict"] == verdict {
            return (started.elapsed(), v);
        }
    }
}

#[tokio::test]
async fn verdicts_follow_the_input_and_signals_carry_the_revision_id() {
    let nats = NatsServer::start();
    let url = nats.url();
    let client = async_nats::connect(url.clone()).await.unwrap();
    let mut verdicts = client.subscribe("evaluator.>").await.unwrap();
    let mut signals = client
        .subscribe("cio.intent.trading.orderbook_skew")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--health-verdict-interval-seconds",
            "0.2",
            "--health-verdict-max-silence-seconds",
            "1",
            "--signal-revision-id",
            "true",
        ]),
        // A continuous signal flow (no minimum interval) gives the signal-rate baseline something to measure.
        env_of(&[("ORDERBOOK_SKEW_MIN_SIGNAL_INTERVAL_SECONDS", "0")]),
    )
    .await;
    h.wait_ready(10).await;
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = spawn_live_feeder(client.clone(), stop.clone());
    let (t, v) = wait_verdict(&mut verdicts, "healthy", Duration::from_secs(10)).await;
    eprintln!("healthy after {t:?}: {v}");

    // Signals name the revision the characterization of this build is keyed by.
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    let want = realtime_strategies::revision::strategy_revision_id(
        registry.get("orderbook_skew").unwrap(),
    );
    let got = collect(&mut signals, Duration::from_millis(800)).await;
    assert!(!got.is_empty());
    for (_, s) in &got {
        assert_eq!(s["strategy_revision_id"], json!(want), "{s}");
        assert!(
            s.get("recommended_leverage").is_none(),
            "absent by default: {s}"
        );
    }
    // The per-symbol consumer lag gauge is wired.
    let (_, text) = h.get_text("/metrics").await;
    let lag = common::metric(&text, "realtime_consumer_lag_seconds", "symbol=\"BTCUSDT\"");
    assert!(
        text.contains("realtime_consumer_lag_seconds{symbol=\"BTCUSDT\"}"),
        "lag gauge missing"
    );
    assert!((0.0..5.0).contains(&lag), "lag {lag}");

    // Input stops: unhealthy (silence) after the hysteresis; input resumes: healthy again.
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    let (t, v) = wait_verdict(&mut verdicts, "unhealthy", Duration::from_secs(10)).await;
    eprintln!("unhealthy {t:?} after the input stopped: {v}");
    assert!(
        v["reason"].as_str().unwrap().contains("silent")
            || v["reason"].as_str().unwrap().contains("collapsed"),
        "{v}"
    );
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(common::metric(&text, "realtime_health_verdict", ""), 1.0);
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = spawn_live_feeder(client.clone(), stop.clone());
    let (t, v) = wait_verdict(&mut verdicts, "healthy", Duration::from_secs(10)).await;
    eprintln!("healthy {t:?} after the input resumed: {v}");
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    h.shutdown().await;
}
