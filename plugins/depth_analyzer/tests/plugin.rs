//! Behaviour of the plugin and its reader, driven by event time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::Arc;

use plugin_depth_analyzer::{
    AllMetricsQuery, DepthAnalyzer, DepthAnalyzerConfig, MetricsReader, NotTrackedResponse, SortBy,
    SortOrder, Timeframe, Trend, PLUGIN_ID,
};
use serde_json::{json, Value};
use strategy_sdk::decode::Decoder;
use strategy_sdk::testing::{book, bundled_recording};
use strategy_sdk::{DepthBook, EventContext, MarketEvent, Plugin, SymbolId};

/// Drives a plugin like the host does: dense ids by first appearance.
struct Driver {
    plugin: DepthAnalyzer,
    ids: Vec<String>,
}

impl Driver {
    fn new(config: DepthAnalyzerConfig) -> Self {
        Self {
            plugin: DepthAnalyzer::new(config),
            ids: Vec::new(),
        }
    }

    fn id(&mut self, symbol: &str) -> SymbolId {
        let i = match self.ids.iter().position(|s| s == symbol) {
            Some(i) => i,
            None => {
                self.ids.push(symbol.to_owned());
                self.ids.len() - 1
            }
        };
        SymbolId(i as u32)
    }

    fn feed(&mut self, symbol: &str, t_ms: i64, b: &DepthBook) {
        let ctx = EventContext {
            symbol,
            symbol_id: self.id(symbol),
            event_time_ms: t_ms,
        };
        self.plugin.on_event(&ctx, &MarketEvent::Depth(b));
    }

    fn reader(&self) -> Arc<MetricsReader> {
        let mut readers = strategy_sdk::PluginReaders::default();
        self.plugin.register_readers(&mut readers);
        readers.get::<MetricsReader>().unwrap()
    }
}

/// A book with the given total bid and ask volume (two levels per side).
fn book_with(bid_vol: f64, ask_vol: f64, bid: f64, ask: f64) -> DepthBook {
    book(
        &[(bid, bid_vol * 0.75), (bid - 1.0, bid_vol * 0.25)],
        &[(ask, ask_vol * 0.25), (ask + 1.0, ask_vol * 0.75)],
    )
}

/// A book whose net pressure is `net` (total volume 10).
fn book_net(net: f64) -> DepthBook {
    let bid = 5.0 * (1.0 + net / 100.0);
    book(&[(100.0, bid)], &[(100.5, 10.0 - bid)])
}

const T0: i64 = 1_723_161_255_000; // 2024-08-08T23:54:15Z

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn is_registered_and_registers_its_typed_reader() {
    let d = strategy_sdk::registry::plugins()
        .find(|p| p.id == PLUGIN_ID)
        .expect("registered");
    assert_eq!(d.consumes, &[strategy_sdk::StreamKind::Depth]);
    let p = (d.build)();
    let mut readers = strategy_sdk::PluginReaders::default();
    p.register_readers(&mut readers);
    assert_eq!(readers.len(), 1);
    assert!(readers.get::<MetricsReader>().is_some());
}

#[test]
fn spec_worked_example_btcusdt_depth() {
    // The original's BTCUSDT answer: bid 16.9455, ask 15.58 → ratio 0.042, 52.1 / 47.9 / 4.2, neutral.
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    d.feed(
        "BTCUSDT",
        T0,
        &book_with(16.9455, 15.58, 61991.21, 61991.23),
    );
    let r = d.reader();
    let doc = to_json(&r.depth("btcusdt").unwrap());
    assert_eq!(doc["symbol"], "BTCUSDT");
    assert_eq!(doc["timestamp"], "2024-08-08T23:54:15.000000Z");
    assert_eq!(
        doc["imbalance"],
        json!({"ratio": 0.042, "percent": 4.2, "bid_volume": 16.9455, "ask_volume": 15.58})
    );
    assert_eq!(
        doc["pressure"],
        json!({"buy_pressure": 52.1, "sell_pressure": 47.9, "net_pressure": 4.2, "interpretation": "neutral"})
    );
    assert_eq!(doc["liquidity"]["total"], 32.5255);
    assert_eq!(doc["spread"]["best_bid"], 61991.21);
    assert_eq!(doc["spread"]["best_ask"], 61991.23);
    assert_eq!(doc["spread"]["spread_abs"], 0.02);
    assert_eq!(doc["spread"]["mid_price"], 61991.22);
    // 0.02 / 61991.22 × 10 000 = 0.003226… (the original's 2 decimals showed 0.0)
    assert_eq!(doc["spread"]["spread_bps"], 0.0032);
    assert_eq!(
        doc["order_book_quality"],
        json!({"bid_levels": 2, "ask_levels": 2, "total_levels": 4})
    );
    assert_eq!(
        doc["strongest_levels"]["bid"],
        json!({"price": 61991.21, "volume": 12.709125})
    );
    assert_eq!(
        doc["strongest_levels"]["ask"],
        json!({"price": 61992.23, "volume": 11.685})
    );
    // exact key sets and order of the original document
    assert_eq!(
        keys(&doc),
        [
            "symbol",
            "timestamp",
            "imbalance",
            "pressure",
            "liquidity",
            "spread",
            "vwap",
            "order_book_quality",
            "strongest_levels"
        ]
    );
    assert_eq!(
        keys(&doc["liquidity"]),
        [
            "total",
            "bid_depth_5",
            "ask_depth_5",
            "bid_depth_10",
            "ask_depth_10"
        ]
    );
    assert_eq!(
        keys(&doc["spread"]),
        [
            "best_bid",
            "best_ask",
            "spread_abs",
            "spread_bps",
            "mid_price"
        ]
    );
    assert_eq!(keys(&doc["vwap"]), ["bid", "ask", "spread"]);
    assert_eq!(keys(&doc["strongest_levels"]), ["bid", "ask"]);
}

#[test]
fn spec_worked_example_summary_three_symbols() {
    // The original's summary: BNB −12.78 (771.9461), BTC 4.2 (32.5255), ETH −37.24 (357.5302)
    // → avg_net_pressure −15.27, avg_imbalance_ratio −0.153, total_liquidity 1162.0018, 1 bearish, 2 neutral.
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    let split = |total: f64, net: f64| {
        (
            total * (1.0 + net / 100.0) / 2.0,
            total * (1.0 - net / 100.0) / 2.0,
        )
    };
    let (b, a) = split(771.9461, -12.78);
    d.feed("BNBUSDT", T0, &book_with(b, a, 520.02, 520.06));
    d.feed(
        "BTCUSDT",
        T0 + 10,
        &book_with(16.9455, 15.58, 61991.21, 61991.23),
    );
    let (b, a) = split(357.5302, -37.24);
    d.feed("ETHUSDT", T0 + 20, &book_with(b, a, 2667.40, 2667.41));
    let s = to_json(&d.reader().summary());
    assert_eq!(s["timestamp"], "2024-08-08T23:54:15.020000Z");
    assert_eq!(s["symbols_tracked"], 3);
    assert_eq!(
        s["market_sentiment"],
        json!({"bullish_symbols": 0, "bearish_symbols": 1, "neutral_symbols": 2,
               "avg_net_pressure": -15.27, "avg_imbalance_ratio": -0.153})
    );
    assert_eq!(s["liquidity"]["total_liquidity"], 1162.0018);
    assert_eq!(
        s["top_pressure_symbols"],
        json!({"highest_buy_pressure": ["BTCUSDT", "BNBUSDT", "ETHUSDT"],
               "highest_sell_pressure": ["ETHUSDT", "BNBUSDT", "BTCUSDT"]})
    );
    assert_eq!(
        keys(&s),
        [
            "timestamp",
            "symbols_tracked",
            "market_sentiment",
            "liquidity",
            "top_pressure_symbols"
        ]
    );
}

#[test]
fn summary_two_symbols_hand_computed() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    // AAA: bid 3, ask 1 → net 50, ratio 0.5, spread 1/100.5 × 1e4 = 99.5025 bps
    d.feed("AAAUSDT", T0, &book(&[(100.0, 3.0)], &[(101.0, 1.0)]));
    // BBB: bid 1, ask 4 → net −60, ratio −0.6, spread 2/201 × 1e4 = 99.5025 bps
    d.feed("BBBUSDT", T0 + 500, &book(&[(200.0, 1.0)], &[(202.0, 4.0)]));
    let s = d.reader().summary();
    assert_eq!(s.symbols_tracked, 2);
    assert_eq!(s.market_sentiment.bullish_symbols, 1);
    assert_eq!(s.market_sentiment.bearish_symbols, 1);
    assert_eq!(s.market_sentiment.neutral_symbols, 0);
    assert_eq!(s.market_sentiment.avg_net_pressure, -5.0);
    assert_eq!(s.market_sentiment.avg_imbalance_ratio, -0.05);
    assert_eq!(s.liquidity.avg_spread_bps, 99.5025);
    assert_eq!(s.liquidity.total_liquidity, 9.0);
    assert_eq!(
        s.top_pressure_symbols.highest_buy_pressure,
        ["AAAUSDT", "BBBUSDT"]
    );
    assert_eq!(
        s.top_pressure_symbols.highest_sell_pressure,
        ["BBBUSDT", "AAAUSDT"]
    );
    assert_eq!(s.timestamp.millis(), T0 + 500);

    // a one-sided book does not drag the spread average to 0
    d.feed("CCCUSDT", T0 + 600, &book(&[(10.0, 1.0)], &[]));
    let s = d.reader().summary();
    assert_eq!(s.liquidity.avg_spread_bps, 99.5025);
    assert_eq!(s.market_sentiment.bullish_symbols, 2);
}

#[test]
fn empty_summary_keeps_its_shape() {
    let d = Driver::new(DepthAnalyzerConfig::default());
    let s = to_json(&d.reader().summary());
    assert_eq!(s["symbols_tracked"], 0);
    assert_eq!(s["market_sentiment"]["avg_net_pressure"], 0.0);
    assert_eq!(s["liquidity"]["avg_spread_bps"], 0.0);
    assert_eq!(s["top_pressure_symbols"]["highest_buy_pressure"], json!([]));
}

#[test]
fn pressure_windows_and_trend_on_event_time() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    // 16 minutes at 10 Hz: net pressure −40 for the first 10 minutes, then +30 for 5 minutes, then 0 for 1 minute.
    let mut t = T0;
    for i in 0..9_600i64 {
        let net = if i < 6_000 {
            -40.0
        } else if i < 9_000 {
            30.0
        } else {
            0.0
        };
        d.feed("BTCUSDT", t, &book_net(net));
        t += 100;
    }
    let newest = t - 100;
    let r = d.reader();

    let one = r.pressure("BTCUSDT", Timeframe::OneMinute).unwrap();
    assert_eq!(one.total_data_points, 600);
    assert_eq!(one.returned_data_points, 100);
    assert_eq!(one.summary.avg_pressure, 0.0);
    assert_eq!(one.summary.trend, Trend::Neutral);
    assert_eq!(one.summary.trend_strength, 1.0);
    assert_eq!(one.pressure_history.len(), 100);
    assert_eq!(one.imbalance_history.len(), 100);
    assert_eq!(
        one.pressure_history.last().unwrap().timestamp.millis(),
        newest
    );
    assert_eq!(
        one.pressure_history[0].timestamp.millis(),
        newest - 99 * 100
    );

    let five = r.pressure("BTCUSDT", Timeframe::FiveMinutes).unwrap();
    assert_eq!(five.total_data_points, 3_000);
    // 2400 points at +30, 600 at 0
    assert_eq!(five.summary.avg_pressure, 24.0);
    assert_eq!(five.summary.max_pressure, 30.0);
    assert_eq!(five.summary.min_pressure, 0.0);

    let fifteen = r.pressure("BTCUSDT", Timeframe::FifteenMinutes).unwrap();
    assert_eq!(fifteen.total_data_points, 9_000);
    // 5400 at −40, 3000 at +30, 600 at 0 → (−216000 + 90000) / 9000 = −14
    assert_eq!(fifteen.summary.avg_pressure, -14.0);
    assert_eq!(fifteen.summary.min_pressure, -40.0);

    // Trend reads the newest 10 points: feed 10 at +30 → bullish 0.6
    for _ in 0..10 {
        d.feed("BTCUSDT", t, &book_net(30.0));
        t += 100;
    }
    let one = r.pressure("BTCUSDT", Timeframe::OneMinute).unwrap();
    assert_eq!(one.summary.trend, Trend::Bullish);
    assert_eq!(one.summary.trend_strength, 0.6);
    // 10 at −25 → bearish 0.5
    for _ in 0..10 {
        d.feed("BTCUSDT", t, &book_net(-25.0));
        t += 100;
    }
    let one = r.pressure("BTCUSDT", Timeframe::OneMinute).unwrap();
    assert_eq!(one.summary.trend, Trend::Bearish);
    assert_eq!(one.summary.trend_strength, 0.5);

    let doc = to_json(&one);
    assert_eq!(
        keys(&doc),
        [
            "symbol",
            "timeframe",
            "summary",
            "total_data_points",
            "returned_data_points",
            "pressure_history",
            "imbalance_history"
        ]
    );
    assert_eq!(doc["timeframe"], "1m");
    assert_eq!(keys(&doc["pressure_history"][0]), ["timestamp", "pressure"]);
    assert_eq!(
        keys(&doc["imbalance_history"][0]),
        ["timestamp", "imbalance"]
    );
    assert_eq!(doc["pressure_history"][99]["pressure"], -25.0);
    assert_eq!(doc["imbalance_history"][99]["imbalance"], -0.25);
}

#[test]
fn few_points_give_neutral_half_and_gaps_shrink_windows() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    for i in 0..5 {
        d.feed("ETHUSDT", T0 + i * 1_000, &book_net(80.0));
    }
    // 2 minutes of silence, then one more point: the 1m window holds only the newest point
    d.feed("ETHUSDT", T0 + 124_000, &book_net(-80.0));
    let r = d.reader();
    let one = r.pressure("ETHUSDT", Timeframe::OneMinute).unwrap();
    assert_eq!(one.total_data_points, 1);
    assert_eq!(
        (one.summary.trend, one.summary.trend_strength),
        (Trend::Neutral, 0.5)
    );
    assert_eq!(one.summary.avg_pressure, -80.0);
    let five = r.pressure("ETHUSDT", Timeframe::FiveMinutes).unwrap();
    assert_eq!(five.total_data_points, 6);
    assert_eq!(five.summary.max_pressure, 80.0);
}

#[test]
fn out_of_order_events_keep_history_ordered() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    d.feed("BTCUSDT", T0 + 1_000, &book_net(10.0));
    d.feed("BTCUSDT", T0 + 500, &book_net(20.0)); // late: folded into the newest slot
    let r = d.reader();
    let p = r.pressure("BTCUSDT", Timeframe::OneMinute).unwrap();
    assert_eq!(p.total_data_points, 1);
    assert_eq!(p.pressure_history[0].pressure, 20.0);
    assert_eq!(p.pressure_history[0].timestamp.millis(), T0 + 1_000);
    // a jump back by more than 15 minutes starts a new timeline
    d.feed("BTCUSDT", T0 - 3_600_000, &book_net(-10.0));
    let p = r.pressure("BTCUSDT", Timeframe::FifteenMinutes).unwrap();
    assert_eq!(p.total_data_points, 1);
    assert_eq!(
        r.depth("BTCUSDT").unwrap().timestamp.millis(),
        T0 - 3_600_000
    );
}

#[test]
fn ttl_expiry_via_tick() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    d.feed("BTCUSDT", T0, &book_net(10.0));
    d.feed("ETHUSDT", T0 + 60_000, &book_net(10.0));
    let r = d.reader();
    d.plugin.tick(T0 + 300_000); // exactly 5 minutes: kept (strictly older expires)
    assert!(r.depth("BTCUSDT").is_some());
    d.plugin.tick(T0 + 300_001);
    assert!(r.depth("BTCUSDT").is_none());
    assert!(r.pressure("BTCUSDT", Timeframe::FiveMinutes).is_none());
    assert!(r.depth("ETHUSDT").is_some());
    assert_eq!(r.symbols(), ["ETHUSDT"]);
    assert_eq!(r.stats().expired_symbols, 1);
    assert_eq!(d.plugin.tracked_symbols(), 1);
    // a returning symbol starts over
    d.feed("BTCUSDT", T0 + 400_000, &book_net(-50.0));
    let p = r.pressure("BTCUSDT", Timeframe::FifteenMinutes).unwrap();
    assert_eq!(p.total_data_points, 1);
    d.plugin.tick(T0 + 400_000 + 300_001);
    assert_eq!(r.summary().symbols_tracked, 0);
    // summary time falls back to the newest tick
    assert_eq!(r.summary().timestamp.millis(), T0 + 700_001);
}

#[test]
fn symbol_limit() {
    let mut d = Driver::new(DepthAnalyzerConfig {
        max_symbols: 2,
        ..DepthAnalyzerConfig::default()
    });
    d.feed("AAAUSDT", T0, &book_net(0.0));
    d.feed("BBBUSDT", T0, &book_net(0.0));
    d.feed("CCCUSDT", T0, &book_net(0.0));
    let r = d.reader();
    assert_eq!(r.symbols(), ["AAAUSDT", "BBBUSDT"]);
    assert_eq!(r.stats().rejected_events, 1);
    d.feed("AAAUSDT", T0 + 400_000, &book_net(0.0));
    d.plugin.tick(T0 + 400_000);
    d.feed("CCCUSDT", T0 + 400_100, &book_net(0.0));
    assert_eq!(r.symbols(), ["AAAUSDT", "CCCUSDT"]);
}

#[test]
fn empty_and_one_sided_books() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    d.feed("BTCUSDT", T0, &book(&[], &[]));
    let r = d.reader();
    assert!(
        r.depth("BTCUSDT").is_none(),
        "an empty book carries nothing to report"
    );
    d.feed("BTCUSDT", T0, &book(&[], &[(100.0, 2.0)]));
    let doc = to_json(&r.depth("BTCUSDT").unwrap());
    assert_eq!(doc["pressure"]["sell_pressure"], 100.0);
    assert_eq!(doc["pressure"]["net_pressure"], -100.0);
    assert_eq!(doc["pressure"]["interpretation"], "bearish");
    assert_eq!(doc["spread"]["best_bid"], 0.0);
    assert_eq!(doc["spread"]["mid_price"], 0.0);
    assert_eq!(doc["vwap"]["spread"], 0.0);
    assert_eq!(doc["strongest_levels"]["bid"], Value::Null);
}

#[test]
fn not_tracked_bodies_match_the_original() {
    let d = Driver::new(DepthAnalyzerConfig::default());
    let r = d.reader();
    assert!(r.depth("XYZUSDT").is_none());
    assert!(r.pressure("XYZUSDT", Timeframe::OneMinute).is_none());
    assert_eq!(
        to_json(&NotTrackedResponse::depth("XYZUSDT")),
        json!({
            "error": "No metrics available for XYZUSDT",
            "message": "Symbol may not be actively tracked or data is stale",
            "suggestion": "Check GET /api/v1/metrics/all to see tracked symbols"
        })
    );
    assert_eq!(
        to_json(&NotTrackedResponse::pressure("XYZUSDT")),
        json!({
            "error": "No pressure history available for XYZUSDT",
            "message": "Symbol may not be actively tracked"
        })
    );
}

fn three_symbols() -> Driver {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    d.feed("ETHUSDT", T0, &book_net(-37.24));
    d.feed("BTCUSDT", T0, &book_net(4.2));
    d.feed("BNBUSDT", T0, &book_net(-12.78));
    d
}

fn query(pairs: &[(&str, &str)]) -> AllMetricsQuery {
    AllMetricsQuery::from_pairs(pairs.iter().copied()).unwrap()
}

#[test]
fn all_default_matches_original_shape() {
    let d = three_symbols();
    let doc = to_json(&d.reader().all(&AllMetricsQuery::default()));
    assert_eq!(
        keys(&doc),
        [
            "data",
            "pagination",
            "filters_applied",
            "sort",
            "symbols_count"
        ]
    );
    // data keys in sort order (symbol asc)
    assert_eq!(keys(&doc["data"]), ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
    assert_eq!(
        keys(&doc["data"]["BTCUSDT"]),
        [
            "timestamp",
            "net_pressure",
            "imbalance_percent",
            "spread_bps",
            "total_liquidity",
            "mid_price",
            "trend"
        ]
    );
    assert_eq!(doc["data"]["ETHUSDT"]["trend"], "bearish");
    assert_eq!(doc["data"]["ETHUSDT"]["net_pressure"], -37.24);
    assert_eq!(doc["data"]["BTCUSDT"]["mid_price"], 100.25);
    assert_eq!(
        doc["pagination"],
        json!({"total": 3, "limit": 50, "offset": 0, "page": 1, "pages": 1, "has_next": false, "has_previous": false})
    );
    assert_eq!(
        doc["filters_applied"],
        json!({"symbols": null, "min_pressure": null, "max_pressure": null, "trend": null})
    );
    assert_eq!(doc["sort"], json!({"by": "symbol", "order": "asc"}));
    assert_eq!(doc["symbols_count"], 3);
    // serialized text keeps the order too
    let text = serde_json::to_string(&d.reader().all(&AllMetricsQuery::default())).unwrap();
    let (a, b, c) = (
        text.find("BNBUSDT").unwrap(),
        text.find("BTCUSDT").unwrap(),
        text.find("ETHUSDT").unwrap(),
    );
    assert!(a < b && b < c);
}

#[test]
fn all_filters_sort_and_pages() {
    let d = three_symbols();
    let r = d.reader();
    let res = r.all(&query(&[("sort_by", "pressure"), ("sort_order", "DESC")]));
    let names: Vec<&str> = res.data.0.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["BTCUSDT", "BNBUSDT", "ETHUSDT"]);
    assert_eq!(res.sort.order, "desc");

    let res = r.all(&query(&[
        ("symbols", "btcusdt, ethusdt"),
        ("sort_by", "imbalance"),
    ]));
    let names: Vec<&str> = res.data.0.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["ETHUSDT", "BTCUSDT"]);
    assert_eq!(
        res.filters_applied.symbols.as_deref(),
        Some("btcusdt, ethusdt")
    );

    let res = r.all(&query(&[("min_pressure", "-20"), ("max_pressure", "4.2")]));
    let names: Vec<&str> = res.data.0.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["BNBUSDT", "BTCUSDT"]);

    let res = r.all(&query(&[("trend", "Bearish")]));
    assert_eq!(res.pagination.total, 1);
    assert_eq!(to_json(&res)["filters_applied"]["trend"], "bearish");

    let res = r.all(&query(&[("limit", "2"), ("offset", "2")]));
    assert_eq!(
        res.pagination,
        plugin_depth_analyzer::Pagination {
            total: 3,
            limit: 2,
            offset: 2,
            page: 2,
            pages: 2,
            has_next: false,
            has_previous: true
        }
    );
    assert_eq!(res.symbols_count, 1);
    let res = r.all(&query(&[("limit", "1")]));
    assert!(res.pagination.has_next);
    assert_eq!(res.pagination.pages, 3);
    let res = r.all(&query(&[("offset", "10")]));
    assert_eq!(res.symbols_count, 0);
    assert_eq!(res.pagination.total, 3);

    let res = r.all(&query(&[("sort_by", "liquidity"), ("sort_order", "desc")]));
    // equal liquidity: ties by symbol ascending
    let names: Vec<&str> = res.data.0.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(names, ["BNBUSDT", "BTCUSDT", "ETHUSDT"]);
}

#[test]
fn all_query_validation_names_field_and_rule() {
    let err =
        |pairs: &[(&str, &str)]| AllMetricsQuery::from_pairs(pairs.iter().copied()).unwrap_err();
    let e = err(&[("limit", "0")]);
    assert_eq!((e[0].field, e[0].rule), ("limit", "minimum"));
    let e = err(&[("limit", "201")]);
    assert_eq!((e[0].field, e[0].rule), ("limit", "maximum"));
    let e = err(&[("limit", "ten")]);
    assert_eq!((e[0].field, e[0].rule), ("limit", "integer"));
    let e = err(&[("offset", "-1")]);
    assert_eq!((e[0].field, e[0].rule), ("offset", "minimum"));
    let e = err(&[("min_pressure", "abc")]);
    assert_eq!((e[0].field, e[0].rule), ("min_pressure", "number"));
    let e = err(&[("max_pressure", "NaN")]);
    assert_eq!((e[0].field, e[0].rule), ("max_pressure", "number"));
    let e = err(&[("sort_by", "volume")]);
    assert_eq!((e[0].field, e[0].rule), ("sort_by", "one_of"));
    assert!(
        e[0].message
            .contains("symbol, pressure, imbalance, liquidity"),
        "{}",
        e[0].message
    );
    let e = err(&[("sort_order", "up")]);
    assert_eq!((e[0].field, e[0].rule), ("sort_order", "one_of"));
    let e = err(&[("trend", "sideways")]);
    assert_eq!((e[0].field, e[0].rule), ("trend", "one_of"));
    let e = err(&[("min_pressure", "10"), ("max_pressure", "-10")]);
    assert_eq!((e[0].field, e[0].rule), ("min_pressure", "cross_field"));
    // every problem is reported
    let e = err(&[("limit", "0"), ("sort_by", "x"), ("trend", "y")]);
    assert_eq!(e.len(), 3);
    // defaults, unknown parameters ignored, HashMap input
    let mut m = HashMap::new();
    m.insert("foo".to_owned(), "bar".to_owned());
    let q = AllMetricsQuery::from_pairs(&m).unwrap();
    assert_eq!(q, AllMetricsQuery::default());
    assert_eq!(
        (q.limit, q.offset, q.sort_by, q.sort_order),
        (50, 0, SortBy::Symbol, SortOrder::Asc)
    );
    let e = AllMetricsQuery {
        limit: 0,
        ..AllMetricsQuery::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(e[0].field, "limit");
}

#[test]
fn timeframe_parsing() {
    assert_eq!("1m".parse::<Timeframe>().unwrap(), Timeframe::OneMinute);
    assert_eq!(
        "15m".parse::<Timeframe>().unwrap(),
        Timeframe::FifteenMinutes
    );
    assert_eq!(Timeframe::parse_opt(None).unwrap(), Timeframe::FiveMinutes);
    let e = "2m".parse::<Timeframe>().unwrap_err();
    assert_eq!((e.field, e.rule), ("timeframe", "one_of"));
    assert_eq!(
        e.message,
        "timeframe must be one of 1m, 5m, 15m; got \"2m\""
    );
    let t: Timeframe = serde_json::from_value(json!("5m")).unwrap();
    assert_eq!(t, Timeframe::FiveMinutes);
    assert!(serde_json::from_value::<Timeframe>(json!("1h")).is_err());
}

#[test]
fn reader_never_blocks_for_long_under_concurrent_writes() {
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    let r = d.reader();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let r = Arc::clone(&r);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = serde_json::to_string(&r.summary()).unwrap();
                let _ = r.pressure("BTCUSDT", Timeframe::FifteenMinutes);
                let _ = r.all(&AllMetricsQuery::default());
                n += 1;
            }
            n
        })
    };
    for i in 0..20_000i64 {
        d.feed(
            if i % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" },
            T0 + i * 50,
            &book_net((i % 100) as f64 - 50.0),
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(r.summary().symbols_tracked, 2);
}

#[test]
fn bundled_recording_gives_sane_metrics() {
    let lines = bundled_recording();
    let mut d = Driver::new(DepthAnalyzerConfig::default());
    let mut decoder = Decoder::default();
    let mut depth_events = 0usize;
    let mut last_tick = 0i64;
    for line in &lines {
        let Ok(dec) = decoder.decode(line.as_bytes()) else {
            continue;
        };
        let ctx_symbol = dec.symbol.to_owned();
        let id = d.id(&ctx_symbol);
        let ctx = EventContext {
            symbol: &ctx_symbol,
            symbol_id: id,
            event_time_ms: dec.event_time_ms,
        };
        if matches!(dec.event, MarketEvent::Depth(_)) {
            depth_events += 1;
        }
        d.plugin.on_event(&ctx, &dec.event);
        if dec.event_time_ms - last_tick >= 1_000 {
            d.plugin.tick(dec.event_time_ms);
            last_tick = dec.event_time_ms;
        }
    }
    assert!(depth_events > 1_000, "{depth_events}");
    let r = d.reader();
    assert_eq!(r.symbols(), ["BTCUSDT", "ETHUSDT"]);
    for (sym, lo, hi) in [
        ("BTCUSDT", 50_000.0, 70_000.0),
        ("ETHUSDT", 2_000.0, 3_500.0),
    ] {
        let m = r.depth(sym).unwrap();
        assert!(
            m.spread.mid_price > lo && m.spread.mid_price < hi,
            "{sym} mid {}",
            m.spread.mid_price
        );
        assert!(m.spread.best_bid < m.spread.best_ask);
        assert!(
            m.spread.spread_bps >= 0.0 && m.spread.spread_bps < 10.0,
            "{sym} {}",
            m.spread.spread_bps
        );
        assert_eq!(m.order_book_quality.bid_levels, 20);
        assert_eq!(m.order_book_quality.ask_levels, 20);
        assert!((m.pressure.buy_pressure + m.pressure.sell_pressure - 100.0).abs() < 0.011);
        assert!((m.imbalance.percent - m.pressure.net_pressure).abs() < 0.011);
        assert!(m.liquidity.bid_depth_5 <= m.liquidity.bid_depth_10);
        assert!(m.liquidity.bid_depth_10 <= m.imbalance.bid_volume + 1e-9);
        assert!(m.vwap.bid <= m.spread.best_bid && m.vwap.ask >= m.spread.best_ask);
        assert!(m.strongest_levels.bid.is_some() && m.strongest_levels.ask.is_some());
        for tf in Timeframe::ALL {
            let p = r.pressure(sym, tf).unwrap();
            // at most 10 points per second of the timeframe
            assert!(
                p.total_data_points > 0
                    && p.total_data_points <= (tf.window_ms() / 100) as usize + 1
            );
            assert!(p.returned_data_points <= 100);
            assert!(p.summary.min_pressure <= p.summary.avg_pressure);
            assert!(p.summary.avg_pressure <= p.summary.max_pressure);
            assert!((-100.0..=100.0).contains(&p.summary.min_pressure));
            assert!((0.0..=1.0).contains(&p.summary.trend_strength));
            let times: Vec<i64> = p
                .pressure_history
                .iter()
                .map(|x| x.timestamp.millis())
                .collect();
            assert!(times.windows(2).all(|w| w[0] < w[1]));
        }
        let one = r.pressure(sym, Timeframe::OneMinute).unwrap();
        let fifteen = r.pressure(sym, Timeframe::FifteenMinutes).unwrap();
        assert!(
            one.total_data_points >= 300,
            "{sym}: {} points in 1m",
            one.total_data_points
        );
        assert!(fifteen.total_data_points > one.total_data_points);
    }
    let s = r.summary();
    assert_eq!(s.symbols_tracked, 2);
    assert!(s.liquidity.avg_spread_bps > 0.0);
    let all = r.all(&AllMetricsQuery::default());
    assert_eq!(all.symbols_count, 2);
    // Everything serializes (no NaN reaches a document)
    serde_json::to_string(&s).unwrap();
    serde_json::to_string(&all).unwrap();
    // expire both after 5 minutes of silence
    d.plugin.tick(last_tick + 400_000);
    assert!(r.symbols().is_empty());
}
