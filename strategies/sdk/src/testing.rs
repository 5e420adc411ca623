//! Test helpers shared by strategy crates: the bundled recording, book builders and a small harness.

use std::io::{BufRead, BufReader};

pub mod loopback;

use crate::decode::Decoder;
use crate::event::{DepthBook, EventContext, Level, MarketEvent, SymbolId, Ticker, Trade};
use crate::signal::{Signal, SignalSink};
use crate::strategy::Strategy;

/// Path of the bundled real recording (BTCUSDT + ETHUSDT, gzip JSON lines).
pub const BUNDLED_RECORDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/binance-btcusdt-ethusdt-20240808.jsonl.gz"
);

/// Every line of the bundled recording, in timestamp order.
pub fn bundled_recording() -> Vec<String> {
    let Ok(file) = std::fs::File::open(BUNDLED_RECORDING) else {
        panic!("bundled recording missing at {BUNDLED_RECORDING}");
    };
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map_while(Result::ok)
        .collect()
}

/// A book from (price, qty) pairs, best first.
pub fn book(bids: &[(f64, f64)], asks: &[(f64, f64)]) -> DepthBook {
    DepthBook {
        last_update_id: 1,
        bids: bids.iter().map(|&(p, q)| Level::new(p, q)).collect(),
        asks: asks.iter().map(|&(p, q)| Level::new(p, q)).collect(),
    }
}

/// A trade.
pub fn trade(price: f64, qty: f64, buyer_is_maker: bool, time_ms: i64) -> Trade {
    Trade {
        trade_id: time_ms as u64,
        price,
        qty,
        trade_time_ms: time_ms,
        buyer_is_maker,
    }
}

/// A ticker with last price and volume set.
pub fn ticker(last_price: f64, volume: f64) -> Ticker {
    Ticker {
        last_price,
        open_price: last_price,
        high_price: last_price,
        low_price: last_price,
        volume,
        quote_volume: volume * last_price,
        weighted_avg_price: last_price,
        best_bid: last_price,
        best_ask: last_price,
        ..Ticker::default()
    }
}

/// Drives one strategy directly, with per-symbol state, for unit and golden tests.
pub struct Harness<S: Strategy> {
    strategy: S,
    /// Parameters used for every event.
    pub params: S::Params,
    symbols: Vec<(String, S::SymbolState)>,
    sink: SignalSink,
}

impl<S: Strategy> Default for Harness<S> {
    fn default() -> Self {
        Self::new(S::Params::default())
    }
}

impl<S: Strategy> Harness<S> {
    /// A harness with the given parameters.
    pub fn new(params: S::Params) -> Self {
        Self {
            strategy: S::create(),
            params,
            symbols: Vec::new(),
            sink: SignalSink::new(),
        }
    }

    /// The strategy instance.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// Feeds one event for `symbol` at `time_ms`; returns the signals it produced.
    pub fn feed(&mut self, symbol: &str, time_ms: i64, event: MarketEvent<'_>) -> Vec<Signal> {
        let idx = match self.symbols.iter().position(|(s, _)| s == symbol) {
            Some(i) => i,
            None => {
                self.symbols
                    .push((symbol.to_owned(), S::SymbolState::default()));
                self.symbols.len() - 1
            }
        };
        let ctx = EventContext {
            symbol,
            symbol_id: SymbolId(idx as u32),
            event_time_ms: time_ms,
        };
        let state = &mut self.symbols[idx].1;
        self.strategy
            .on_event(&ctx, &self.params, state, &event, &mut self.sink);
        self.sink.drain().collect()
    }

    /// Feeds raw envelopes (e.g. the bundled recording) through the real decoder; returns all signals.
    pub fn feed_envelopes<'a>(&mut self, lines: impl IntoIterator<Item = &'a str>) -> Vec<Signal> {
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        for line in lines {
            let Ok(decoded) = decoder.decode(line.as_bytes()) else {
                continue;
            };
            if !S::CONSUMES.contains(&decoded.event.kind()) {
                continue;
            }
            let symbol = decoded.symbol.to_owned();
            out.extend(self.feed(&symbol, decoded.event_time_ms, decoded.event));
        }
        out
    }
}

/// One line per signal for golden files: id, symbol, action, confidence (3 dp), price, event time.
pub fn golden_line(s: &Signal) -> String {
    format!(
        "{} {} {} {:.3} {} {}",
        s.strategy_id,
        s.symbol,
        s.action.as_str(),
        s.confidence,
        s.price,
        crate::decode::format_timestamp_ms(s.event_time_ms)
    )
}

/// Compares signals with a golden file; with `UPDATE_GOLDEN=1` rewrites it instead. Panics with a diff hint.
pub fn assert_golden(path: &str, signals: &[Signal]) {
    let actual: String = signals.iter().map(|s| golden_line(s) + "\n").collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Err(e) = std::fs::write(path, &actual) {
            panic!("cannot write golden file {path}: {e}");
        }
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let first_diff = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "golden file {path} differs (expected {} lines, got {}; first difference at line {}). \
             Review the change and rerun with UPDATE_GOLDEN=1 to accept it.",
            expected.lines().count(),
            actual.lines().count(),
            first_diff + 1
        );
    }
}
