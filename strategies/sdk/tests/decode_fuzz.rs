//! Property tests of the envelope decoder: arbitrary bytes and mutated real envelopes (truncation, type swaps,
//! huge numbers, deep nesting, unsorted and crossed levels) never panic, and whatever is accepted satisfies the
//! invariants every strategy relies on (valid symbol, finite in-range numbers, sorted uncrossed book within the
//! level limit, positive event time); and the decoder with its specialised book-side scan gives exactly what the
//! generic serde path gives (the same message or the same drop reason).
//!
//! CI runs 10,000 cases per property (`tests/run.sh`). A long run (≥ 1 M cases per property):
//! `DECODE_FUZZ_CASES=1000000 cargo test --release -p strategy-sdk --test decode_fuzz` (result in BENCHMARKS.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;
use strategy_sdk::decode::{Decoder, MAX_NUMBER, MAX_SYMBOL_LEN};
use strategy_sdk::MarketEvent;

const MAX_LEVELS: usize = 50;

fn cases() -> u32 {
    std::env::var("DECODE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A sample of real envelopes of each stream type from the bundled recording.
fn real() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let all = strategy_sdk::testing::bundled_recording();
        let mut out = Vec::new();
        for kind in ["@depth20", "@trade", "@ticker"] {
            out.extend(all.iter().filter(|l| l.contains(kind)).take(40).cloned());
        }
        out
    })
}

fn in_range(x: f64) -> bool {
    x.is_finite() && x.abs() <= MAX_NUMBER
}

/// What a decoding gave, for comparing two decoders: the drop reason, or everything decoded (floats by their
/// shortest round-trip text, so equal text means equal bits but for the sign of zero).
fn outcome(decoder: &mut Decoder, payload: &[u8]) -> Result<String, &'static str> {
    decoder
        .decode(payload)
        .map(|d| {
            format!(
                "{} {} {:?} {:?}",
                d.symbol, d.event_time_ms, d.traceparent, d.event
            )
        })
        .map_err(|e| e.reason())
}

/// Decodes and, when accepted, checks the invariants; the result (or drop reason) must be the generic serde
/// path's ([`Decoder::generic`]), which the specialised book-side scan replaces. Never panics on its own: a panic
/// is the decoder's.
fn check(decoder: &mut Decoder, payload: &[u8]) -> Result<(), TestCaseError> {
    let generic = outcome(&mut Decoder::generic(MAX_LEVELS), payload);
    prop_assert_eq!(
        outcome(decoder, payload),
        generic,
        "differs from the generic path"
    );
    let Ok(d) = decoder.decode(payload) else {
        return Ok(());
    };
    prop_assert!(!d.symbol.is_empty() && d.symbol.len() <= MAX_SYMBOL_LEN);
    prop_assert!(d.symbol.bytes().all(|b| b.is_ascii_alphanumeric()));
    prop_assert!(d.event_time_ms > 0);
    match d.event {
        MarketEvent::Depth(book) => {
            prop_assert!(!book.bids.is_empty() || !book.asks.is_empty());
            prop_assert!(book.bids.len() <= MAX_LEVELS && book.asks.len() <= MAX_LEVELS);
            for l in book.bids.iter().chain(book.asks.iter()) {
                prop_assert!(in_range(l.price) && l.price > 0.0, "price {}", l.price);
                prop_assert!(in_range(l.qty) && l.qty >= 0.0, "qty {}", l.qty);
            }
            prop_assert!(
                book.bids.windows(2).all(|w| w[0].price > w[1].price),
                "bids sorted"
            );
            prop_assert!(
                book.asks.windows(2).all(|w| w[0].price < w[1].price),
                "asks sorted"
            );
            if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                prop_assert!(b.price < a.price, "not crossed");
            }
        }
        MarketEvent::Trade(t) => {
            prop_assert!(in_range(t.price) && t.price > 0.0);
            prop_assert!(in_range(t.qty) && t.qty >= 0.0);
        }
        MarketEvent::Ticker(t) => {
            prop_assert!(in_range(t.last_price));
            prop_assert!(in_range(t.price_change_percent));
        }
    }
    Ok(())
}

/// A replacement value of another type, or a hostile number.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::String("1e400".into())),
        Just(Value::String("-0".into())),
        Just(Value::String("NaN".into())),
        Just(Value::String("99999999999999999999999".into())),
        ".{0,40}".prop_map(Value::String),
        Just(Value::Array(vec![])),
        Just(serde_json::json!({"a": [1, "2", null]})),
    ]
}

/// Every path (object keys and array indexes) of a JSON value, depth first.
fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(prefix.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                prefix.push(Value::String(k.clone()));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Value::from(i));
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            Value::String(k) => cur.get_mut(k.as_str())?,
            Value::Number(i) => cur.get_mut(i.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Replace(usize, Value),
    Nest(usize, usize),
    ShuffleLevels(u64),
    Cross(f64),
    FlipByte(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), hostile_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (any::<usize>(), 1usize..5_000).prop_map(|(i, d)| Mutation::Nest(i, d)),
        any::<u64>().prop_map(Mutation::ShuffleLevels),
        (1.0001f64..10.0).prop_map(Mutation::Cross),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipByte(i, b)),
    ]
}

fn apply(line: &str, m: &Mutation) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(line).unwrap();
    match m {
        Mutation::Truncate(at) => {
            let bytes = line.as_bytes();
            return bytes[..at % bytes.len().max(1)].to_vec();
        }
        Mutation::FlipByte(at, b) => {
            let mut bytes = line.as_bytes().to_vec();
            let i = at % bytes.len();
            bytes[i] = *b;
            return bytes;
        }
        Mutation::Replace(i, new) => {
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            let path = all[i % all.len()].clone();
            if let Some(slot) = at_mut(&mut v, &path) {
                *slot = new.clone();
            }
        }
        Mutation::Nest(i, depth) => {
            // Raw text: `[[[…` around one value, deeper than any parser's recursion limit.
            let mut all = Vec::new();
            paths(&v, &mut Vec::new(), &mut all);
            let path = all[i % all.len()].clone();
            if let Some(slot) = at_mut(&mut v, &path) {
                *slot = Value::String("\u{1}NEST\u{1}".into());
            }
            let text = serde_json::to_string(&v).unwrap();
            let nested = format!("{}1{}", "[".repeat(*depth), "]".repeat(*depth));
            return text.replace("\"\\u0001NEST\\u0001\"", &nested).into_bytes();
        }
        Mutation::ShuffleLevels(seed) => {
            let mut s = *seed | 1;
            for side in ["bids", "asks"] {
                if let Some(Value::Array(levels)) = v.pointer_mut(&format!("/data/{side}")) {
                    for i in (1..levels.len()).rev() {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        levels.swap(i, (s % (i as u64 + 1)) as usize);
                    }
                }
            }
        }
        Mutation::Cross(factor) => {
            let ask = v
                .pointer("/data/asks/0/0")
                .and_then(Value::as_str)
                .and_then(|p| p.parse::<f64>().ok());
            if let (Some(ask), Some(bid)) = (ask, v.pointer_mut("/data/bids/3/0")) {
                *bid = Value::String(format!("{:.8}", ask * factor));
            }
        }
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn every_real_envelope_still_decodes() {
    let mut d = Decoder::new(MAX_LEVELS);
    let mut generic = Decoder::generic(MAX_LEVELS);
    for line in strategy_sdk::testing::bundled_recording() {
        if line.contains("@depth20") || line.contains("@trade") || line.contains("@ticker") {
            assert!(d.decode(line.as_bytes()).is_ok(), "{line}");
            assert_eq!(
                outcome(&mut d, line.as_bytes()),
                outcome(&mut generic, line.as_bytes())
            );
        }
    }
    assert_eq!(
        d.generic_retries(),
        0,
        "the specialised scan reads every real message"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut d = Decoder::new(MAX_LEVELS);
        check(&mut d, &bytes)?;
    }

    #[test]
    fn arbitrary_text_shaped_like_an_envelope_never_panics(
        stream in "[a-zA-Z0-9@_]{0,40}",
        data in ".{0,200}",
        ts in ".{0,40}",
    ) {
        let payload = format!(r#"{{"stream":"{stream}","data":{data},"timestamp":"{ts}"}}"#);
        let mut d = Decoder::new(MAX_LEVELS);
        check(&mut d, payload.as_bytes())?;
    }

    #[test]
    fn mutated_real_envelopes_never_panic(
        pick in any::<proptest::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let lines = real();
        let line = &lines[pick.index(lines.len())];
        let mut d = Decoder::new(MAX_LEVELS);
        let mut payload = line.clone().into_bytes();
        for m in &mutations {
            let Ok(text) = std::str::from_utf8(&payload) else { break };
            if serde_json::from_str::<Value>(text).is_err() {
                break;
            }
            payload = apply(text, m);
        }
        check(&mut d, &payload)?;
        // The decoder is reused across messages: a bad message must not spoil the next good one.
        prop_assert!(d.decode(line.as_bytes()).is_ok());
    }
}

#[test]
fn unsorted_and_crossed_books_are_refused() {
    let line = real()
        .iter()
        .find(|l| l.contains("@depth20"))
        .unwrap()
        .clone();
    let mut d = Decoder::new(MAX_LEVELS);
    let crossed = apply(&line, &Mutation::Cross(1.5));
    assert_eq!(
        d.decode(&crossed).err().map(|e| e.reason()),
        Some("unsorted_book")
    );
    let shuffled = apply(&line, &Mutation::ShuffleLevels(7));
    assert!(d.decode(&shuffled).is_err());
}
