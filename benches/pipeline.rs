//! The whole per-message path (decode + depth analyzer + every strategy) on real recorded messages, and each
//! strategy alone (decode + that strategy: subtract the `decode` bench of strategy-sdk for the strategy's cost).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use realtime_strategies::metrics::Metrics;
use realtime_strategies::registry::Registry;
use realtime_strategies::runtime::Pipeline;
use strategy_sdk::testing::bundled_recording;

fn pipeline(registry: &Registry, only: Option<&str>, with_plugins: bool) -> Pipeline {
    let runners = registry
        .strategies()
        .iter()
        .filter(|s| only.is_none_or(|id| s.id() == id))
        .map(|s| (s.descriptor.build)(s.descriptor))
        .collect();
    let plugins = if with_plugins {
        registry
            .plugins()
            .iter()
            .map(|p| ((p.build)(), p.consumes))
            .collect()
    } else {
        Vec::new()
    };
    Pipeline::new(runners, plugins, Metrics::new(), 1 << 20, 1000)
}

fn whole_path(c: &mut Criterion) {
    let registry = Registry::load().unwrap();
    let lines = bundled_recording();
    let depth: Vec<&[u8]> = lines
        .iter()
        .filter(|l| l.contains("@depth20"))
        .map(|l| l.as_bytes())
        .collect();
    let mixed: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    for (name, msgs) in [
        ("depth20_all_strategies_and_analyzer", &depth),
        ("mixed_all_strategies_and_analyzer", &mixed),
    ] {
        group.throughput(Throughput::Elements(msgs.len() as u64));
        group.bench_function(name, |b| {
            let mut p = pipeline(&registry, None, true);
            let mut out = Vec::new();
            b.iter(|| {
                for m in msgs.iter() {
                    p.process(m, &mut out);
                }
                out.clear();
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("strategy_alone");
    group.sample_size(10);
    for s in registry.strategies() {
        let kinds = s.descriptor.consumes;
        let msgs: Vec<&[u8]> = lines
            .iter()
            .filter(|l| {
                kinds.iter().any(|k| match k {
                    strategy_sdk::StreamKind::Depth => l.contains("@depth"),
                    strategy_sdk::StreamKind::Trade => l.contains("@trade"),
                    strategy_sdk::StreamKind::Ticker => l.contains("@ticker"),
                })
            })
            .map(|l| l.as_bytes())
            .collect();
        group.throughput(Throughput::Elements(msgs.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(s.id()), &msgs, |b, msgs| {
            let mut p = pipeline(&registry, Some(s.id()), false);
            let mut out = Vec::new();
            b.iter(|| {
                for m in msgs.iter() {
                    p.process(m, &mut out);
                }
                out.clear();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, whole_path);
criterion_main!(benches);
