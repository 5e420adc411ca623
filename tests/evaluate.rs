//! `evaluate` and `record` end to end: planted and random strategies on generated recordings, the bundled
//! recording against standalone replay, determinism, grids, bad inputs, characterization artifacts, and a
//! recording written from a real nats-server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use realtime_strategies::cli::{Cli, Command as CliCommand};
use realtime_strategies::evaluate::{self, run::Limits, EvaluateArgs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strategy_sdk::{
    register_strategy, Action, EventContext, MarketEvent, Signal, SignalSink, Strategy,
    StrategyParams, StreamKind,
};

const BIN: &str = env!("CARGO_BIN_EXE_realtime-strategies");

// ---- test-only strategies -------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct NoParams {}
impl StrategyParams for NoParams {}

/// Buys when the best bid's quantity is 7 and sells when it is 3: the generator plants those books one second
/// before a scripted 20 bps move in that direction.
struct PlantedEdge;
impl Strategy for PlantedEdge {
    type Params = NoParams;
    type SymbolState = ();
    const ID: &'static str = "test_planted_edge";
    const NAME: &'static str = "Test planted edge";
    const DESCRIPTION: &'static str = "Signals on planted books before scripted moves";
    const CATEGORY: &'static str = "microstructure";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];
    const ENABLED_BY_DEFAULT: bool = false;
    fn create() -> Self {
        Self
    }
    fn min_signal_interval_ms(_: &Self::Params) -> i64 {
        0
    }
    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        _: &NoParams,
        _: &mut (),
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        let (Some(bid), Some(mid)) = (book.best_bid(), book.mid()) else {
            return;
        };
        let action = match bid.qty {
            7.0 => Action::Buy,
            3.0 => Action::Sell,
            _ => return,
        };
        sink.emit(Signal::new(Self::ID, Self::NAME, ctx, action, 0.9, mid));
    }
}
register_strategy!(PlantedEdge);

/// Signals every 10th book with a pseudo-random direction and confidence.
struct RandomDirection;
impl Strategy for RandomDirection {
    type Params = NoParams;
    type SymbolState = u64;
    const ID: &'static str = "test_random_direction";
    const NAME: &'static str = "Test random direction";
    const DESCRIPTION: &'static str = "Coin flips";
    const CATEGORY: &'static str = "microstructure";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];
    const ENABLED_BY_DEFAULT: bool = false;
    fn create() -> Self {
        Self
    }
    fn min_signal_interval_ms(_: &Self::Params) -> i64 {
        0
    }
    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        _: &NoParams,
        count: &mut u64,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        *count += 1;
        if !count.is_multiple_of(10) {
            return;
        }
        let Some(mid) = book.mid() else { return };
        let h = splitmix(*count ^ 0x5eed);
        let action = if h & 1 == 0 {
            Action::Buy
        } else {
            Action::Sell
        };
        let confidence = (h >> 11) as f64 / (1u64 << 53) as f64;
        sink.emit(Signal::new(
            Self::ID,
            Self::NAME,
            ctx,
            action,
            confidence,
            mid,
        ));
    }
}
register_strategy!(RandomDirection);

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

// ---- generated recordings ---------------------------------------------------------------------------------------

const T0: i64 = 1_723_161_600_000; // 2024-08-09T00:00:00Z

fn depth_line(symbol: &str, t: i64, mid: f64, bid_qty: f64) -> String {
    let half_spread = mid * 0.5e-4; // 1 bps spread
    format!(
        r#"{{"stream":"{}@depth20@100ms","data":{{"lastUpdateId":{t},"bids":[["{:.4}","{bid_qty}"],["{:.4}","5.0"]],"asks":[["{:.4}","5.0"],["{:.4}","5.0"]]}},"timestamp":"{}","message_id":"m{t}","source":"binance-websocket","version":"1.0"}}"#,
        symbol.to_ascii_lowercase(),
        mid - half_spread,
        mid - 3.0 * half_spread,
        mid + half_spread,
        mid + 3.0 * half_spread,
        strategy_sdk::decode::format_timestamp_ms(t)
    )
}

/// One hour of books every 500 ms. PLANTUSDT: every 20 s a planted book, then 1 s later a 20 bps jump in its
/// direction; small noise otherwise. RANDUSDT: a random walk of up to ±10 bps per book. The last planted book comes
/// 2 s before the end, so its longer horizons stay unscored.
fn generated_recording(path: &Path) -> usize {
    let mut lines = Vec::new();
    let (mut plant, mut rand) = (100.0_f64, 100.0_f64);
    let mut pending_jump: Option<(i64, f64)> = None;
    let mut seed = 42u64;
    let end = T0 + 3_600_000;
    let mut t = T0;
    while t < end {
        seed = splitmix(seed);
        let noise = ((seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e-4; // ±0.5 bps
        plant *= 1.0 + noise;
        if let Some((at, dir)) = pending_jump {
            if t >= at {
                plant *= 1.0 + dir * 20e-4;
                pending_jump = None;
            }
        }
        let since = t - T0;
        let planted = since % 20_000 == 10_000 || t == end - 2_000;
        let qty = if planted {
            let up = splitmix(seed) & 1 == 0;
            pending_jump = Some((t + 1_000, if up { 1.0 } else { -1.0 }));
            if up {
                7.0
            } else {
                3.0
            }
        } else {
            5.0
        };
        lines.push(depth_line("PLANTUSDT", t, plant, qty));
        // Uniform steps of up to ±10 bps: large against the 1 bps spread, so a coin flip wins about half the time.
        let step = ((splitmix(seed ^ 7) >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 20e-4;
        rand *= 1.0 + step;
        lines.push(depth_line("RANDUSDT", t, rand, 5.0));
        t += 500;
    }
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    lines.len()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rs-evaluate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn args(extra: &[&str]) -> EvaluateArgs {
    let mut all = vec!["realtime-strategies", "evaluate"];
    all.extend_from_slice(extra);
    match Cli::try_parse_from(all).unwrap().command {
        Some(CliCommand::Evaluate(a)) => a,
        other => panic!("not evaluate: {other:?}"),
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn row<'a>(
    report: &'a evaluate::report::Report,
    strategy: &str,
    symbol: &str,
    horizon_s: f64,
) -> &'a evaluate::report::ResultRow {
    report
        .results
        .iter()
        .find(|r| r.strategy_id == strategy && r.symbol == symbol && r.horizon_s == horizon_s)
        .unwrap_or_else(|| panic!("no row {strategy} {symbol} {horizon_s}"))
}

// ---- tests --------------------------------------------------------------------------------------------------------

#[test]
fn planted_edge_is_recovered_and_coin_flips_pay_the_fees() {
    let path = temp_path("generated.jsonl");
    generated_recording(&path);
    let p = path.display().to_string();
    let a = args(&[
        &p,
        "--strategy",
        "test_planted_edge",
        "--strategy",
        "test_random_direction",
        "--horizons",
        "10s,60s",
    ]);
    let out = evaluate::execute(&a, Limits::default(), &no_env).unwrap();
    let r = &out.report;

    // 180 planted books in the hour (every 20 s) plus one 2 s before the end.
    let edge = row(r, "test_planted_edge", "PLANTUSDT", 10.0);
    assert_eq!(edge.stats.n + edge.stats.unscored, 181);
    // The planted books 10 s and 2 s before the end: their 10 s exits would fall after the last book.
    assert_eq!(
        edge.stats.unscored, 2,
        "signals whose exit is past the data stay unscored"
    );
    let gross = edge.stats.mean_gross_bps.unwrap();
    // A 20 bps move, entered at the ask and left at the bid (1 bps spread), with ±0.5 bps noise per book.
    assert!((17.0..=21.0).contains(&gross), "planted edge {gross} bps");
    assert!(edge.stats.hit_rate.unwrap() > 0.95);
    assert!((edge.stats.mean_net_bps.unwrap() - (gross - 20.0)).abs() < 1e-3);
    assert!(!edge.stats.insufficient_sample);
    assert_eq!(edge.price_source, "book");

    let coin = row(r, "test_random_direction", "RANDUSDT", 10.0);
    let hit = coin.stats.hit_rate.unwrap();
    let net = coin.stats.mean_net_bps.unwrap();
    assert!(coin.stats.n > 600, "n = {}", coin.stats.n);
    assert!((0.42..=0.58).contains(&hit), "coin flips hit {hit}");
    // −2 × fee, and the 1 bps spread paid on every round trip.
    assert!((-24.0..=-18.0).contains(&net), "coin flips net {net}");
    let [lo, hi] = coin.stats.ci95_net_bps.unwrap();
    assert!(lo < net && net < hi && hi - lo < 10.0, "[{lo}, {hi}]");
    assert!(
        coin.stats.ic.unwrap().abs() < 0.15,
        "confidence of coin flips carries no information"
    );
    assert!(coin.stats.non_overlapping.n < coin.stats.n);
}

#[test]
fn same_inputs_give_byte_identical_json_and_a_three_by_two_grid_gives_six_sets() {
    let a = args(&[
        "--strategy",
        "orderbook_skew",
        "--grid",
        "orderbook_skew.buy_threshold=1.5,2.0,3.0",
        "--grid",
        "orderbook_skew.top_levels=5,10",
        "--horizons",
        "10s,60s",
    ]);
    let first = evaluate::to_json(
        &evaluate::execute(&a, Limits::default(), &no_env)
            .unwrap()
            .report,
    );
    let second = evaluate::to_json(
        &evaluate::execute(&a, Limits::default(), &no_env)
            .unwrap()
            .report,
    );
    assert_eq!(first, second);
    let doc: Value = serde_json::from_str(&first).unwrap();
    let sets: std::collections::BTreeSet<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["parameter_set"].as_str().unwrap())
        .collect();
    assert_eq!(sets.len(), 7, "default + 3 × 2 grid points: {sets:?}");
    assert!(sets.contains("default"));
    assert!(sets.contains("buy_threshold=2.0,top_levels=10"));
    assert_eq!(
        doc["settings"]["horizons_s"],
        serde_json::json!([10.0, 60.0])
    );
    assert_eq!(doc["recordings"][0]["messages"], 23_381);
    for key in [
        "n",
        "unscored",
        "signals_per_hour",
        "hit_rate",
        "mean_gross_bps",
        "mean_net_bps",
        "median_net_bps",
        "ci95_net_bps",
        "non_overlapping",
        "ic",
        "bracket",
        "max_drawdown_bps",
        "insufficient_sample",
        "strategy_id",
        "parameter_set",
        "parameters",
        "symbol",
        "horizon_s",
    ] {
        assert!(
            doc["results"][0].get(key).is_some(),
            "result rows carry {key}"
        );
    }
    assert!(!doc["calibration"].as_array().unwrap().is_empty());
}

#[test]
fn characterization_validates_against_the_data_manager_model() {
    let out_path = temp_path("characterization.json");
    let a = args(&[
        "--strategy",
        "orderbook_skew",
        "--grid",
        "orderbook_skew.buy_threshold=1.5,2.0",
        "--characterization",
        out_path.to_str().unwrap(),
        "--out",
        temp_path("characterization-report.txt").to_str().unwrap(),
    ]);
    evaluate::command(&a, Limits::default(), &no_env).unwrap();
    let docs: Value = serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("schemas/characterization.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let docs = docs.as_array().unwrap();
    assert_eq!(docs.len(), 1);
    let doc = &docs[0];
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let registry = realtime_strategies::registry::Registry::load().unwrap();
    let skew = registry.get("orderbook_skew").unwrap();
    assert_eq!(
        doc["strategy_revision_id"],
        realtime_strategies::revision::strategy_revision_id(skew)
    );
    assert_eq!(doc["metrics"]["horizon_s"], 60.0);
    assert_eq!(
        doc["param_sensitivities"]["by_parameter"]["buy_threshold"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // A characterization of the same inputs is the same, byte for byte.
    let again = temp_path("characterization-2.json");
    let b = args(&[
        "--strategy",
        "orderbook_skew",
        "--grid",
        "orderbook_skew.buy_threshold=1.5,2.0",
        "--characterization",
        again.to_str().unwrap(),
        "--out",
        temp_path("characterization-report-2.txt").to_str().unwrap(),
    ]);
    evaluate::command(&b, Limits::default(), &no_env).unwrap();
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("evaluate")
        .args(args)
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_inputs_exit_non_zero_with_one_line_naming_the_culprit() {
    let empty = temp_path("empty.jsonl");
    std::fs::write(&empty, "not json\n{\"stream\":\"x@trade\"}\n").unwrap();
    let params = temp_path("params.json");
    std::fs::write(
        &params,
        r#"{"orderbook_skew": {"wide": {"top_levels": 0}}}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["/nonexistent/rec.jsonl".into()],
            "/nonexistent/rec.jsonl",
        ),
        (vec![empty.display().to_string()], "no usable message"),
        (
            vec!["--strategy".into(), "no_such_strategy".into()],
            "no_such_strategy",
        ),
        (
            vec!["--grid".into(), "orderbook_skew.no_such_param=1".into()],
            "no_such_param",
        ),
        (
            vec!["--grid".into(), "orderbook_skew.buy_threshold=-5".into()],
            "buy_threshold",
        ),
        (
            vec!["--params".into(), params.display().to_string()],
            "top_levels",
        ),
        (vec!["--horizons".into(), "soon".into()], "soon"),
    ];
    for (args, needle) in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run_cli(&refs);
        assert_ne!(code, 0, "{args:?} must fail");
        assert!(stdout.is_empty(), "{args:?} printed a report: {stdout}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty() && lines.len() <= 3, "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: `{needle}` not in {stderr}"
        );
    }
}

#[test]
fn malformed_lines_are_counted_not_fatal() {
    let path = temp_path("mixed.jsonl");
    let mut lines = common::depth_lines(50);
    lines.insert(10, "{garbage".into());
    lines.insert(20, r#"{"stream":"btcusdt@depth20@100ms","data":{"bids":[["x","1"]],"asks":[]},"timestamp":"2024-08-08T23:54:20Z"}"#.into());
    std::fs::write(&path, lines.join("\n")).unwrap();
    let (code, stdout, stderr) = run_cli(&[path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["recordings"][0]["malformed_lines"], 1);
    assert_eq!(doc["recordings"][0]["messages"], 51);
    let dropped: u64 = doc["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(dropped, 1, "{}", doc["dropped"]);
}

/// The signals `evaluate` scores are exactly those standalone replay publishes for the same data and parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluate_sees_exactly_the_signals_standalone_replay_publishes() {
    let signals_path = temp_path("signals.jsonl");
    let (code, _, stderr) = run_cli(&[
        "--format",
        "json",
        "--out",
        temp_path("replay-report.json").to_str().unwrap(),
        "--signals-out",
        signals_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let key = |s: &Value| {
        format!(
            "{} {} {} {} {} {}",
            s["strategy_id"], s["symbol"], s["action"], s["confidence"], s["price"], s["timestamp"]
        )
    };
    let mut from_evaluate: Vec<String> = std::fs::read_to_string(&signals_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["parameter_set"] == "default")
        .map(|l| key(&l["signal"]))
        .collect();
    assert!(from_evaluate.len() > 10, "{}", from_evaluate.len());

    let replayed = common::standalone_replay_signals(BIN, "0", &[]).await;
    let mut from_replay: Vec<String> = replayed.iter().map(key).collect();
    from_evaluate.sort();
    from_replay.sort();
    assert_eq!(from_evaluate.len(), from_replay.len());
    assert_eq!(from_evaluate, from_replay);
}

/// `record` writes what a real nats-server delivers, closes the gzip stream on SIGTERM, and `evaluate` reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_a_recording_that_evaluate_reads() {
    let nats = common::NatsServer::start();
    let out = temp_path("recorded.jsonl.gz");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(BIN)
        .args([
            "record",
            "--out",
            out.to_str().unwrap(),
            "--subject",
            "rec.test",
        ])
        .env("NATS_URL", nats.url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The recorder announces itself once subscribed.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains("recording rec.test"), "{first}");
    let client = async_nats::connect(nats.url()).await.unwrap();
    let lines = common::depth_lines(300);
    for l in &lines {
        client.publish("rec.test", l.clone().into()).await.unwrap();
    }
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(rest.contains("recorded 300 messages"), "{rest}");

    let bytes = std::fs::read(&out).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    let read_back: Vec<&str> = text.lines().collect();
    assert_eq!(
        read_back,
        lines.iter().map(String::as_str).collect::<Vec<_>>()
    );

    let (code, stdout, stderr) = run_cli(&[out.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["recordings"][0]["messages"], 300);
    let _ = std::io::stdout().flush();
}
