//! Issue 13 item 7: live streams are capped (503 beyond `LIVE_MAX_CLIENTS`), the market snapshot is computed once
//! per tick for all clients, and connections that never finish their headers or stay silent are closed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{env_of, metric, settings, TestHost};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn replay_host(extra: &[&str]) -> TestHost {
    let mut args = vec![
        "--replay-speed",
        "1",
        "--replay-loop",
        "true",
        "--signals-to-stdout",
        "false",
    ];
    args.extend_from_slice(extra);
    TestHost::start(settings(&args), env_of(&[])).await
}

/// Reads from a stream until `needle` appears (or panics after `secs`).
async fn read_until(resp: &mut reqwest::Response, needle: &str, secs: u64) -> String {
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !text.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {needle:?} in {text}");
        let chunk = tokio::time::timeout(left, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {text}"))
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test]
async fn live_streams_beyond_the_cap_get_503_and_a_freed_slot_is_reused() {
    let h = replay_host(&["--live-max-clients", "3"]).await;
    let mut open = vec![
        reqwest::get(h.url("/api/v1/stream/market")).await.unwrap(),
        reqwest::get(h.url("/api/v1/stream/signals")).await.unwrap(),
        reqwest::get(h.url("/api/v1/stream/market")).await.unwrap(),
    ];
    for r in &open {
        assert_eq!(r.status().as_u16(), 200);
    }
    for path in ["/api/v1/stream/market", "/api/v1/stream/signals"] {
        let (s, body) = h.get_json(path).await;
        assert_eq!(s, 503, "{path}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "TOO_MANY_CLIENTS");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("LIVE_MAX_CLIENTS"),
            "{body}"
        );
    }
    let (_, text) = h.get_text("/metrics").await;
    assert_eq!(metric(&text, "realtime_live_clients ", ""), 3.0);
    assert_eq!(
        metric(
            &text,
            "realtime_live_clients_rejected_total",
            "stream=\"market\""
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "realtime_live_clients_rejected_total",
            "stream=\"signals\""
        ),
        1.0
    );
    // A client that leaves frees its slot.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = reqwest::get(h.url("/api/v1/stream/market")).await.unwrap();
        if r.status().as_u16() == 200 {
            open.push(r);
            break;
        }
        assert!(Instant::now() < deadline, "slot not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(open);
    h.shutdown().await;
}

#[tokio::test]
async fn one_market_snapshot_per_tick_is_shared_by_all_clients() {
    let h = replay_host(&[]).await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(reqwest::get(h.url("/api/v1/stream/market")).await.unwrap());
    }
    let (_, text) = h.get_text("/metrics").await;
    let before = metric(&text, "realtime_live_market_snapshots_total", "");
    let start = Instant::now();
    // Every client receives snapshots, twice at least.
    for c in &mut clients {
        let text = read_until(c, "event: market", 5).await;
        assert!(text.contains("\"summary\""), "{text}");
    }
    for c in &mut clients {
        read_until(c, "event: market", 5).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let elapsed = start.elapsed().as_secs_f64();
    let (_, text) = h.get_text("/metrics").await;
    let computed = metric(&text, "realtime_live_market_snapshots_total", "") - before;
    eprintln!("{computed} snapshots in {elapsed:.1} s for 8 clients");
    assert!(computed >= 1.0, "no snapshot computed");
    assert!(
        computed <= elapsed.ceil() + 1.0,
        "{computed} snapshots in {elapsed:.1} s: one per client and tick, not one per tick"
    );
    h.shutdown().await;
}

/// True once the server closed the connection (EOF or reset), waiting at most `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = limit.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {} // e.g. a 408 answer before the close
        }
    }
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let h = replay_host(&[
        "--http-header-read-timeout-seconds",
        "1",
        "--http-idle-timeout-seconds",
        "30",
    ])
    .await;
    let addr = h.base.trim_start_matches("http://").to_owned();

    // A partial request line, then silence.
    let mut partial = TcpStream::connect(&addr).await.unwrap();
    partial.write_all(b"GET /healthz HT").await.unwrap();
    let t = closed_within(&mut partial, Duration::from_secs(4)).await;
    let t = t.expect("a connection with a partial request line stays open");
    assert!(t < Duration::from_millis(2500), "closed after {t:?}");

    // Complete headers minus the final blank line, sent slowly.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let t = closed_within(&mut slow, Duration::from_secs(4)).await;
    assert!(
        t.is_some(),
        "a connection with unfinished headers stays open"
    );

    // A kept-alive connection waiting for its next request is closed the same way; the request itself works.
    let mut keep = TcpStream::connect(&addr).await.unwrap();
    keep.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = keep.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = closed_within(&mut keep, Duration::from_secs(4)).await;
    assert!(t.is_some(), "an idle kept-alive connection stays open");

    // The server still answers.
    let (s, _) = h.get_json("/healthz").await;
    assert_eq!(s, 200);
    h.shutdown().await;
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_idle_timeout() {
    let h = replay_host(&[
        "--http-header-read-timeout-seconds",
        "30",
        "--http-idle-timeout-seconds",
        "2",
    ])
    .await;
    let addr = h.base.trim_start_matches("http://").to_owned();
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let t = closed_within(&mut silent, Duration::from_secs(6)).await;
    let t = t.expect("a silent connection stays open");
    assert!(
        t >= Duration::from_millis(1800) && t < Duration::from_millis(4000),
        "closed after {t:?}"
    );
    // Live streams that keep sending (events, or keep-alive comments) are not idle: both still deliver after
    // twice the idle timeout.
    let mut market = reqwest::get(h.url("/api/v1/stream/market")).await.unwrap();
    let mut signals = reqwest::get(h.url("/api/v1/stream/signals")).await.unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(4500) {
        read_until(&mut market, "event: market", 5).await;
    }
    // Whether or not a signal was published meanwhile, keep-alive comments keep the signal stream open: it
    // neither ends nor goes quiet over the next 2 s.
    let check = Instant::now();
    let mut last_chunk = Instant::now();
    while check.elapsed() < Duration::from_secs(2) {
        match tokio::time::timeout(Duration::from_millis(1500), signals.chunk()).await {
            Ok(Ok(Some(_))) => last_chunk = Instant::now(),
            Ok(other) => panic!("the signal stream ended: {other:?}"),
            Err(_) => panic!("the signal stream went quiet"),
        }
    }
    assert!(last_chunk.elapsed() < Duration::from_millis(1500));
    h.shutdown().await;
}
