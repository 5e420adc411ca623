//! Hardening of the processing path against real servers: no replay file can panic the host, a dead processing
//! task fails `/healthz` and `/ready` with the reason, and event time is checked per symbol (a message dated ahead
//! of the wall clock or behind its symbol's time is dropped and counted, and cannot wipe other symbols' metrics).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{depth_lines, env_of, metric, recording, settings, NatsServer, TestHost};
use realtime_strategies::runtime::admission::wall_clock_ms;
use realtime_strategies::runtime::source::shift_times;
use serde::{Deserialize, Serialize};
use strategy_sdk::{EventContext, MarketEvent, SignalSink, Strategy, StrategyParams, StreamKind};

/// A strategy that panics on one symbol: a real way to kill the processing task.
struct PanicProbe;

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct ProbeParams {
    /// Unused; the host's schema extension needs a properties object.
    unused: f64,
}

impl StrategyParams for ProbeParams {}

impl Strategy for PanicProbe {
    type Params = ProbeParams;
    type SymbolState = ();
    const ID: &'static str = "panic_probe";
    const NAME: &'static str = "Panic probe";
    const DESCRIPTION: &'static str = "Test strategy that panics on PANICUSDT";
    const CATEGORY: &'static str = "market_logic";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];
    const ENABLED_BY_DEFAULT: bool = false;

    fn create() -> Self {
        PanicProbe
    }
    fn min_signal_interval_ms(_: &Self::Params) -> i64 {
        0
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        _params: &ProbeParams,
        _state: &mut (),
        _event: &MarketEvent<'_>,
        _sink: &mut SignalSink,
    ) {
        assert!(ctx.symbol != "PANICUSDT", "probe: refuses PANICUSDT");
    }
}

strategy_sdk::register_strategy!(PanicProbe);

async fn wait_until<F: std::future::Future<Output = bool>>(
    secs: u64,
    mut check: impl FnMut() -> F,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_replay_file_out_of_time_order_never_panics() {
    let mut lines = recording()[..400].to_vec();
    // Swap halves (out of order), then add lines the replay cannot time.
    lines.rotate_left(200);
    lines.insert(17, "not json".into());
    lines.push(r#"{"stream":"btcusdt@trade","data":{}}"#.into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("unordered.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let h = TestHost::start(
        settings(&[
            "--replay-file",
            file.to_str().unwrap(),
            "--replay-speed",
            "1000",
            "--replay-loop",
            "false",
            "--signals-to-stdout",
            "false",
        ]),
        env_of(&[]),
    )
    .await;
    let done = wait_until(20, || async { h.processed().await >= 400.0 }).await;
    assert!(done, "processed only {}", h.processed().await);
    let (s, health) = h.get_json("/healthz").await;
    assert_eq!(s, 200, "{health}");
    let (_, info) = h.get_json("/info").await;
    let notes = info["source"]["notes"].to_string();
    assert!(
        notes.contains("2 skipped") && notes.contains("out of time order"),
        "{info}"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_dead_processing_task_fails_healthz_and_ready_with_the_reason() {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[("STRATEGY_ENABLED_PANIC_PROBE", "true")]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let good = depth_lines(1).pop().unwrap();
    client
        .publish("binance.websocket.data", good.clone().into())
        .await
        .unwrap();
    client
        .publish(
            "binance.websocket.data",
            good.replace("btcusdt@", "panicusdt@").into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();
    let failed = wait_until(10, || async { h.get_json("/healthz").await.0 == 503 }).await;
    assert!(failed, "healthz stayed 200 after the processing task died");
    let (_, health) = h.get_json("/healthz").await;
    assert_eq!(health["status"], "unhealthy");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("processing task panicked: probe: refuses PANICUSDT"),
        "{health}"
    );
    let (s, ready) = h.get_json("/ready").await;
    assert_eq!(s, 503);
    assert!(
        ready["error"]["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("panicked"),
        "{ready}"
    );
    h.shutdown().await;
}

/// The recording's lines moved so that its first line is dated `at_ms`.
fn shifted(lines: &[String], at_ms: i64) -> Vec<String> {
    let first = serde_json::from_str::<serde_json::Value>(&lines[0]).unwrap()["timestamp"]
        .as_str()
        .and_then(strategy_sdk::decode::parse_timestamp_ms)
        .unwrap();
    lines
        .iter()
        .filter_map(|l| shift_times(l, at_ms - first))
        .collect()
}

#[tokio::test]
async fn event_time_is_checked_per_symbol_and_cannot_poison_other_symbols() {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let now = wall_clock_ms();
    // 30 s of both symbols' depth, ending now.
    let depth: Vec<String> = recording()
        .into_iter()
        .filter(|l| l.contains("@depth20"))
        .take(600)
        .collect();
    let live = shifted(&depth, now - 30_000);
    let n = live.len();
    for line in &live {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    assert!(wait_until(10, || async { h.processed().await >= n as f64 }).await);
    let (s, _) = h.get_json("/api/v1/metrics/depth/ETHUSDT").await;
    assert_eq!(s, 200);
    // One BTC message dated a day ahead.
    let btc = live.iter().rev().find(|l| l.contains("btcusdt@")).unwrap();
    let poison = shift_times(btc, 86_400_000).unwrap();
    client
        .publish("binance.websocket.data", poison.into())
        .await
        .unwrap();
    // One BTC message a minute behind BTC's latest time.
    let stale = shift_times(btc, -60_000).unwrap();
    client
        .publish("binance.websocket.data", stale.into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    let dropped = wait_until(10, || async {
        let (_, text) = h.get_text("/metrics").await;
        metric(
            &text,
            "realtime_messages_dropped_total",
            "reason=\"future_timestamp\"",
        ) == 1.0
            && metric(
                &text,
                "realtime_messages_dropped_total",
                "reason=\"stale_timestamp\"",
            ) == 1.0
    })
    .await;
    assert!(dropped, "{}", h.get_text("/metrics").await.1);
    // Expiry runs every second: two ticks later every symbol's metrics are still there.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for symbol in ["ETHUSDT", "BTCUSDT"] {
        let (s, b) = h.get_json(&format!("/api/v1/metrics/depth/{symbol}")).await;
        assert_eq!(s, 200, "{symbol}: {b}");
    }
    let (_, info) = h.get_json("/info").await;
    let last = info["processing"]["last_event_time_ms"].as_i64().unwrap();
    assert!(
        last <= wall_clock_ms() + 5_000,
        "event time moved ahead: {last}"
    );
    // Per symbol: an ETH message older than BTC's latest time but in line with ETH's own is processed.
    let before = h.processed().await;
    let eth = live
        .iter()
        .rev()
        .find(|l| l.contains("ethusdt@"))
        .unwrap()
        .clone();
    client
        .publish("binance.websocket.data", eth.into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    assert!(wait_until(5, || async { h.processed().await > before }).await);
    h.shutdown().await;
}

#[tokio::test]
async fn idle_symbols_are_freed_everywhere_and_their_ids_reused() {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--max-symbols",
            "3",
            "--symbol-idle-seconds",
            "1",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let good = depth_lines(1).pop().unwrap();
    let as_symbol = |s: &str| good.replace("btcusdt@", &format!("{}@", s.to_ascii_lowercase()));
    for s in ["AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT"] {
        client
            .publish("binance.websocket.data", as_symbol(s).into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let limited = wait_until(10, || async {
        let (_, text) = h.get_text("/metrics").await;
        metric(
            &text,
            "realtime_messages_dropped_total",
            "reason=\"symbol_limit\"",
        ) == 1.0
    })
    .await;
    assert!(limited, "the fourth symbol is dropped as symbol_limit");
    assert_eq!(h.get_json("/api/v1/metrics/depth/CCCUSDT").await.0, 200);
    assert_eq!(h.get_json("/api/v1/metrics/depth/DDDUSDT").await.0, 404);
    // Idle for a second: freed in the symbol table and in the depth analyzer.
    let freed = wait_until(10, || async {
        let (_, text) = h.get_text("/metrics").await;
        metric(&text, "realtime_symbols_freed_total", "") >= 3.0
            && metric(&text, "realtime_symbols_tracked", "") == 0.0
    })
    .await;
    assert!(freed, "{}", h.get_text("/metrics").await.1);
    assert_eq!(h.get_json("/api/v1/metrics/depth/AAAUSDT").await.0, 404);
    // The freed ids are reused: the new symbol has fresh state of its own.
    client
        .publish("binance.websocket.data", as_symbol("DDDUSDT").into())
        .await
        .unwrap();
    client.flush().await.unwrap();
    assert!(
        wait_until(10, || async {
            h.get_json("/api/v1/metrics/depth/DDDUSDT").await.0 == 200
        })
        .await
    );
    let (_, d) = h.get_json("/api/v1/metrics/depth/DDDUSDT").await;
    assert_eq!(d["symbol"], "DDDUSDT");
    h.shutdown().await;

    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--symbol-allowlist",
            "BTCUSDT,ethusdt",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    for s in ["ETHUSDT", "XRPUSDT"] {
        client
            .publish("binance.websocket.data", as_symbol(s).into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let dropped = wait_until(10, || async {
        let (_, text) = h.get_text("/metrics").await;
        metric(
            &text,
            "realtime_messages_dropped_total",
            "reason=\"symbol_not_allowed\"",
        ) == 1.0
            && metric(&text, "realtime_messages_processed_total", "") == 1.0
    })
    .await;
    assert!(dropped, "{}", h.get_text("/metrics").await.1);
    h.shutdown().await;
}

#[tokio::test]
async fn stale_signals_are_dropped_and_published_counts_what_nats_accepted() {
    use futures::StreamExt;
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&[
            "--nats-url",
            &url,
            "--signals-to-stdout",
            "false",
            "--signal-max-age-ms",
            "30000",
        ]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let mut sub = client.subscribe("cio.intent.trading.>").await.unwrap();
    client.flush().await.unwrap();
    // The recording as it is: from 2024, every signal is stale (an outage's backlog).
    let depth = depth_lines(400);
    for line in &depth {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    assert!(wait_until(10, || async { h.processed().await >= 400.0 }).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, text) = h.get_text("/metrics").await;
    let generated = metric(&text, "realtime_signals_generated_total", "");
    let stale = metric(&text, "realtime_signals_dropped_total", "reason=\"stale\"");
    assert!(generated > 0.0);
    assert_eq!(stale, generated, "every old signal is dropped");
    assert_eq!(metric(&text, "realtime_signals_published_total", ""), 0.0);
    assert!(tokio::time::timeout(Duration::from_millis(300), sub.next())
        .await
        .is_err());
    // The same data dated now: published, and the published count is what reached NATS.
    let fresh = shifted(&depth, wall_clock_ms() - 20_000);
    for line in &fresh {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    assert!(wait_until(10, || async { h.processed().await >= 800.0 }).await);
    let mut received = 0.0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        received += 1.0;
    }
    let (_, text) = h.get_text("/metrics").await;
    let published = metric(&text, "realtime_signals_published_total", "");
    assert!(received > 0.0);
    assert_eq!(published, received);
    assert_eq!(
        metric(&text, "realtime_signals_dropped_total", "reason=\"stale\""),
        stale,
        "fresh signals are not stale"
    );
    h.shutdown().await;
}
