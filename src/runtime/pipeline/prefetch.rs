//! Prefetching one and two messages ahead. With many busy symbols a symbol's state has left the CPU caches when
//! its next message comes, and the first touch of each state line waits for memory. While message `i` is
//! processed, the runners and plugins are asked to prefetch the entries of message `i + 2`'s symbol
//! ([`Prefetch::Slot`]) and what message `i + 1`'s entries point to ([`Prefetch::State`], cached by then): the
//! loads overlap with useful work instead of stalling it. Message `i + 1`'s payload is prefetched too: the NATS
//! client's task copied it, often on the other core, and the decoder would otherwise wait on each of its lines.
//! Hints only: no result depends on them.

use strategy_sdk::{Prefetch, SymbolId};

use super::prefilter::stream_token;
use super::{kind_index, Pipeline};
use crate::runtime::symbols::SymbolKey;

/// The symbol ids and kinds of a batch's messages, read from their `stream` tokens (no decoding), for
/// [`Pipeline::prefetch`]; `None` for a message whose token cannot be read that way or whose symbol is new.
#[derive(Debug, Default)]
pub struct Lookahead {
    ids: Vec<Option<(SymbolId, usize)>>,
}

impl Lookahead {
    /// Reads the batch's symbols (their ids as interned now).
    pub fn read<P: AsRef<[u8]>>(&mut self, pipeline: &Pipeline, batch: &[P]) {
        self.ids.clear();
        self.ids
            .extend(batch.iter().map(|p| pipeline.symbol_of(p.as_ref())));
    }

    /// Prefetches for the message at `index` of `batch` (the one given to [`Lookahead::read`]): entries two
    /// ahead, state and payload one ahead.
    pub fn prefetch<P: AsRef<[u8]>>(&self, pipeline: &Pipeline, batch: &[P], index: usize) {
        if let Some(Some((id, k))) = self.ids.get(index + 2) {
            pipeline.prefetch(*id, *k, Prefetch::Slot);
        }
        if let Some(Some((id, k))) = self.ids.get(index + 1) {
            pipeline.prefetch(*id, *k, Prefetch::State);
        }
        if let Some(next) = batch.get(index + 1) {
            strategy_sdk::cache::prefetch_slice(next.as_ref());
        }
    }
}

impl Pipeline {
    /// The interned id and the kind index of the message's symbol, from its `stream` token alone
    /// ([`stream_token`]: the decoders' rule, no decoding).
    fn symbol_of(&self, payload: &[u8]) -> Option<(SymbolId, usize)> {
        let (symbol, kind) = stream_token(payload)?;
        let id = self.symbols.get_key(&SymbolKey::upper(symbol)?)?;
        Some((id, kind_index(kind)))
    }

    /// Asks every plugin and strategy that consumes kind `k` to prefetch `what` of symbol `id`.
    fn prefetch(&self, id: SymbolId, k: usize, what: Prefetch) {
        for (plugin, consumes) in &self.plugins {
            if consumes[k] {
                plugin.prefetch(id, what);
            }
        }
        for &i in &self.by_kind[k] {
            self.strategies[i].prefetch(id, what);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::runtime::Outcome;
    use strategy_sdk::StreamKind;

    const TRADE: &str = r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":1,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true},"timestamp":"2024-08-08T23:54:15.343000Z"}"#;

    #[test]
    fn the_lookahead_finds_interned_symbols_from_the_stream_token_only() {
        let mut pipeline = Pipeline::new(Vec::new(), Vec::new(), Metrics::new(), 1 << 20, 1000);
        let mut signals = Vec::new();
        assert!(matches!(
            pipeline.process(TRADE.as_bytes(), &mut signals),
            Outcome::Processed(_)
        ));
        let batch = [
            TRADE.to_string(),
            TRADE.replace("btcusdt", "ethusdt"),
            "not json".to_string(),
            TRADE.replace(r#"{"stream""#, r#"{ "stream""#),
            // the token alone decides: a body that would not decode is still looked up
            r#"{"stream":"btcusdt@depth20@100ms","data":"#.to_string(),
        ];
        let mut lookahead = Lookahead::default();
        lookahead.read(&pipeline, &batch);
        let btc = pipeline.symbols.get("BTCUSDT").unwrap();
        let trade = kind_index(StreamKind::Trade);
        let depth = kind_index(StreamKind::Depth);
        assert_eq!(
            lookahead.ids,
            vec![Some((btc, trade)), None, None, None, Some((btc, depth))]
        );
        // every index, past the end included, is safe to ask for
        for index in 0..batch.len() + 3 {
            lookahead.prefetch(&pipeline, &batch, index);
        }
    }
}
