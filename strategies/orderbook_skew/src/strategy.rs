//! The order-book skew rules.

use strategy_sdk::{
    Action, DepthBook, EventContext, MarketEvent, Signal, SignalSink, Strategy, StreamKind,
};

use crate::params::OrderbookSkewParams;

/// Highest confidence the strategy reports.
pub const MAX_CONFIDENCE: f64 = 0.95;

/// Log distance past the threshold at which the imbalance strength reaches 1 (`ln 10`: ten times the threshold).
pub const SATURATION_LOG_RATIO: f64 = std::f64::consts::LN_10;

/// The order-book skew strategy.
#[derive(Debug, Default)]
pub struct OrderbookSkew;

/// Per-symbol state: which side the book was skewed to at the last snapshot (signals fire on entering a side).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SkewState {
    side: Option<Action>,
}

/// What one book says, before thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkewReading {
    /// Sum of quantities of the top bids.
    pub bid_volume: f64,
    /// Sum of quantities of the top asks.
    pub ask_volume: f64,
    /// bid_volume / ask_volume.
    pub ratio: f64,
    /// (best ask − best bid) / best bid × 100.
    pub spread_percent: f64,
    /// Best bid price.
    pub best_bid: f64,
    /// Best ask price.
    pub best_ask: f64,
}

/// Reads a book; `None` when it is one-sided, has no ask volume or too little volume.
pub fn read_book(book: &DepthBook, p: &OrderbookSkewParams) -> Option<SkewReading> {
    let n = p.top_levels as usize;
    let best_bid = book.best_bid()?.price;
    let best_ask = book.best_ask()?.price;
    let bid_volume = DepthBook::side_volume(&book.bids, n);
    let ask_volume = DepthBook::side_volume(&book.asks, n);
    if ask_volume <= 0.0 || bid_volume + ask_volume < p.min_total_volume || best_bid <= 0.0 {
        return None;
    }
    Some(SkewReading {
        bid_volume,
        ask_volume,
        ratio: bid_volume / ask_volume,
        spread_percent: (best_ask - best_bid) / best_bid * 100.0,
        best_bid,
        best_ask,
    })
}

/// How strong a skew is, from `|ln(bid/ask)|` only, so a book and its mirror image (ratio `r` and `1/r`) are
/// exactly as strong whichever side they fall on: `clamp((|ln ratio| − t) / ln 10, 0, 1)` with `t` the nearer of
/// the two thresholds in log units (`min(ln buy_threshold, −ln sell_threshold)`). 0 at that threshold, 1 at ten
/// times it (ratio 12 or 1/12 with the default 1.2; on the bundled recording the median signal's ratio is ≈ 1.9,
/// its 90th percentile ≈ 7). The action is not an input: equal skews score the same even when the two thresholds
/// are not mirror images.
pub fn imbalance_strength(ratio: f64, p: &OrderbookSkewParams) -> f64 {
    let x = ratio.ln().abs();
    let t = p.buy_threshold.ln().min(-p.sell_threshold.ln());
    if !x.is_finite() {
        return 1.0;
    }
    ((x - t.max(0.0)) / SATURATION_LOG_RATIO).clamp(0.0, 1.0)
}

/// Confidence: `base + (MAX − base) × (w_i × imbalance_strength + w_s × spread_tightness)`, where imbalance
/// strength is [`imbalance_strength`] (symmetric in `ln(bid/ask)`) and spread tightness is
/// `1 − spread% / max spread%`.
pub fn confidence(r: &SkewReading, p: &OrderbookSkewParams) -> f64 {
    let strength = imbalance_strength(r.ratio, p);
    let tightness = (1.0 - r.spread_percent / p.min_spread_percent).clamp(0.0, 1.0);
    let mix = p.imbalance_weight * strength + p.spread_weight * tightness;
    let base = p.base_confidence.min(MAX_CONFIDENCE);
    (base + (MAX_CONFIDENCE - base) * mix.clamp(0.0, 1.0)).min(MAX_CONFIDENCE)
}

impl Strategy for OrderbookSkew {
    type Params = OrderbookSkewParams;
    type SymbolState = SkewState;

    const ID: &'static str = "orderbook_skew";
    const NAME: &'static str = "Order Book Skew";
    const DESCRIPTION: &'static str =
        "Analyzes order book imbalance to detect buy/sell pressure from depth data";
    const CATEGORY: &'static str = "realtime_data";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Depth];

    fn create() -> Self {
        Self
    }

    fn min_signal_interval_ms(params: &OrderbookSkewParams) -> i64 {
        (params.min_signal_interval_seconds * 1000.0) as i64
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &OrderbookSkewParams,
        state: &mut SkewState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Depth(book) = event else {
            return;
        };
        let Some(r) = read_book(book, p) else {
            return;
        };
        let side = if r.spread_percent > p.min_spread_percent {
            None
        } else if r.ratio > p.buy_threshold {
            Some(Action::Buy)
        } else if r.ratio < p.sell_threshold {
            Some(Action::Sell)
        } else {
            None
        };
        let entered = side.is_some() && side != state.side;
        state.side = side;
        let Some(action) = side.filter(|_| entered) else {
            return;
        };
        let price = match action {
            Action::Buy => r.best_bid,
            Action::Sell => r.best_ask,
        };
        sink.emit(
            Signal::new(Self::ID, Self::NAME, ctx, action, confidence(&r, p), price)
                .current_price((r.best_bid + r.best_ask) / 2.0)
                .indicator("bid_volume", r.bid_volume)
                .indicator("ask_volume", r.ask_volume)
                .indicator("ratio", r.ratio)
                .indicator("spread_percent", r.spread_percent)
                .meta("top_bid", r.best_bid)
                .meta("top_ask", r.best_ask)
                .meta("top_levels", p.top_levels),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    fn depth(bid_qty: f64, ask_qty: f64) -> DepthBook {
        testing::book(&[(100.0, bid_qty)], &[(100.05, ask_qty)])
    }

    fn run(h: &mut Harness<OrderbookSkew>, book: &DepthBook, t: i64) -> Vec<Signal> {
        h.feed("BTCUSDT", t, MarketEvent::Depth(book))
    }

    #[test]
    fn thresholds_are_strict() {
        // ratio exactly at the buy threshold: nothing; just above: buy.
        let mut h = Harness::<OrderbookSkew>::default();
        assert!(run(&mut h, &depth(1.2, 1.0), 1).is_empty());
        let s = run(&mut h, &depth(1.2001, 1.0), 2);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Buy);
        assert_eq!(s[0].price, 100.0);
        assert!((s[0].current_price - 100.025).abs() < 1e-9);
        // exactly at the sell threshold: nothing; just below: sell at the best ask.
        let mut h = Harness::<OrderbookSkew>::default();
        assert!(run(&mut h, &depth(0.8, 1.0), 1).is_empty());
        let s = run(&mut h, &depth(0.7999, 1.0), 2);
        assert_eq!(s[0].action, Action::Sell);
        assert_eq!(s[0].price, 100.05);
    }

    #[test]
    fn fires_once_per_skew_episode() {
        let mut h = Harness::<OrderbookSkew>::default();
        assert_eq!(run(&mut h, &depth(2.0, 1.0), 1).len(), 1);
        assert!(
            run(&mut h, &depth(2.5, 1.0), 2).is_empty(),
            "still skewed: no repeat"
        );
        assert!(
            run(&mut h, &depth(1.0, 1.0), 3).is_empty(),
            "balanced: re-arms"
        );
        assert_eq!(run(&mut h, &depth(2.0, 1.0), 4).len(), 1);
        assert_eq!(
            run(&mut h, &depth(0.5, 1.0), 5)[0].action,
            Action::Sell,
            "flip fires at once"
        );
    }

    #[test]
    fn wide_spread_and_thin_books_are_ignored() {
        let mut h = Harness::<OrderbookSkew>::default();
        // spread 0.2 % > 0.1 % maximum
        let wide = testing::book(&[(100.0, 5.0)], &[(100.2, 1.0)]);
        assert!(run(&mut h, &wide, 1).is_empty());
        // spread exactly at the maximum is accepted
        let edge = testing::book(&[(100.0, 5.0)], &[(100.1, 1.0)]);
        assert_eq!(run(&mut h, &edge, 2).len(), 1);
        let mut h = Harness::<OrderbookSkew>::default();
        assert!(
            run(&mut h, &depth(0.0004, 0.0005), 1).is_empty(),
            "below min_total_volume"
        );
        assert!(run(&mut h, &depth(5.0, 0.0), 2).is_empty(), "no ask volume");
        assert!(
            run(&mut h, &testing::book(&[(100.0, 1.0)], &[]), 3).is_empty(),
            "one-sided"
        );
    }

    #[test]
    fn uses_only_top_levels() {
        let mut h = Harness::<OrderbookSkew>::new(OrderbookSkewParams {
            top_levels: 1,
            ..Default::default()
        });
        let book = testing::book(&[(100.0, 1.0), (99.9, 100.0)], &[(100.05, 1.0)]);
        assert!(
            run(&mut h, &book, 1).is_empty(),
            "deep bid ignored with top_levels = 1"
        );
        h.params.top_levels = 2;
        assert_eq!(run(&mut h, &book, 2).len(), 1);
    }

    fn reading(ratio: f64, spread: f64) -> SkewReading {
        SkewReading {
            bid_volume: ratio,
            ask_volume: 1.0,
            ratio,
            spread_percent: spread,
            best_bid: 100.0,
            best_ask: 100.0 + spread,
        }
    }

    #[test]
    fn confidence_spans_its_range_and_stays_capped() {
        let p = OrderbookSkewParams::default();
        let weak = confidence(&reading(1.2001, 0.1), &p);
        let mid = confidence(&reading(1.2 * 10f64.sqrt(), 0.0), &p);
        let strong = confidence(&reading(12.0, 0.0), &p);
        assert!((weak - p.base_confidence).abs() < 0.01, "{weak}");
        assert!((mid - (0.5 + 0.45 * 0.5)).abs() < 1e-9, "{mid}");
        assert!((strong - MAX_CONFIDENCE).abs() < 1e-9, "{strong}");
        assert!(confidence(&reading(100.0, 0.0), &p) <= MAX_CONFIDENCE);
        // the spread weight only counts when asked for
        let tight = OrderbookSkewParams {
            imbalance_weight: 0.5,
            spread_weight: 0.5,
            ..Default::default()
        };
        assert!(confidence(&reading(1.21, 0.0), &tight) > confidence(&reading(1.21, 0.09), &tight));
    }

    #[test]
    fn equally_skewed_buys_and_sells_score_the_same() {
        // Default thresholds 1.2 and 0.8 are not mirror images; equal skews still score the same.
        let p = OrderbookSkewParams::default();
        for r in [1.26, 1.3, 2.0, 5.0, 20.0] {
            let buy = confidence(&reading(r, 0.01), &p);
            let sell = confidence(&reading(1.0 / r, 0.01), &p);
            assert!(
                (buy - sell).abs() < 1e-12,
                "ratio {r}: buy {buy} sell {sell}"
            );
        }
        // the same through on_event: a book with bids 3:1 and its mirror image
        let mut h = Harness::<OrderbookSkew>::new(p);
        let buy = run(&mut h, &depth(3.0, 1.0), 1);
        let sell = run(&mut h, &depth(1.0, 3.0), 2);
        assert_eq!((buy[0].action, sell[0].action), (Action::Buy, Action::Sell));
        assert!((buy[0].confidence - sell[0].confidence).abs() < 1e-12);
    }

    #[test]
    fn cross_field_rules() {
        let bad = OrderbookSkewParams {
            sell_threshold: 1.0,
            buy_threshold: 1.0,
            ..Default::default()
        };
        let errs = bad.validate().unwrap_err();
        assert_eq!(errs[0].field, "/sell_threshold");
        let bad = OrderbookSkewParams {
            spread_weight: 0.5,
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err()[0].field, "/spread_weight");
        assert!(OrderbookSkewParams::default().validate().is_ok());
    }

    #[test]
    fn golden_signals_on_the_recording() {
        let lines = testing::bundled_recording();
        let mut h = Harness::<OrderbookSkew>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        assert!(
            !signals.is_empty(),
            "the recording must trigger the strategy"
        );
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/orderbook_skew.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            bids in proptest::collection::vec((1.0f64..1e6, 0.0f64..1e4), 0..25),
            asks in proptest::collection::vec((1.0f64..1e6, 0.0f64..1e4), 0..25),
            top in 1u32..=20,
        ) {
            let mut h = Harness::<OrderbookSkew>::new(OrderbookSkewParams { top_levels: top, ..Default::default() });
            let book = testing::book(&bids, &asks);
            for s in run(&mut h, &book, 1) {
                proptest::prop_assert!(s.confidence >= 0.5 && s.confidence <= MAX_CONFIDENCE);
                proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                proptest::prop_assert!(s.current_price.is_finite());
                proptest::prop_assert_eq!(s.indicators.len(), 4);
            }
        }
    }
}
