//! The feed against a loopback HTTP server that answers with blockchain.info's real charts API format.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strategy_onchain_metrics::feed::run_feed;
use strategy_onchain_metrics::metrics::wall_clock_ms;
use strategy_onchain_metrics::{
    BackoffPolicy, FeedConfig, Metric, OnchainMetricsParams, SharedMetrics,
};
use strategy_sdk::testing::loopback::{serve, wait_for, Reply};
use strategy_sdk::DataStatus;
use tokio::sync::watch;

/// A charts API body in blockchain.info's format: `days` daily points ending `days_ago` days before today (UTC).
fn chart_body(name: &str, unit: &str, base: f64, days: i64, days_ago: i64) -> String {
    let today = wall_clock_ms() / 1000 / 86_400 * 86_400;
    let values: Vec<String> = (0..days)
        .map(|i| {
            let x = today - (days_ago + days - 1 - i) * 86_400;
            let y = base * (1.0 + 0.001 * (i % 7) as f64);
            format!(r#"{{"x":{x},"y":{y}}}"#)
        })
        .collect();
    format!(
        r#"{{"status":"ok","name":"{name}","unit":"{unit}","period":"day","description":"{name} per day.","values":[{}]}}"#,
        values.join(",")
    )
}

fn charts(days_ago: i64) -> impl Fn(&str) -> Reply + Send + Sync {
    move |target: &str| {
        let path = target.split('?').next().unwrap_or("");
        let query_ok = target.ends_with("?timespan=90days&format=json");
        let (status, body) = match path {
            "/charts/n-unique-addresses" if query_ok => (
                200,
                chart_body(
                    "Unique Addresses Used",
                    "Addresses",
                    700_000.0,
                    90,
                    days_ago,
                ),
            ),
            "/charts/estimated-transaction-volume" if query_ok => (
                200,
                chart_body(
                    "Estimated Transaction Value (BTC)",
                    "Bitcoin",
                    400_000.0,
                    90,
                    days_ago,
                ),
            ),
            "/charts/hash-rate" if query_ok => (
                200,
                chart_body(
                    "Total Hash Rate (TH/s)",
                    "Hash Rate TH/s",
                    6.1e8,
                    90,
                    days_ago,
                ),
            ),
            _ => (404, r#"{"error":"not found"}"#.into()),
        };
        (status, body, Duration::ZERO)
    }
}

fn config(addr: SocketAddr) -> FeedConfig {
    FeedConfig {
        base_url: format!("http://{addr}"),
        poll_interval: Duration::from_millis(100),
        request_timeout: Duration::from_millis(500),
        backoff: BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_millis(1500),
        },
    }
}

struct Running {
    metrics: SharedMetrics,
    _params: watch::Sender<Arc<OnchainMetricsParams>>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(config: FeedConfig) -> Running {
    let metrics = SharedMetrics::default();
    let (params, params_rx) = watch::channel(Arc::new(OnchainMetricsParams::default()));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run_feed(config, metrics.clone(), params_rx, shutdown_rx));
    Running {
        metrics,
        _params: params,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.send_replace(true);
        tokio::time::timeout(Duration::from_secs(2), self.task)
            .await
            .expect("feed stops promptly on shutdown")
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_fills_the_three_series_from_the_real_format() {
    let (addr, hits) = serve(Arc::new(charts(1))).await;
    let run = start(config(addr));
    let m = run.metrics.clone();
    wait_for("three series", Duration::from_secs(5), || {
        Metric::ALL.iter().all(|x| m.series(*x).is_some())
    })
    .await;
    let s = m.series(Metric::UniqueAddresses).unwrap();
    assert_eq!(s.values.len(), 90);
    assert_eq!(s.values[0], 700_000.0);
    let today_ms = wall_clock_ms() / 86_400_000 * 86_400_000;
    assert_eq!(s.last_point_ms, today_ms - 86_400_000);
    assert!((wall_clock_ms() - s.fetched_at_ms).abs() < 10_000);
    assert_eq!(m.series(Metric::HashRate).unwrap().values[0], 6.1e8);
    assert_eq!(m.status_at(wall_clock_ms()), DataStatus::Ready);
    let g = m.growth(wall_clock_ms(), 24).unwrap();
    assert!(g.addresses.is_finite() && g.volume.is_finite() && g.hash_rate.is_finite());
    for chart in [
        "n-unique-addresses",
        "estimated-transaction-volume",
        "hash-rate",
    ] {
        assert!(!hits.of(&format!("/charts/{chart}?")).is_empty(), "{chart}");
    }
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_data_is_stored_but_reported_stale() {
    let (addr, _hits) = serve(Arc::new(charts(10))).await;
    let run = start(config(addr));
    let m = run.metrics.clone();
    wait_for("three series", Duration::from_secs(5), || {
        Metric::ALL.iter().all(|x| m.series(*x).is_some())
    })
    .await;
    assert_eq!(m.growth(wall_clock_ms(), 24), None);
    let DataStatus::NoData(reason) = m.status_at(wall_clock_ms()) else {
        panic!("expected NoData");
    };
    assert!(reason.contains("n-unique-addresses: stale"), "{reason}");
    let hours = (wall_clock_ms() % 86_400_000) / 3_600_000 + 240;
    assert!(
        reason.contains(&format!("newest point {hours} h old")),
        "{reason}"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_then_circuit_breaker_then_recovery() {
    let healthy = Arc::new(Mutex::new(false));
    let flag = healthy.clone();
    let good = charts(0);
    let (addr, hits) = serve(Arc::new(move |target: &str| {
        if *flag.lock().unwrap() {
            good(target)
        } else {
            (500, "Internal Server Error".into(), Duration::ZERO)
        }
    }))
    .await;
    let run = start(config(addr));
    let m = run.metrics.clone();
    let prefix = "/charts/hash-rate";
    wait_for("three failures", Duration::from_secs(5), || {
        hits.of(prefix).len() >= 3
    })
    .await;
    let t = hits.of(prefix);
    assert!(
        t[1] - t[0] >= Duration::from_millis(95),
        "{:?}",
        t[1] - t[0]
    );
    assert!(
        t[2] - t[1] >= Duration::from_millis(195),
        "{:?}",
        t[2] - t[1]
    );
    wait_for("the open circuit", Duration::from_secs(2), || {
        m.last_error(Metric::HashRate).is_some_and(|(_, open)| open)
    })
    .await;
    assert_eq!(m.last_error(Metric::HashRate).unwrap().0, "HTTP status 500");
    let DataStatus::NoData(reason) = m.status_at(wall_clock_ms()) else {
        panic!("expected NoData");
    };
    assert!(reason.contains("hash-rate: circuit open"), "{reason}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        hits.of(prefix).len(),
        3,
        "no request while the circuit is open"
    );
    *healthy.lock().unwrap() = true;
    wait_for("recovery", Duration::from_secs(5), || {
        Metric::ALL.iter().all(|x| m.series(*x).is_some())
    })
    .await;
    let t = hits.of(prefix);
    assert!(
        t[3] - t[2] >= Duration::from_millis(1400),
        "{:?}",
        t[3] - t[2]
    );
    assert_eq!(m.status_at(wall_clock_ms()), DataStatus::Ready);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_is_a_failure_not_a_hang() {
    // a port nobody listens on (bound then dropped)
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let run = start(config(addr));
    let m = run.metrics.clone();
    wait_for("a recorded failure", Duration::from_secs(3), || {
        m.last_error(Metric::UniqueAddresses).is_some()
    })
    .await;
    assert!(m
        .last_error(Metric::UniqueAddresses)
        .unwrap()
        .0
        .starts_with("request failed"));
    assert!(matches!(
        m.status_at(wall_clock_ms()),
        DataStatus::NoData(_)
    ));
    run.stop().await;
}
