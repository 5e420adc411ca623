//! One pass over merged recordings: decode once, run every parameter set as a pipeline variant (the live
//! processing path, in event time, as fast as the CPU allows), and score every signal.

use std::collections::BTreeMap;

use strategy_sdk::Signal;

use super::param_sets::ParameterSet;
use super::recording::MergedRecordings;
use crate::host_params::HostParams;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::runtime::admission::EventTimeGuard;
use crate::runtime::pipeline::{Outcome, Pipeline, VariantId};
use crate::runtime::touch::last_quote;
use crate::scoring::{PriceSource, ScoreSettings, ScoredSignal, Scorer, SignalRecord};
use strategy_sdk::ParamsUpdate;

/// Decoder limits (the host's `MAX_MESSAGE_BYTES` / `MAX_BOOK_LEVELS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted message in bytes.
    pub max_message_bytes: usize,
    /// Largest accepted number of levels per book side.
    pub max_book_levels: usize,
    /// How far a symbol's event time may run backwards before a message is dropped as `stale_timestamp`
    /// (the host's `MAX_EVENT_TIME_REGRESSION_MS`; evaluate, like replay, never checks the wall clock).
    pub max_event_time_regression_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 1_048_576,
            max_book_levels: 1000,
            max_event_time_regression_ms: crate::runtime::admission::DEFAULT_MAX_REGRESSION_MS,
        }
    }
}

/// Everything one evaluation produced.
#[derive(Debug)]
pub struct Evaluation {
    /// The parameter sets, indexed by the signals' `group`.
    pub sets: Vec<ParameterSet>,
    /// Every signal with its score, in signal order.
    pub scored: Vec<ScoredSignal>,
    /// Messages the pipeline dropped, by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Messages processed.
    pub processed: u64,
    /// Quote source per symbol that had signals.
    pub price_sources: BTreeMap<String, PriceSource>,
}

/// Runs every parameter set over the recordings. `on_signal` sees each signal as emitted (for `--signals-out`);
/// `progress` is called with the number of messages done every few thousand messages.
pub fn evaluate(
    registry: &Registry,
    sets: Vec<ParameterSet>,
    recordings: &MergedRecordings,
    settings: ScoreSettings,
    limits: Limits,
    on_signal: &mut dyn FnMut(&ParameterSet, &Signal),
    progress: &dyn Fn(u64),
) -> Evaluation {
    let plugins = registry
        .plugins()
        .iter()
        .map(|p| ((p.build)(), p.consumes))
        .collect();
    let mut pipeline = Pipeline::new(
        Vec::new(),
        plugins,
        Metrics::new(),
        limits.max_message_bytes,
        limits.max_book_levels,
    )
    .with_event_time_guard(EventTimeGuard::offline(limits.max_event_time_regression_ms));
    for (i, set) in sets.iter().enumerate() {
        let Some(strategy) = registry.get(set.strategy_id) else {
            continue;
        };
        let mut runner = (strategy.descriptor.build)(strategy.descriptor);
        if runner.apply(ParamsUpdate::Global(set.params.clone())) {
            pipeline.add_variant(i as VariantId, runner);
        }
    }
    // A strategy asked for is evaluated even when it is off by default; a set can still say `enabled: false`.
    let host: Vec<HostParams> = sets
        .iter()
        .map(|s| HostParams {
            enabled: s
                .overrides
                .get("enabled")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true),
            ..HostParams::from_doc(&s.parameters)
        })
        .collect();
    let mut scorer = Scorer::new(settings);
    for symbol in &recordings.depth_symbols {
        scorer.expect_books(symbol);
    }
    let mut dropped: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut live_signals = Vec::new();
    let mut processed = 0u64;
    for (n, message) in recordings.messages.iter().enumerate() {
        match pipeline.process(message.line.as_bytes(), &mut live_signals) {
            Outcome::Processed(_) => processed += 1,
            Outcome::Dropped(reason) => *dropped.entry(reason).or_default() += 1,
            Outcome::Skipped => {}
        }
        if let Some((symbol, quote)) = last_quote(&pipeline) {
            scorer.on_quote(symbol, quote);
        }
        for (variant, mut signal) in pipeline.drain_variant_signals() {
            let set = &sets[usize::from(variant)];
            // The host-level parameters of the set (enabled, stop/take overrides, risk floor), as live.
            if !crate::host_params::apply_params(&host[usize::from(variant)], &mut signal) {
                continue;
            }
            on_signal(set, &signal);
            scorer.on_signal(SignalRecord::from_signal(u32::from(variant), &signal));
        }
        if n % 4096 == 4095 {
            progress(n as u64 + 1);
        }
    }
    progress(recordings.messages.len() as u64);
    let scored = scorer.finish();
    let price_sources = scored
        .iter()
        .map(|s| (s.record.symbol.clone(), s.source))
        .collect();
    Evaluation {
        sets,
        scored,
        dropped,
        processed,
        price_sources,
    }
}
