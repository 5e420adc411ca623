//! Market events as strategies see them: decoded once, borrowed by every consumer.

use serde::Serialize;

/// The kind of Binance stream a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// `<symbol>@depth20@100ms` (or any `@depthN`): partial order-book snapshot.
    Depth,
    /// `<symbol>@trade`: one executed trade.
    Trade,
    /// `<symbol>@ticker`: rolling 24 h ticker statistics.
    Ticker,
}

impl StreamKind {
    /// Every stream kind, in a stable order (used for metric labels).
    pub const ALL: [StreamKind; 3] = [StreamKind::Depth, StreamKind::Trade, StreamKind::Ticker];

    /// The label used in metrics, logs and API documents.
    pub const fn as_str(self) -> &'static str {
        match self {
            StreamKind::Depth => "depth",
            StreamKind::Trade => "trade",
            StreamKind::Ticker => "ticker",
        }
    }
}

/// One price level of an order book.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    /// Price of the level (quote currency).
    pub price: f64,
    /// Quantity resting at the level (base currency).
    pub qty: f64,
}

impl Level {
    /// A level from price and quantity.
    pub const fn new(price: f64, qty: f64) -> Self {
        Self { price, qty }
    }
}

/// A partial order-book snapshot. Bids run from the best (highest) price down, asks from the best (lowest) up.
///
/// The decoder owns and reuses the level buffers, so decoding a book allocates nothing in steady state.
#[derive(Debug, Clone, Default)]
pub struct DepthBook {
    /// Binance `lastUpdateId` of the snapshot.
    pub last_update_id: u64,
    /// Bid levels, best first.
    pub bids: Vec<Level>,
    /// Ask levels, best first.
    pub asks: Vec<Level>,
}

impl DepthBook {
    /// Best (highest) bid, if any.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.first().copied()
    }

    /// Best (lowest) ask, if any.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.first().copied()
    }

    /// Mid price when both sides are present.
    pub fn mid(&self) -> Option<f64> {
        match (self.best_bid(), self.best_ask()) {
            (Some(b), Some(a)) => Some((b.price + a.price) / 2.0),
            _ => None,
        }
    }

    /// Sum of quantities of the best `n` levels of one side.
    pub fn side_volume(levels: &[Level], n: usize) -> f64 {
        levels.iter().take(n).map(|l| l.qty).sum()
    }
}

/// One executed trade (Binance `trade` payload).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Trade {
    /// Binance trade id `t`.
    pub trade_id: u64,
    /// Execution price `p`.
    pub price: f64,
    /// Executed quantity `q`.
    pub qty: f64,
    /// Trade time `T` in milliseconds since the epoch.
    pub trade_time_ms: i64,
    /// `m`: true when the buyer was the maker, i.e. a seller hit the bid (aggressive sell).
    pub buyer_is_maker: bool,
}

/// Rolling 24 h ticker statistics (Binance `24hrTicker` payload).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Ticker {
    /// Last price `c`.
    pub last_price: f64,
    /// Open price of the window `o`.
    pub open_price: f64,
    /// High price `h`.
    pub high_price: f64,
    /// Low price `l`.
    pub low_price: f64,
    /// Absolute price change `p`.
    pub price_change: f64,
    /// Price change in percent `P`.
    pub price_change_percent: f64,
    /// Weighted average price `w`.
    pub weighted_avg_price: f64,
    /// Base-asset volume `v`.
    pub volume: f64,
    /// Quote-asset volume `q`.
    pub quote_volume: f64,
    /// Best bid price `b`.
    pub best_bid: f64,
    /// Best ask price `a`.
    pub best_ask: f64,
    /// Number of trades in the window `n`.
    pub trade_count: u64,
}

/// A decoded market event, borrowed from the decoder's buffers.
#[derive(Debug, Clone, Copy)]
pub enum MarketEvent<'a> {
    /// An order-book snapshot.
    Depth(&'a DepthBook),
    /// A trade.
    Trade(&'a Trade),
    /// A 24 h ticker.
    Ticker(&'a Ticker),
}

impl MarketEvent<'_> {
    /// The stream kind of the event.
    pub fn kind(&self) -> StreamKind {
        match self {
            MarketEvent::Depth(_) => StreamKind::Depth,
            MarketEvent::Trade(_) => StreamKind::Trade,
            MarketEvent::Ticker(_) => StreamKind::Ticker,
        }
    }
}

/// Dense index of a symbol, assigned by the host. Strategies keep per-symbol state in vectors indexed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SymbolId(pub u32);

impl SymbolId {
    /// The index as `usize`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// What every consumer gets along with an event.
#[derive(Debug, Clone, Copy)]
pub struct EventContext<'a> {
    /// Upper-case symbol, e.g. `BTCUSDT`.
    pub symbol: &'a str,
    /// Dense symbol index.
    pub symbol_id: SymbolId,
    /// Event time in milliseconds since the Unix epoch (Binance `E`, or the envelope timestamp for depth).
    pub event_time_ms: i64,
}
