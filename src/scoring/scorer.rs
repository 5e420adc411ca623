//! Follows each signal through the books that come after it and records what a trader acting on it would have
//! got. Pure and deterministic: it sees only the quotes and signals it is fed, in event time.
//!
//! Definitions (part of the documented contract, see `docs/evaluation.md`):
//! - **entry**: the first quote of the signal's symbol, strictly after the signal's own message, whose event
//!   time is ≥ signal time + `entry_delay`; a buy enters at the best ask, a sell at the best bid;
//! - **exit at horizon h**: the first quote whose event time is ≥ entry time + h; a buy exits at the best bid,
//!   a sell at the best ask;
//! - **gross bps** = side × (exit − entry) / entry × 10 000; **net bps** = gross − 2 × fee;
//! - **bracket**: after the entry quote, whether the exit-side price touches the signal's stop loss or take
//!   profit first within the longest horizon (at the touching quote's price), or neither (then marked to market
//!   at the longest horizon's exit);
//! - a signal whose entry or exit would fall after the symbol's last quote stays **unscored** for that horizon.
//!
//! Quotes come from depth books. A symbol that has no depth stream is scored on trade prices (bid = ask = last
//! trade) for both legs; once a symbol has shown a book, its trades are no longer used as quotes.

use std::collections::HashMap;

use crate::runtime::symbols::SymbolKey;

/// Scoring settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSettings {
    /// Delay between the signal and the earliest entry, in ms.
    pub entry_delay_ms: i64,
    /// Fee per side in basis points (a round trip costs twice this).
    pub fee_bps: f64,
    /// Holding horizons in ms, ascending.
    pub horizons_ms: Vec<i64>,
}

impl Default for ScoreSettings {
    fn default() -> Self {
        Self {
            entry_delay_ms: 200,
            fee_bps: 10.0,
            horizons_ms: vec![1_000, 10_000, 60_000, 300_000],
        }
    }
}

/// Where a symbol's quotes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// Best bid and ask of depth books.
    Book,
    /// Last trade price for both sides (symbols without depth books).
    Trade,
}

/// One observation of a symbol's prices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Event time in ms.
    pub event_time_ms: i64,
    /// Best bid (or the trade price).
    pub bid: f64,
    /// Best ask (or the trade price).
    pub ask: f64,
    /// Book or trade.
    pub source: PriceSource,
}

/// What the scorer needs of a signal. `group` is the caller's key (strategy and parameter set).
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    /// Caller's grouping key, carried through unchanged.
    pub group: u32,
    /// Upper-case symbol.
    pub symbol: String,
    /// Event time of the signal in ms.
    pub event_time_ms: i64,
    /// +1 for a buy, −1 for a sell.
    pub side: f64,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// The signal's stop-loss price, if it has one.
    pub stop_loss: Option<f64>,
    /// The signal's take-profit price, if it has one.
    pub take_profit: Option<f64>,
}

impl SignalRecord {
    /// The scorer's view of a published signal: side, confidence and the risk levels it is published with.
    pub fn from_signal(group: u32, signal: &strategy_sdk::Signal) -> Self {
        let (stop_loss, take_profit) = signal.risk_levels();
        Self {
            group,
            symbol: signal.symbol.clone(),
            event_time_ms: signal.event_time_ms,
            side: match signal.action {
                strategy_sdk::Action::Buy => 1.0,
                strategy_sdk::Action::Sell => -1.0,
            },
            confidence: signal.confidence,
            stop_loss: Some(stop_loss),
            take_profit: Some(take_profit),
        }
    }
}

/// The entry leg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// Event time of the quote used.
    pub event_time_ms: i64,
    /// Price.
    pub price: f64,
}

/// How the bracket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BracketEnd {
    /// The take-profit level was touched first.
    TakeProfit,
    /// The stop-loss level was touched first.
    StopLoss,
    /// Neither within the longest horizon: marked to market there.
    Neither,
}

/// The bracket's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bracket {
    /// Which level ended it.
    pub end: BracketEnd,
    /// Net bps of the bracketed trade.
    pub net_bps: f64,
}

/// A signal with whatever the market let the scorer measure.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredSignal {
    /// The signal.
    pub record: SignalRecord,
    /// Quote source of its symbol.
    pub source: PriceSource,
    /// Entry, when a quote came late enough.
    pub entry: Option<Fill>,
    /// Per horizon (same order as the settings): exit fill and gross bps, or `None` (unscored).
    pub exits: Vec<Option<(Fill, f64)>>,
    /// Bracket result, when the signal had both levels and the longest horizon was reached or a level touched.
    pub bracket: Option<Bracket>,
}

impl ScoredSignal {
    /// Gross bps at horizon `h` (index into the settings' horizons).
    pub fn gross_bps(&self, h: usize) -> Option<f64> {
        self.exits.get(h).copied().flatten().map(|(_, g)| g)
    }

    fn complete(&self, has_levels: bool) -> bool {
        self.exits.iter().all(Option::is_some) && (!has_levels || self.bracket.is_some())
    }
}

#[derive(Debug, Default)]
struct SymbolTrack {
    has_book: bool,
    pending: Vec<ScoredSignal>,
    /// What the next quote must show for any pending signal to change.
    watch: Watch,
}

/// A summary of a symbol's pending signals: a quote earlier than `due_ms` whose exit-side price touches none of
/// the bracket levels below changes none of them (no entry, no exit, no bracket), so it is not scanned. The
/// scan's cost would otherwise grow with the signals waiting for their longest horizon, on every quote.
#[derive(Debug, Clone, Copy)]
struct Watch {
    /// Earliest entry or exit time of any pending signal.
    due_ms: i64,
    /// Entered buys whose bracket is open: the highest stop (a bid at or below it touches) and the lowest take
    /// profit (a bid at or above it).
    buy_stop: f64,
    buy_take: f64,
    /// Entered sells whose bracket is open: the lowest stop (an ask at or above it) and the highest take profit
    /// (an ask at or below it).
    sell_stop: f64,
    sell_take: f64,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            due_ms: i64::MAX,
            buy_stop: f64::NEG_INFINITY,
            buy_take: f64::INFINITY,
            sell_stop: f64::INFINITY,
            sell_take: f64::NEG_INFINITY,
        }
    }
}

impl Watch {
    /// Widens the summary to cover `s` (NaN levels never touch, and `max`/`min` skip them).
    fn include(&mut self, s: &ScoredSignal, settings: &ScoreSettings) {
        let Some(entry) = s.entry else {
            let at = s
                .record
                .event_time_ms
                .saturating_add(settings.entry_delay_ms);
            self.due_ms = self.due_ms.min(at);
            return;
        };
        for (exit, horizon) in s.exits.iter().zip(&settings.horizons_ms) {
            if exit.is_none() {
                let at = entry.event_time_ms.saturating_add(*horizon);
                self.due_ms = self.due_ms.min(at);
            }
        }
        if let (None, Some(stop), Some(take)) =
            (s.bracket, s.record.stop_loss, s.record.take_profit)
        {
            if s.record.side > 0.0 {
                (self.buy_stop, self.buy_take) = (self.buy_stop.max(stop), self.buy_take.min(take));
            } else {
                (self.sell_stop, self.sell_take) =
                    (self.sell_stop.min(stop), self.sell_take.max(take));
            }
        }
    }

    /// Whether `quote` changes none of the signals summarised.
    fn quiet(&self, quote: &Quote) -> bool {
        quote.event_time_ms < self.due_ms
            && !(quote.bid <= self.buy_stop || quote.bid >= self.buy_take)
            && !(quote.ask >= self.sell_stop || quote.ask <= self.sell_take)
    }
}

/// The incremental scorer: feed it quotes and signals in event order, then [`Scorer::finish`].
#[derive(Debug)]
pub struct Scorer {
    settings: ScoreSettings,
    /// Looked up on every quote: inline keys, and foldhash rather than the default SipHash.
    symbols: HashMap<SymbolKey, SymbolTrack, foldhash::fast::RandomState>,
    done: Vec<ScoredSignal>,
    max_pending_per_symbol: usize,
    overflow: u64,
    /// Whether quiet quotes (see [`Watch`]) skip the scan; off only in the test that checks the skip changes
    /// nothing.
    skip_quiet: bool,
}

impl Scorer {
    /// A scorer with the given settings (horizons are sorted ascending).
    pub fn new(mut settings: ScoreSettings) -> Self {
        settings.horizons_ms.sort_unstable();
        settings.horizons_ms.dedup();
        Self {
            settings,
            symbols: HashMap::default(),
            done: Vec::new(),
            max_pending_per_symbol: usize::MAX,
            overflow: 0,
            skip_quiet: true,
        }
    }

    /// Caps the signals waiting for their exits per symbol (the live scorecard's memory bound); a signal that
    /// would exceed it is not tracked and counted in [`Scorer::overflow`].
    pub fn with_max_pending_per_symbol(mut self, max: usize) -> Self {
        self.max_pending_per_symbol = max.max(1);
        self
    }

    /// Signals refused because their symbol already had the maximum pending.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// The settings in use.
    pub fn settings(&self) -> &ScoreSettings {
        &self.settings
    }

    /// Declares up front that `symbol` has depth books, so its trades are never used as quotes.
    pub fn expect_books(&mut self, symbol: &str) {
        self.track(symbol).has_book = true;
    }

    fn track(&mut self, symbol: &str) -> &mut SymbolTrack {
        self.symbols.entry(SymbolKey::new(symbol)).or_default()
    }

    /// Registers a signal (it is scored on quotes that arrive after this call).
    pub fn on_signal(&mut self, record: SignalRecord) {
        let settings = &self.settings;
        let track = self
            .symbols
            .entry(SymbolKey::new(&record.symbol))
            .or_default();
        if track.pending.len() >= self.max_pending_per_symbol {
            self.overflow += 1;
            return;
        }
        let source = if track.has_book {
            PriceSource::Book
        } else {
            PriceSource::Trade
        };
        let signal = ScoredSignal {
            record,
            source,
            entry: None,
            exits: vec![None; settings.horizons_ms.len()],
            bracket: None,
        };
        track.watch.include(&signal, settings);
        track.pending.push(signal);
    }

    /// Number of signals still waiting for their entry or exits.
    pub fn pending(&self) -> usize {
        self.symbols.values().map(|t| t.pending.len()).sum()
    }

    /// Feeds one quote of `symbol`. Trade quotes of a symbol that has books are ignored.
    pub fn on_quote(&mut self, symbol: &str, quote: Quote) {
        let Some(track) = self.symbols.get_mut(&SymbolKey::new(symbol)) else {
            // No signal ever named this symbol: nothing to score, and no state is created for it.
            return;
        };
        match quote.source {
            PriceSource::Book => track.has_book = true,
            PriceSource::Trade if track.has_book => return,
            PriceSource::Trade => {}
        }
        if track.pending.is_empty()
            || !(quote.bid > 0.0 && quote.ask > 0.0)
            || (self.skip_quiet && track.watch.quiet(&quote))
        {
            return;
        }
        let settings = &self.settings;
        let longest = settings.horizons_ms.last().copied().unwrap_or(0);
        let mut watch = Watch::default();
        let mut i = 0;
        while i < track.pending.len() {
            let s = &mut track.pending[i];
            advance(s, &quote, settings, longest);
            let has_levels = s.record.stop_loss.is_some() && s.record.take_profit.is_some();
            if s.complete(has_levels) {
                self.done.push(track.pending.remove(i));
            } else {
                watch.include(s, settings);
                i += 1;
            }
        }
        track.watch = watch;
    }

    /// Takes the signals that are fully scored so far (all horizons and the bracket), in completion order.
    pub fn drain_completed(&mut self) -> Vec<ScoredSignal> {
        std::mem::take(&mut self.done)
    }

    /// Ends the stream: every signal, scored as far as the data allowed, in signal order (stable).
    pub fn finish(mut self) -> Vec<ScoredSignal> {
        let mut all = std::mem::take(&mut self.done);
        let mut symbols: Vec<_> = self.symbols.into_iter().collect();
        symbols.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (_, track) in symbols {
            all.extend(track.pending);
        }
        all.sort_by(|a, b| {
            a.record
                .event_time_ms
                .cmp(&b.record.event_time_ms)
                .then_with(|| a.record.group.cmp(&b.record.group))
                .then_with(|| a.record.symbol.cmp(&b.record.symbol))
        });
        all
    }
}

fn advance(s: &mut ScoredSignal, quote: &Quote, settings: &ScoreSettings, longest: i64) {
    let side = s.record.side;
    let entry = match s.entry {
        Some(e) => e,
        None => {
            if quote.event_time_ms < s.record.event_time_ms + settings.entry_delay_ms {
                return;
            }
            let price = if side > 0.0 { quote.ask } else { quote.bid };
            let e = Fill {
                event_time_ms: quote.event_time_ms,
                price,
            };
            s.entry = Some(e);
            // A zero horizon exits on the entry quote itself; longer ones wait for later quotes.
            record_exits(s, e, quote, settings);
            return;
        }
    };
    let exit_price = if side > 0.0 { quote.bid } else { quote.ask };
    if s.bracket.is_none() && quote.event_time_ms <= entry.event_time_ms + longest {
        if let (Some(stop), Some(take)) = (s.record.stop_loss, s.record.take_profit) {
            let (stopped, taken) = if side > 0.0 {
                (exit_price <= stop, exit_price >= take)
            } else {
                (exit_price >= stop, exit_price <= take)
            };
            if stopped || taken {
                s.bracket = Some(Bracket {
                    end: if stopped {
                        BracketEnd::StopLoss
                    } else {
                        BracketEnd::TakeProfit
                    },
                    net_bps: gross_bps(side, entry.price, exit_price) - 2.0 * settings.fee_bps,
                });
            }
        }
    }
    record_exits(s, entry, quote, settings);
}

fn record_exits(s: &mut ScoredSignal, entry: Fill, quote: &Quote, settings: &ScoreSettings) {
    let side = s.record.side;
    let exit_price = if side > 0.0 { quote.bid } else { quote.ask };
    let last = settings.horizons_ms.len().saturating_sub(1);
    for (h, horizon) in settings.horizons_ms.iter().enumerate() {
        if s.exits[h].is_none() && quote.event_time_ms >= entry.event_time_ms + horizon {
            let gross = gross_bps(side, entry.price, exit_price);
            s.exits[h] = Some((
                Fill {
                    event_time_ms: quote.event_time_ms,
                    price: exit_price,
                },
                gross,
            ));
            let has_levels = s.record.stop_loss.is_some() && s.record.take_profit.is_some();
            if h == last && has_levels && s.bracket.is_none() {
                s.bracket = Some(Bracket {
                    end: BracketEnd::Neither,
                    net_bps: gross - 2.0 * settings.fee_bps,
                });
            }
        }
    }
}

/// side × (exit − entry) / entry × 10 000.
pub fn gross_bps(side: f64, entry: f64, exit: f64) -> f64 {
    side * (exit - entry) / entry * 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(t: i64, bid: f64, ask: f64) -> Quote {
        Quote {
            event_time_ms: t,
            bid,
            ask,
            source: PriceSource::Book,
        }
    }

    fn signal(t: i64, side: f64) -> SignalRecord {
        SignalRecord {
            group: 0,
            symbol: "BTCUSDT".into(),
            event_time_ms: t,
            side,
            confidence: 0.5,
            stop_loss: None,
            take_profit: None,
        }
    }

    fn settings() -> ScoreSettings {
        ScoreSettings {
            entry_delay_ms: 200,
            fee_bps: 10.0,
            horizons_ms: vec![1_000, 2_000],
        }
    }

    #[test]
    fn entry_waits_for_the_delay_and_exit_for_the_horizon() {
        let mut s = Scorer::new(settings());
        s.on_signal(signal(1_000, 1.0));
        s.on_quote("BTCUSDT", book(1_100, 99.0, 100.0)); // before the delay
        s.on_quote("BTCUSDT", book(1_200, 99.0, 100.0)); // entry at the ask, 100
        s.on_quote("BTCUSDT", book(2_199, 200.0, 201.0)); // 999 ms after entry: too early
        s.on_quote("BTCUSDT", book(2_200, 101.0, 102.0)); // 1 s horizon exits at the bid, 101
        let out = s.finish();
        assert_eq!(out.len(), 1);
        let e = out[0].entry.unwrap();
        assert_eq!((e.event_time_ms, e.price), (1_200, 100.0));
        assert!((out[0].gross_bps(0).unwrap() - 100.0).abs() < 1e-9);
        assert_eq!(
            out[0].gross_bps(1),
            None,
            "2 s horizon is past the data: unscored"
        );
    }

    #[test]
    fn sells_enter_at_the_bid_and_exit_at_the_ask() {
        let mut s = Scorer::new(settings());
        s.on_signal(signal(0, -1.0));
        s.on_quote("BTCUSDT", book(200, 100.0, 100.5));
        s.on_quote("BTCUSDT", book(1_200, 98.0, 99.0));
        let out = s.finish();
        assert!((out[0].gross_bps(0).unwrap() - 100.0).abs() < 1e-9);
    }

    #[test]
    fn stop_touched_first_ends_the_bracket_at_the_touch_price() {
        let mut s = Scorer::new(settings());
        let mut r = signal(0, 1.0);
        r.stop_loss = Some(99.0);
        r.take_profit = Some(102.0);
        s.on_signal(r);
        s.on_quote("BTCUSDT", book(200, 99.5, 100.0));
        s.on_quote("BTCUSDT", book(300, 98.5, 99.0)); // bid 98.5 <= stop
        s.on_quote("BTCUSDT", book(400, 103.0, 104.0)); // take later: too late
        let out = s.finish();
        let b = out[0].bracket.unwrap();
        assert_eq!(b.end, BracketEnd::StopLoss);
        assert!((b.net_bps - (-150.0 - 20.0)).abs() < 1e-9);
    }

    #[test]
    fn untouched_bracket_is_marked_at_the_longest_horizon() {
        let mut s = Scorer::new(settings());
        let mut r = signal(0, 1.0);
        r.stop_loss = Some(90.0);
        r.take_profit = Some(110.0);
        s.on_signal(r);
        s.on_quote("BTCUSDT", book(200, 99.0, 100.0));
        s.on_quote("BTCUSDT", book(2_200, 100.5, 101.0));
        let out = s.finish();
        let b = out[0].bracket.unwrap();
        assert_eq!(b.end, BracketEnd::Neither);
        assert!((b.net_bps - (50.0 - 20.0)).abs() < 1e-9);
    }

    #[test]
    fn symbols_without_books_are_scored_on_trades_and_books_take_over() {
        let trade = |t, p| Quote {
            event_time_ms: t,
            bid: p,
            ask: p,
            source: PriceSource::Trade,
        };
        let mut s = Scorer::new(settings());
        s.on_signal(signal(0, 1.0));
        s.on_quote("BTCUSDT", trade(300, 100.0));
        s.on_quote("BTCUSDT", trade(1_300, 101.0));
        let mut other = signal(0, 1.0);
        other.symbol = "ETHUSDT".into();
        s.expect_books("ETHUSDT");
        s.on_signal(other);
        s.on_quote("ETHUSDT", trade(300, 100.0)); // ignored: ETHUSDT has books
        let out = s.finish();
        let btc = out.iter().find(|x| x.record.symbol == "BTCUSDT").unwrap();
        assert_eq!(btc.source, PriceSource::Trade);
        assert!((btc.gross_bps(0).unwrap() - 100.0).abs() < 1e-9);
        let eth = out.iter().find(|x| x.record.symbol == "ETHUSDT").unwrap();
        assert_eq!(eth.source, PriceSource::Book);
        assert!(eth.entry.is_none());
    }

    /// One step of a random stream: a signal (time step, symbol, side, stop and take offsets from 100, or no
    /// levels) or a quote (time step, symbol, bid, spread, book or trade).
    #[derive(Debug, Clone)]
    enum Step {
        Signal(i64, bool, bool, Option<(f64, f64)>),
        Quote(i64, bool, f64, f64, bool),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (
                0i64..400,
                any::<bool>(),
                any::<bool>(),
                proptest::option::of((0.0f64..3.0, 0.0f64..3.0))
            )
                .prop_map(|(dt, sym, buy, lv)| Step::Signal(dt, sym, buy, lv)),
            (
                0i64..900,
                any::<bool>(),
                96.0f64..104.0,
                0.0f64..0.5,
                proptest::bool::weighted(0.9)
            )
                .prop_map(|(dt, sym, bid, spread, book)| Step::Quote(dt, sym, bid, spread, book)),
        ]
    }

    proptest::proptest! {
        /// Skipping the quotes the watch calls quiet changes nothing: every entry, exit and bracket is the one a
        /// scan of every pending signal on every quote finds.
        #[test]
        fn skipping_quiet_quotes_scores_exactly_like_scanning_every_quote(
            steps in proptest::collection::vec(step(), 1..300),
        ) {
            let mut skipping = Scorer::new(settings());
            let mut scanning = Scorer::new(settings());
            scanning.skip_quiet = false;
            let mut t = 0;
            for st in &steps {
                let symbol = |other: bool| if other { "ETHUSDT" } else { "BTCUSDT" };
                match *st {
                    Step::Signal(dt, other, buy, levels) => {
                        t += dt;
                        let side = if buy { 1.0 } else { -1.0 };
                        let mut r = signal(t, side);
                        r.symbol = symbol(other).into();
                        if let Some((stop, take)) = levels {
                            (r.stop_loss, r.take_profit) = (Some(100.0 - side * stop), Some(100.0 + side * take));
                        }
                        skipping.on_signal(r.clone());
                        scanning.on_signal(r);
                    }
                    Step::Quote(dt, other, bid, spread, book) => {
                        t += dt;
                        let q = Quote {
                            event_time_ms: t,
                            bid,
                            ask: if book { bid + spread } else { bid },
                            source: if book { PriceSource::Book } else { PriceSource::Trade },
                        };
                        skipping.on_quote(symbol(other), q);
                        scanning.on_quote(symbol(other), q);
                    }
                }
                proptest::prop_assert_eq!(skipping.pending(), scanning.pending());
            }
            proptest::prop_assert_eq!(skipping.finish(), scanning.finish());
        }
    }
}
