//! Sharded replicas (`SHARD_COUNT` / `SHARD_INDEX`): on the bundled recording relabelled into several symbols,
//! with every default strategy and plugin, the union of the signals of all shards equals the signals of one
//! unsharded host, for 2 and 4 shards. A replica drops other replicas' symbols before decoding, except the kinds
//! a cross-symbol strategy consumes (btc_dominance: tickers), which it still decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use realtime_strategies::metrics::Metrics;
use realtime_strategies::registry::Registry;
use realtime_strategies::runtime::pipeline::{shard_of, ShardFilter};
use realtime_strategies::runtime::{Outcome, Pipeline};
use strategy_sdk::Signal;

/// Copies of the recording's two symbols besides the originals (`s0btcusdt`, `s0ethusdt`, …).
const COPIES: usize = 2;

fn pipeline(registry: &Registry, shard: Option<ShardFilter>) -> Pipeline {
    let runners = registry
        .strategies()
        .iter()
        .filter(|s| s.descriptor.enabled_by_default)
        .map(|s| (s.descriptor.build)(s.descriptor))
        .collect();
    let plugins = strategy_sdk::registry::plugins()
        .map(|p| ((p.build)(), p.consumes))
        .collect();
    Pipeline::new(runners, plugins, Metrics::new(), 1 << 20, 1000).with_shard(shard)
}

/// The recording, each line followed by its relabelled copies (as `rs-load --symbols` does).
fn relabelled() -> Vec<String> {
    let mut out = Vec::new();
    for line in common::recording() {
        for c in 0..COPIES {
            out.push(line.replacen(r#"{"stream":""#, &format!(r#"{{"stream":"s{c}"#), 1));
        }
        out.push(line);
    }
    out
}

type Key = (String, String, i64, String, u64, u64);

fn key(s: &Signal) -> Key {
    (
        s.strategy_id.to_owned(),
        s.symbol.clone(),
        s.event_time_ms,
        s.action.as_str().to_owned(),
        s.confidence.to_bits(),
        s.price.to_bits(),
    )
}

/// Signals of one pipeline over `lines`, and how many messages it skipped.
fn run(mut p: Pipeline, lines: &[String]) -> (Vec<Key>, usize) {
    let (mut out, mut keys, mut skipped) = (Vec::new(), Vec::new(), 0);
    for l in lines {
        if p.process(l.as_bytes(), &mut out) == Outcome::Skipped {
            skipped += 1;
        }
        keys.extend(out.drain(..).map(|s| key(&s)));
    }
    (keys, skipped)
}

#[test]
fn union_of_shards_equals_one_host() {
    let registry = Registry::load().unwrap();
    let lines = relabelled();
    let (mut single, skipped) = run(pipeline(&registry, None), &lines);
    assert_eq!(skipped, 0);
    single.sort();
    let strategies: std::collections::BTreeSet<_> = single.iter().map(|k| &k.0).collect();
    let symbols: std::collections::BTreeSet<_> = single.iter().map(|k| &k.1).collect();
    assert!(
        strategies.len() >= 4 && symbols.len() >= 4,
        "a meaningful comparison: {strategies:?} {symbols:?}"
    );
    assert!(strategies.contains(&"btc_dominance".to_owned()));
    for count in [2u32, 4] {
        let mut union = Vec::new();
        let mut skipped_total = 0;
        for index in 0..count {
            let (signals, skipped) = run(
                pipeline(&registry, Some(ShardFilter { count, index })),
                &lines,
            );
            for k in &signals {
                assert_eq!(
                    shard_of(&k.1, count),
                    index,
                    "shard {index}/{count} signalled {k:?}"
                );
            }
            skipped_total += skipped;
            union.extend(signals);
        }
        union.sort();
        assert_eq!(union.len(), single.len(), "{count} shards");
        assert_eq!(union, single, "{count} shards: same signals as one host");
        assert!(skipped_total > 0);
    }
}

/// A replica does not decode other replicas' messages (a broken one is skipped, not dropped as malformed), except
/// the kinds a cross-symbol strategy reads (tickers for btc_dominance), which are decoded and checked.
#[test]
fn other_replicas_messages_are_skipped_before_decoding() {
    let registry = Registry::load().unwrap();
    let count = 4;
    let symbol = (0..100)
        .map(|i| format!("sym{i}usdt"))
        .find(|s| shard_of(&s.to_ascii_uppercase(), count) != 0)
        .unwrap();
    let mut p = pipeline(&registry, Some(ShardFilter { count, index: 0 }));
    let mut out = Vec::new();
    let broken = |kind: &str| format!(r#"{{"stream":"{symbol}@{kind}","data":{{"bids":[["1"#);
    assert_eq!(
        p.process(broken("depth20@100ms").as_bytes(), &mut out),
        Outcome::Skipped
    );
    assert_eq!(
        p.process(broken("trade").as_bytes(), &mut out),
        Outcome::Skipped
    );
    assert_eq!(
        p.process(broken("ticker").as_bytes(), &mut out),
        Outcome::Dropped("malformed_json"),
        "tickers are decoded for the cross-symbol strategy"
    );
    let own = (0..100)
        .map(|i| format!("sym{i}usdt"))
        .find(|s| shard_of(&s.to_ascii_uppercase(), count) == 0)
        .unwrap();
    let mine = format!(r#"{{"stream":"{own}@depth20@100ms","data":{{"bids":[["1"#);
    assert_eq!(
        p.process(mine.as_bytes(), &mut out),
        Outcome::Dropped("malformed_json"),
        "own symbols are decoded"
    );
}
