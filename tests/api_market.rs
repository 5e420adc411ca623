//! The market metrics API after real recorded depth data has flowed through a real nats-server; the live streams.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{env_of, metric, recording, settings, NatsServer, TestHost};

async fn fed_host() -> (NatsServer, TestHost) {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let depth: Vec<String> = recording()
        .into_iter()
        .filter(|l| l.contains("@depth20"))
        .take(1200)
        .collect();
    for line in &depth {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, text) = h.get_text("/metrics").await;
        if metric(
            &text,
            "realtime_messages_processed_total",
            "message_type=\"depth\"",
        ) >= depth.len() as f64
        {
            break;
        }
        assert!(Instant::now() < deadline, "depth not processed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (nats, h)
}

#[tokio::test]
async fn four_endpoints_after_recorded_depth() {
    let (_nats, h) = fed_host().await;

    let (status, d) = h.get_json("/api/v1/metrics/depth/BTCUSDT").await;
    assert_eq!(status, 200);
    assert_eq!(d["symbol"], "BTCUSDT");
    for block in [
        "imbalance",
        "pressure",
        "liquidity",
        "spread",
        "vwap",
        "order_book_quality",
        "strongest_levels",
    ] {
        assert!(d.get(block).is_some(), "{block} missing: {d}");
    }
    let buy = d["pressure"]["buy_pressure"].as_f64().unwrap();
    let sell = d["pressure"]["sell_pressure"].as_f64().unwrap();
    assert!((buy + sell - 100.0).abs() < 0.2, "{buy} + {sell}");
    let (bid, ask) = (
        d["spread"]["best_bid"].as_f64().unwrap(),
        d["spread"]["best_ask"].as_f64().unwrap(),
    );
    assert!(bid < ask && bid > 61_000.0 && ask < 62_000.0);
    assert_eq!(d["order_book_quality"]["total_levels"], 40);
    assert!(d["timestamp"]
        .as_str()
        .unwrap()
        .starts_with("2024-08-08T23:5"));
    let (status, lower) = h.get_json("/api/v1/metrics/depth/btcusdt").await;
    assert_eq!(status, 200, "symbols are case-insensitive");
    assert_eq!(lower["symbol"], "BTCUSDT");

    for tf in ["1m", "5m", "15m"] {
        let (status, p) = h
            .get_json(&format!("/api/v1/metrics/pressure/ETHUSDT?timeframe={tf}"))
            .await;
        assert_eq!(status, 200);
        assert_eq!(p["timeframe"], tf);
        assert!(p["total_data_points"].as_u64().unwrap() > 0);
        assert!(
            ["bullish", "bearish", "neutral"].contains(&p["summary"]["trend"].as_str().unwrap())
        );
    }
    let (status, bad) = h
        .get_json("/api/v1/metrics/pressure/ETHUSDT?timeframe=2h")
        .await;
    assert_eq!(status, 422);
    let err = &bad["error"]["details"]["errors"][0];
    assert_eq!(err["field"], "timeframe");
    for allowed in ["1m", "5m", "15m"] {
        assert!(err["message"].as_str().unwrap().contains(allowed), "{err}");
    }

    let (status, s) = h.get_json("/api/v1/metrics/summary").await;
    assert_eq!(status, 200);
    assert_eq!(s["symbols_tracked"], 2);
    let sent = &s["market_sentiment"];
    let counted = sent["bullish_symbols"].as_u64().unwrap()
        + sent["bearish_symbols"].as_u64().unwrap()
        + sent["neutral_symbols"].as_u64().unwrap();
    assert_eq!(counted, 2);
    let btc_liq = d["liquidity"]["total"].as_f64().unwrap();
    let (_, e) = h.get_json("/api/v1/metrics/depth/ETHUSDT").await;
    let eth_liq = e["liquidity"]["total"].as_f64().unwrap();
    let total = s["liquidity"]["total_liquidity"].as_f64().unwrap();
    assert!(
        (total - (btc_liq + eth_liq)).abs() < 1e-3 * total.max(1.0),
        "{total} vs {btc_liq}+{eth_liq}"
    );

    let (status, all) = h
        .get_json("/api/v1/metrics/all?sort_by=symbol&sort_order=desc")
        .await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = all["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["ETHUSDT", "BTCUSDT"]);
    assert_eq!(all["pagination"]["total"], 2);
    let (status, _) = h.get_json("/api/v1/metrics/all?limit=0").await;
    assert_eq!(status, 422);

    let (_, text) = h.get_text("/metrics").await;
    let gauge = metric(&text, "realtime_symbol_net_pressure", "symbol=\"BTCUSDT\"");
    assert!(
        (gauge - d["pressure"]["net_pressure"].as_f64().unwrap()).abs() < 0.01,
        "pressure gauge {gauge}"
    );

    let (status, missing) = h.get_json("/api/v1/metrics/depth/XYZUSDT").await;
    assert_eq!(status, 404);
    // The original's document is kept whole in the one error body's `details`.
    assert!(missing["error"]["details"]["error"]
        .as_str()
        .unwrap()
        .contains("XYZUSDT"));
    h.shutdown().await;
}

#[tokio::test]
async fn market_stream_pushes_summaries() {
    let (_nats, h) = fed_host().await;
    let resp = reqwest::get(h.url("/api/v1/stream/market")).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut resp = resp;
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !text.contains("event: market") || !text.contains("BTCUSDT") {
        assert!(Instant::now() < deadline, "no market event: {text}");
        let chunk = tokio::time::timeout(Duration::from_secs(3), resp.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    h.shutdown().await;
}

/// 20 browsers that never read their signal stream must not slow processing down.
#[tokio::test]
async fn twenty_stalled_browsers_do_not_slow_the_stream() {
    async fn run(clients: usize) -> (f64, f64, Duration) {
        let h = TestHost::start(
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
        .await;
        let mut held = Vec::new();
        for _ in 0..clients {
            // Open the stream and never read it: the host's buffers fill and it must skip, not wait.
            held.push(reqwest::get(h.url("/api/v1/stream/signals")).await.unwrap());
        }
        let start = Instant::now();
        let total = recording().len() as f64;
        let mut processed = 0.0;
        let mut signals = 0.0;
        while start.elapsed() < Duration::from_secs(60) {
            let (_, text) = h.get_text("/metrics").await;
            processed = metric(&text, "realtime_messages_processed_total", "");
            signals = metric(&text, "realtime_signals_published_total", "");
            if processed >= total {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = start.elapsed();
        drop(held);
        h.shutdown().await;
        (processed, signals, elapsed)
    }
    let (alone, signals_alone, t_alone) = run(0).await;
    let (crowded, signals_crowded, t_crowded) = run(20).await;
    assert!(
        t_crowded <= t_alone * 2 + Duration::from_secs(2),
        "stream rate held: {t_alone:?} alone vs {t_crowded:?} with 20 stalled clients"
    );
    assert_eq!(
        alone,
        recording().len() as f64,
        "baseline processed everything"
    );
    assert_eq!(
        crowded, alone,
        "every message processed with 20 stalled clients"
    );
    assert_eq!(
        signals_crowded, signals_alone,
        "every signal published with 20 stalled clients"
    );
}

#[tokio::test]
async fn pressure_history_covers_the_window_when_downsampled() {
    let (_nats, h) = fed_host().await;
    let (status, newest) = h
        .get_json("/api/v1/metrics/pressure/BTCUSDT?timeframe=15m")
        .await;
    assert_eq!(status, 200, "{newest}");
    assert!(
        newest.get("downsampling").is_none(),
        "the original's answer is unchanged"
    );
    let total = newest["total_data_points"].as_u64().unwrap();
    assert!(
        total > 100,
        "the recording fills more than 100 samples: {total}"
    );
    let (status, down) = h
        .get_json("/api/v1/metrics/pressure/BTCUSDT?timeframe=15m&max_points=50")
        .await;
    assert_eq!(status, 200, "{down}");
    let points = down["pressure_history"].as_array().unwrap();
    assert!(points.len() <= 50 && points.len() >= 25, "{}", points.len());
    assert_eq!(down["downsampling"]["method"], "mean_of_consecutive");
    assert_eq!(down["downsampling"]["source_points"], total);
    let per = down["downsampling"]["points_per_bucket"].as_u64().unwrap();
    assert_eq!(per, total.div_ceil(50));
    // The first downsampled point lies before the first of the newest 100: the window, not its tail.
    assert!(
        points[0]["timestamp"].as_str().unwrap()
            < newest["pressure_history"][0]["timestamp"].as_str().unwrap()
    );
    let (status, bad) = h
        .get_json("/api/v1/metrics/pressure/BTCUSDT?max_points=5")
        .await;
    assert_eq!(status, 422);
    assert!(bad.to_string().contains("/max_points"), "{bad}");
}
