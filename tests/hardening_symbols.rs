//! Bounded state under a symbol flood, against the real binary and a real nats-server: 100 k depth messages with
//! random symbol names keep the host's resident memory under 128 MiB, further symbols are dropped as
//! `symbol_limit`, and the real symbols keep working during and after the flood.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{depth_lines, free_port, metric, NatsServer};

const FLOOD: usize = 100_000;
const LIMIT_MIB: f64 = 128.0;

/// A small depth20 envelope (5 levels a side) for `symbol` at `ts` (ISO time).
fn depth(symbol: &str, ts: &str, n: usize) -> String {
    let mid = 100.0 + (n % 50) as f64;
    let bids: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                r#"["{:.2}","{:.3}"]"#,
                mid - i as f64 * 0.01,
                1.0 + i as f64
            )
        })
        .collect();
    let asks: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                r#"["{:.2}","{:.3}"]"#,
                mid + i as f64 * 0.01,
                1.0 + i as f64
            )
        })
        .collect();
    format!(
        r#"{{"stream":"{}@depth20@100ms","data":{{"lastUpdateId":{n},"bids":[{}],"asks":[{}]}},"timestamp":"{ts}"}}"#,
        symbol.to_ascii_lowercase(),
        bids.join(","),
        asks.join(",")
    )
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_symbol_flood_keeps_memory_bounded_and_real_symbols_working() {
    let nats = NatsServer::start();
    let port = free_port();
    let _child = Child(
        Command::new(env!("CARGO_BIN_EXE_realtime-strategies"))
            .env("NATS_URL", nats.url())
            .env("HEALTH_CHECK_PORT", port.to_string())
            .env("HTTP_BIND", "127.0.0.1")
            .env("SIGNALS_TO_STDOUT", "false")
            .env("SIGNAL_MAX_AGE_MS", "0")
            .env("CONFIG_DB_PATH", common::fresh_config_db())
            .env("LOG_LEVEL", "WARN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{base}/ready"))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
        != 200
    {
        assert!(Instant::now() < deadline, "binary never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = || async {
        reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let rss_mib = |text: &str| metric(text, "memory_usage_bytes", "") / 1024.0 / 1024.0;
    let before = rss_mib(&metrics().await);

    let client = async_nats::connect(nats.url()).await.unwrap();
    // Real symbols first, then interleaved with the flood (one real message per 100 random ones).
    let real = depth_lines(1200);
    let mut real_iter = real.iter();
    for line in real_iter.by_ref().take(100) {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut last_real = None;
    for n in 0..FLOOD {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let symbol = format!("R{:08X}USDT", rng as u32);
        let line = depth(&symbol, "2024-08-08T23:55:00Z", n);
        client
            .publish("binance.websocket.data", line.into())
            .await
            .unwrap();
        if n % 100 == 0 {
            if let Some(l) = real_iter.next() {
                client
                    .publish("binance.websocket.data", l.clone().into())
                    .await
                    .unwrap();
                last_real = Some(l.clone());
            }
        }
        if n % 2_000 == 0 {
            client.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    client.flush().await.unwrap();
    // Wait until the host has taken in everything it will take.
    let mut text;
    let mut seen = -1.0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        text = metrics().await;
        let now = metric(&text, "realtime_messages_received_total", "");
        if now == seen || Instant::now() > deadline {
            break;
        }
        seen = now;
    }
    let after = rss_mib(&text);
    let limited = metric(
        &text,
        "realtime_messages_dropped_total",
        "reason=\"symbol_limit\"",
    );
    let tracked = metric(&text, "realtime_symbols_tracked", "");
    eprintln!(
        "RSS before {before:.1} MiB, after {FLOOD} random-symbol messages {after:.1} MiB; {limited} dropped as \
         symbol_limit, {tracked} symbols tracked, {seen} messages received"
    );
    assert!(
        seen >= FLOOD as f64 * 0.9,
        "the flood reached the host: {seen}"
    );
    assert!(after < LIMIT_MIB, "RSS {after:.1} MiB >= {LIMIT_MIB} MiB");
    assert!(
        limited > 0.0,
        "symbols beyond MAX_SYMBOLS are dropped as symbol_limit"
    );
    assert!(tracked <= 500.0, "{tracked} symbols tracked");
    // Real symbols worked during the flood: their newest message is what the metrics API shows.
    let last_real: serde_json::Value = serde_json::from_str(&last_real.unwrap()).unwrap();
    let symbol = last_real["stream"]
        .as_str()
        .unwrap()
        .split('@')
        .next()
        .unwrap()
        .to_ascii_uppercase();
    let r: serde_json::Value = reqwest::get(format!("{base}/api/v1/metrics/depth/{symbol}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["timestamp"].as_str().unwrap()[..19],
        last_real["timestamp"].as_str().unwrap()[..19],
        "{r}"
    );
    // ... and after it.
    let before_after = metric(&text, "realtime_messages_processed_total", "");
    for line in real_iter.take(50) {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics().await;
        if metric(&text, "realtime_messages_processed_total", "") >= before_after + 50.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "real symbols stopped working after the flood"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
