//! A threshold changed through the configuration API changes the signals of the running strategy on the same input
//! (recorded depth messages published to a real nats-server), without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{depth_lines, env_of, settings, NatsServer, TestHost};
use futures::StreamExt;
use serde_json::{json, Value};
use strategy_sdk::decode::{format_timestamp_ms, parse_timestamp_ms};

/// Publishes the lines, waits until the host processed all of them, and returns the signals received meanwhile.
/// Each pass moves the recorded minute one hour later (the host refuses event time that runs backwards for a
/// symbol); the returned signals carry their timestamps moved back, so passes compare by recorded time.
async fn run_pass(
    h: &TestHost,
    client: &async_nats::Client,
    signals: &mut async_nats::Subscriber,
    lines: &[String],
) -> Vec<Value> {
    static PASS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let offset = PASS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) * 3_600_000;
    let before = h.processed().await;
    for line in lines {
        let shifted = realtime_strategies::runtime::source::shift_times(line, offset).unwrap();
        client
            .publish("binance.websocket.data", shifted.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.processed().await < before + lines.len() as f64 {
        assert!(Instant::now() < deadline, "host did not process the batch");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut out = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), signals.next()).await
    {
        let mut signal: Value = serde_json::from_slice(&msg.payload).unwrap();
        let t = parse_timestamp_ms(signal["timestamp"].as_str().unwrap()).unwrap();
        signal["timestamp"] = Value::String(format_timestamp_ms(t - offset));
        out.push(signal);
    }
    out
}

fn ratio(s: &Value) -> f64 {
    s["indicators"]["ratio"].as_f64().unwrap()
}

fn levels(s: &Value) -> u64 {
    s["metadata"]["top_levels"].as_u64().unwrap()
}

fn key(s: &Value) -> (String, String, String) {
    (
        s["symbol"].as_str().unwrap().to_owned(),
        s["action"].as_str().unwrap().to_owned(),
        s["timestamp"].as_str().unwrap().to_owned(),
    )
}

async fn post(h: &TestHost, path: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(h.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// The orderbook_skew thresholds and depth changed through the API change the signals of the same recorded depth
/// messages: every signal obeys the parameters in force, and the signal set differs.
#[tokio::test]
async fn thresholds_changed_through_the_api_change_the_signals() {
    let nats = NatsServer::start();
    let url = nats.url();
    // The same recorded messages are sent four times: allow their event time to go back between passes.
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--max-event-time-regression-ms",
            "1000000000000",
        ]),
        // The same recorded minute is replayed several times: no minimum interval between signals.
        env_of(&[("ORDERBOOK_SKEW_MIN_SIGNAL_INTERVAL_SECONDS", "0")]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(url).await.unwrap();
    let mut signals = client
        .subscribe("cio.intent.trading.orderbook_skew")
        .await
        .unwrap();
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = depth_lines(400);
    let cfg = "/api/v1/strategies/orderbook_skew/config";

    let defaults = run_pass(&h, &client, &mut signals, &lines).await;
    assert!(
        !defaults.is_empty(),
        "the recording signals with the defaults"
    );
    assert!(defaults.iter().all(|s| levels(s) == 5));
    assert!(defaults.iter().all(|s| ratio(s) > 1.2 || ratio(s) < 0.8));
    assert!(
        defaults.iter().any(|s| ratio(s) <= 3.0 && ratio(s) >= 0.3),
        "some default signals fall inside the strict band"
    );

    // Strictest thresholds over the whole book.
    post(
        &h,
        cfg,
        json!({"parameters": {"top_levels": 20, "buy_threshold": 3.0, "sell_threshold": 0.3}, "changed_by": "test"}),
    )
    .await;
    let strict = run_pass(&h, &client, &mut signals, &lines).await;
    assert!(strict.iter().all(|s| levels(s) == 20), "new depth in force");
    assert!(
        strict.iter().all(|s| ratio(s) > 3.0 || ratio(s) < 0.3),
        "new thresholds in force"
    );
    let a: Vec<_> = defaults.iter().map(key).collect();
    let b: Vec<_> = strict.iter().map(key).collect();
    assert_ne!(a, b, "same input, different signals");

    // Deleting the override brings the defaults back, live.
    let r = reqwest::Client::new()
        .delete(h.url(&format!("{cfg}?changed_by=test")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let back = run_pass(&h, &client, &mut signals, &lines).await;
    assert!(!back.is_empty());
    assert!(back.iter().all(|s| levels(s) == 5));

    // A symbol override applies to that symbol only.
    post(
        &h,
        &format!("{cfg}/BTCUSDT"),
        json!({"parameters": {"top_levels": 20}, "changed_by": "test"}),
    )
    .await;
    let mixed = run_pass(&h, &client, &mut signals, &lines).await;
    assert!(!mixed.is_empty());
    for s in &mixed {
        let want = if s["symbol"] == "BTCUSDT" { 20 } else { 5 };
        assert_eq!(levels(s), want, "{s}");
    }
    h.shutdown().await;
}
