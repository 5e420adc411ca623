//! The per-book computation: one pass over each side of a depth snapshot, no allocation.

use strategy_sdk::decode::MAX_NUMBER;
use strategy_sdk::{DepthBook, Level};

/// Net pressure above which a book reads as bullish (and below whose negative, bearish).
pub const SENTIMENT_THRESHOLD: f64 = 20.0;

/// A price level reduced to what the API reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StrongLevel {
    /// Price of the level.
    pub price: f64,
    /// Quantity resting at the level.
    pub volume: f64,
}

/// Everything one depth snapshot says, unrounded. `Copy` and fixed-size, so storing it is a memcpy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DepthMetrics {
    /// Sum of bid quantities over every bid level.
    pub bid_volume: f64,
    /// Sum of ask quantities over every ask level.
    pub ask_volume: f64,
    /// `(bid − ask) / (bid + ask)`, in `[-1, 1]`; 0 when there is no volume.
    pub imbalance_ratio: f64,
    /// `imbalance_ratio × 100`.
    pub imbalance_percent: f64,
    /// `bid / (bid + ask) × 100`; 0 when there is no volume.
    pub buy_pressure: f64,
    /// `ask / (bid + ask) × 100`; 0 when there is no volume.
    pub sell_pressure: f64,
    /// `buy_pressure − sell_pressure`, in `[-100, 100]`.
    pub net_pressure: f64,
    /// `bid_volume + ask_volume`.
    pub total_liquidity: f64,
    /// Bid quantity in the best 5 levels.
    pub bid_depth_5: f64,
    /// Ask quantity in the best 5 levels.
    pub ask_depth_5: f64,
    /// Bid quantity in the best 10 levels.
    pub bid_depth_10: f64,
    /// Ask quantity in the best 10 levels.
    pub ask_depth_10: f64,
    /// Highest bid price (0 without bids).
    pub best_bid: f64,
    /// Lowest ask price (0 without asks).
    pub best_ask: f64,
    /// `best_ask − best_bid`, never negative; 0 unless both sides are present.
    pub spread_abs: f64,
    /// `spread_abs / mid_price × 10 000`; 0 unless both sides are present.
    pub spread_bps: f64,
    /// `(best_bid + best_ask) / 2`; 0 unless both sides are present.
    pub mid_price: f64,
    /// `Σ price × qty / Σ qty` over the bids (best bid when the side has no volume, 0 without bids).
    pub vwap_bid: f64,
    /// Same over the asks.
    pub vwap_ask: f64,
    /// Number of usable bid levels.
    pub bid_levels: u32,
    /// Number of usable ask levels.
    pub ask_levels: u32,
    /// The bid level with the most quantity (the best-priced one on ties).
    pub strongest_bid: Option<StrongLevel>,
    /// The ask level with the most quantity (the best-priced one on ties).
    pub strongest_ask: Option<StrongLevel>,
}

impl DepthMetrics {
    /// Total number of usable levels.
    pub fn total_levels(&self) -> u32 {
        self.bid_levels.saturating_add(self.ask_levels)
    }

    /// True when both sides have a usable level.
    pub fn two_sided(&self) -> bool {
        self.bid_levels > 0 && self.ask_levels > 0
    }

    /// `|vwap_bid − vwap_ask|`, 0 unless both sides are present.
    pub fn vwap_spread(&self) -> f64 {
        if self.two_sided() {
            (self.vwap_bid - self.vwap_ask).abs()
        } else {
            0.0
        }
    }

    /// `bullish` above +20 net pressure, `bearish` below −20, else `neutral` (the original's thresholds).
    pub fn interpretation(&self) -> Trend {
        Trend::of_net_pressure(self.net_pressure)
    }
}

/// Direction label used by the depth, pressure, summary and `/all` documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trend {
    /// Buyers dominate.
    Bullish,
    /// Sellers dominate.
    Bearish,
    /// Neither side dominates.
    Neutral,
}

impl Trend {
    /// The classification of one net-pressure value: `> 20` bullish, `< −20` bearish, else neutral.
    pub fn of_net_pressure(net: f64) -> Self {
        if net > SENTIMENT_THRESHOLD {
            Trend::Bullish
        } else if net < -SENTIMENT_THRESHOLD {
            Trend::Bearish
        } else {
            Trend::Neutral
        }
    }

    /// Lower-case label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Trend::Bullish => "bullish",
            Trend::Bearish => "bearish",
            Trend::Neutral => "neutral",
        }
    }
}

/// What one pass over one side of the book gathers.
#[derive(Debug, Clone, Copy, Default)]
struct SideScan {
    volume: f64,
    depth_5: f64,
    depth_10: f64,
    notional: f64,
    levels: u32,
    best: Option<f64>,
    strongest: Option<StrongLevel>,
}

/// A level is usable when its price is finite, positive and at most [`MAX_NUMBER`], and its quantity finite,
/// non-negative and at most [`MAX_NUMBER`]. Anything else is skipped (the decoder already rejects such input;
/// this keeps the plugin total for books built elsewhere).
fn usable(l: &Level) -> bool {
    // two comparisons per number: NaN fails both, an infinity one of them
    (l.price > 0.0 && l.price <= MAX_NUMBER) && (l.qty >= 0.0 && l.qty <= MAX_NUMBER)
}

/// Scans one side. `better(a, b)` is true when price `a` is better than `b` (higher for bids, lower for asks).
/// The first usable level starts every figure (the sums from `0.0 +`, as a fold from zero would), so the loop
/// carries plain numbers.
fn scan(levels: &[Level], better: impl Fn(f64, f64) -> bool) -> SideScan {
    let mut rest = levels.iter().filter(|l| usable(l));
    let Some(first) = rest.next() else {
        return SideScan::default();
    };
    let mut s = SideScan {
        volume: 0.0 + first.qty,
        depth_5: 0.0 + first.qty,
        depth_10: 0.0 + first.qty,
        notional: 0.0 + first.price * first.qty,
        levels: 1,
        best: None,
        strongest: None,
    };
    let mut best = first.price;
    let mut strongest = StrongLevel {
        price: first.price,
        volume: first.qty,
    };
    for l in rest {
        s.levels = s.levels.saturating_add(1);
        s.volume += l.qty;
        if s.levels <= 5 {
            s.depth_5 += l.qty;
        }
        if s.levels <= 10 {
            s.depth_10 += l.qty;
        }
        s.notional += l.price * l.qty;
        if better(l.price, best) {
            best = l.price;
        }
        // Strictly more quantity replaces; on equal quantity keep the better-priced level.
        if l.qty > strongest.volume
            || (l.qty == strongest.volume && better(l.price, strongest.price))
        {
            strongest = StrongLevel {
                price: l.price,
                volume: l.qty,
            };
        }
    }
    s.best = Some(best);
    s.strongest = Some(strongest);
    s
}

fn vwap(s: &SideScan) -> f64 {
    match s.best {
        None => 0.0,
        Some(best) if s.volume > 0.0 => {
            let v = s.notional / s.volume;
            if v.is_finite() {
                v
            } else {
                best
            }
        }
        Some(best) => best,
    }
}

/// Computes the metrics of one book. Returns `None` when neither side has a usable level (nothing to report).
pub fn compute(book: &DepthBook) -> Option<DepthMetrics> {
    let bids = scan(&book.bids, |a, b| a > b);
    let asks = scan(&book.asks, |a, b| a < b);
    if bids.levels == 0 && asks.levels == 0 {
        return None;
    }
    let total = bids.volume + asks.volume;
    let (imbalance_ratio, buy_pressure, sell_pressure) = if total > 0.0 {
        (
            ((bids.volume - asks.volume) / total).clamp(-1.0, 1.0),
            (bids.volume / total * 100.0).clamp(0.0, 100.0),
            (asks.volume / total * 100.0).clamp(0.0, 100.0),
        )
    } else {
        (0.0, 0.0, 0.0)
    };
    let best_bid = bids.best.unwrap_or(0.0);
    let best_ask = asks.best.unwrap_or(0.0);
    let (spread_abs, mid_price, spread_bps) = match (bids.best, asks.best) {
        (Some(b), Some(a)) => {
            let mid = (b + a) / 2.0;
            // A crossed book (bid above ask) has no meaningful spread: report 0, never a negative one.
            let spread = (a - b).max(0.0);
            (spread, mid, spread / mid * 10_000.0)
        }
        _ => (0.0, 0.0, 0.0),
    };
    Some(DepthMetrics {
        bid_volume: bids.volume,
        ask_volume: asks.volume,
        imbalance_ratio,
        imbalance_percent: imbalance_ratio * 100.0,
        buy_pressure,
        sell_pressure,
        net_pressure: (buy_pressure - sell_pressure).clamp(-100.0, 100.0),
        total_liquidity: total,
        bid_depth_5: bids.depth_5,
        ask_depth_5: asks.depth_5,
        bid_depth_10: bids.depth_10,
        ask_depth_10: asks.depth_10,
        best_bid,
        best_ask,
        spread_abs,
        spread_bps,
        mid_price,
        vwap_bid: vwap(&bids),
        vwap_ask: vwap(&asks),
        bid_levels: bids.levels,
        ask_levels: asks.levels,
        strongest_bid: bids.strongest,
        strongest_ask: asks.strongest,
    })
}

/// Rounds to `dp` decimal places, ties to even (as Python's `round` does on exactly representable halves).
/// Non-finite input gives 0; values too large to carry that many decimals are returned unchanged.
pub fn round_dp(x: f64, dp: i32) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let scale = 10f64.powi(dp);
    let scaled = x * scale;
    if !scaled.is_finite() || scaled.abs() >= 4.5e15 {
        return x;
    }
    let r = scaled.round_ties_even() / scale;
    // Avoid "-0.0" in documents.
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Decimals for ratios in `[-1, 1]` (as the original).
pub const DP_RATIO: i32 = 4;
/// Decimals for percentages and pressures (as the original).
pub const DP_PERCENT: i32 = 2;
/// Decimals for quantities (the original used 4, which erases Binance's 5–8 decimal lot sizes).
pub const DP_QTY: i32 = 8;
/// Decimals for derived prices: mid, spread, VWAP (the original used 2 or none, which zeroes the spread of
/// low-priced symbols and leaks float noise such as `2667.4049999999997`).
pub const DP_PRICE: i32 = 10;
/// Decimals for basis points (the original used 2, which shows BTC's 0.003 bps spread as 0).
pub const DP_BPS: i32 = 4;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strategy_sdk::testing::book;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn worked_example_two_sided() {
        // bids 100 x 2, 99 x 1; asks 101 x 1
        let m = compute(&book(&[(100.0, 2.0), (99.0, 1.0)], &[(101.0, 1.0)])).unwrap();
        assert!(close(m.bid_volume, 3.0));
        assert!(close(m.ask_volume, 1.0));
        assert!(close(m.total_liquidity, 4.0));
        assert!(close(m.imbalance_ratio, 0.5));
        assert!(close(m.imbalance_percent, 50.0));
        assert!(close(m.buy_pressure, 75.0));
        assert!(close(m.sell_pressure, 25.0));
        assert!(close(m.net_pressure, 50.0));
        assert_eq!(m.interpretation(), Trend::Bullish);
        assert!(close(m.best_bid, 100.0));
        assert!(close(m.best_ask, 101.0));
        assert!(close(m.spread_abs, 1.0));
        assert!(close(m.mid_price, 100.5));
        // 1 / 100.5 * 10000 = 99.50248756...
        assert!(close(m.spread_bps, 10_000.0 / 100.5));
        // (100*2 + 99*1) / 3 = 99.6666...
        assert!(close(m.vwap_bid, 299.0 / 3.0));
        assert!(close(m.vwap_ask, 101.0));
        assert!(close(m.vwap_spread(), 101.0 - 299.0 / 3.0));
        assert_eq!((m.bid_levels, m.ask_levels, m.total_levels()), (2, 1, 3));
        assert_eq!(
            m.strongest_bid,
            Some(StrongLevel {
                price: 100.0,
                volume: 2.0
            })
        );
        assert_eq!(
            m.strongest_ask,
            Some(StrongLevel {
                price: 101.0,
                volume: 1.0
            })
        );
    }

    #[test]
    fn depth_5_and_10_cover_best_levels_only() {
        let bids: Vec<(f64, f64)> = (0..12)
            .map(|i| (100.0 - f64::from(i), f64::from(i + 1)))
            .collect();
        let m = compute(&book(&bids, &[(101.0, 1.0)])).unwrap();
        assert!(close(m.bid_depth_5, 1.0 + 2.0 + 3.0 + 4.0 + 5.0));
        assert!(close(m.bid_depth_10, 55.0));
        assert!(close(m.bid_volume, 78.0));
        // fewer than 5 levels: the whole side (as the original)
        assert!(close(m.ask_depth_5, 1.0));
        assert!(close(m.ask_depth_10, 1.0));
        // strongest bid is the deepest level (qty 12 at 89)
        assert_eq!(
            m.strongest_bid,
            Some(StrongLevel {
                price: 89.0,
                volume: 12.0
            })
        );
    }

    #[test]
    fn bearish_and_neutral_edges() {
        // net exactly -20 is neutral (strict thresholds)
        let m = compute(&book(&[(10.0, 4.0)], &[(11.0, 6.0)])).unwrap();
        assert!(close(m.net_pressure, -20.0));
        assert_eq!(m.interpretation(), Trend::Neutral);
        let m = compute(&book(&[(10.0, 3.9)], &[(11.0, 6.1)])).unwrap();
        assert_eq!(m.interpretation(), Trend::Bearish);
        let m = compute(&book(&[(10.0, 6.1)], &[(11.0, 3.9)])).unwrap();
        assert_eq!(m.interpretation(), Trend::Bullish);
    }

    #[test]
    fn empty_book_is_none() {
        assert!(compute(&book(&[], &[])).is_none());
        // only unusable levels
        assert!(compute(&book(&[(f64::NAN, 1.0), (0.0, 1.0)], &[(-1.0, 2.0)])).is_none());
    }

    #[test]
    fn one_sided_book() {
        let m = compute(&book(&[(100.0, 2.0)], &[])).unwrap();
        assert!(close(m.buy_pressure, 100.0));
        assert!(close(m.sell_pressure, 0.0));
        assert!(close(m.net_pressure, 100.0));
        assert!(close(m.best_ask, 0.0));
        assert!(close(m.spread_abs, 0.0));
        assert!(close(m.mid_price, 0.0));
        assert!(close(m.spread_bps, 0.0));
        assert!(close(m.vwap_ask, 0.0));
        assert!(close(m.vwap_spread(), 0.0));
        assert!(m.strongest_ask.is_none());
        assert!(!m.two_sided());
    }

    #[test]
    fn zero_volume_book() {
        let m = compute(&book(&[(100.0, 0.0)], &[(101.0, 0.0)])).unwrap();
        assert_eq!(
            (m.buy_pressure, m.sell_pressure, m.net_pressure),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(m.imbalance_ratio, 0.0);
        // VWAP of a side without volume falls back to its best price
        assert!(close(m.vwap_bid, 100.0));
        assert!(close(m.vwap_ask, 101.0));
    }

    #[test]
    fn crossed_book_has_no_negative_spread() {
        let m = compute(&book(&[(101.0, 1.0)], &[(100.0, 1.0)])).unwrap();
        assert_eq!(m.spread_abs, 0.0);
        assert_eq!(m.spread_bps, 0.0);
        assert!(close(m.mid_price, 100.5));
    }

    #[test]
    fn unsorted_levels_use_true_best() {
        let m = compute(&book(
            &[(99.0, 1.0), (100.0, 1.0)],
            &[(102.0, 1.0), (101.0, 1.0)],
        ))
        .unwrap();
        assert!(close(m.best_bid, 100.0));
        assert!(close(m.best_ask, 101.0));
        // strongest on equal volume: the better price
        assert_eq!(m.strongest_bid.unwrap().price, 100.0);
        assert_eq!(m.strongest_ask.unwrap().price, 101.0);
    }

    #[test]
    fn rounding() {
        assert_eq!(round_dp(2667.4049999999997, DP_PRICE), 2667.405);
        assert_eq!(round_dp(61991.23 - 61991.21, DP_PRICE), 0.02);
        assert_eq!(round_dp(0.125, 2), 0.12); // ties to even, as Python
        assert_eq!(round_dp(0.135, 2), 0.14); // 0.135 is stored just above
        assert_eq!(round_dp(-0.001, 2), 0.0);
        assert!(round_dp(-0.001, 2).is_sign_positive());
        assert_eq!(round_dp(f64::NAN, 2), 0.0);
        assert_eq!(round_dp(f64::INFINITY, 2), 0.0);
        assert_eq!(round_dp(1e300, 10), 1e300);
        assert_eq!(round_dp(4.2, 2), 4.2);
    }

    fn side() -> impl Strategy<Value = Vec<(f64, f64)>> {
        prop::collection::vec(
            (
                prop_oneof![
                    1e-8..1e6f64,
                    Just(0.0),
                    Just(f64::NAN),
                    Just(1e15),
                    Just(-5.0)
                ],
                prop_oneof![
                    0.0..1e4f64,
                    Just(0.0),
                    Just(1e15),
                    Just(f64::INFINITY),
                    Just(1e-8)
                ],
            ),
            0..25,
        )
    }

    proptest! {
        #[test]
        fn random_books_are_sane(bids in side(), asks in side()) {
            let b = book(&bids, &asks);
            let Some(m) = compute(&b) else {
                return Ok(());
            };
            let all = [
                m.bid_volume, m.ask_volume, m.imbalance_ratio, m.imbalance_percent, m.buy_pressure,
                m.sell_pressure, m.net_pressure, m.total_liquidity, m.bid_depth_5, m.ask_depth_5,
                m.bid_depth_10, m.ask_depth_10, m.best_bid, m.best_ask, m.spread_abs, m.spread_bps,
                m.mid_price, m.vwap_bid, m.vwap_ask, m.vwap_spread(),
            ];
            for v in all {
                prop_assert!(v.is_finite());
            }
            prop_assert!((-1.0..=1.0).contains(&m.imbalance_ratio));
            prop_assert!((0.0..=100.0).contains(&m.buy_pressure));
            prop_assert!((0.0..=100.0).contains(&m.sell_pressure));
            prop_assert!((-100.0..=100.0).contains(&m.net_pressure));
            if m.total_liquidity > 0.0 {
                prop_assert!((m.buy_pressure + m.sell_pressure - 100.0).abs() < 1e-9);
            } else {
                prop_assert_eq!(m.buy_pressure + m.sell_pressure, 0.0);
            }
            prop_assert!(m.spread_abs >= 0.0 && m.spread_bps >= 0.0);
            prop_assert!(m.bid_depth_5 <= m.bid_depth_10 + 1e-6 && m.bid_depth_10 <= m.bid_volume + 1e-6);
            prop_assert!(m.ask_depth_5 <= m.ask_depth_10 + 1e-6 && m.ask_depth_10 <= m.ask_volume + 1e-6);
            prop_assert!(m.total_levels() as usize <= bids.len() + asks.len());
            if m.bid_levels > 0 && m.bid_volume > 0.0 {
                // the VWAP lies within the side's price range
                let sb = m.strongest_bid.unwrap();
                prop_assert!(sb.volume <= m.bid_volume + 1e-6);
                prop_assert!(m.vwap_bid <= m.best_bid * (1.0 + 1e-9));
            }
            if m.ask_levels > 0 && m.ask_volume > 0.0 {
                prop_assert!(m.vwap_ask >= m.best_ask * (1.0 - 1e-9));
            }
        }
    }

    /// What [`scan`] gathers, from the definition: a fold over the usable levels from zero and `None`.
    fn scan_by_definition(levels: &[Level], better: impl Fn(f64, f64) -> bool) -> SideScan {
        levels
            .iter()
            .filter(|l| usable(l))
            .fold(SideScan::default(), |mut s, l| {
                s.levels += 1;
                s.volume += l.qty;
                s.depth_5 += if s.levels <= 5 { l.qty } else { 0.0 };
                s.depth_10 += if s.levels <= 10 { l.qty } else { 0.0 };
                s.notional += l.price * l.qty;
                s.best = Some(match s.best {
                    Some(b) if !better(l.price, b) => b,
                    _ => l.price,
                });
                s.strongest = match s.strongest {
                    Some(st)
                        if l.qty < st.volume
                            || (l.qty == st.volume && !better(l.price, st.price)) =>
                    {
                        Some(st)
                    }
                    _ => Some(StrongLevel {
                        price: l.price,
                        volume: l.qty,
                    }),
                };
                s
            })
    }

    /// Levels with repeated prices and quantities (ties for the best and the strongest level), `-0.0` and
    /// unusable values among them.
    fn side_with_ties() -> impl Strategy<Value = Vec<(f64, f64)>> {
        prop::collection::vec(
            (
                prop_oneof![
                    Just(100.0),
                    Just(101.0),
                    Just(99.5),
                    1.0..200.0f64,
                    Just(f64::NAN),
                    Just(-1.0)
                ],
                prop_oneof![
                    Just(1.0),
                    Just(2.5),
                    Just(0.0),
                    Just(-0.0),
                    0.0..10.0f64,
                    Just(f64::INFINITY)
                ],
            ),
            0..25,
        )
    }

    proptest! {
        /// The scan's single pass equals the definition bit for bit, on both sides' orders.
        #[test]
        fn scan_equals_the_definition(levels in side_with_ties()) {
            let levels: Vec<Level> = levels.iter().map(|&(p, q)| Level::new(p, q)).collect();
            let bits = |s: &SideScan| (
                [s.volume, s.depth_5, s.depth_10, s.notional].map(f64::to_bits),
                s.levels,
                s.best.map(f64::to_bits),
                s.strongest.map(|st| (st.price.to_bits(), st.volume.to_bits())),
            );
            let higher = |a: f64, b: f64| a > b;
            let lower = |a: f64, b: f64| a < b;
            prop_assert_eq!(bits(&scan(&levels, higher)), bits(&scan_by_definition(&levels, higher)));
            prop_assert_eq!(bits(&scan(&levels, lower)), bits(&scan_by_definition(&levels, lower)));
        }
    }
}
