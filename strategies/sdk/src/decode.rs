//! Decoding of the socket client's NATS envelope into [`MarketEvent`]s.
//!
//! One pass over the bytes, strings borrowed from the input, numbers parsed straight into reused buffers: decoding
//! a depth20 message allocates nothing once the decoder's buffers have grown to the book size.

pub use crate::time::{format_timestamp_ms, parse_timestamp_ms};
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::{DepthBook, Level, MarketEvent, StreamKind, Ticker, Trade};

pub(crate) mod fast;

/// Largest accepted absolute value of a price or quantity; anything above is treated as corrupt input.
pub const MAX_NUMBER: f64 = 1e15;
/// Default maximum number of levels accepted per book side.
pub const DEFAULT_MAX_LEVELS: usize = 1000;
/// Longest accepted symbol.
pub const MAX_SYMBOL_LEN: usize = 32;

/// Why a message was dropped. Each variant has a stable label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not valid UTF-8.
    #[error("payload is not valid UTF-8")]
    InvalidUtf8,
    /// The payload is not a well-formed JSON envelope (truncated, wrong types, …).
    #[error("payload is not a well-formed envelope")]
    MalformedJson,
    /// `stream` or `data` is missing.
    #[error("envelope lacks `stream` or `data`")]
    MissingField,
    /// The stream is not one the host consumes (e.g. kline).
    #[error("stream type is not supported")]
    UnsupportedStream,
    /// The symbol part of `stream` is empty, too long or not alphanumeric.
    #[error("symbol is invalid")]
    InvalidSymbol,
    /// A price or quantity is not a finite number in range (NaN, negative, zero price, huge).
    #[error("a number is invalid or out of range")]
    InvalidNumber,
    /// No usable event time (depth without a parseable envelope timestamp).
    #[error("timestamp is missing or invalid")]
    InvalidTimestamp,
    /// A depth message with no level on either side.
    #[error("order book is empty")]
    EmptyBook,
    /// A depth message whose best bid is at or above its best ask.
    #[error("order book is crossed")]
    CrossedBook,
    /// A depth message whose bids are not in strictly falling or asks not in strictly rising price order (a
    /// level inside the book could cross the other side).
    #[error("order book levels are not in price order")]
    UnsortedBook,
    /// A book side with more levels than the configured maximum.
    #[error("order book has too many levels")]
    TooManyLevels,
}

impl DecodeError {
    /// Every reason, for pre-registering metric label values.
    pub const ALL: [DecodeError; 11] = [
        DecodeError::InvalidUtf8,
        DecodeError::MalformedJson,
        DecodeError::MissingField,
        DecodeError::UnsupportedStream,
        DecodeError::InvalidSymbol,
        DecodeError::InvalidNumber,
        DecodeError::InvalidTimestamp,
        DecodeError::EmptyBook,
        DecodeError::CrossedBook,
        DecodeError::UnsortedBook,
        DecodeError::TooManyLevels,
    ];

    /// Stable metric label.
    pub const fn reason(self) -> &'static str {
        match self {
            DecodeError::InvalidUtf8 => "invalid_utf8",
            DecodeError::MalformedJson => "malformed_json",
            DecodeError::MissingField => "missing_field",
            DecodeError::UnsupportedStream => "unsupported_stream",
            DecodeError::InvalidSymbol => "invalid_symbol",
            DecodeError::InvalidNumber => "invalid_number",
            DecodeError::InvalidTimestamp => "invalid_timestamp",
            DecodeError::EmptyBook => "empty_book",
            DecodeError::CrossedBook => "crossed_book",
            DecodeError::UnsortedBook => "unsorted_book",
            DecodeError::TooManyLevels => "too_many_levels",
        }
    }
}

/// A decoded message: the event plus what the envelope said about it.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// Upper-case symbol taken from `stream`.
    pub symbol: &'a str,
    /// Event time in milliseconds since the epoch.
    pub event_time_ms: i64,
    /// W3C `traceparent` from `_otel_trace_context`, when the producer sent one.
    pub traceparent: Option<&'a str>,
    /// The event itself.
    pub event: MarketEvent<'a>,
}

/// Reusable decoder. Keep one per processing task.
///
/// Book sides are first read by a specialised scan of Binance's `[["price","qty"],…]` text (no per-number serde
/// visitor); a message the scan does not fully accept is decoded again by the generic serde path, so every result
/// and every drop reason is the generic path's ([`Decoder::generic`] runs that path alone, for comparison).
#[derive(Debug)]
pub struct Decoder {
    max_levels: usize,
    fast: bool,
    retries: u64,
    scratch: Scratch,
}

#[derive(Debug, Default)]
struct Scratch {
    book: DepthBook,
    trade: Trade,
    ticker: Ticker,
    symbol: String,
    payload_event_time: Option<i64>,
    failure: Option<DecodeError>,
    /// The specialised book-side scan is tried (a failed scan fails the attempt, which is then retried without).
    fast: bool,
}

/// What one decoding attempt found besides the scratch contents.
struct Attempt<'a> {
    kind: StreamKind,
    event_time_ms: i64,
    traceparent: Option<&'a str>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LEVELS)
    }
}

impl Decoder {
    /// A decoder accepting at most `max_levels` levels per book side.
    pub fn new(max_levels: usize) -> Self {
        let mut scratch = Scratch::default();
        scratch.book.bids.reserve(20);
        scratch.book.asks.reserve(20);
        scratch.symbol.reserve(16);
        Self {
            max_levels: max_levels.max(1),
            fast: true,
            retries: 0,
            scratch,
        }
    }

    /// A decoder that only uses the generic serde path (the reference the specialised scans are checked against).
    pub fn generic(max_levels: usize) -> Self {
        Self {
            fast: false,
            ..Self::new(max_levels)
        }
    }

    /// Messages the specialised scan did not accept and the generic path decoded (or dropped) instead.
    pub fn generic_retries(&self) -> u64 {
        self.retries
    }

    /// Decodes one envelope. On error nothing of the message is kept.
    pub fn decode<'a>(&'a mut self, payload: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        let fast = match self.fast {
            true => self.depth_fast(payload),
            false => None,
        };
        let attempt = match fast {
            Some(attempt) => attempt,
            None => {
                let text = std::str::from_utf8(payload).map_err(|_| DecodeError::InvalidUtf8)?;
                match self.fast {
                    true => self.attempt(text, true).or_else(|_| {
                        self.retries += 1;
                        self.attempt(text, false)
                    }),
                    false => self.attempt(text, false),
                }?
            }
        };
        let scratch = &self.scratch;
        let event = match attempt.kind {
            StreamKind::Depth => MarketEvent::Depth(&scratch.book),
            StreamKind::Trade => MarketEvent::Trade(&scratch.trade),
            StreamKind::Ticker => MarketEvent::Ticker(&scratch.ticker),
        };
        Ok(Decoded {
            symbol: &scratch.symbol,
            event_time_ms: attempt.event_time_ms,
            traceparent: attempt.traceparent,
            event,
        })
    }

    /// The producer's depth envelope read by the specialised scan alone (see `fast::depth_envelope`), with the
    /// generic path's checks; `None` for anything it does not fully accept (the caller then decodes generically).
    fn depth_fast<'a>(&mut self, payload: &'a [u8]) -> Option<Attempt<'a>> {
        let scratch = &mut self.scratch;
        let found = fast::depth_envelope(payload, self.max_levels, &mut scratch.book)?;
        // the stream and the timestamp read as bytes; anything else (another stream kind, a timestamp only chrono
        // reads) is left to the generic path
        let (symbol, kind) = split_stream(found.stream).ok()?;
        if kind != StreamKind::Depth {
            return None;
        }
        set_symbol(&mut scratch.symbol, symbol);
        scratch.book.last_update_id = found.last_update_id;
        let event_time_ms = fast::timestamp_ms_bytes(found.timestamp?)?;
        let book = &scratch.book;
        let (bid, ask) = (book.best_bid(), book.best_ask());
        if (bid.is_none() && ask.is_none())
            || matches!((bid, ask), (Some(b), Some(a)) if b.price >= a.price)
            || book.bids.windows(2).any(|w| w[1].price >= w[0].price)
            || book.asks.windows(2).any(|w| w[1].price <= w[0].price)
        {
            return None;
        }
        Some(Attempt {
            kind: StreamKind::Depth,
            event_time_ms,
            traceparent: None,
        })
    }

    /// One pass over the envelope into the scratch buffers, with or without the specialised scans.
    fn attempt<'a>(&mut self, text: &'a str, fast: bool) -> Result<Attempt<'a>, DecodeError> {
        let scratch = &mut self.scratch;
        scratch.failure = None;
        scratch.payload_event_time = None;
        scratch.fast = fast;
        let mut de = serde_json::Deserializer::from_str(text);
        let parts = de
            .deserialize_map(EnvelopeVisitor {
                scratch: &mut *scratch,
                max_levels: self.max_levels,
            })
            .and_then(|parts| de.end().map(|()| parts))
            .map_err(|_| scratch.failure.unwrap_or(DecodeError::MalformedJson))?;

        let stream = parts.stream.ok_or(DecodeError::MissingField)?;
        let kind = match parts.data {
            DataState::Missing => return Err(DecodeError::MissingField),
            DataState::Parsed(kind) => kind,
            DataState::Raw(raw) => {
                let kind = parse_stream(stream, scratch)?;
                let mut de = serde_json::Deserializer::from_str(raw.get());
                DataSeed {
                    kind,
                    scratch: &mut *scratch,
                    max_levels: self.max_levels,
                }
                .deserialize(&mut de)
                .map_err(|_| scratch.failure.unwrap_or(DecodeError::MalformedJson))?;
                kind
            }
        };

        let event_time_ms = match (kind, scratch.payload_event_time) {
            (_, Some(t)) if t > 0 => t,
            _ => parts
                .timestamp
                .and_then(parse_timestamp_ms)
                .ok_or(DecodeError::InvalidTimestamp)?,
        };

        if kind == StreamKind::Depth {
            let book = &scratch.book;
            match (book.best_bid(), book.best_ask()) {
                (None, None) => return Err(DecodeError::EmptyBook),
                (Some(b), Some(a)) if b.price >= a.price => return Err(DecodeError::CrossedBook),
                _ => {}
            }
            if book.bids.windows(2).any(|w| w[1].price >= w[0].price)
                || book.asks.windows(2).any(|w| w[1].price <= w[0].price)
            {
                return Err(DecodeError::UnsortedBook);
            }
        }

        Ok(Attempt {
            kind,
            event_time_ms,
            traceparent: parts.traceparent,
        })
    }
}

fn parse_stream(stream: &str, scratch: &mut Scratch) -> Result<StreamKind, DecodeError> {
    let (symbol, kind) = split_stream(stream.as_bytes())?;
    set_symbol(&mut scratch.symbol, symbol);
    Ok(kind)
}

/// The symbol (as sent) and the kind of a `stream` value `<symbol>@<kind>…`: `depth…`, `trade` or `ticker…`
/// (else [`DecodeError::UnsupportedStream`]) with a symbol of 1–[`MAX_SYMBOL_LEN`] ASCII letters and digits (else
/// [`DecodeError::InvalidSymbol`]). The one rule for stream names: the decoders and the host's pre-decode filter
/// all read them through it.
#[inline]
pub fn split_stream(stream: &[u8]) -> Result<(&[u8], StreamKind), DecodeError> {
    let at = memchr::memchr(b'@', stream).ok_or(DecodeError::UnsupportedStream)?;
    let (symbol, rest) = (&stream[..at], &stream[at + 1..]);
    let kind = if rest.starts_with(b"depth") {
        StreamKind::Depth
    } else if rest == b"trade" {
        StreamKind::Trade
    } else if rest.starts_with(b"ticker") {
        StreamKind::Ticker
    } else {
        return Err(DecodeError::UnsupportedStream);
    };
    if symbol.is_empty()
        || symbol.len() > MAX_SYMBOL_LEN
        || !symbol.iter().all(u8::is_ascii_alphanumeric)
    {
        return Err(DecodeError::InvalidSymbol);
    }
    Ok((symbol, kind))
}

/// Writes a symbol from [`split_stream`] (ASCII letters and digits) upper-cased into `out`, byte by byte as
/// characters: ASCII needs no UTF-8 validation.
fn set_symbol(out: &mut String, symbol: &[u8]) {
    out.clear();
    out.extend(symbol.iter().map(|&c| char::from(c.to_ascii_uppercase())));
}

enum DataState<'de> {
    Missing,
    Parsed(StreamKind),
    Raw(&'de RawValue),
}

struct EnvelopeParts<'de> {
    stream: Option<&'de str>,
    timestamp: Option<&'de str>,
    traceparent: Option<&'de str>,
    data: DataState<'de>,
}

struct EnvelopeVisitor<'s> {
    scratch: &'s mut Scratch,
    max_levels: usize,
}

impl<'de> Visitor<'de> for EnvelopeVisitor<'_> {
    type Value = EnvelopeParts<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an envelope object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut parts = EnvelopeParts {
            stream: None,
            timestamp: None,
            traceparent: None,
            data: DataState::Missing,
        };
        let mut kind = None;
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "stream" => {
                    let stream: &'de str = map.next_value()?;
                    parts.stream = Some(stream);
                    match parse_stream(stream, self.scratch) {
                        Ok(k) => kind = Some(k),
                        Err(e) => {
                            self.scratch.failure = Some(e);
                            return Err(de::Error::custom(e.reason()));
                        }
                    }
                }
                "data" => match kind {
                    Some(kind) => {
                        map.next_value_seed(DataSeed {
                            kind,
                            scratch: &mut *self.scratch,
                            max_levels: self.max_levels,
                        })?;
                        parts.data = DataState::Parsed(kind);
                    }
                    None => parts.data = DataState::Raw(map.next_value()?),
                },
                "timestamp" => parts.timestamp = Some(map.next_value()?),
                "_otel_trace_context" => {
                    let ctx: TraceContext<'de> = map.next_value()?;
                    parts.traceparent = ctx.traceparent;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(parts)
    }
}

#[derive(Deserialize)]
struct TraceContext<'a> {
    #[serde(borrow, default)]
    traceparent: Option<&'a str>,
}

struct DataSeed<'s> {
    kind: StreamKind,
    scratch: &'s mut Scratch,
    max_levels: usize,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.kind {
            StreamKind::Depth => deserializer.deserialize_map(DepthVisitor {
                scratch: self.scratch,
                max_levels: self.max_levels,
            }),
            StreamKind::Trade => {
                let raw = RawTrade::deserialize(deserializer)?;
                let trade = Trade {
                    trade_id: raw.t,
                    price: checked(raw.p.0, true, self.scratch)?,
                    qty: checked(raw.q.0, false, self.scratch)?,
                    trade_time_ms: raw.trade_time.unwrap_or(0),
                    buyer_is_maker: raw.m,
                };
                self.scratch.trade = trade;
                self.scratch.payload_event_time = raw.event_time.or(raw.trade_time);
                Ok(())
            }
            StreamKind::Ticker => {
                let raw = RawTicker::deserialize(deserializer)?;
                let s = &mut *self.scratch;
                let ticker = Ticker {
                    last_price: checked(raw.c.0, true, s)?,
                    open_price: checked(raw.o.0, false, s)?,
                    high_price: checked(raw.h.0, false, s)?,
                    low_price: checked(raw.l.0, false, s)?,
                    price_change: finite(raw.p.0, s)?,
                    price_change_percent: finite(raw.pct.0, s)?,
                    weighted_avg_price: checked(raw.w.0, false, s)?,
                    volume: checked(raw.v.0, false, s)?,
                    quote_volume: checked(raw.q.0, false, s)?,
                    best_bid: checked(raw.b.0, false, s)?,
                    best_ask: checked(raw.a.0, false, s)?,
                    trade_count: raw.n,
                };
                s.ticker = ticker;
                s.payload_event_time = raw.event_time;
                Ok(())
            }
        }
    }
}

fn fail<E: de::Error>(scratch: &mut Scratch, reason: DecodeError) -> E {
    scratch.failure = Some(reason);
    E::custom(reason.reason())
}

/// Accepts a price (`positive`: must be > 0) or a quantity (>= 0); both finite and below [`MAX_NUMBER`].
fn checked<E: de::Error>(value: f64, positive: bool, scratch: &mut Scratch) -> Result<f64, E> {
    let ok = value.is_finite()
        && value <= MAX_NUMBER
        && if positive { value > 0.0 } else { value >= 0.0 };
    if ok {
        Ok(value)
    } else {
        Err(fail(scratch, DecodeError::InvalidNumber))
    }
}

fn finite<E: de::Error>(value: f64, scratch: &mut Scratch) -> Result<f64, E> {
    if value.is_finite() && value.abs() <= MAX_NUMBER {
        Ok(value)
    } else {
        Err(fail(scratch, DecodeError::InvalidNumber))
    }
}

/// A number sent either as a decimal string (Binance's way) or as a JSON number.
#[derive(Debug, Clone, Copy, Default)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumVisitor)
    }
}

struct NumVisitor;

impl Visitor<'_> for NumVisitor {
    type Value = Num;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a decimal string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        // Decimal strings only: "inf"/"nan" spellings are rejected by the range check after parsing.
        // fast-float2 parses decimal strings correctly rounded, faster than `str::parse` on Binance's fixed
        // decimals; the whole string must be consumed.
        match fast_float2::parse_partial::<f64, _>(v) {
            Ok((n, used)) if used == v.len() => Ok(Num(n)),
            _ => Err(E::custom("not a decimal")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }
}

#[derive(Deserialize)]
struct RawTrade {
    #[serde(rename = "E", default)]
    event_time: Option<i64>,
    #[serde(default)]
    t: u64,
    p: Num,
    q: Num,
    #[serde(rename = "T", default)]
    trade_time: Option<i64>,
    #[serde(default)]
    m: bool,
}

#[derive(Deserialize)]
struct RawTicker {
    #[serde(rename = "E", default)]
    event_time: Option<i64>,
    c: Num,
    #[serde(default)]
    o: Num,
    #[serde(default)]
    h: Num,
    #[serde(default)]
    l: Num,
    #[serde(default)]
    p: Num,
    #[serde(rename = "P", default)]
    pct: Num,
    #[serde(default)]
    w: Num,
    #[serde(default)]
    v: Num,
    #[serde(default)]
    q: Num,
    #[serde(default)]
    b: Num,
    #[serde(default)]
    a: Num,
    #[serde(default)]
    n: u64,
}

struct DepthVisitor<'s> {
    scratch: &'s mut Scratch,
    max_levels: usize,
}

impl<'de> Visitor<'de> for DepthVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a depth object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let scratch = self.scratch;
        scratch.book.bids.clear();
        scratch.book.asks.clear();
        scratch.book.last_update_id = 0;
        let (mut saw_bids, mut saw_asks) = (false, false);
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "lastUpdateId" | "u" => scratch.book.last_update_id = map.next_value()?,
                "E" => scratch.payload_event_time = Some(map.next_value()?),
                "bids" | "b" | "asks" | "a" => {
                    let side = match key {
                        "bids" | "b" => Side::Bids,
                        _ => Side::Asks,
                    };
                    if scratch.fast {
                        // The whole attempt fails (and is retried generically) if the scan does not accept it.
                        let raw: &'de RawValue = map.next_value()?;
                        let levels = match side {
                            Side::Bids => &mut scratch.book.bids,
                            Side::Asks => &mut scratch.book.asks,
                        };
                        fast::scan_levels(raw.get(), self.max_levels, levels)
                            .ok_or_else(|| de::Error::custom("not a plain book side"))?;
                    } else {
                        map.next_value_seed(LevelsSeed {
                            side,
                            scratch: &mut *scratch,
                            max_levels: self.max_levels,
                        })?;
                    }
                    match side {
                        Side::Bids => saw_bids = true,
                        Side::Asks => saw_asks = true,
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_bids || !saw_asks {
            return Err(fail(scratch, DecodeError::MissingField));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Side {
    Bids,
    Asks,
}

struct LevelsSeed<'s> {
    side: Side,
    scratch: &'s mut Scratch,
    max_levels: usize,
}

impl<'de> DeserializeSeed<'de> for LevelsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LevelsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [price, quantity] levels")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some((price, qty)) = seq.next_element::<(Num, Num)>()? {
            let price = checked(price.0, true, self.scratch)?;
            let qty = checked(qty.0, false, self.scratch)?;
            let levels = match self.side {
                Side::Bids => &mut self.scratch.book.bids,
                Side::Asks => &mut self.scratch.book.asks,
            };
            if levels.len() >= self.max_levels {
                return Err(fail(self.scratch, DecodeError::TooManyLevels));
            }
            levels.push(Level::new(price, qty));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPTH: &str = r#"{"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":7,"bids":[["100.5","2.0"],["100.0","1"]],"asks":[["101.0","3.5"]]},"timestamp":"2024-08-08T23:54:15.408000Z","message_id":"x","source":"binance-websocket","version":"1.0"}"#;

    #[test]
    fn trailing_keys_read_as_literals_or_scanned_decode_as_the_generic_path() {
        // the producer's keys are compared as literals; near misses go through the key scan or the generic path
        let book = r#"{"stream":"btcusdt@depth20@100ms","data":{"lastUpdateId":7,"bids":[["61837.63000000","1.00000000"]],"asks":[["61837.64000000","2.00000000"]]}"#;
        let ts = r#""2024-08-08T23:54:15.408000Z""#;
        for tail in [
            format!(r#","timestamp":{ts},"message_id":"x","source":"s","version":"1.0"}}"#),
            format!(r#","version":"1.0","source":"s","message_id":"x","timestamp":{ts}}}"#),
            format!(r#","timestamp" :{ts}}}"#),
            format!(r#","timestamp2":{ts}}}"#),
            format!(r#","timestam":{ts}}}"#),
            format!(r#","timestamp":{ts}}}"#),
            format!(r#","timestamp":{ts},"timestamp":"2024-08-08T23:54:16Z"}}"#),
            format!(r#","message_id":{ts}}}"#),
            format!(r#","source":"a","source":"b","timestamp":{ts}}}"#),
            format!(r#","version":1,"timestamp":{ts}}}"#),
            format!(r#","timestamp":{ts},"stream":"btcusdt@depth20"}}"#),
        ] {
            let text = format!("{book}{tail}");
            let mut fast = Decoder::default();
            let mut generic = Decoder::generic(DEFAULT_MAX_LEVELS);
            let ours = fast.decode(text.as_bytes()).map(|m| m.event_time_ms);
            assert_eq!(
                ours,
                generic.decode(text.as_bytes()).map(|m| m.event_time_ms),
                "{text}"
            );
        }
    }

    #[test]
    fn decodes_depth_with_envelope_time() {
        let mut d = Decoder::default();
        let out = d.decode(DEPTH.as_bytes()).unwrap();
        assert_eq!(out.symbol, "BTCUSDT");
        assert_eq!(out.event_time_ms, 1_723_161_255_408);
        let MarketEvent::Depth(book) = out.event else {
            panic!("not depth")
        };
        assert_eq!(book.last_update_id, 7);
        assert_eq!(
            book.bids,
            vec![Level::new(100.5, 2.0), Level::new(100.0, 1.0)]
        );
        assert_eq!(book.asks, vec![Level::new(101.0, 3.5)]);
    }

    #[test]
    fn the_producers_depth_layout_takes_the_specialised_scan() {
        let mut d = Decoder::default();
        assert!(d.depth_fast(DEPTH.as_bytes()).is_some());
        for line in crate::testing::bundled_recording() {
            if line.contains("@depth20") {
                assert!(d.depth_fast(line.as_bytes()).is_some(), "{line}");
            }
        }
        // whitespace is left to the generic path, which decodes it the same
        let spaced = DEPTH.replace(r#""data":{"#, r#""data": {"#);
        assert!(d.depth_fast(spaced.as_bytes()).is_none());
        assert!(d.decode(spaced.as_bytes()).is_ok());
    }

    #[test]
    fn non_ascii_text_leaves_the_specialised_scan_and_invalid_utf8_is_still_refused() {
        // the scan checks UTF-8 by accepting ASCII only: anything else goes to the generic path, which validates
        let accented = DEPTH.replacen('}', r#"},"source":"bïnance""#, 1);
        let mut d = Decoder::default();
        assert!(d.depth_fast(accented.as_bytes()).is_none());
        let fast = format!(
            "{:?}",
            d.decode(accented.as_bytes()).map(|m| m.event_time_ms)
        );
        let mut generic = Decoder::generic(DEFAULT_MAX_LEVELS);
        let reference = format!(
            "{:?}",
            generic.decode(accented.as_bytes()).map(|m| m.event_time_ms)
        );
        assert!(fast.starts_with("Ok"), "{fast}");
        assert_eq!(fast, reference);
        let mut invalid = accented.into_bytes();
        let at = invalid.iter().position(|&c| c == 0xC3).unwrap();
        invalid[at + 1] = b'x'; // a lead byte without its continuation
        assert!(matches!(d.decode(&invalid), Err(DecodeError::InvalidUtf8)));
    }

    #[test]
    fn data_before_stream_still_decodes() {
        let msg = r#"{"data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":1,"p":"61837.63","q":"0.02","T":1723161255342,"m":true},"stream":"btcusdt@trade","timestamp":"2024-08-08T23:54:15.343000Z"}"#;
        let mut d = Decoder::default();
        let out = d.decode(msg.as_bytes()).unwrap();
        let MarketEvent::Trade(t) = out.event else {
            panic!("not a trade")
        };
        assert!(t.buyer_is_maker);
        assert_eq!(t.price, 61837.63);
        assert_eq!(out.event_time_ms, 1_723_161_255_343);
    }

    #[test]
    fn keeps_trace_parent() {
        let msg = DEPTH.replace(
            r#""version":"1.0""#,
            r#""version":"1.0","_otel_trace_context":{"traceparent":"00-abc-def-01"}"#,
        );
        let mut d = Decoder::default();
        let out = d.decode(msg.as_bytes()).unwrap();
        assert_eq!(out.traceparent, Some("00-abc-def-01"));
    }

    #[test]
    fn classifies_bad_input() {
        let mut d = Decoder::default();
        let cases: Vec<(Vec<u8>, DecodeError)> = vec![
            (vec![0xff, 0xfe], DecodeError::InvalidUtf8),
            (DEPTH.as_bytes()[..60].to_vec(), DecodeError::MalformedJson),
            (b"[1,2]".to_vec(), DecodeError::MalformedJson),
            (br#"{"stream":"btcusdt@trade"}"#.to_vec(), DecodeError::MissingField),
            (DEPTH.replace("depth20@100ms", "kline_1m").into_bytes(), DecodeError::UnsupportedStream),
            (DEPTH.replace("btcusdt@", "b$c@").into_bytes(), DecodeError::InvalidSymbol),
            (DEPTH.replace("\"100.5\"", "\"NaN\"").into_bytes(), DecodeError::InvalidNumber),
            (DEPTH.replace("\"2.0\"", "\"-2.0\"").into_bytes(), DecodeError::InvalidNumber),
            (DEPTH.replace("\"3.5\"", "\"1e300\"").into_bytes(), DecodeError::InvalidNumber),
            (DEPTH.replace("\"100.5\"", "true").into_bytes(), DecodeError::MalformedJson),
            (DEPTH.replace("2024-08-08T23", "yesterday").into_bytes(), DecodeError::InvalidTimestamp),
            (DEPTH.replace("\"101.0\"", "\"100.1\"").into_bytes(), DecodeError::CrossedBook),
            (
                r#"{"stream":"btcusdt@depth20@100ms","data":{"bids":[],"asks":[]},"timestamp":"2024-08-08T23:54:15Z"}"#.as_bytes().to_vec(),
                DecodeError::EmptyBook,
            ),
        ];
        for (input, expected) in cases {
            let got = d.decode(&input).map(|_| ()).unwrap_err();
            assert_eq!(got, expected, "input: {}", String::from_utf8_lossy(&input));
        }
        // The decoder is still usable after errors.
        assert!(d.decode(DEPTH.as_bytes()).is_ok());
    }

    #[test]
    fn enforces_level_limit() {
        let mut d = Decoder::new(1);
        assert_eq!(
            d.decode(DEPTH.as_bytes()).map(|_| ()).unwrap_err(),
            DecodeError::TooManyLevels
        );
    }

    #[test]
    fn decodes_every_bundled_message() {
        let mut d = Decoder::default();
        let mut n = 0;
        for line in crate::testing::bundled_recording() {
            d.decode(line.as_bytes()).unwrap();
            n += 1;
        }
        assert_eq!(n, 23_381);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut d = Decoder::default();
            let _ = d.decode(&bytes);
        }

        #[test]
        fn never_panics_on_truncation(cut in 0usize..DEPTH.len()) {
            let mut d = Decoder::default();
            proptest::prop_assert!(d.decode(&DEPTH.as_bytes()[..cut]).is_err());
        }
    }
}
