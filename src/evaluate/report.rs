//! The `evaluate` report: a stable JSON document (documented in `docs/evaluation.md`), a readable table and CSV.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::recording::RecordingInfo;
use super::run::Evaluation;
use crate::scoring::stats::{calibration, horizon_stats, CalibrationBucket, HorizonStats};
use crate::scoring::{PriceSource, ScoreSettings, ScoredSignal};

/// Symbol value of the rows that pool every symbol.
pub const ALL_SYMBOLS: &str = "*";

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Input files.
    pub recordings: Vec<RecordingInfo>,
    /// Scoring settings.
    pub settings: ReportSettings,
    /// Messages the pipeline dropped, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// One row per strategy × parameter set × symbol (`*` = all) × horizon.
    pub results: Vec<ResultRow>,
    /// Confidence calibration per strategy × parameter set × horizon, all symbols pooled.
    pub calibration: Vec<CalibrationRow>,
}

/// Scoring settings as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSettings {
    /// Entry delay in ms.
    pub entry_delay_ms: i64,
    /// Fee per side in bps.
    pub fee_bps: f64,
    /// Horizons in seconds.
    pub horizons_s: Vec<f64>,
}

/// One row of results.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    /// Strategy id.
    pub strategy_id: String,
    /// Parameter set name.
    pub parameter_set: String,
    /// The set's parameters as given (partial; empty for `default`).
    pub parameters: Value,
    /// Symbol, or `*` for all symbols.
    pub symbol: String,
    /// `book`, `trade`, or `mixed` (pooled rows over both kinds of symbols).
    pub price_source: String,
    /// Horizon in seconds.
    pub horizon_s: f64,
    /// The statistics.
    #[serde(flatten)]
    pub stats: HorizonStats,
}

/// Calibration of one strategy × parameter set at one horizon.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationRow {
    /// Strategy id.
    pub strategy_id: String,
    /// Parameter set name.
    pub parameter_set: String,
    /// Horizon in seconds.
    pub horizon_s: f64,
    /// Non-empty confidence buckets.
    pub buckets: Vec<CalibrationBucket>,
}

/// Builds the report. Rows come in set order (strategy id, then `default`, named sets, grid points), then symbol
/// (`*` first), then horizon.
pub fn build(
    recordings: &[RecordingInfo],
    span_ms: i64,
    settings: &ScoreSettings,
    evaluation: &Evaluation,
) -> Report {
    let span_hours = span_ms as f64 / 3_600_000.0;
    let mut by_group: BTreeMap<u32, Vec<&ScoredSignal>> = BTreeMap::new();
    for s in &evaluation.scored {
        by_group.entry(s.record.group).or_default().push(s);
    }
    let mut results = Vec::new();
    let mut calibration_rows = Vec::new();
    for (g, set) in evaluation.sets.iter().enumerate() {
        let signals = by_group.remove(&(g as u32)).unwrap_or_default();
        let symbols: BTreeSet<&str> = signals.iter().map(|s| s.record.symbol.as_str()).collect();
        let mut scopes: Vec<(String, Vec<&ScoredSignal>)> =
            vec![(ALL_SYMBOLS.to_owned(), signals.clone())];
        for symbol in symbols {
            let of_symbol = signals
                .iter()
                .copied()
                .filter(|s| s.record.symbol == symbol)
                .collect();
            scopes.push((symbol.to_owned(), of_symbol));
        }
        for (symbol, group) in &scopes {
            let source = price_source(group);
            for (h, horizon_ms) in settings.horizons_ms.iter().enumerate() {
                results.push(ResultRow {
                    strategy_id: set.strategy_id.to_owned(),
                    parameter_set: set.name.clone(),
                    parameters: Value::Object(set.overrides.clone()),
                    symbol: symbol.clone(),
                    price_source: source.clone(),
                    horizon_s: *horizon_ms as f64 / 1000.0,
                    stats: rounded(horizon_stats(group, h, settings.fee_bps, span_hours)),
                });
            }
        }
        for (h, horizon_ms) in settings.horizons_ms.iter().enumerate() {
            calibration_rows.push(CalibrationRow {
                strategy_id: set.strategy_id.to_owned(),
                parameter_set: set.name.clone(),
                horizon_s: *horizon_ms as f64 / 1000.0,
                buckets: calibration(&signals, h, settings.fee_bps)
                    .into_iter()
                    .map(|b| CalibrationBucket {
                        hit_rate: b.hit_rate.map(r4),
                        mean_net_bps: b.mean_net_bps.map(r4),
                        ..b
                    })
                    .collect(),
            });
        }
    }
    Report {
        recordings: recordings.to_vec(),
        settings: ReportSettings {
            entry_delay_ms: settings.entry_delay_ms,
            fee_bps: settings.fee_bps,
            horizons_s: settings
                .horizons_ms
                .iter()
                .map(|h| *h as f64 / 1000.0)
                .collect(),
        },
        dropped: evaluation
            .dropped
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        results,
        calibration: calibration_rows,
    }
}

fn price_source(signals: &[&ScoredSignal]) -> String {
    let sources: BTreeSet<PriceSource> = signals.iter().map(|s| s.source).collect();
    match (
        sources.contains(&PriceSource::Book),
        sources.contains(&PriceSource::Trade),
    ) {
        (true, true) => "mixed",
        (false, true) => "trade",
        _ => "book",
    }
    .to_owned()
}

/// Rounds to 4 decimals: enough for bps and rates, and stable text across platforms.
fn r4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn rounded(mut s: HorizonStats) -> HorizonStats {
    s.signals_per_hour = r4(s.signals_per_hour);
    s.hit_rate = s.hit_rate.map(r4);
    s.mean_gross_bps = s.mean_gross_bps.map(r4);
    s.mean_net_bps = s.mean_net_bps.map(r4);
    s.median_net_bps = s.median_net_bps.map(r4);
    s.ci95_net_bps = s.ci95_net_bps.map(|[a, b]| [r4(a), r4(b)]);
    s.non_overlapping.mean_net_bps = s.non_overlapping.mean_net_bps.map(r4);
    s.ic = s.ic.map(r4);
    s.bracket.win_rate = s.bracket.win_rate.map(r4);
    s.bracket.mean_net_bps = s.bracket.mean_net_bps.map(r4);
    s.max_drawdown_bps = r4(s.max_drawdown_bps);
    s
}

/// The column headers of the table and CSV forms.
pub const COLUMNS: &[&str] = &[
    "strategy",
    "set",
    "symbol",
    "horizon_s",
    "n",
    "unscored",
    "signals_per_hour",
    "hit_rate",
    "mean_gross_bps",
    "mean_net_bps",
    "median_net_bps",
    "ci95_lo",
    "ci95_hi",
    "nonoverlap_n",
    "nonoverlap_mean_net_bps",
    "ic",
    "bracket_win_rate",
    "bracket_mean_net_bps",
    "max_drawdown_bps",
    "flags",
];

/// One row as text cells, in [`COLUMNS`] order.
pub fn cells(row: &ResultRow) -> Vec<String> {
    let opt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
    };
    let s = &row.stats;
    let mut flags = Vec::new();
    if s.insufficient_sample {
        flags.push("n<30");
    }
    if row.price_source != "book" {
        flags.push(if row.price_source == "trade" {
            "trade-priced"
        } else {
            "partly trade-priced"
        });
    }
    vec![
        row.strategy_id.clone(),
        row.parameter_set.clone(),
        row.symbol.clone(),
        format!("{}", row.horizon_s),
        s.n.to_string(),
        s.unscored.to_string(),
        format!("{:.1}", s.signals_per_hour),
        opt(s.hit_rate, 3),
        opt(s.mean_gross_bps, 2),
        opt(s.mean_net_bps, 2),
        opt(s.median_net_bps, 2),
        opt(s.ci95_net_bps.map(|c| c[0]), 2),
        opt(s.ci95_net_bps.map(|c| c[1]), 2),
        s.non_overlapping.n.to_string(),
        opt(s.non_overlapping.mean_net_bps, 2),
        opt(s.ic, 3),
        opt(s.bracket.win_rate, 3),
        opt(s.bracket.mean_net_bps, 2),
        format!("{:.1}", s.max_drawdown_bps),
        flags.join(" "),
    ]
}

/// The report as a readable table (the settings and inputs above it). Narrower than the CSV: confidence
/// interval and non-overlapping figures share a cell.
pub fn table(report: &Report) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(vec![
        "strategy",
        "set",
        "symbol",
        "h (s)",
        "n",
        "unsc",
        "sig/h",
        "hit",
        "gross",
        "net",
        "median",
        "net ci95",
        "non-overl. n: net",
        "ic",
        "bracket win: net",
        "max dd",
        "flags",
    ]);
    for row in &report.results {
        let c = cells(row);
        t.add_row(vec![
            c[0].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
            c[4].clone(),
            c[5].clone(),
            c[6].clone(),
            c[7].clone(),
            c[8].clone(),
            c[9].clone(),
            c[10].clone(),
            format!("[{}, {}]", c[11], c[12]),
            format!("{}: {}", c[13], c[14]),
            c[15].clone(),
            format!("{}: {}", c[16], c[17]),
            c[18].clone(),
            c[19].clone(),
        ]);
    }
    let mut out = String::new();
    for r in &report.recordings {
        out.push_str(&format!(
            "recording {} ({} messages, {} → {}, sha256 {}…)\n",
            r.path,
            r.messages,
            r.from,
            r.to,
            &r.sha256[..12]
        ));
    }
    out.push_str(&format!(
        "entry delay {} ms, fee {} bps per side (net = gross − {} bps), horizons {:?} s; dropped messages {:?}\n",
        report.settings.entry_delay_ms,
        report.settings.fee_bps,
        2.0 * report.settings.fee_bps,
        report.settings.horizons_s,
        report.dropped
    ));
    out.push_str(&t.to_string());
    out.push('\n');
    out
}

/// The report as CSV (header + one line per row).
pub fn csv(report: &Report) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for row in &report.results {
        w.write_record(cells(row))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
