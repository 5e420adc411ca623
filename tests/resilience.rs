//! Production behaviour against a real nats-server: symbol sharding across three hosts, reconnect after a NATS
//! restart, graceful shutdown on SIGTERM, trace context propagation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{depth_lines, env_of, free_port, recording, settings, NatsServer, TestHost};
use futures::StreamExt;
use realtime_strategies::runtime::pipeline::shard_of;

async fn wait_for(h: &TestHost, target: f64, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let n = h.processed().await;
        if n >= target || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_shards_process_every_message_exactly_once() {
    let nats = NatsServer::start();
    let url = nats.url();
    let mut hosts = Vec::new();
    for i in 0..3 {
        let idx = i.to_string();
        let h = TestHost::start(
            settings(&[
                "--nats-url",
                &url,
                "--shard-count",
                "3",
                "--shard-index",
                &idx,
                "--signals-to-stdout",
                "false",
            ]),
            env_of(&[]),
        )
        .await;
        h.wait_ready(10).await;
        hosts.push(h);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 12 symbols: the recorded BTC/ETH books relabelled with a prefix.
    let base = depth_lines(100);
    let client = async_nats::connect(&url).await.unwrap();
    let mut expected = [0f64; 3];
    let mut total = 0.0;
    for k in 0..6 {
        for line in &base {
            let relabelled = line.replacen("\"stream\":\"", &format!("\"stream\":\"x{k}"), 1);
            let symbol = if line.contains("btcusdt@") {
                format!("X{k}BTCUSDT")
            } else {
                format!("X{k}ETHUSDT")
            };
            expected[shard_of(&symbol, 3) as usize] += 1.0;
            total += 1.0;
            client
                .publish("binance.websocket.data", relabelled.into())
                .await
                .unwrap();
        }
    }
    client.flush().await.unwrap();
    assert!(
        expected.iter().filter(|&&e| e > 0.0).count() >= 2,
        "symbols spread over shards: {expected:?}"
    );
    let mut sum = 0.0;
    for (i, h) in hosts.iter().enumerate() {
        let n = wait_for(h, expected[i], 10).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = n.max(h.processed().await);
        assert_eq!(
            n, expected[i],
            "host {i} processed only its shard's symbols"
        );
        sum += n;
    }
    assert_eq!(
        sum, total,
        "every message processed exactly once across the shards"
    );
    for h in hosts {
        h.shutdown().await;
    }
}

#[tokio::test]
async fn reconnects_after_nats_restart() {
    let port = free_port();
    let mut nats = NatsServer::start_on(port);
    let url = nats.url();
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    nats.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = h.get_json("/ready").await;
        if status == 503 {
            assert_eq!(
                common::readiness(&body)["checks"]["source_connected"],
                false
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/ready never reflected the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _) = h.get_json("/healthz").await;
    assert_eq!(status, 200, "still alive during the outage");
    let _nats = NatsServer::start_on(port);
    h.wait_ready(20).await;
    let before = h.processed().await;
    let client = async_nats::connect(&url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for line in depth_lines(20) {
        client
            .publish("binance.websocket.data", line.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let after = wait_for(&h, before + 20.0, 10).await;
    assert_eq!(
        after - before,
        20.0,
        "processing resumed after the reconnect"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn trace_context_is_carried_into_signals() {
    let nats = NatsServer::start();
    let url = nats.url();
    let h = TestHost::start(
        settings(&["--nats-url", &url, "--signals-to-stdout", "false"]),
        env_of(&[]),
    )
    .await;
    h.wait_ready(10).await;
    let client = async_nats::connect(&url).await.unwrap();
    let mut signals = client.subscribe("cio.intent.trading.>").await.unwrap();
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for line in depth_lines(200) {
        let traced = line.replacen(
            "\"version\":\"1.0\"}",
            &format!("\"version\":\"1.0\",\"_otel_trace_context\":{{\"traceparent\":\"{tp}\"}}}}"),
            1,
        );
        client
            .publish("binance.websocket.data", traced.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(10), signals.next())
        .await
        .unwrap()
        .unwrap();
    let s: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(s["_otel_trace_context"]["traceparent"], tp);
    h.shutdown().await;
}

/// The signals the default strategies give for `lines`, computed offline (same decoder, same strategies).
fn expected_signals(lines: &[String]) -> usize {
    use realtime_strategies::metrics::Metrics;
    use realtime_strategies::registry::Registry;
    use realtime_strategies::runtime::Pipeline;
    let registry = Registry::load().unwrap();
    let env = |_: &str| None;
    let runners = registry
        .strategies()
        .iter()
        .filter(|s| s.enabled_in(&env))
        .map(|s| (s.descriptor.build)(s.descriptor))
        .collect();
    let mut p = Pipeline::new(runners, Vec::new(), Metrics::new(), 1 << 20, 1000);
    let mut out = Vec::new();
    for l in lines {
        p.process(l.as_bytes(), &mut out);
    }
    out.len()
}

/// Waits until the host binary on `port` answers `/ready` with 200, failing the test after `deadline`.
async fn wait_ready(port: u16, deadline: Instant) {
    let ready = format!("http://127.0.0.1:{port}/ready");
    loop {
        if let Ok(r) = reqwest::get(&ready).await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "binary never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM to the host binary and waits for it to exit within `grace`; its exit status and its stderr.
fn sigterm_and_wait(
    child: &mut std::process::Child,
    grace: Duration,
) -> (std::process::ExitStatus, String) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < grace, "no exit within the grace period");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut log = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut log);
    }
    (exit, log)
}

#[tokio::test]
async fn sigterm_stops_gracefully_and_flushes() {
    let nats = NatsServer::start();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-strategies"))
        .env("NATS_URL", nats.url())
        .env("HEALTH_CHECK_PORT", port.to_string())
        .env("HTTP_BIND", "127.0.0.1")
        .env("SIGNALS_TO_STDOUT", "false")
        // The recording is from 2024: its signals are not stale for this test.
        .env("SIGNAL_MAX_AGE_MS", "0")
        // Room to drain the whole backlog even on a loaded debug build.
        .env("SHUTDOWN_DRAIN_MS", "30000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    wait_ready(port, deadline).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut signals = client.subscribe("cio.intent.trading.>").await.unwrap();
    client.flush().await.unwrap();
    // An open live stream (a browser) must not hold up the shutdown.
    let _sse = reqwest::get(format!("http://127.0.0.1:{port}/api/v1/stream/signals"))
        .await
        .unwrap();
    // A burst, then SIGTERM as soon as the host has read it all from NATS, while most of it is still buffered:
    // everything buffered must still be processed and every resulting signal published before the exit.
    let lines = depth_lines(7000);
    let expected = expected_signals(&lines);
    assert!(expected > 0, "the recording gives signals");
    for line in &lines {
        client
            .publish("binance.websocket.data", line.clone().into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let metrics_url = format!("http://127.0.0.1:{port}/metrics");
    let (read, processed) = loop {
        let text = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let read = common::metric(&text, "realtime_nats_in_messages", "");
        if read >= lines.len() as f64 {
            break (
                read,
                common::metric(&text, "realtime_messages_processed_total", ""),
            );
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "host read only {read} messages"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("at SIGTERM: {read} messages read from NATS, {processed} processed");
    assert!(
        processed < read,
        "a backlog is buffered at SIGTERM (else this test checks nothing)"
    );
    let (exit, log) = sigterm_and_wait(&mut child, Duration::from_secs(40));
    assert!(exit.success(), "clean exit code, got {exit:?}");
    let mut received = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(500), signals.next()).await {
        received += 1;
    }
    assert_eq!(
        received, expected,
        "every signal of the input accepted before SIGTERM is published before the exit; host log:\n{log}"
    );
    // The intake stops first at shutdown, so the input runs out before processing is told to stop: that is the
    // plan, not a failure to report.
    assert!(
        !log.contains("ended unexpectedly") && !log.contains("unhealthy"),
        "a graceful shutdown reports no failure; host log:\n{log}"
    );
}

/// SIGTERM on an idle host, for each processing-thread layout: the intake stops first, so the input runs out
/// before the processing task is told to stop. That must read as a planned stop (clean exit, no failure logged),
/// not as "market data input ended unexpectedly".
#[tokio::test]
async fn sigterm_on_an_idle_host_reports_no_failure() {
    for threads in ["1", "2"] {
        let nats = NatsServer::start();
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_realtime-strategies"))
            .env("NATS_URL", nats.url())
            .env("HEALTH_CHECK_PORT", port.to_string())
            .env("HTTP_BIND", "127.0.0.1")
            .env("PROCESSING_THREADS", threads)
            // Its own configuration store: the default file is locked by whichever host opened it first.
            .env("CONFIG_DB_PATH", common::fresh_config_db())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        wait_ready(port, deadline).await;
        // Some input first, all of it processed: the host is idle at SIGTERM.
        let client = async_nats::connect(nats.url()).await.unwrap();
        let lines = depth_lines(2000);
        for line in &lines {
            client
                .publish("binance.websocket.data", line.clone().into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
        let metrics_url = format!("http://127.0.0.1:{port}/metrics");
        loop {
            let text = reqwest::get(&metrics_url)
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if common::metric(&text, "realtime_messages_processed_total", "") >= lines.len() as f64
            {
                break;
            }
            assert!(
                Instant::now() < deadline + Duration::from_secs(30),
                "the input was not processed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (exit, log) = sigterm_and_wait(&mut child, Duration::from_secs(20));
        assert!(
            exit.success(),
            "clean exit code, got {exit:?}; host log:\n{log}"
        );
        assert!(
            log.contains("shutting down"),
            "the shutdown was logged (else the log was not captured); host log:\n{log}"
        );
        assert!(
            !log.contains("ended unexpectedly") && !log.contains("unhealthy"),
            "PROCESSING_THREADS={threads}: a graceful shutdown reports no failure; host log:\n{log}"
        );
    }
}

/// Sharded replicas: a cross-symbol strategy (btc_dominance reads ETH tickers to signal on BTC) still sees every
/// symbol, and its signals are published once, by the replica owning the signal's symbol.
#[test]
fn cross_symbol_strategies_work_across_shards() {
    use realtime_strategies::metrics::Metrics;
    use realtime_strategies::registry::Registry;
    use realtime_strategies::runtime::pipeline::ShardFilter;
    use realtime_strategies::runtime::Pipeline;

    let registry = Registry::load().unwrap();
    let dominance = registry.get("btc_dominance").unwrap();
    assert!(dominance.descriptor.cross_symbol);
    let build = |shard: Option<ShardFilter>| {
        Pipeline::new(
            vec![(dominance.descriptor.build)(dominance.descriptor)],
            Vec::new(),
            Metrics::new(),
            1 << 20,
            1000,
        )
        .with_shard(shard)
    };
    let lines = recording();
    let run = |mut p: Pipeline| {
        let mut out = Vec::new();
        for l in &lines {
            p.process(l.as_bytes(), &mut out);
        }
        out
    };
    let single = run(build(None));
    assert!(!single.is_empty(), "btc_dominance fires on the recording");
    // Two shards where BTCUSDT and ETHUSDT land on different replicas.
    let count = (2..16)
        .find(|&n| shard_of("BTCUSDT", n) != shard_of("ETHUSDT", n))
        .unwrap();
    let mut sharded = Vec::new();
    for index in 0..count {
        let signals = run(build(Some(ShardFilter { count, index })));
        if index != shard_of("BTCUSDT", count) {
            assert!(signals.is_empty(), "only the BTCUSDT owner publishes");
        }
        sharded.extend(signals);
    }
    let key = |s: &strategy_sdk::Signal| (s.symbol.clone(), s.action, s.event_time_ms);
    assert_eq!(
        sharded.iter().map(key).collect::<Vec<_>>(),
        single.iter().map(key).collect::<Vec<_>>(),
        "same signals as one unsharded host"
    );
}
