//! Statistics over scored signals: the numbers `evaluate` prints and the live scorecard serves.
//!
//! Every function is pure and deterministic. Definitions are documented in `docs/evaluation.md`.

use serde::Serialize;

use super::scorer::{BracketEnd, ScoredSignal};

/// Below this many scored signals a row is flagged `insufficient_sample`.
pub const MIN_SAMPLE: usize = 30;

/// Mean net bps over signals that do not overlap in time.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NonOverlapping {
    /// Signals kept.
    pub n: usize,
    /// Their mean net bps.
    pub mean_net_bps: Option<f64>,
}

/// Bracket (stop loss / take profit) results.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BracketStats {
    /// Signals with both levels whose bracket ended in the data.
    pub n: usize,
    /// Share that touched the take profit first.
    pub win_rate: Option<f64>,
    /// Mean net bps of the bracketed trades.
    pub mean_net_bps: Option<f64>,
    /// How many touched the take profit first.
    pub take_profit: usize,
    /// How many touched the stop loss first.
    pub stop_loss: usize,
    /// How many touched neither (marked to market at the longest horizon).
    pub neither: usize,
}

/// The statistics of one group of signals at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HorizonStats {
    /// Scored signals.
    pub n: usize,
    /// Signals whose entry or exit fell after the data.
    pub unscored: usize,
    /// All signals of the group per hour of the data's event-time span.
    pub signals_per_hour: f64,
    /// Share of scored signals with gross > 0.
    pub hit_rate: Option<f64>,
    /// Mean gross bps.
    pub mean_gross_bps: Option<f64>,
    /// Mean net bps (gross − round-trip fee).
    pub mean_net_bps: Option<f64>,
    /// Median net bps.
    pub median_net_bps: Option<f64>,
    /// 95 % Student-t confidence interval of the mean net bps.
    pub ci95_net_bps: Option<[f64; 2]>,
    /// Mean over signals that do not overlap (same strategy, set and symbol).
    pub non_overlapping: NonOverlapping,
    /// Spearman rank correlation of confidence with gross bps.
    pub ic: Option<f64>,
    /// Bracket results (the same for every horizon: they run to the longest one).
    pub bracket: BracketStats,
    /// Largest peak-to-trough fall of the cumulative net bps, in signal order.
    pub max_drawdown_bps: f64,
    /// `n` < 30.
    pub insufficient_sample: bool,
}

/// One confidence bucket of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CalibrationBucket {
    /// Lower and upper confidence bound (upper exclusive, except 1.0).
    pub confidence: [f64; 2],
    /// Scored signals in the bucket.
    pub n: usize,
    /// Their hit rate.
    pub hit_rate: Option<f64>,
    /// Their mean net bps.
    pub mean_net_bps: Option<f64>,
}

/// Statistics of `signals` at horizon index `h`. `span_hours` is the data's event-time span; signals must be in
/// signal-time order (as [`super::Scorer::finish`] returns them).
pub fn horizon_stats(
    signals: &[&ScoredSignal],
    h: usize,
    fee_bps: f64,
    span_hours: f64,
) -> HorizonStats {
    let scored: Vec<(&ScoredSignal, f64)> = signals
        .iter()
        .filter_map(|s| s.gross_bps(h).map(|g| (*s, g)))
        .collect();
    let gross: Vec<f64> = scored.iter().map(|(_, g)| *g).collect();
    let net: Vec<f64> = gross.iter().map(|g| g - 2.0 * fee_bps).collect();
    let n = scored.len();
    let hit_rate = ratio(gross.iter().filter(|g| **g > 0.0).count(), n);
    let confidences: Vec<f64> = scored.iter().map(|(s, _)| s.record.confidence).collect();
    HorizonStats {
        n,
        unscored: signals.len() - n,
        signals_per_hour: if span_hours > 0.0 {
            signals.len() as f64 / span_hours
        } else {
            0.0
        },
        hit_rate,
        mean_gross_bps: mean(&gross),
        mean_net_bps: mean(&net),
        median_net_bps: median(&net),
        ci95_net_bps: ci95(&net),
        non_overlapping: non_overlapping(signals, h, fee_bps),
        ic: spearman(&confidences, &gross),
        bracket: bracket_stats(signals),
        max_drawdown_bps: max_drawdown(&net),
        insufficient_sample: n < MIN_SAMPLE,
    }
}

/// Calibration by confidence bucket (width 0.1) at horizon index `h`; empty buckets are left out.
pub fn calibration(signals: &[&ScoredSignal], h: usize, fee_bps: f64) -> Vec<CalibrationBucket> {
    let mut buckets: Vec<Vec<f64>> = vec![Vec::new(); 10];
    for s in signals {
        if let Some(g) = s.gross_bps(h) {
            let b = ((s.record.confidence * 10.0).floor() as usize).min(9);
            buckets[b].push(g);
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .map(|(i, gross)| {
            let net: Vec<f64> = gross.iter().map(|g| g - 2.0 * fee_bps).collect();
            CalibrationBucket {
                confidence: [i as f64 / 10.0, (i + 1) as f64 / 10.0],
                n: gross.len(),
                hit_rate: ratio(gross.iter().filter(|g| **g > 0.0).count(), gross.len()),
                mean_net_bps: mean(&net),
            }
        })
        .collect()
}

/// Keeps a signal only when it comes at or after the exit of the previous kept signal of the same group and
/// symbol; returns the kept count and their mean net bps.
pub fn non_overlapping(signals: &[&ScoredSignal], h: usize, fee_bps: f64) -> NonOverlapping {
    let mut busy_until: std::collections::BTreeMap<(u32, &str), i64> = Default::default();
    let mut kept = Vec::new();
    for s in signals {
        let Some((exit, gross)) = s.exits.get(h).copied().flatten() else {
            continue;
        };
        let key = (s.record.group, s.record.symbol.as_str());
        if busy_until
            .get(&key)
            .is_some_and(|&until| s.record.event_time_ms < until)
        {
            continue;
        }
        busy_until.insert(key, exit.event_time_ms);
        kept.push(gross - 2.0 * fee_bps);
    }
    NonOverlapping {
        n: kept.len(),
        mean_net_bps: mean(&kept),
    }
}

fn bracket_stats(signals: &[&ScoredSignal]) -> BracketStats {
    let brackets: Vec<_> = signals.iter().filter_map(|s| s.bracket).collect();
    let count = |end| brackets.iter().filter(|b| b.end == end).count();
    let take_profit = count(BracketEnd::TakeProfit);
    let net: Vec<f64> = brackets.iter().map(|b| b.net_bps).collect();
    BracketStats {
        n: brackets.len(),
        win_rate: ratio(take_profit, brackets.len()),
        mean_net_bps: mean(&net),
        take_profit,
        stop_loss: count(BracketEnd::StopLoss),
        neither: count(BracketEnd::Neither),
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Arithmetic mean, `None` when empty.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation (n − 1), `None` below two values.
pub fn std_dev(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    Some(var.sqrt())
}

/// Median, `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    })
}

/// 95 % confidence interval of the mean with Student's t (n − 1 degrees of freedom); `None` below two values.
pub fn ci95(xs: &[f64]) -> Option<[f64; 2]> {
    let m = mean(xs)?;
    let sd = std_dev(xs)?;
    let t = distrs::StudentsT::ppf(0.975, (xs.len() - 1) as f64);
    let half = t * sd / (xs.len() as f64).sqrt();
    Some([m - half, m + half])
}

/// Spearman rank correlation (average ranks for ties); `None` below three pairs or when a side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let mx = mean(x)?;
    let my = mean(y)?;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

fn ranks(xs: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&a, &b| xs[a].total_cmp(&xs[b]));
    let mut ranks = vec![0.0; xs.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Largest fall of the running sum from its running peak (the peak starts at 0).
pub fn max_drawdown(xs: &[f64]) -> f64 {
    drawdowns(xs).into_iter().fold(0.0, f64::max)
}

/// The fall from the running peak after each value (the peak starts at 0).
pub fn drawdowns(xs: &[f64]) -> Vec<f64> {
    let (mut sum, mut peak) = (0.0_f64, 0.0_f64);
    xs.iter()
        .map(|x| {
            sum += x;
            peak = peak.max(sum);
            peak - sum
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::scorer::{Fill, PriceSource, SignalRecord};
    use super::*;

    fn scored(t: i64, conf: f64, gross: Option<f64>, exit_t: i64) -> ScoredSignal {
        ScoredSignal {
            record: SignalRecord {
                group: 0,
                symbol: "BTCUSDT".into(),
                event_time_ms: t,
                side: 1.0,
                confidence: conf,
                stop_loss: None,
                take_profit: None,
            },
            source: PriceSource::Book,
            entry: Some(Fill {
                event_time_ms: t + 200,
                price: 100.0,
            }),
            exits: vec![gross.map(|g| {
                (
                    Fill {
                        event_time_ms: exit_t,
                        price: 100.0,
                    },
                    g,
                )
            })],
            bracket: None,
        }
    }

    /// Three signals checked by hand: gross +30, −10, +40 bps with a 10 bps fee (net +10, −30, +20).
    #[test]
    fn hand_checked_three_signals() {
        let a = scored(0, 0.2, Some(30.0), 5_000);
        let b = scored(1_000, 0.5, Some(-10.0), 6_000); // starts before a's exit: overlapping
        let c = scored(10_000, 0.9, Some(40.0), 15_000);
        let all = [&a, &b, &c];
        let st = horizon_stats(&all, 0, 10.0, 0.5);
        assert_eq!(st.n, 3);
        assert_eq!(st.unscored, 0);
        assert!((st.signals_per_hour - 6.0).abs() < 1e-12);
        assert!((st.hit_rate.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((st.mean_gross_bps.unwrap() - 20.0).abs() < 1e-12);
        assert!((st.mean_net_bps.unwrap() - 0.0).abs() < 1e-12);
        assert!((st.median_net_bps.unwrap() - 10.0).abs() < 1e-12);
        // sd of (10, −30, 20) = sqrt(700) = 26.4575; t(0.975, 2) = 4.302653; sd/√3 = 15.2753; half = 65.7241
        let [lo, hi] = st.ci95_net_bps.unwrap();
        assert!(
            (hi - 65.7241).abs() < 1e-3 && (lo + 65.7241).abs() < 1e-3,
            "{lo} {hi}"
        );
        assert_eq!(st.non_overlapping.n, 2);
        assert!((st.non_overlapping.mean_net_bps.unwrap() - 15.0).abs() < 1e-12);
        // confidence ranks 1,2,3 vs gross ranks 2,1,3: rho = 0.5
        assert!((st.ic.unwrap() - 0.5).abs() < 1e-12);
        // cumulative net 10, −20, 0: peak 10, trough −20 → drawdown 30
        assert!((st.max_drawdown_bps - 30.0).abs() < 1e-12);
        assert!(st.insufficient_sample);
        assert_eq!(st.bracket.n, 0);
        let cal = calibration(&all, 0, 10.0);
        assert_eq!(cal.len(), 3);
        assert_eq!(cal[0].confidence, [0.2, 0.3]);
        assert_eq!(cal[2].n, 1);
    }

    #[test]
    fn unscored_signals_count_but_are_never_scored_as_zero() {
        let a = scored(0, 0.5, Some(10.0), 1_000);
        let b = scored(1, 0.5, None, 0);
        let st = horizon_stats(&[&a, &b], 0, 0.0, 1.0);
        assert_eq!((st.n, st.unscored), (1, 1));
        assert_eq!(st.mean_gross_bps, Some(10.0));
        assert!((st.signals_per_hour - 2.0).abs() < 1e-12);
    }

    #[test]
    fn spearman_handles_ties_and_constants() {
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[10.0, 20.0, 20.0, 30.0]).unwrap();
        assert!((r - 1.0).abs() < 1e-12);
    }
}
