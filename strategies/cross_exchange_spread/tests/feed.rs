//! The feed against a loopback HTTP server that answers with Coinbase's and Kraken's real response formats.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strategy_cross_exchange_spread::feed::run_feed;
use strategy_cross_exchange_spread::quotes::wall_clock_ms;
use strategy_cross_exchange_spread::{
    BackoffPolicy, CrossExchangeSpreadParams, Exchange, FeedConfig, SharedQuotes,
};
use strategy_sdk::testing::loopback::{serve, wait_for};
use strategy_sdk::DataStatus;
use tokio::sync::watch;

const COINBASE_BTC: &str = r#"{"ask":"60010.01","bid":"60010","volume":"8421.14958403","trade_id":686212112,"price":"60010.02","size":"0.00090000","time":"2024-08-08T23:54:15.408295Z","rfq_volume":"112.390261"}"#;
const COINBASE_ETH: &str = r#"{"ask":"2690.11","bid":"2690.1","volume":"140321.5","trade_id":529112443,"price":"2690.12","size":"0.1","time":"2024-08-08T23:54:15.1Z"}"#;
const KRAKEN_BTC: &str = r#"{"error":[],"result":{"XXBTZUSD":{"a":["60012.40000","1","1.000"],"b":["60012.30000","3","3.000"],"c":["60012.40000","0.00080000"],"v":["1200.12345678","2800.87654321"],"p":["59900.12345","59800.54321"],"t":[20000,40000],"l":["59000.00000","58000.00000"],"h":["61000.00000","61500.00000"],"o":"59500.00000"}}}"#;
const KRAKEN_ETH: &str = r#"{"error":[],"result":{"XETHZUSD":{"a":["2689.90000","5","5.000"],"b":["2689.80000","2","2.000"],"c":["2689.95000","0.01000000"],"v":["9000.1","21000.2"],"p":["2680.1","2670.2"],"t":[9000,21000],"l":["2600.00000","2590.00000"],"h":["2700.00000","2710.00000"],"o":"2650.00000"}}}"#;
const COINBASE_USDT: &str = r#"{"ask":"0.99910","bid":"0.99900","volume":"91234567.1","trade_id":12345678,"price":"0.99900","size":"100.0","time":"2024-08-08T23:54:15.2Z"}"#;
const KRAKEN_USDT: &str = r#"{"error":[],"result":{"USDTZUSD":{"a":["1.00030000","1000","1000.000"],"b":["1.00010000","2000","2000.000"],"c":["1.00020000","50.00000000"],"v":["1000000.1","2000000.2"],"p":["1.0001","1.0001"],"t":[900,2100],"l":["0.99980000","0.99970000"],"h":["1.00050000","1.00060000"],"o":"1.00000000"}}}"#;

fn real_formats(target: &str) -> (u16, String, Duration) {
    let body = match target {
        "/products/BTC-USD/ticker" => COINBASE_BTC,
        "/products/ETH-USD/ticker" => COINBASE_ETH,
        "/0/public/Ticker?pair=XBTUSD" => KRAKEN_BTC,
        "/0/public/Ticker?pair=ETHUSD" => KRAKEN_ETH,
        "/products/USDT-USD/ticker" => COINBASE_USDT,
        "/0/public/Ticker?pair=USDTUSD" => KRAKEN_USDT,
        _ => return (404, r#"{"message":"NotFound"}"#.into(), Duration::ZERO),
    };
    (200, body.into(), Duration::ZERO)
}

fn config(addr: SocketAddr, symbols: &[&str]) -> FeedConfig {
    FeedConfig {
        coinbase_base_url: format!("http://{addr}"),
        kraken_base_url: format!("http://{addr}"),
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
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
    quotes: SharedQuotes,
    params: watch::Sender<Arc<CrossExchangeSpreadParams>>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

fn start(config: FeedConfig, exchanges: Vec<Exchange>) -> Running {
    let quotes = SharedQuotes::default();
    let (params, params_rx) = watch::channel(Arc::new(CrossExchangeSpreadParams {
        exchanges,
        ..Default::default()
    }));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(run_feed(config, quotes.clone(), params_rx, shutdown_rx));
    Running {
        quotes,
        params,
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
async fn feed_fills_quotes_from_the_real_formats() {
    let (addr, hits) = serve(Arc::new(real_formats)).await;
    let all = vec![Exchange::Binance, Exchange::Coinbase, Exchange::Kraken];
    let run = start(config(addr, &["BTCUSDT", "ETHUSDT"]), all);
    let q = run.quotes.clone();
    wait_for(
        "four quotes and two USDT/USD rates",
        Duration::from_secs(5),
        || {
            [Exchange::Coinbase, Exchange::Kraken].iter().all(|e| {
                q.get(*e, "BTCUSDT").is_some()
                    && q.get(*e, "ETHUSDT").is_some()
                    && q.get(*e, "USDTUSD").is_some()
            })
        },
    )
    .await;
    // the USDT/USD rate is fetched through the same feed: Coinbase USDT-USD, Kraken USDTUSD
    assert_eq!(q.get(Exchange::Coinbase, "USDTUSD").unwrap().price, 0.999);
    assert_eq!(q.get(Exchange::Kraken, "USDTUSD").unwrap().price, 1.0002);
    assert_eq!(
        q.get(Exchange::Coinbase, "BTCUSDT").unwrap().price,
        60010.02
    );
    assert_eq!(q.get(Exchange::Coinbase, "ETHUSDT").unwrap().price, 2690.12);
    assert_eq!(q.get(Exchange::Kraken, "BTCUSDT").unwrap().price, 60012.4);
    assert_eq!(q.get(Exchange::Kraken, "ETHUSDT").unwrap().price, 2689.95);
    let fetched = q.get(Exchange::Kraken, "BTCUSDT").unwrap().fetched_at_ms;
    assert!(
        (wall_clock_ms() - fetched).abs() < 10_000,
        "fetch time is wall clock"
    );
    assert_eq!(q.status_at(wall_clock_ms()), DataStatus::Ready);
    // the spread reading works on what the feed stored
    let r = q
        .read_spread(
            "BTCUSDT",
            59_700.0,
            wall_clock_ms(),
            &[Exchange::Binance, Exchange::Coinbase, Exchange::Kraken],
        )
        .unwrap();
    assert_eq!(r.low, (Exchange::Binance, 59_700.0));
    // the USD prices in USDT: Coinbase 60010.02 / 0.999 = 60070.09 is now dearer than Kraken 60012.4 / 1.0002
    assert_eq!(r.high.0, Exchange::Coinbase);
    assert!((r.high.1 - 60010.02 / 0.999).abs() < 1e-6, "{:?}", r.high);
    assert!((r.quote_usd_rate.unwrap() - (0.999 + 1.0002) / 2.0).abs() < 1e-12);
    // healthy sources are polled again at the poll interval
    wait_for("a second round", Duration::from_secs(5), || {
        hits.of("/products/BTC-USD/ticker").len() >= 2
    })
    .await;
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_then_circuit_breaker_then_recovery() {
    let healthy = Arc::new(Mutex::new(false));
    let flag = healthy.clone();
    let (addr, hits) = serve(Arc::new(move |target: &str| {
        if *flag.lock().unwrap() {
            real_formats(target)
        } else {
            (
                503,
                r#"{"message":"service unavailable"}"#.into(),
                Duration::ZERO,
            )
        }
    }))
    .await;
    let run = start(
        config(addr, &["BTCUSDT"]),
        vec![Exchange::Binance, Exchange::Coinbase],
    );
    let q = run.quotes.clone();
    wait_for("three failures", Duration::from_secs(5), || {
        hits.of("/products/BTC-USD").len() >= 3
    })
    .await;
    // (the USDT-USD rate is a source of its own, with its own backoff)
    let t = hits.of("/products/BTC-USD");
    // exponential backoff: 100 ms, then 200 ms
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
    wait_for("the breaker state", Duration::from_secs(2), || {
        q.last_error(Exchange::Coinbase, "BTCUSDT")
            .is_some_and(|(_, open)| open)
    })
    .await;
    let (error, _) = q.last_error(Exchange::Coinbase, "BTCUSDT").unwrap();
    assert_eq!(error, "HTTP status 503");
    let DataStatus::NoData(reason) = q.status_at(wall_clock_ms()) else {
        panic!("expected NoData");
    };
    assert!(reason.contains("circuit open"), "{reason}");
    // the circuit is open: no request for the cooldown (1.5 s)
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        hits.of("/products/BTC-USD").len(),
        3,
        "no request while open"
    );
    assert!(hits.of("/0/public").is_empty(), "kraken is not in use");
    // the exchange recovers: the half-open trial succeeds and closes the circuit
    *healthy.lock().unwrap() = true;
    wait_for("recovery", Duration::from_secs(5), || {
        q.get(Exchange::Coinbase, "BTCUSDT").is_some()
    })
    .await;
    let t = hits.of("/products/BTC-USD");
    assert!(
        t[3] - t[2] >= Duration::from_millis(1400),
        "cooldown respected: {:?}",
        t[3] - t[2]
    );
    assert_eq!(q.last_error(Exchange::Coinbase, "BTCUSDT"), None);
    assert_eq!(q.status_at(wall_clock_ms()), DataStatus::Ready);
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_exchange_times_out_and_bad_bodies_are_failures() {
    let (addr, _hits) = serve(Arc::new(|target: &str| {
        if target.starts_with("/products/") {
            (200, COINBASE_BTC.into(), Duration::from_secs(3))
        } else {
            (
                200,
                r#"{"error":["EQuery:Unknown asset pair"]}"#.into(),
                Duration::ZERO,
            )
        }
    }))
    .await;
    let run = start(
        config(addr, &["BTCUSDT"]),
        vec![Exchange::Binance, Exchange::Coinbase, Exchange::Kraken],
    );
    let q = run.quotes.clone();
    let started = Instant::now();
    wait_for("the timeout", Duration::from_secs(2), || {
        q.last_error(Exchange::Coinbase, "BTCUSDT").is_some()
    })
    .await;
    assert!(started.elapsed() < Duration::from_millis(1500));
    let (e, _) = q.last_error(Exchange::Coinbase, "BTCUSDT").unwrap();
    assert!(e.starts_with("request failed"), "{e}");
    wait_for("the kraken error", Duration::from_secs(2), || {
        q.last_error(Exchange::Kraken, "BTCUSDT").is_some()
    })
    .await;
    let (e, _) = q.last_error(Exchange::Kraken, "BTCUSDT").unwrap();
    assert!(e.contains("Unknown asset pair"), "{e}");
    assert!(q.get(Exchange::Coinbase, "BTCUSDT").is_none());
    assert!(matches!(
        q.status_at(wall_clock_ms()),
        DataStatus::NoData(_)
    ));
    // shutdown interrupts an in-flight slow request
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_a_failure_not_a_quote() {
    // A real Kraken answer padded past the 64 KB cap (JSON allows the whitespace): it would parse, so only the cap
    // refuses it.
    let oversized = format!("{KRAKEN_BTC}{}", " ".repeat(70_000));
    let size = oversized.len();
    let (addr, _hits) = serve(Arc::new(move |target: &str| {
        if target.starts_with("/0/public/Ticker") {
            (200, oversized.clone(), Duration::ZERO)
        } else {
            real_formats(target)
        }
    }))
    .await;
    let run = start(
        config(addr, &["BTCUSDT"]),
        vec![Exchange::Binance, Exchange::Kraken],
    );
    let q = run.quotes.clone();
    wait_for("the kraken failure", Duration::from_secs(2), || {
        q.last_error(Exchange::Kraken, "BTCUSDT").is_some()
    })
    .await;
    let (e, _) = q.last_error(Exchange::Kraken, "BTCUSDT").unwrap();
    assert_eq!(e, format!("unexpected response: body of {size} bytes"));
    assert!(q.get(Exchange::Kraken, "BTCUSDT").is_none());
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_changes_choose_the_polled_exchanges() {
    let (addr, hits) = serve(Arc::new(real_formats)).await;
    let run = start(
        config(addr, &["BTCUSDT"]),
        vec![Exchange::Binance, Exchange::Coinbase],
    );
    let q = run.quotes.clone();
    wait_for("coinbase", Duration::from_secs(5), || {
        q.get(Exchange::Coinbase, "BTCUSDT").is_some()
    })
    .await;
    assert!(hits.of("/0/public").is_empty());
    run.params.send_replace(Arc::new(CrossExchangeSpreadParams {
        exchanges: vec![Exchange::Binance, Exchange::Kraken],
        ..Default::default()
    }));
    wait_for("kraken", Duration::from_secs(5), || {
        q.get(Exchange::Kraken, "BTCUSDT").is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let coinbase_hits = hits.of("/products/").len();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        hits.of("/products/").len(),
        coinbase_hits,
        "coinbase no longer polled"
    );
    run.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_ends_when_the_shutdown_sender_is_dropped() {
    let (addr, _hits) = serve(Arc::new(real_formats)).await;
    let run = start(
        config(addr, &["BTCUSDT"]),
        vec![Exchange::Binance, Exchange::Coinbase],
    );
    drop(run.params);
    drop(run.shutdown);
    tokio::time::timeout(Duration::from_secs(2), run.task)
        .await
        .expect("feed stops")
        .unwrap();
}
