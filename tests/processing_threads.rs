//! Processing threads inside one host (`PROCESSING_THREADS`): a host fed through a real nats-server with the bundled
//! recording relabelled into six symbols, after a symbol override, a global change and a shadow set through the
//! API, publishes the same signals (same set, same order per symbol), answers the same market metrics, scorecard
//! and shadow comparison, and counts the same received messages with 1, 2 and 4 threads.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use common::{env_of, metric, settings, NatsServer, TestHost};

/// Copies of the recording's two symbols besides the originals (`s0btcusdt`, `s1ethusdt`, …).
const COPIES: usize = 2;
/// Messages published before waiting for the host to catch up (stays far below its subscription buffer).
const CHUNK: usize = 5_000;

/// The recording, each line followed by its relabelled copies (as `rs-load --symbols` does).
fn relabelled() -> Vec<String> {
    let mut out = Vec::new();
    for line in common::recording() {
        for c in 0..COPIES {
            out.push(line.replacen(r#"{"stream":""#, &format!(r#"{{"stream":"s{c}"#), 1));
        }
        out.push(line);
    }
    out
}

/// Everything compared between thread counts.
#[derive(Debug, PartialEq)]
struct Observed {
    /// Published signals per symbol, in publication order, without their random ids.
    signals: BTreeMap<String, Vec<Value>>,
    /// Market metrics, scorecard and shadow comparison answers by path.
    answers: BTreeMap<String, Value>,
    /// `realtime_messages_received_total` per kind.
    received: BTreeMap<&'static str, f64>,
}

async fn wait_for(what: &str, secs: u64, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(threads: usize, lines: &[String]) -> Observed {
    let nats = NatsServer::start();
    let n = threads.to_string();
    let host = TestHost::start(
        settings(&[
            "--nats-url",
            &nats.url(),
            "--processing-threads",
            &n,
            "--symbol-idle-seconds",
            "0",
        ]),
        env_of(&[]),
    )
    .await;
    host.wait_ready(30).await;
    let (_, text) = host.get_text("/metrics").await;
    assert_eq!(
        metric(&text, "realtime_processing_threads", ""),
        threads as f64
    );

    // Configuration before any message: a symbol override, a global change and a shadow, each a PipelineCommand
    // that every thread must apply.
    let (status, body) = host
        .post_json(
            "/api/v1/strategies/orderbook_skew/config/S0ETHUSDT",
            json!({"parameters": {"buy_threshold": 1.1, "sell_threshold": 0.9, "min_signal_interval_seconds": 20}, "changed_by": "test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = host
        .post_json(
            "/api/v1/strategies/trade_momentum/config",
            json!({"parameters": {"min_signal_interval_seconds": 30}, "changed_by": "test"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = host
        .post_json(
            "/api/v1/strategies/orderbook_skew/shadows",
            json!({"name": "tighter", "parameters": {"buy_threshold": 1.4, "sell_threshold": 0.7, "min_signal_interval_seconds": 10}, "changed_by": "test"}),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    wait_for("the shadow to run", 20, async || {
        let (_, text) = host.get_text("/metrics").await;
        metric(&text, "realtime_shadows_running", "") == 1.0
    })
    .await;
    // Commands travel to every thread between its batches: let them all arrive before the first message.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut signals_sub = client.subscribe("cio.intent.trading.>").await.unwrap();
    client.flush().await.unwrap();
    for (i, chunk) in lines.chunks(CHUNK).enumerate() {
        for line in chunk {
            client
                .publish("binance.websocket.data", line.clone().into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
        let sent = (i * CHUNK + chunk.len()) as f64;
        wait_for("the host to process a chunk", 120, async || {
            host.processed().await >= sent
        })
        .await;
    }
    // Every signal is published once the last message is processed; collect until the subject is quiet.
    let mut signals: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(2), signals_sub.next()).await
    {
        let mut v: Value = serde_json::from_slice(&msg.payload).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("id");
        obj.remove("signal_id");
        let symbol = obj["symbol"].as_str().unwrap().to_owned();
        signals.entry(symbol).or_default().push(v);
    }

    let mut answers = BTreeMap::new();
    let mut paths = vec![
        "/api/v1/metrics/summary".to_owned(),
        "/api/v1/metrics/all?limit=200&sort_by=symbol".to_owned(),
        "/api/v1/metrics/all?limit=3&offset=2&sort_by=pressure&sort_order=desc".to_owned(),
        "/api/v1/strategies/orderbook_skew/shadows?window=1h".to_owned(),
    ];
    for base in ["BTCUSDT", "ETHUSDT"] {
        for prefix in std::iter::once(String::new()).chain((0..COPIES).map(|c| format!("S{c}"))) {
            let symbol = format!("{prefix}{base}");
            paths.push(format!("/api/v1/metrics/depth/{symbol}"));
            for tf in ["1m", "5m", "15m"] {
                paths.push(format!("/api/v1/metrics/pressure/{symbol}?timeframe={tf}"));
            }
        }
    }
    let (_, list) = host.get_json("/api/v1/strategies").await;
    for s in list["data"].as_array().unwrap() {
        let id = s["strategy_id"].as_str().or(s["id"].as_str()).unwrap();
        paths.push(format!("/api/v1/strategies/{id}/performance?window=1h"));
    }
    for path in paths {
        let (status, mut body) = host.get_json(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        // The shadow's own record carries wall-clock times (created, updated); its comparison is what counts.
        if path.contains("/shadows") {
            body = body["data"]["shadows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| json!({"name": s["name"], "comparison": s["comparison"]}))
                .collect();
        }
        answers.insert(path, body);
    }
    let (_, text) = host.get_text("/metrics").await;
    let received = ["depth", "trade", "ticker", "unknown"]
        .into_iter()
        .map(|k| {
            (
                k,
                metric(
                    &text,
                    "realtime_messages_received_total",
                    &format!("message_type=\"{k}\""),
                ),
            )
        })
        .collect();
    host.shutdown().await;
    Observed {
        signals,
        answers,
        received,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_two_and_four_threads_publish_and_answer_the_same() {
    let lines = relabelled();
    let one = run(1, &lines).await;

    // A meaningful comparison: several strategies and symbols, every message counted once, the shadow scored.
    let strategies: std::collections::BTreeSet<&str> = one
        .signals
        .values()
        .flatten()
        .map(|s| s["strategy_id"].as_str().unwrap())
        .collect();
    assert!(
        strategies.len() >= 3 && one.signals.len() >= 4,
        "{strategies:?} {:?}",
        one.signals.keys()
    );
    let tickers = lines.iter().filter(|l| l.contains("@ticker")).count() as f64;
    assert_eq!(one.received["ticker"], tickers);
    assert_eq!(
        one.received.values().sum::<f64>(),
        lines.len() as f64,
        "{:?}",
        one.received
    );
    let shadow = &one.answers["/api/v1/strategies/orderbook_skew/shadows?window=1h"];
    assert!(
        shadow.to_string().contains("tighter"),
        "the shadow ran: {shadow}"
    );
    assert_eq!(
        one.answers["/api/v1/metrics/summary"]["symbols_tracked"],
        2 * (COPIES + 1)
    );

    // The symbol override took effect (same data as ETHUSDT, lower thresholds and interval).
    assert!(one.signals["S0ETHUSDT"].len() > one.signals["ETHUSDT"].len());
    for threads in [2, 4] {
        let used: std::collections::BTreeSet<u32> = one
            .signals
            .keys()
            .map(|s| realtime_strategies::runtime::pipeline::shard_of(s, threads))
            .collect();
        assert!(
            used.len() > 1,
            "symbols spread over {threads} threads: {used:?}"
        );
    }
    for threads in [2u32, 4] {
        let many = run(threads as usize, &lines).await;
        for (symbol, signals) in &one.signals {
            assert_eq!(
                many.signals.get(symbol),
                Some(signals),
                "{threads} threads: signals of {symbol}"
            );
        }
        assert_eq!(
            many.signals.keys().collect::<Vec<_>>(),
            one.signals.keys().collect::<Vec<_>>()
        );
        for (path, answer) in &one.answers {
            assert_eq!(
                many.answers.get(path),
                Some(answer),
                "{threads} threads: {path}"
            );
        }
        assert_eq!(many.received, one.received, "{threads} threads");
    }
}
