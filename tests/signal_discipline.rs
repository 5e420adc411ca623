//! Signal discipline at defaults, shown on the bundled recording: rate budgets per strategy and symbol, the
//! minimum interval in event time under replay at any speed and across a configuration change.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::BTreeMap;

use realtime_strategies::evaluate::param_sets::{build_set, ParameterSet};
use realtime_strategies::evaluate::recording::{read_all, Source};
use realtime_strategies::evaluate::run::{evaluate, Limits};
use realtime_strategies::metrics::Metrics;
use realtime_strategies::registry::Registry;
use realtime_strategies::runtime::pipeline::{ParamsHandle, Pipeline, PipelineCommand};
use realtime_strategies::scoring::ScoreSettings;
use serde_json::{json, Map};

const BIN: &str = env!("CARGO_BIN_EXE_realtime-strategies");

/// Documented daily rates of the original (per symbol): spread_liquidity 5–10, iceberg_detector 2–5.
const DOCUMENTED_DAILY_MAX: &[(&str, f64)] =
    &[("spread_liquidity", 10.0), ("iceberg_detector", 5.0)];
/// At most one signal per symbol per minute.
const ONE_PER_MINUTE: &[&str] = &["orderbook_skew", "trade_momentum", "ticker_velocity"];

/// Signal times per (strategy, symbol) at defaults on the bundled recording, every registered strategy.
fn default_signals() -> (BTreeMap<(String, String), Vec<i64>>, f64) {
    let registry = Registry::load().unwrap();
    let sets: Vec<ParameterSet> = registry
        .strategies()
        .iter()
        .map(|s| build_set(s, "default", Map::new()).unwrap())
        .collect();
    let recordings = read_all(&[Source::Bundled]).unwrap();
    let mut times: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    let mut on_signal = |set: &ParameterSet, s: &strategy_sdk::Signal| {
        times
            .entry((set.strategy_id.to_owned(), s.symbol.clone()))
            .or_default()
            .push(s.event_time_ms);
    };
    evaluate(
        &registry,
        sets,
        &recordings,
        ScoreSettings::default(),
        Limits::default(),
        &mut on_signal,
        &|_| {},
    );
    (times, recordings.span_ms() as f64)
}

/// The default minimum interval of a strategy in seconds (its parameter is `min_signal_interval_seconds`, or the
/// original's `min_signal_interval`).
fn default_interval_s(registry: &Registry, id: &str) -> f64 {
    let d = &registry.get(id).unwrap().defaults;
    d.get("min_signal_interval_seconds")
        .or_else(|| d.get("min_signal_interval"))
        .and_then(|v| v.as_f64())
        .unwrap_or_else(|| panic!("{id} has no minimum interval parameter"))
}

/// The budgets: at most 60 signals per hour and symbol for every strategy, one per minute for the three
/// fast ones, and for spread_liquidity and iceberg_detector at most 10× the original's documented daily rate.
/// A day cannot be extrapolated from 345 s of data by counting; it is bounded by the interval instead: a
/// strategy can send at most 86,400 s / interval signals per symbol and day. The recording then shows the
/// interval holds.
#[test]
fn every_strategy_meets_its_rate_budget_at_defaults() {
    let registry = Registry::load().unwrap();
    for s in registry.strategies() {
        let interval = default_interval_s(&registry, s.id());
        assert!(
            interval >= 60.0,
            "{}: {interval} s allows more than 60 signals per hour",
            s.id()
        );
        if let Some((_, daily)) = DOCUMENTED_DAILY_MAX.iter().find(|(id, _)| *id == s.id()) {
            let per_day = 86_400.0 / interval;
            assert!(
                per_day <= 10.0 * daily,
                "{}: a {interval} s interval allows {per_day:.0} signals per day, over 10 × {daily}",
                s.id()
            );
        }
    }
    let (times, span_ms) = default_signals();
    assert!(
        !times.is_empty(),
        "some strategy signals on the bundled recording at defaults"
    );
    for ((strategy, symbol), ts) in &times {
        let interval_ms = default_interval_s(&registry, strategy) * 1000.0;
        let cap = (span_ms / interval_ms).floor() + 1.0;
        assert!(
            ts.len() as f64 <= cap,
            "{strategy}/{symbol}: {} signals in {:.0} s with a {:.0} s interval",
            ts.len(),
            span_ms / 1000.0,
            interval_ms / 1000.0
        );
        for pair in ts.windows(2) {
            assert!(
                (pair[1] - pair[0]) as f64 >= interval_ms,
                "{strategy}/{symbol}: signals {} ms apart",
                pair[1] - pair[0]
            );
        }
        if ONE_PER_MINUTE.contains(&strategy.as_str()) {
            assert!(interval_ms >= 60_000.0);
        }
    }
}

/// The interval holds in event time across a live parameter change: half the recording at the default
/// interval, then a longer one applied through the pipeline's configuration command.
#[test]
fn minimum_interval_holds_across_a_configuration_change() {
    let registry = Registry::load().unwrap();
    let skew = registry.get("orderbook_skew").unwrap();
    let lines = common::recording();
    let mut pipeline = Pipeline::new(
        vec![(skew.descriptor.build)(skew.descriptor)],
        Vec::new(),
        Metrics::new(),
        1 << 20,
        1000,
    );
    let fast = |seconds: f64| {
        let mut doc = skew.defaults.clone();
        doc["min_signal_interval_seconds"] = json!(seconds);
        doc["buy_threshold"] = json!(1.05);
        doc["sell_threshold"] = json!(0.95);
        ParamsHandle(skew.check_complete(&doc).unwrap())
    };
    let command = |seconds| PipelineCommand::Params {
        strategy: "orderbook_skew".into(),
        symbol: None,
        params: Some(fast(seconds)),
    };
    assert_eq!(pipeline.apply(command(20.0)), Some(true));
    let mut out = Vec::new();
    let half = lines.len() / 2;
    let mut before: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut after: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        if i == half {
            assert_eq!(pipeline.apply(command(45.0)), Some(true));
        }
        pipeline.process(line.as_bytes(), &mut out);
        let target = if i < half { &mut before } else { &mut after };
        for s in out.drain(..) {
            target
                .entry(s.symbol.clone())
                .or_default()
                .push(s.event_time_ms);
        }
    }
    let gaps = |m: &BTreeMap<String, Vec<i64>>| -> Vec<i64> {
        m.values()
            .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>())
            .collect()
    };
    assert!(
        !gaps(&before).is_empty() && !gaps(&after).is_empty(),
        "{before:?} {after:?}"
    );
    assert!(
        gaps(&before).iter().all(|g| *g >= 20_000),
        "{:?}",
        gaps(&before)
    );
    assert!(
        gaps(&after).iter().all(|g| *g >= 45_000),
        "{:?}",
        gaps(&after)
    );
    assert!(
        gaps(&before).iter().any(|g| *g < 45_000),
        "the first interval was in force before the change"
    );
    // Across the change too: the first signal after it is at least 45 s after the last one before it.
    for (symbol, t) in &after {
        if let Some(last) = before.get(symbol).and_then(|b| b.last()) {
            assert!(
                t[0] - last >= 45_000,
                "{symbol}: {} ms across the change",
                t[0] - last
            );
        }
    }
}

/// Standalone replay as fast as possible and at 40× speed publishes the same signals (event time, not wall clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_speed_does_not_change_the_signals() {
    let fast = replay_signals("0").await;
    let paced = replay_signals("40").await;
    assert!(!fast.is_empty());
    assert_eq!(fast, paced);
}

async fn replay_signals(speed: &str) -> Vec<String> {
    let mut signals: Vec<String> = common::standalone_replay_signals(BIN, speed, &[])
        .await
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {} {}",
                s["strategy_id"], s["symbol"], s["action"], s["confidence"], s["timestamp"]
            )
        })
        .collect();
    signals.sort();
    signals
}
