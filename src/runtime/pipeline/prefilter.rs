//! Skip before decoding: a sharded replica reads only the envelope's `stream` token (symbol and kind) and drops
//! the messages of symbols another replica owns before any JSON is decoded, unless a cross-symbol strategy
//! consumes that kind (those messages are decoded, and only those kinds).
//!
//! The token is read from the producer's layout (`{"stream":"<symbol>@<kind>…`, the socket client always puts
//! `stream` first with no whitespace). Anything else — other key order, whitespace, escapes, an invalid symbol or
//! an unsupported kind — is left to the full decoder, which applies the usual checks and drop reasons.

use strategy_sdk::decode::MAX_SYMBOL_LEN;
use strategy_sdk::StreamKind;

use super::{kind_index, Outcome, Pipeline};

/// Longest `stream` token looked at (symbol, `@`, kind).
const MAX_TOKEN: usize = MAX_SYMBOL_LEN + 32;

/// The symbol (as sent) and the kind named by the `stream` token at the very start of an envelope, or `None` when
/// the envelope does not start that way or the token is not a plain supported stream.
pub fn stream_token(payload: &[u8]) -> Option<(&[u8], StreamKind)> {
    let rest = payload.strip_prefix(br#"{"stream":""#)?;
    let end = memchr::memchr2(b'"', b'\\', &rest[..rest.len().min(MAX_TOKEN)])?;
    if rest[end] != b'"' {
        return None;
    }
    parse_stream(&rest[..end])
}

/// The symbol (as sent) and the kind of a `stream` value (`<symbol>@<kind>…`), or `None` when it is not a plain
/// supported stream: the decoder's rule ([`strategy_sdk::decode::split_stream`]).
pub fn parse_stream(token: &[u8]) -> Option<(&[u8], StreamKind)> {
    strategy_sdk::decode::split_stream(token).ok()
}

/// [`super::shard_of`] of the upper-cased `symbol`, without allocating.
pub fn shard_of_ascii(symbol: &[u8], count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in symbol {
        h ^= u64::from(b.to_ascii_uppercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32
}

impl Pipeline {
    /// For a sharded replica: `Some(Outcome::Skipped)` when the `stream` token names a symbol another replica owns
    /// and no cross-symbol strategy consumes its kind (counted as received, as a decoded skip was).
    pub(super) fn skip_before_decode(&self, payload: &[u8]) -> Option<Outcome> {
        let shard = self.shard.filter(|s| s.count > 1)?;
        let (symbol, kind) = stream_token(payload)?;
        let k = kind_index(kind);
        if shard_of_ascii(symbol, shard.count) == shard.index
            || !self.cross_symbol_by_kind[k].is_empty()
        {
            return None;
        }
        self.counters.received[k].inc();
        Some(Outcome::Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::pipeline::shard_of;

    #[test]
    fn reads_the_producers_stream_token() {
        let depth = br#"{"stream":"btcusdt@depth20@100ms","data":{}}"#;
        assert_eq!(
            stream_token(depth),
            Some((&b"btcusdt"[..], StreamKind::Depth))
        );
        assert_eq!(
            stream_token(br#"{"stream":"ethusdt@trade","data":{}}"#).map(|t| t.1),
            Some(StreamKind::Trade)
        );
        assert_eq!(
            stream_token(br#"{"stream":"ethusdt@ticker","data":{}}"#).map(|t| t.1),
            Some(StreamKind::Ticker)
        );
        // anything unusual goes to the full decoder
        for odd in [
            &br#"{ "stream":"btcusdt@trade"}"#[..],
            br#"{"data":{},"stream":"btcusdt@trade"}"#,
            br#"{"stream":"btc\"usdt@trade"}"#,
            br#"{"stream":"b$c@trade"}"#,
            br#"{"stream":"@trade"}"#,
            br#"{"stream":"btcusdt@kline_1m"}"#,
            br#"{"stream":"btcusdt@tradex"}"#,
            br#"{"stream":"btcusdt"#,
            b"",
        ] {
            assert_eq!(stream_token(odd), None, "{}", String::from_utf8_lossy(odd));
        }
    }

    #[test]
    fn shard_of_the_token_is_the_shard_of_the_decoded_symbol() {
        for symbol in ["btcusdt", "ETHusdt", "s17bnbusdt", "X"] {
            for count in 1..9 {
                assert_eq!(
                    shard_of_ascii(symbol.as_bytes(), count),
                    shard_of(&symbol.to_ascii_uppercase(), count)
                );
            }
        }
    }
}
