//! The live scorecard: a host replaying the bundled recording scores its own published signals with the same
//! scorer as `evaluate`, serves them on the performance endpoint and exports them to Prometheus.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use common::{env_of, settings, TestHost};
use realtime_strategies::cli::{Cli, Command};
use realtime_strategies::evaluate::{self, run::Limits};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_scorecard_matches_evaluate_on_the_same_data() {
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
    let total = common::recording().len() as f64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.processed().await < total {
        assert!(Instant::now() < deadline, "replay did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (status, body) = h
        .get_json("/api/v1/strategies/orderbook_skew/performance?window=24h")
        .await;
    assert_eq!(status, 200, "{body}");
    let live = &body["data"];
    assert_eq!(live["symbol"], "*");
    assert_eq!(
        live["settings"]["horizons_s"],
        serde_json::json!([1.0, 10.0, 60.0, 300.0])
    );
    let live_300 = live["horizons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["horizon_s"] == 300.0)
        .unwrap()
        .clone();

    // evaluate on the same data: the live history holds the signals whose every horizon is scored, i.e.
    // exactly those evaluate scores at the longest horizon.
    let args = match Cli::try_parse_from([
        "realtime-strategies",
        "evaluate",
        "--strategy",
        "orderbook_skew",
    ])
    .unwrap()
    .command
    {
        Some(Command::Evaluate(a)) => a,
        _ => unreachable!(),
    };
    let report = evaluate::execute(&args, Limits::default(), &|_| None)
        .unwrap()
        .report;
    let offline = report
        .results
        .iter()
        .find(|r| r.symbol == "*" && r.horizon_s == 300.0)
        .unwrap();
    assert!(
        offline.stats.n > 0,
        "the recording scores some signals at 300 s"
    );
    assert_eq!(live_300["n"], offline.stats.n);
    // Calibration per confidence decile covers every signal scored at the curve's horizon (60 s).
    let live_60 = live["horizons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["horizon_s"] == 60.0)
        .unwrap();
    let calibrated: u64 = live["calibration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["n"].as_u64().unwrap())
        .sum();
    assert_eq!(calibrated, live_60["n"].as_u64().unwrap());
    assert_eq!(live["curve_horizon_s"], 60.0);
    assert_eq!(
        live["cumulative_net_bps"].as_array().unwrap().len() as u64,
        live_60["n"].as_u64().unwrap().min(240)
    );
    let live_gross = live_300["mean_gross_bps"].as_f64().unwrap();
    let offline_gross = offline.stats.mean_gross_bps.unwrap();
    assert!(
        (live_gross - offline_gross).abs() < 1e-3,
        "{live_gross} vs {offline_gross}"
    );
    assert!(
        live["by_symbol"]
            .as_object()
            .unwrap()
            .contains_key("BTCUSDT")
            || live["by_symbol"]
                .as_object()
                .unwrap()
                .contains_key("ETHUSDT")
    );

    // Prometheus: one observation per scored signal and horizon.
    let (_, text) = h.get_text("/metrics").await;
    let count = common::metric(
        &text,
        "realtime_signal_return_bps_count",
        "horizon=\"300s\",strategy_id=\"orderbook_skew\"",
    );
    assert!(count >= offline.stats.n as f64, "{count}");
    assert!(
        common::metric(
            &text,
            "realtime_signal_outcomes_total",
            "outcome=\"scored\""
        ) >= count
    );

    // One symbol; bad input answers 422 naming the field; unknown strategies 404.
    let (status, body) = h
        .get_json("/api/v1/strategies/orderbook_skew/performance?window=24h&symbol=btcusdt")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["symbol"], "BTCUSDT");
    let (status, body) = h
        .get_json("/api/v1/strategies/orderbook_skew/performance?window=soon")
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("/window"), "{body}");
    let (status, _) = h.get_json("/api/v1/strategies/nope/performance").await;
    assert_eq!(status, 404);
    h.shutdown().await;
}
