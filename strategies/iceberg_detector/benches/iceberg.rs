//! `IcebergDetector::on_event` alone, per real depth20 message of the bundled recording (decoded beforehand, so
//! decode cost is excluded). Two regimes:
//! - `monotone`: the recording is replayed back to back with event times shifted forward on every pass, so
//!   event time only moves forward (live traffic); the per-symbol state persists across passes (steady state);
//! - `replay`: the same messages with their original times on every pass (like the host's pipeline bench, where
//!   event time jumps six minutes back at the start of each pass).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strategy_iceberg_detector::IcebergDetector;
use strategy_sdk::decode::Decoder;
use strategy_sdk::testing::bundled_recording;
use strategy_sdk::{DepthBook, EventContext, MarketEvent, SignalSink, Strategy, SymbolId};

struct Msg {
    symbol: usize,
    time_ms: i64,
    book: DepthBook,
}

fn decoded_depth() -> (Vec<String>, Vec<Msg>) {
    let lines = bundled_recording();
    let mut decoder = Decoder::default();
    let mut symbols: Vec<String> = Vec::new();
    let mut msgs = Vec::new();
    for line in &lines {
        let Ok(d) = decoder.decode(line.as_bytes()) else {
            continue;
        };
        let MarketEvent::Depth(book) = d.event else {
            continue;
        };
        let symbol = match symbols.iter().position(|s| s == d.symbol) {
            Some(i) => i,
            None => {
                symbols.push(d.symbol.to_owned());
                symbols.len() - 1
            }
        };
        msgs.push(Msg {
            symbol,
            time_ms: d.event_time_ms,
            book: book.clone(),
        });
    }
    (symbols, msgs)
}

fn on_event(c: &mut Criterion) {
    let (symbols, msgs) = decoded_depth();
    let first = msgs.iter().map(|m| m.time_ms).min().unwrap();
    let last = msgs.iter().map(|m| m.time_ms).max().unwrap();
    let span = last - first + 100;
    let mut group = c.benchmark_group("iceberg_on_event");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(4));
    group.throughput(Throughput::Elements(msgs.len() as u64));
    for (name, shift_per_pass) in [("depth20_monotone", span), ("depth20_replay", 0)] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut strategy = IcebergDetector::create();
            let params = <IcebergDetector as Strategy>::Params::default();
            let mut states: Vec<<IcebergDetector as Strategy>::SymbolState> =
                symbols.iter().map(|_| Default::default()).collect();
            let mut sink = SignalSink::new();
            let mut offset = 0i64;
            b.iter(|| {
                for m in &msgs {
                    let ctx = EventContext {
                        symbol: &symbols[m.symbol],
                        symbol_id: SymbolId(m.symbol as u32),
                        event_time_ms: m.time_ms + offset,
                    };
                    strategy.on_event(
                        &ctx,
                        &params,
                        &mut states[m.symbol],
                        &MarketEvent::Depth(&m.book),
                        &mut sink,
                    );
                }
                offset += shift_per_pass;
                sink.drain().count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, on_event);
criterion_main!(benches);
