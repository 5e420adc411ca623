//! Envelope decoding of real depth20 / trade / ticker messages from the bundled recording; `<kind>_generic` is the
//! same with the generic serde path alone (`Decoder::generic`, no specialised book-side scan), in the same run.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strategy_sdk::decode::Decoder;
use strategy_sdk::testing::bundled_recording;

fn decode(c: &mut Criterion) {
    let lines = bundled_recording();
    let mut group = c.benchmark_group("decode");
    for (name, marker) in [
        ("depth20", "@depth20"),
        ("trade", "@trade"),
        ("ticker", "@ticker"),
    ] {
        let msgs: Vec<&[u8]> = lines
            .iter()
            .filter(|l| l.contains(marker))
            .take(2000)
            .map(|l| l.as_bytes())
            .collect();
        group.throughput(Throughput::Elements(msgs.len() as u64));
        for (suffix, generic) in [("", false), ("_generic", true)] {
            let id = BenchmarkId::from_parameter(format!("{name}{suffix}"));
            group.bench_with_input(id, &msgs, |b, msgs| {
                let mut decoder = if generic {
                    Decoder::generic(1000)
                } else {
                    Decoder::default()
                };
                b.iter(|| {
                    let mut n = 0usize;
                    for m in msgs {
                        if decoder.decode(m).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
