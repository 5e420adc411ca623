//! Every API output over the bundled recording, compared with a fixture captured before the history ring was
//! packed to 8 bytes per point (timestamps, rounded values, summaries and trends must not change).
//!
//! The recording (~6 minutes) is replayed three times back to back, shifted in event time, so the 15-minute ring
//! also fills, wraps and evicts. `UPDATE_API_FIXTURE=1` rewrites the fixture (only for a deliberate change).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;

use plugin_depth_analyzer::{
    AllMetricsQuery, DepthAnalyzer, DepthAnalyzerConfig, MetricsReader, PressureHistoryResponse,
    SortBy, SortOrder, Timeframe,
};
use strategy_sdk::decode::Decoder;
use strategy_sdk::testing::bundled_recording;
use strategy_sdk::{EventContext, MarketEvent, Plugin, SymbolId};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/api_outputs.jsonl"
);
/// Passes over the recording.
const PASSES: i64 = 3;
/// A checkpoint every this many depth events (plus one at the end of each pass).
const CHECKPOINT_EVERY: usize = 700;

/// FNV-1a, 64 bits.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A pressure document with its two series reduced to their 3 first and 3 last points plus a hash of the
/// complete serialized series (the full documents would make a 2.5 MB fixture).
fn pressure_digest(p: Option<&PressureHistoryResponse>) -> String {
    let Some(p) = p else {
        return "null".to_owned();
    };
    let mut v = serde_json::to_value(p).unwrap();
    for key in ["pressure_history", "imbalance_history"] {
        let series = v[key].as_array().unwrap().clone();
        let full = serde_json::to_string(&series).unwrap();
        let n = series.len();
        let head: Vec<_> = series.iter().take(3).cloned().collect();
        let tail: Vec<_> = series.iter().skip(n.saturating_sub(3)).cloned().collect();
        v[key] = serde_json::json!({ "head": head, "tail": tail, "fnv64": format!("{:016x}", fnv64(&full)) });
    }
    serde_json::to_string(&v).unwrap()
}

fn snapshot(out: &mut String, label: &str, r: &MetricsReader) {
    for sym in ["BTCUSDT", "ETHUSDT"] {
        let depth = serde_json::to_string(&r.depth(sym)).unwrap();
        writeln!(out, "{label} depth {sym} {depth}").unwrap();
        for tf in Timeframe::ALL {
            let p = pressure_digest(r.pressure(sym, tf).as_ref());
            writeln!(out, "{label} pressure {sym} {} {p}", tf.as_str()).unwrap();
        }
    }
    let summary = serde_json::to_string(&r.summary()).unwrap();
    writeln!(out, "{label} summary {summary}").unwrap();
    let all = serde_json::to_string(&r.all(&AllMetricsQuery::default())).unwrap();
    writeln!(out, "{label} all {all}").unwrap();
    let q = AllMetricsQuery {
        sort_by: SortBy::Pressure,
        sort_order: SortOrder::Desc,
        ..AllMetricsQuery::default()
    };
    let all = serde_json::to_string(&r.all(&q)).unwrap();
    writeln!(out, "{label} all_by_pressure {all}").unwrap();
}

fn replay() -> String {
    let lines = bundled_recording();
    let mut decoder = Decoder::default();
    let mut plugin = DepthAnalyzer::new(DepthAnalyzerConfig::default());
    let reader = plugin.metrics_reader();
    let mut ids: Vec<String> = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for line in &lines {
        if let Ok(dec) = decoder.decode(line.as_bytes()) {
            first = first.min(dec.event_time_ms);
            last = last.max(dec.event_time_ms);
        }
    }
    let span = last - first + 1_000;
    let mut out = String::new();
    let mut depth_events = 0usize;
    let mut last_tick = i64::MIN;
    for pass in 0..PASSES {
        let shift = pass * span;
        for line in &lines {
            let Ok(dec) = decoder.decode(line.as_bytes()) else {
                continue;
            };
            let symbol = dec.symbol.to_owned();
            let idx = match ids.iter().position(|s| *s == symbol) {
                Some(i) => i,
                None => {
                    ids.push(symbol.clone());
                    ids.len() - 1
                }
            };
            let t = dec.event_time_ms + shift;
            let ctx = EventContext {
                symbol: &symbol,
                symbol_id: SymbolId(idx as u32),
                event_time_ms: t,
            };
            plugin.on_event(&ctx, &dec.event);
            if t.saturating_sub(last_tick) >= 1_000 {
                plugin.tick(t);
                last_tick = t;
            }
            if matches!(dec.event, MarketEvent::Depth(_)) {
                depth_events += 1;
                if depth_events.is_multiple_of(CHECKPOINT_EVERY) {
                    snapshot(&mut out, &format!("p{pass}e{depth_events}"), &reader);
                }
            }
        }
        snapshot(&mut out, &format!("p{pass}end"), &reader);
    }
    out
}

#[test]
fn api_outputs_match_the_fixture() {
    let actual = replay();
    if std::env::var_os("UPDATE_API_FIXTURE").is_some() {
        std::fs::write(FIXTURE, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(FIXTURE).expect("fixture missing");
    assert_eq!(
        expected.lines().count(),
        actual.lines().count(),
        "number of documents"
    );
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        assert!(
            e == a,
            "document {} differs:\nexpected {e}\nactual   {a}",
            i + 1
        );
    }
}
