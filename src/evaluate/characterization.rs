//! Characterization artifacts: one document per strategy in the shape petrosa-data-manager's `Characterization`
//! model accepts (`strategy_id`, `strategy_version`, data window, `seed`, `metrics` with `sharpe`, `win_rate`,
//! `mean_return`, `drawdown_envelope`, `param_sensitivities`, `inputs_hash`, `strategy_revision_id` and the full
//! hashes in `strategy_revision`).
//!
//! Metrics are per signal at one horizon (`metrics.horizon_s`), net of fees, over the `default` parameter set:
//! `mean_return` is the mean net return as a fraction (bps / 10 000), `sharpe` the mean over the standard
//! deviation of the per-signal net returns (not annualised; 0 with fewer than two signals, see `metrics.n`),
//! `win_rate` the share of signals with a positive gross move. `drawdown_envelope` is [p50, p90, p99, p100] of the
//! drawdown of the cumulative net return after each signal, as fractions.

use serde_json::{json, Map, Value};

use super::param_sets::DEFAULT_SET;
use super::recording::MergedRecordings;
use super::report::{Report, ResultRow, ALL_SYMBOLS};
use super::run::Evaluation;
use crate::registry::Registry;
use crate::revision::{canonical_json, revision, sha256_hex};
use crate::scoring::stats::{drawdowns, mean, std_dev};
use crate::scoring::ScoreSettings;

/// The seed recorded in the artifact: the evaluation draws no random numbers.
pub const SEED: i64 = 0;

/// One characterization per evaluated strategy, at horizon index `h`.
pub fn characterizations(
    registry: &Registry,
    recordings: &MergedRecordings,
    settings: &ScoreSettings,
    evaluation: &Evaluation,
    report: &Report,
    h: usize,
) -> Vec<Value> {
    let horizon_s = settings.horizons_ms[h] as f64 / 1000.0;
    let (from_ms, to_ms) = recordings.window_ms();
    let from = strategy_sdk::decode::format_timestamp_ms(from_ms);
    let to = strategy_sdk::decode::format_timestamp_ms(to_ms);
    let recording_hashes: Vec<&str> = recordings.files.iter().map(|f| f.sha256.as_str()).collect();
    let mut out = Vec::new();
    for (g, set) in evaluation.sets.iter().enumerate() {
        if set.name != DEFAULT_SET {
            continue;
        }
        let Some(strategy) = registry.get(set.strategy_id) else {
            continue;
        };
        let rev = revision(strategy);
        let net: Vec<f64> = evaluation
            .scored
            .iter()
            .filter(|s| s.record.group == g as u32)
            .filter_map(|s| s.gross_bps(h))
            .map(|g| (g - 2.0 * settings.fee_bps) / 10_000.0)
            .collect();
        let row = pooled_row(report, set.strategy_id, DEFAULT_SET, horizon_s);
        let sharpe = match (mean(&net), std_dev(&net)) {
            (Some(m), Some(sd)) if sd > 0.0 => m / sd,
            _ => 0.0,
        };
        let mut metrics = Map::new();
        metrics.insert("sharpe".into(), round(sharpe, 6).into());
        metrics.insert(
            "win_rate".into(),
            row.and_then(|r| r.stats.hit_rate).unwrap_or(0.0).into(),
        );
        metrics.insert(
            "mean_return".into(),
            round(mean(&net).unwrap_or(0.0), 8).into(),
        );
        metrics.insert("horizon_s".into(), horizon_s.into());
        metrics.insert("n".into(), (net.len() as f64).into());
        if let Some(r) = row {
            metrics.insert("signals_per_hour".into(), r.stats.signals_per_hour.into());
            metrics.insert(
                "mean_net_bps".into(),
                r.stats.mean_net_bps.unwrap_or(0.0).into(),
            );
            if let Some(ic) = r.stats.ic {
                metrics.insert("ic".into(), ic.into());
            }
        }
        metrics.insert("fee_bps".into(), settings.fee_bps.into());
        metrics.insert(
            "entry_delay_ms".into(),
            (settings.entry_delay_ms as f64).into(),
        );
        let dd = drawdowns(&net);
        let envelope: Vec<f64> = [0.5, 0.9, 0.99, 1.0]
            .iter()
            .map(|p| round(percentile(&dd, *p), 8))
            .collect();
        let params: Map<String, Value> = evaluation
            .sets
            .iter()
            .filter(|s| s.strategy_id == set.strategy_id)
            .map(|s| (s.name.clone(), s.parameters.clone()))
            .collect();
        let inputs = json!({
            "strategy_id": set.strategy_id,
            "strategy_version": strategy.descriptor.crate_version,
            "data_window_from": from,
            "data_window_to": to,
            "seed": SEED,
            "params": params,
            "recordings_sha256": recording_hashes,
            "scoring": {
                "entry_delay_ms": settings.entry_delay_ms,
                "fee_bps": settings.fee_bps,
                "horizon_s": horizon_s,
            },
        });
        out.push(json!({
            "strategy_id": set.strategy_id,
            "strategy_version": strategy.descriptor.crate_version,
            "data_window_from": from,
            "data_window_to": to,
            "seed": SEED,
            "metrics": metrics,
            "drawdown_envelope": envelope,
            "param_sensitivities": sensitivities(report, set.strategy_id, horizon_s),
            "inputs_hash": sha256_hex(canonical_json(&inputs).as_bytes()),
            "strategy_revision_id": rev.revision_id,
            "strategy_revision": rev,
        }));
    }
    out
}

fn pooled_row<'a>(
    report: &'a Report,
    strategy: &str,
    set: &str,
    horizon_s: f64,
) -> Option<&'a ResultRow> {
    report.results.iter().find(|r| {
        r.strategy_id == strategy
            && r.parameter_set == set
            && r.symbol == ALL_SYMBOLS
            && r.horizon_s == horizon_s
    })
}

/// Every non-default set of the strategy with its pooled results, and the same grouped by parameter value.
fn sensitivities(report: &Report, strategy: &str, horizon_s: f64) -> Value {
    let rows: Vec<&ResultRow> = report
        .results
        .iter()
        .filter(|r| {
            r.strategy_id == strategy && r.symbol == ALL_SYMBOLS && r.horizon_s == horizon_s
        })
        .collect();
    let entry = |r: &ResultRow| {
        json!({
            "parameter_set": r.parameter_set,
            "parameters": r.parameters,
            "n": r.stats.n,
            "signals_per_hour": r.stats.signals_per_hour,
            "hit_rate": r.stats.hit_rate,
            "mean_net_bps": r.stats.mean_net_bps,
        })
    };
    let mut by_parameter: Map<String, Value> = Map::new();
    for r in rows.iter().filter(|r| r.parameter_set != DEFAULT_SET) {
        if let Value::Object(params) = &r.parameters {
            for (name, value) in params {
                let list = by_parameter
                    .entry(name.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    let mut e = entry(r);
                    e["value"] = value.clone();
                    items.push(e);
                }
            }
        }
    }
    json!({
        "horizon_s": horizon_s,
        "metric": "mean_net_bps",
        "sets": rows.iter().map(|r| entry(r)).collect::<Vec<_>>(),
        "by_parameter": by_parameter,
    })
}

/// Nearest-rank percentile of `xs` (0 when empty).
fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
