//! Unit tests, generated cases and the golden file of the iceberg detector.
#![cfg(test)]
#![allow(clippy::unwrap_used)]

use strategy_sdk::testing::{self, Harness};
use strategy_sdk::{Action, DepthBook, Level, MarketEvent, Signal, Strategy, StrategyParams};

use crate::store::{BOOK_LEVELS_TRACKED, LEVELS_PER_SIDE, QTY_RING};
use crate::strategy::{IcebergDetector, IcebergState, MAX_CONFIDENCE};
use crate::IcebergDetectorParams;

fn run(h: &mut Harness<IcebergDetector>, book: &DepthBook, t: i64) -> Vec<Signal> {
    h.feed("BTCUSDT", t, MarketEvent::Depth(book))
}

/// A book with a bid level at 99.9 of `qty` under the best bid 100 and an ask at 100.1 whose size changes
/// every snapshot (so only the bid at 99.9 can look like an iceberg).
fn book_with_bid(qty: f64, noise: f64) -> DepthBook {
    testing::book(
        &[(100.0, 1.0 + noise), (99.9, qty)],
        &[(100.1, 5.0 + noise * 7.0)],
    )
}

/// Feeds eaten/refilled quantities 10, 2, 10, 2, … at `step` ms; returns all signals.
fn refills(h: &mut Harness<IcebergDetector>, start: i64, step: i64, n: usize) -> Vec<Signal> {
    let mut out = Vec::new();
    for i in 0..n {
        let qty = if i % 2 == 0 { 10.0 } else { 2.0 };
        out.extend(run(
            h,
            &book_with_bid(qty, (i % 5) as f64),
            start + i as i64 * step,
        ));
    }
    out
}

#[test]
fn three_fast_refills_buy_at_mid() {
    let mut h = Harness::<IcebergDetector>::default();
    // refills complete at the 3rd, 5th and 7th snapshot
    assert!(refills(&mut h, 0, 1_000, 6).is_empty());
    let s = refills(&mut h, 6_000, 1_000, 1);
    assert_eq!(s.len(), 1);
    let s = &s[0];
    assert_eq!(s.action, Action::Buy);
    let mid = 100.05;
    assert!((s.price - mid).abs() < 1e-9);
    assert!((s.confidence - 0.80).abs() < 1e-9, "{}", s.confidence);
    let meta: std::collections::HashMap<_, _> = s.metadata.iter().cloned().collect();
    assert_eq!(meta["pattern_type"], "refill");
    assert_eq!(meta["iceberg_side"], "bid");
    assert_eq!(meta["iceberg_price"], 99.9);
    // avg refill speed: 6 s since first seen / 3 refills
    assert!((meta["avg_refill_speed"].as_f64().unwrap() - 2.0).abs() < 1e-9);
    // risk: distance 0.15 < 0.5 % of mid → 0.50025
    let risk = mid * 0.005;
    assert!((s.stop_loss.unwrap() - (99.9 - risk)).abs() < 1e-9);
    assert!((s.take_profit.unwrap() - (mid + 2.5 * risk)).abs() < 1e-9);
    assert_eq!(s.indicators.len(), 4);
}

#[test]
fn hidden_seller_sells_with_stop_above_the_level() {
    let mut h = Harness::<IcebergDetector>::default();
    let mut out = Vec::new();
    for i in 0..7 {
        let qty = if i % 2 == 0 { 8.0 } else { 1.0 };
        let b = testing::book(
            &[(100.0, 1.0 + i as f64)],
            &[(100.1, 3.0 + i as f64), (100.2, qty)],
        );
        out.extend(run(&mut h, &b, i * 500));
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].action, Action::Sell);
    let mid = 100.05;
    let risk = mid * 0.005;
    assert!((out[0].stop_loss.unwrap() - (100.2 + risk)).abs() < 1e-9);
    assert!((out[0].take_profit.unwrap() - (mid - 2.5 * risk)).abs() < 1e-9);
}

#[test]
fn refill_speed_threshold_is_strict() {
    // three appearances 10, 2, 10: a refill when they span less than 5 s; with min_refill_count 2, two refills
    // (five appearances) are needed
    let p = IcebergDetectorParams {
        min_refill_count: 2,
        ..Default::default()
    };
    for (span_ms, expected) in [(4_998, 1), (5_000, 0)] {
        let mut h = Harness::<IcebergDetector>::new(p.clone());
        let step = span_ms / 2;
        let n = refills(&mut h, 0, step, 5).len();
        assert_eq!(n, expected, "span {span_ms} ms");
    }
}

#[test]
fn refill_needs_a_deep_drop_and_a_full_restore() {
    let p = IcebergDetectorParams {
        min_refill_count: 2,
        ..Default::default()
    };
    let seq = |qs: &[f64]| {
        let mut h = Harness::<IcebergDetector>::new(p.clone());
        let mut n = 0;
        for (i, &q) in qs.iter().enumerate() {
            n += run(&mut h, &book_with_bid(q, (i % 5) as f64), i as i64 * 500).len();
        }
        n
    };
    assert_eq!(
        seq(&[10.0, 4.99, 8.01, 4.0, 9.0]),
        1,
        "just past both edges"
    );
    assert_eq!(seq(&[10.0, 5.0, 9.0, 4.0, 9.0]), 0, "drop to exactly half");
    assert_eq!(
        seq(&[10.0, 4.0, 8.0, 3.0, 9.0]),
        0,
        "restore to exactly 80 %"
    );
}

#[test]
fn proximity_to_mid_is_inclusive() {
    // the level at 99.9 is 0.1497 % below the mid 100.05
    let level_pct = (100.05 - 99.9) / 100.05 * 100.0;
    for (pct, expected) in [(level_pct * 0.999, 0), (level_pct * 1.001, 1)] {
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            level_proximity_pct: pct,
            ..Default::default()
        });
        assert_eq!(refills(&mut h, 0, 1_000, 7).len(), expected, "pct {pct}");
    }
}

/// A quiet book: the same levels every `step` ms, with sizes varying by `wiggle` (relative).
fn steady(
    h: &mut Harness<IcebergDetector>,
    from: i64,
    to: i64,
    step: i64,
    wiggle: f64,
) -> Vec<Signal> {
    let mut out = Vec::new();
    let mut t = from;
    let mut i = 0;
    while t <= to {
        let w = if i % 2 == 0 {
            1.0 + wiggle
        } else {
            1.0 - wiggle
        };
        let b = testing::book(&[(100.0, 5.0 * w)], &[(100.1, 7.0 * w)]);
        out.extend(run(h, &b, t));
        t += step;
        i += 1;
    }
    out
}

#[test]
fn consistent_size_after_persistence_threshold() {
    // sizes within ±5 % (cv 0.05 < 0.1): consistent; fires once the level is older than 120 s
    let mut h = Harness::<IcebergDetector>::default();
    assert!(
        steady(&mut h, 0, 120_000, 1_000, 0.05).is_empty(),
        "at exactly 120 s"
    );
    let s = steady(&mut h, 120_001, 120_001, 1_000, 0.05);
    assert_eq!(s.len(), 1);
    assert!((s[0].confidence - 0.70).abs() < 1e-12);
    let meta: std::collections::HashMap<_, _> = s[0].metadata.iter().cloned().collect();
    assert_eq!(meta["pattern_type"], "consistent_size");
    // the bid is tracked first and wins the tie with the ask
    assert_eq!(meta["iceberg_side"], "bid");
    assert_eq!(s[0].action, Action::Buy);
}

#[test]
fn anchor_after_one_and_a_half_persistence_thresholds() {
    // sizes ±20 %: never consistent; the level anchors after 180 s
    let mut h = Harness::<IcebergDetector>::default();
    assert!(steady(&mut h, 0, 180_000, 1_000, 0.2).is_empty());
    let s = steady(&mut h, 180_001, 180_001, 1_000, 0.2);
    assert_eq!(s.len(), 1);
    assert!((s[0].confidence - 0.75).abs() < 1e-12);
    assert_eq!(s[0].metadata[0].1, "anchor");
    // a longer persistence threshold moves both patterns
    let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
        persistence_threshold_seconds: 200.0,
        ..Default::default()
    });
    assert!(steady(&mut h, 0, 300_000, 1_000, 0.2).is_empty());
    assert_eq!(steady(&mut h, 300_001, 300_001, 1_000, 0.2).len(), 1);
}

#[test]
fn base_confidence_shifts_every_pattern() {
    let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
        base_confidence: 0.8,
        ..Default::default()
    });
    let s = steady(&mut h, 0, 181_000, 1_000, 0.2);
    assert!((s[0].confidence - 0.85).abs() < 1e-9);
    let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
        base_confidence: 1.0,
        min_refill_count: 2,
        ..Default::default()
    });
    for s in refills(&mut h, 0, 1_000, 40) {
        assert!(s.confidence <= MAX_CONFIDENCE);
    }
}

#[test]
fn repeats_are_left_to_the_runners_interval() {
    // The strategy itself reports the strongest level on every qualifying snapshot; the minimum interval
    // (per symbol, default 30 min) is enforced once for every strategy by the SDK runner.
    let mut h = Harness::<IcebergDetector>::default();
    let first = steady(&mut h, 0, 181_000, 1_000, 0.2);
    assert_eq!(first.len(), 1);
    let t0 = first[0].event_time_ms;
    // the same level, one second later: reported again (before, a per-level 120 s cooldown held it back)
    let again = steady(&mut h, t0 + 1_000, t0 + 1_000, 1_000, 0.2);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].metadata[2].1, first[0].metadata[2].1);
    assert_eq!(
        IcebergDetector::min_signal_interval_ms(&IcebergDetectorParams::default()),
        1_800_000
    );
}

#[test]
fn levels_expire_after_the_history_window() {
    // two refills on the bid by 4 s, then it leaves the book; if it comes back after more than the 60 s window
    // it starts over, so a third refill afterwards only fires if it came back in time
    let gone = testing::book(&[(100.0, 1.0)], &[(100.1, 5.0)]);
    for (back_at, expected) in [(64_000, 1), (64_001, 0)] {
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            history_window_seconds: 60,
            ..Default::default()
        });
        assert!(refills(&mut h, 0, 1_000, 5).is_empty());
        assert!(run(&mut h, &gone, 30_000).is_empty());
        assert_eq!(
            refills(&mut h, back_at, 1_000, 3).len(),
            expected,
            "back at {back_at}"
        );
    }
}

#[test]
fn tracked_levels_are_bounded() {
    let mut st = IcebergState::default();
    let p = IcebergDetectorParams::default();
    for i in 0..2_000 {
        let price = 100.0 + i as f64 * 0.01;
        let bids: Vec<Level> = (0..20).map(|k| Level::new(price - k as f64, 1.0)).collect();
        let asks: Vec<Level> = (0..20).map(|k| Level::new(price + k as f64, 1.0)).collect();
        st.update(&bids, &asks, i * 100, &p);
        assert!(st.tracked_levels() <= 2 * LEVELS_PER_SIDE);
    }
    assert_eq!(st.tracked_levels(), 2 * LEVELS_PER_SIDE);
    // the current snapshot's levels survive eviction
    let sides = st.sides.as_ref().unwrap();
    for k in 0..20 {
        let price = 100.0 + 1_999.0 * 0.01 + k as f64;
        assert!(sides[1].slot_of(price).is_some(), "{price}");
    }
    // quantities per level are bounded too
    let one = [Level::new(1.0, 1.0)];
    for i in 0..500 {
        st.update(&one, &one, 300_000 + i, &p);
    }
    let sides = st.sides.as_ref().unwrap();
    let slot = sides[0].slot_of(1.0).unwrap();
    assert_eq!(sides[0].remembered(slot), QTY_RING);
}

#[test]
fn max_symbols_is_honoured() {
    let p = IcebergDetectorParams {
        max_symbols: 10,
        ..Default::default()
    };
    let mut h = Harness::<IcebergDetector>::new(p);
    let b = book_with_bid(10.0, 0.0);
    for i in 0..11 {
        h.feed(&format!("SYM{i}"), 0, MarketEvent::Depth(&b));
    }
    let owners: Vec<u64> = h.strategy().slots.iter().map(|s| s.owner).collect();
    assert_eq!(&owners[..10], &(1..=10).collect::<Vec<_>>()[..]);
    assert!(
        owners[10..].iter().all(|&o| o == 0),
        "the 11th symbol is not tracked"
    );
    // the 11th symbol gets in once a tracked symbol has been silent for the whole history window
    for i in 0..10 {
        if i != 3 {
            h.feed(&format!("SYM{i}"), 300_000, MarketEvent::Depth(&b));
        }
    }
    h.feed("SYM10", 300_001, MarketEvent::Depth(&b));
    assert_eq!(h.strategy().slots[3].owner, 11);
    // and the evicted one starts over when it comes back (no slot free now)
    h.feed("SYM3", 300_002, MarketEvent::Depth(&b));
    assert!(h.strategy().slots.iter().all(|s| s.owner != 4));
}

#[test]
fn empty_and_odd_books_do_not_panic() {
    let mut h = Harness::<IcebergDetector>::default();
    for (i, b) in [
        testing::book(&[], &[]),
        testing::book(&[(100.0, 1.0)], &[]),
        testing::book(&[(100.0, 0.0)], &[(100.0, 0.0)]),
        testing::book(&[(0.0, 1.0)], &[(0.0, 1.0)]),
        testing::book(&[(f64::MAX, f64::MAX)], &[(f64::MAX, f64::MAX)]),
        testing::book(&[(f64::NAN, 1.0)], &[(100.0, f64::INFINITY)]),
        testing::book(&[(100.0, 1.0), (100.0, 1.0)], &[(99.0, 1.0)]),
    ]
    .iter()
    .enumerate()
    {
        for s in run(&mut h, b, i as i64) {
            assert!(s.confidence.is_finite() && s.price.is_finite());
        }
    }
}

/// `consistency_threshold` decides the consistent-size pattern: sizes within ±8 % (std / mean 0.08) are consistent
/// below a 0.1 threshold (0.70 once older than 120 s), not below 0.05 (nothing until the anchor at 180 s).
#[test]
fn consistency_threshold_decides_the_consistent_size_pattern() {
    for (threshold, first_at, pattern) in
        [(0.1, 121_000, "consistent_size"), (0.05, 181_000, "anchor")]
    {
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            consistency_threshold: threshold,
            ..Default::default()
        });
        let s = steady(&mut h, 0, 200_000, 1_000, 0.08);
        assert!(!s.is_empty(), "threshold {threshold}");
        assert_eq!(s[0].event_time_ms, first_at, "threshold {threshold}");
        let meta: std::collections::HashMap<_, _> = s[0].metadata.iter().cloned().collect();
        assert_eq!(meta["pattern_type"], pattern);
        let consistency = s[0]
            .indicators
            .iter()
            .find(|(k, _)| *k == "volume_consistency")
            .and_then(|(_, v)| v.as_f64())
            .unwrap();
        assert!((consistency - 0.92).abs() < 1e-6, "{consistency}");
    }
}

/// Only the levels nearest the mid of each snapshot are tracked.
#[test]
fn only_levels_near_the_mid_are_tracked() {
    let mut st = IcebergState::default();
    let p = IcebergDetectorParams::default();
    let bids: Vec<Level> = (0..50)
        .map(|k| Level::new(100.0 - k as f64 * 0.1, 1.0))
        .collect();
    let asks: Vec<Level> = (0..50)
        .map(|k| Level::new(100.1 + k as f64 * 0.1, 1.0))
        .collect();
    st.update(&bids, &asks, 0, &p);
    assert_eq!(st.tracked_levels(), 2 * BOOK_LEVELS_TRACKED);
    let lowest = st.sides.as_ref().unwrap()[0]
        .prices()
        .into_iter()
        .fold(f64::MAX, f64::min);
    assert!((lowest - bids[BOOK_LEVELS_TRACKED - 1].price).abs() < 1e-9);
}

/// State per busy symbol after feeding the whole bundled recording (BTCUSDT and ETHUSDT books): the struct plus
/// its heap, at most 24 KB. (Printed with `-- --nocapture`; the figure is in the README.)
#[test]
fn state_per_busy_symbol_is_at_most_24_kb() {
    let states = feed_recording_states();
    for (symbol, st) in &states {
        println!(
            "{symbol}: {} bytes of state, {} tracked levels",
            st.state_bytes(),
            st.tracked_levels()
        );
        assert!(
            st.state_bytes() <= 24 * 1024,
            "{symbol}: {}",
            st.state_bytes()
        );
        assert!(
            st.tracked_levels() >= 2 * 20,
            "{symbol}: the book's levels are tracked"
        );
    }
    assert_eq!(states.len(), 2);
}

/// Calls `f` with every message of the bundled recording that decodes, symbols numbered densely in order of first
/// appearance (as the host's symbol table does).
fn for_each_recorded_event(mut f: impl FnMut(&strategy_sdk::EventContext<'_>, &MarketEvent<'_>)) {
    use strategy_sdk::decode::Decoder;
    use strategy_sdk::{EventContext, SymbolId};
    let mut decoder = Decoder::default();
    let mut symbols: Vec<String> = Vec::new();
    for line in testing::bundled_recording() {
        let Ok(d) = decoder.decode(line.as_bytes()) else {
            continue;
        };
        let id = match symbols.iter().position(|s| s == d.symbol) {
            Some(i) => i,
            None => {
                symbols.push(d.symbol.to_owned());
                symbols.len() - 1
            }
        };
        let ctx = EventContext {
            symbol: d.symbol,
            symbol_id: SymbolId(id as u32),
            event_time_ms: d.event_time_ms,
        };
        f(&ctx, &d.event);
    }
}

/// Per-symbol states after feeding every depth message of the bundled recording at defaults.
fn feed_recording_states() -> Vec<(String, IcebergState)> {
    let mut strategy = IcebergDetector::create();
    let p = IcebergDetectorParams::default();
    let mut sink = strategy_sdk::SignalSink::new();
    let mut states: Vec<(String, IcebergState)> = Vec::new();
    for_each_recorded_event(|ctx, event| {
        let i = ctx.symbol_id.index();
        if i == states.len() {
            states.push((ctx.symbol.to_owned(), IcebergState::default()));
        }
        strategy.on_event(ctx, &p, &mut states[i].1, event, &mut sink);
        sink.drain().count();
    });
    states.retain(|(_, st)| st.tracked_levels() > 0);
    states
}

/// Time per depth message with many busy symbols interleaved (the recording's BTCUSDT and ETHUSDT books relabelled,
/// event time moving forward), through the strategy runner as in the host (so the per-symbol signal interval
/// applies). `BUSY_SYMBOLS` (default 100) and `BUSY_MESSAGES` (default 900,000) size it. Run with
/// `cargo test --release -p strategy-iceberg-detector busy_symbols -- --ignored --nocapture`.
#[test]
#[ignore]
fn busy_symbols_time_and_state() {
    use strategy_sdk::decode::Decoder;
    use strategy_sdk::{EventContext, SignalSink, StrategyDescriptor, SymbolId};
    static DESCRIPTOR: StrategyDescriptor = StrategyDescriptor::of::<IcebergDetector>();
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (n, total) = (env("BUSY_SYMBOLS", 100), env("BUSY_MESSAGES", 900_000));
    let mut decoder = Decoder::default();
    let mut msgs: [Vec<(i64, DepthBook)>; 2] = [Vec::new(), Vec::new()];
    for line in testing::bundled_recording() {
        let Ok(d) = decoder.decode(line.as_bytes()) else {
            continue;
        };
        if let MarketEvent::Depth(book) = d.event {
            msgs[usize::from(d.symbol != "BTCUSDT")].push((d.event_time_ms, book.clone()));
        }
    }
    let mut runner = (DESCRIPTOR.build)(&DESCRIPTOR);
    let mut sink = SignalSink::new();
    let names: Vec<String> = (0..n).map(|i| format!("SYM{i}")).collect();
    let rounds = total / n;
    let mut published = 0;
    let start = std::time::Instant::now();
    for k in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let m = &msgs[i % 2];
            let span = m.last().unwrap().0 - m[0].0 + 100;
            let (t, book) = &m[k % m.len()];
            let ctx = EventContext {
                symbol: name,
                symbol_id: SymbolId(i as u32),
                event_time_ms: t + span * (k / m.len()) as i64,
            };
            runner.on_event(&ctx, &MarketEvent::Depth(book), &mut sink);
        }
        published += sink.drain().count();
    }
    println!(
        "{:.2} µs per depth message ({n} symbols interleaved, {} messages, {published} signals published)",
        start.elapsed().as_secs_f64() * 1e6 / (rounds * n) as f64,
        rounds * n
    );
    for (symbol, state) in feed_recording_states() {
        println!("state bytes: {symbol} {}", state.state_bytes());
    }
}

#[test]
fn defaults_validate() {
    assert!(IcebergDetectorParams::default().validate().is_ok());
    let json = serde_json::to_value(IcebergDetectorParams::default()).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 9);
}

#[test]
fn golden_signals_on_the_recording() {
    let lines = testing::bundled_recording();
    let mut h = Harness::<IcebergDetector>::default();
    let raw = h.feed_envelopes(lines.iter().map(String::as_str));
    assert!(
        !raw.is_empty(),
        "the recording must trigger the strategy with defaults"
    );
    // The golden file holds what is published: the raw signals through the runner's per-symbol interval
    // (the raw ones repeat on every qualifying snapshot).
    let interval = IcebergDetector::min_signal_interval_ms(&h.params);
    let mut gates: std::collections::HashMap<String, strategy_sdk::Cooldown> = Default::default();
    let signals: Vec<_> = raw
        .into_iter()
        .filter(|s| {
            gates
                .entry(s.symbol.clone())
                .or_default()
                .try_fire(s.event_time_ms, interval)
        })
        .collect();
    testing::assert_golden(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/iceberg_detector.txt"
        ),
        &signals,
    );
}

/// Through the strategy runner (which tells the detector when the symbol's interval has not passed, so it skips
/// the search and the signal) the published signals are exactly the golden ones (the harness's raw signals through
/// the same per-symbol interval, `golden_signals_on_the_recording`).
#[test]
fn the_runner_publishes_the_golden_signals() {
    use strategy_sdk::{SignalSink, StrategyDescriptor};
    static DESCRIPTOR: StrategyDescriptor = StrategyDescriptor::of::<IcebergDetector>();
    let mut runner = (DESCRIPTOR.build)(&DESCRIPTOR);
    let mut sink = SignalSink::new();
    let mut published = Vec::new();
    for_each_recorded_event(|ctx, event| {
        runner.on_event(ctx, event, &mut sink);
        published.extend(sink.drain());
    });
    assert!(!published.is_empty());
    testing::assert_golden(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/iceberg_detector.txt"
        ),
        &published,
    );
}

proptest::proptest! {
    #[test]
    fn signals_are_always_well_formed(
        snaps in proptest::collection::vec(
            (
                proptest::collection::vec((99.0f64..101.0, 0.0f64..20.0), 1..6),
                proptest::collection::vec((99.0f64..101.0, 0.0f64..20.0), 1..6),
                0i64..3_000,
            ),
            1..120,
        ),
        min_refill in 2u32..=10,
    ) {
        let mut h = Harness::<IcebergDetector>::new(IcebergDetectorParams {
            min_refill_count: min_refill,
            persistence_threshold_seconds: 60.0,
            ..Default::default()
        });
        let mut t = 0;
        for (mut bids, mut asks, dt) in snaps {
            t += dt;
            // snap prices to a 0.1 grid so levels repeat
            for l in bids.iter_mut().chain(asks.iter_mut()) {
                l.0 = (l.0 * 10.0).round() / 10.0;
            }
            let book = testing::book(&bids, &asks);
            for s in run(&mut h, &book, t) {
                proptest::prop_assert!(s.confidence >= 0.0 && s.confidence <= MAX_CONFIDENCE);
                proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                let (sl, tp) = (s.stop_loss.unwrap(), s.take_profit.unwrap());
                proptest::prop_assert!(sl.is_finite() && tp.is_finite());
                match s.action {
                    Action::Buy => proptest::prop_assert!(sl <= s.price && tp > s.price),
                    Action::Sell => proptest::prop_assert!(sl >= s.price && tp < s.price),
                }
                proptest::prop_assert_eq!(s.indicators.len(), 4);
                proptest::prop_assert!(s.indicators.iter().all(|(_, v)| v.is_number()));
            }
        }
    }
}
