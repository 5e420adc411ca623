//! `on_event` cost per real depth20 message (bundled BTCUSDT + ETHUSDT recording), history full and growing.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use plugin_depth_analyzer::{compute, AllMetricsQuery, DepthAnalyzer, MetricsReader, Timeframe};
use strategy_sdk::decode::Decoder;
use strategy_sdk::testing::bundled_recording;
use strategy_sdk::{DepthBook, EventContext, MarketEvent, Plugin, SymbolId};

/// Every depth event of the recording, decoded once up front: (symbol, event time, book).
fn depth_events() -> Vec<(String, i64, DepthBook)> {
    let mut decoder = Decoder::default();
    let mut out = Vec::new();
    for line in bundled_recording() {
        let Ok(d) = decoder.decode(line.as_bytes()) else {
            continue;
        };
        if let MarketEvent::Depth(book) = d.event {
            out.push((d.symbol.to_owned(), d.event_time_ms, book.clone()));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let events = depth_events();
    let ids: Vec<SymbolId> = events
        .iter()
        .map(|(s, _, _)| SymbolId(u32::from(s != "BTCUSDT")))
        .collect();
    let span = events.last().unwrap().1 - events[0].1 + 100;

    let mut g = c.benchmark_group("depth_analyzer");
    g.throughput(Throughput::Elements(1));

    g.bench_function("compute_only", |b| {
        let mut i = 0usize;
        b.iter(|| {
            let m = compute(black_box(&events[i].2));
            i = (i + 1) % events.len();
            m
        });
    });

    // Steady state: the plugin has seen the whole recording already (cells and rings allocated); event times
    // keep advancing so every call appends a history point and evicts old ones.
    g.bench_function("on_event_depth20", |b| {
        let mut plugin = DepthAnalyzer::default();
        let mut i = 0usize;
        let mut offset = 0i64;
        let step = |plugin: &mut DepthAnalyzer, i: &mut usize, offset: &mut i64| {
            let (symbol, t, book) = &events[*i];
            let ctx = EventContext {
                symbol,
                symbol_id: ids[*i],
                event_time_ms: t + *offset,
            };
            plugin.on_event(&ctx, &MarketEvent::Depth(book));
            *i += 1;
            if *i == events.len() {
                *i = 0;
                *offset += span;
            }
        };
        // warm up through three passes (> 15 minutes of event time: rings at their final size)
        for _ in 0..events.len() * 3 {
            step(&mut plugin, &mut i, &mut offset);
        }
        b.iter(|| step(&mut plugin, &mut i, &mut offset));
    });

    // Reader costs (what one HTTP request pays, serialization included).
    let mut plugin = DepthAnalyzer::default();
    for (k, (symbol, t, book)) in events.iter().enumerate() {
        let ctx = EventContext {
            symbol,
            symbol_id: ids[k],
            event_time_ms: *t,
        };
        plugin.on_event(&ctx, &MarketEvent::Depth(book));
    }
    let reader: MetricsReader = plugin.metrics_reader();
    g.bench_function("reader_depth_json", |b| {
        b.iter(|| serde_json::to_vec(&reader.depth("BTCUSDT").unwrap()).unwrap())
    });
    g.bench_function("reader_pressure_15m_json", |b| {
        b.iter(|| {
            serde_json::to_vec(
                &reader
                    .pressure("BTCUSDT", Timeframe::FifteenMinutes)
                    .unwrap(),
            )
            .unwrap()
        })
    });
    // The part of the pressure request spent under the symbol lock (window statistics + copying 100 points).
    g.bench_function("reader_pressure_15m_no_json", |b| {
        b.iter(|| {
            reader
                .pressure("BTCUSDT", Timeframe::FifteenMinutes)
                .unwrap()
        })
    });
    g.bench_function("reader_summary_json", |b| {
        b.iter(|| serde_json::to_vec(&reader.summary()).unwrap())
    });
    g.bench_function("reader_all_json", |b| {
        let q = AllMetricsQuery::default();
        b.iter(|| serde_json::to_vec(&reader.all(&q)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
