//! End to end through a real nats-server: recorded depth20 envelopes in, orderbook_skew signals out; garbage is
//! counted and dropped while the host keeps working.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{depth_lines, env_of, metric, settings, NatsServer, TestHost};
use futures::StreamExt;

async fn host_on(nats: &NatsServer) -> TestHost {
    let url = nats.url();
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--max-message-bytes",
            "65536",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    h
}

#[tokio::test]
async fn recorded_depth_produces_a_contract_signal_on_nats() {
    let nats = NatsServer::start();
    let h = host_on(&nats).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut signals = client
        .subscribe("cio.intent.trading.orderbook_skew")
        .await
        .unwrap();
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for line in depth_lines(200) {
        client
            .publish("binance.websocket.data", line.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), signals.next())
        .await
        .expect("a signal within 10 s")
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    for field in strategy_sdk::signal::CONTRACT_FIELDS {
        assert!(s.get(field).is_some(), "signal lacks {field}: {s}");
    }
    assert_eq!(s["strategy_id"], "orderbook_skew");
    assert_eq!(s["metadata"]["strategy_id"], "orderbook_skew");
    let symbol = s["symbol"].as_str().unwrap();
    assert!(symbol == "BTCUSDT" || symbol == "ETHUSDT");
    let action = s["action"].as_str().unwrap();
    assert!(action == "buy" || action == "sell");
    let conf = s["confidence"].as_f64().unwrap();
    assert!((0.5..=0.95).contains(&conf), "{conf}");
    let price = s["price"].as_f64().unwrap();
    let (lo, hi) = if symbol == "BTCUSDT" {
        (61_000.0, 62_000.0)
    } else {
        (2_600.0, 2_700.0)
    };
    assert!(
        price > lo && price < hi,
        "price {price} out of the recorded range"
    );
    let (sl, tp) = (
        s["stop_loss"].as_f64().unwrap(),
        s["take_profit"].as_f64().unwrap(),
    );
    if action == "buy" {
        assert!(sl < price && tp > price);
    } else {
        assert!(sl > price && tp < price);
    }
    assert!(
        s["timestamp"]
            .as_str()
            .unwrap()
            .starts_with("2024-08-08T23:5"),
        "event time, not wall clock"
    );
    let (_, text) = h.get_text("/metrics").await;
    assert!(
        metric(
            &text,
            "realtime_signals_published_total",
            "strategy_id=\"orderbook_skew\""
        ) >= 1.0
    );
    assert!(
        metric(
            &text,
            "realtime_messages_processed_total",
            "message_type=\"depth\""
        ) >= 1.0
    );
    h.shutdown().await;
}

#[tokio::test]
async fn garbage_is_counted_and_dropped_and_the_host_keeps_working() {
    let nats = NatsServer::start();
    let h = host_on(&nats).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let good = depth_lines(1).pop().unwrap();
    let garbage: Vec<(Vec<u8>, &str)> = vec![
        (b"not json at all".to_vec(), "malformed_json"),
        (good.as_bytes()[..good.len() / 2].to_vec(), "malformed_json"),
        (good.replacen("\"61837", "true,\"61837", 1).into_bytes(), "malformed_json"),
        (
            br#"{"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":1,"bids":[],"asks":[]},"timestamp":"2024-08-08T23:54:15Z"}"#.to_vec(),
            "empty_book",
        ),
        (vec![0xff, 0xfe, 0x00], "invalid_utf8"),
        (good.replace("depth20@100ms", "kline_1m").into_bytes(), "unsupported_stream"),
        (vec![b' '; 100_000], "oversized"),
        (good.replacen("\"61837.63000000\"", "\"NaN\"", 1).into_bytes(), "invalid_number"),
        (good.replacen("\"3.78826000\"", "\"-3.78826000\"", 1).into_bytes(), "invalid_number"),
        (good.replacen("\"3.78826000\"", "\"1e300\"", 1).into_bytes(), "invalid_number"),
        (good.replacen("\"61837.63000000\"", "\"99999.0\"", 1).into_bytes(), "crossed_book"),
    ];
    for (payload, _) in &garbage {
        client
            .publish("binance.websocket.data", payload.clone().into())
            .await
            .unwrap();
    }
    for line in depth_lines(5) {
        client
            .publish("binance.websocket.data", line.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let mut text = String::new();
    for _ in 0..100 {
        text = h.get_text("/metrics").await.1;
        if metric(
            &text,
            "realtime_messages_processed_total",
            "message_type=\"depth\"",
        ) >= 5.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(
            &text,
            "realtime_messages_processed_total",
            "message_type=\"depth\""
        ),
        5.0
    );
    assert_eq!(
        metric(
            &text,
            "realtime_messages_dropped_total",
            "reason=\"malformed_json\""
        ),
        3.0
    );
    // Every garbage message is dropped for exactly the reason listed beside it, and nothing else is dropped.
    let mut expected: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for (_, reason) in &garbage {
        *expected.entry(reason).or_default() += 1.0;
    }
    for (reason, count) in &expected {
        assert_eq!(
            metric(
                &text,
                "realtime_messages_dropped_total",
                &format!("reason=\"{reason}\"")
            ),
            *count,
            "{reason}"
        );
    }
    assert_eq!(
        metric(&text, "realtime_messages_dropped_total", ""),
        garbage.len() as f64,
        "total drops"
    );
    let (status, _) = h.get_json("/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = h.get_json("/ready").await;
    assert_eq!(status, 200);
    h.shutdown().await;
}
