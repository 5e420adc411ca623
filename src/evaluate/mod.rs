//! `realtime-strategies evaluate`: replays recordings through the live processing path for one or more
//! parameter sets per strategy in one pass, scores every signal against what the market did next
//! ([`crate::scoring`]), and reports the statistics as a table, JSON or CSV, optionally with characterization
//! artifacts for petrosa-data-manager.

pub mod characterization;
pub mod param_sets;
pub mod recording;
pub mod report;
pub mod run;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::ValueEnum;

use crate::registry::{Registry, RegistryError};
use crate::scoring::ScoreSettings;
pub use param_sets::{PlanError, PlanRequest};
pub use recording::RecordingError;

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable table.
    Table,
    /// The stable JSON document.
    Json,
    /// CSV, one line per result row.
    Csv,
}

/// Arguments of `evaluate`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvaluateArgs {
    /// Recordings: envelope JSON lines, plain or gzip, merged by event time. `bundled` (the default) is the
    /// recording built into the binary.
    #[arg(value_name = "RECORDING")]
    pub recordings: Vec<PathBuf>,
    /// Strategy to evaluate (repeatable). Default: every enabled strategy.
    #[arg(long = "strategy", value_name = "ID")]
    pub strategies: Vec<String>,
    /// JSON file of named parameter sets: {"<strategy_id>": {"<set>": {partial parameters}}}.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// A parameter grid axis, e.g. `orderbook_skew.buy_threshold=1.2,1.5,2.0` (repeatable; cartesian product).
    #[arg(long = "grid", value_name = "SPEC")]
    pub grids: Vec<String>,
    /// Holding horizons.
    #[arg(long, value_delimiter = ',', default_value = "1s,10s,60s,300s", value_parser = duration_ms)]
    pub horizons: Vec<i64>,
    /// Delay between a signal and its earliest entry.
    #[arg(long, default_value = "200ms", value_parser = duration_ms)]
    pub entry_delay: i64,
    /// Fee per side in basis points (a round trip costs twice this).
    #[arg(long, default_value_t = 10.0)]
    pub fee_bps: f64,
    /// Report format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write characterization artifacts (one per strategy, default parameters) to this JSON file.
    #[arg(long, value_name = "FILE")]
    pub characterization: Option<PathBuf>,
    /// Horizon whose statistics the characterization reports (must be one of --horizons).
    #[arg(long, default_value = "60s", value_parser = duration_ms)]
    pub characterization_horizon: i64,
    /// Write every signal (all sets) as one JSON line each: {"parameter_set", "signal": <published document>}.
    #[arg(long, value_name = "FILE")]
    pub signals_out: Option<PathBuf>,
}

/// Parses `200ms`, `1s`, `5m`, … into milliseconds.
pub fn duration_ms(text: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e}"))?;
    i64::try_from(d.as_millis()).map_err(|_| format!("`{text}` is too long"))
}

/// Why `evaluate` stopped. Each message is one line naming the file, strategy or field.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The registry refused to load.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A recording is unusable.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// Strategies or parameter sets are wrong.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Scoring options are wrong.
    #[error("{0}")]
    Options(String),
    /// An output file cannot be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Runs `evaluate` with the host's decoder limits; writes the report where asked.
pub fn command(
    args: &EvaluateArgs,
    limits: run::Limits,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), EvaluateError> {
    let outcome = execute(args, limits, env)?;
    let text = match args.format {
        Format::Table => report::table(&outcome.report),
        Format::Json => to_json(&outcome.report),
        Format::Csv => report::csv(&outcome.report).map_err(|e| EvaluateError::Write {
            path: "csv".into(),
            source: std::io::Error::other(e.to_string()),
        })?,
    };
    write_out(args.out.as_ref(), &text)?;
    if let Some(path) = &args.characterization {
        let text = serde_json::to_string_pretty(&outcome.characterizations)
            .unwrap_or_else(|_| "[]".into());
        write_out(Some(path), &(text + "\n"))?;
    }
    Ok(())
}

/// The results of one `evaluate` run, before formatting.
#[derive(Debug)]
pub struct Outcome {
    /// The report.
    pub report: report::Report,
    /// Characterization documents (empty unless asked for).
    pub characterizations: Vec<serde_json::Value>,
}

/// Reads, plans, runs and scores; does not write the report.
pub fn execute(
    args: &EvaluateArgs,
    limits: run::Limits,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Outcome, EvaluateError> {
    if args.horizons.is_empty() || args.horizons.iter().any(|h| *h < 0) {
        return Err(EvaluateError::Options(
            "--horizons: give one or more non-negative durations, e.g. 1s,10s,60s".into(),
        ));
    }
    if args.entry_delay < 0 || !args.fee_bps.is_finite() || args.fee_bps < 0.0 {
        return Err(EvaluateError::Options(
            "--entry-delay and --fee-bps must be non-negative".into(),
        ));
    }
    let mut settings = ScoreSettings {
        entry_delay_ms: args.entry_delay,
        fee_bps: args.fee_bps,
        horizons_ms: args.horizons.clone(),
    };
    settings.horizons_ms.sort_unstable();
    settings.horizons_ms.dedup();
    let characterization_h = settings
        .horizons_ms
        .iter()
        .position(|h| *h == args.characterization_horizon);
    if args.characterization.is_some() && characterization_h.is_none() {
        return Err(EvaluateError::Options(format!(
            "--characterization-horizon {} ms is not one of --horizons",
            args.characterization_horizon
        )));
    }
    let registry = Registry::load()?;
    let sources: Vec<recording::Source> = if args.recordings.is_empty() {
        vec![recording::Source::Bundled]
    } else {
        args.recordings
            .iter()
            .map(|p| recording::source_of(p))
            .collect()
    };
    let request = PlanRequest {
        strategies: args.strategies.clone(),
        params_file: args.params.clone(),
        grids: args.grids.clone(),
    };
    let sets = param_sets::plan(&registry, &request, &|s| s.enabled_in(env))?;
    let recordings = recording::read_all(&sources)?;

    let bar = progress_bar(recordings.messages.len() as u64);
    let mut signal_lines = match &args.signals_out {
        Some(path) => Some((
            path.clone(),
            std::io::BufWriter::new(std::fs::File::create(path).map_err(|source| {
                EvaluateError::Write {
                    path: path.display().to_string(),
                    source,
                }
            })?),
        )),
        None => None,
    };
    let mut write_error = None;
    let mut on_signal = |set: &param_sets::ParameterSet, signal: &strategy_sdk::Signal| {
        if let Some((path, w)) = signal_lines.as_mut() {
            let line = serde_json::json!({
                "parameter_set": set.name,
                "signal": signal.to_contract(""),
            });
            if let Err(source) = writeln!(w, "{line}") {
                write_error.get_or_insert((path.clone(), source));
            }
        }
    };
    let evaluation = run::evaluate(
        &registry,
        sets,
        &recordings,
        settings.clone(),
        limits,
        &mut on_signal,
        &|done| bar.set_position(done),
    );
    bar.finish_and_clear();
    if let Some((path, w)) = signal_lines.as_mut() {
        if let Err(source) = w.flush() {
            write_error.get_or_insert((path.clone(), source));
        }
    }
    if let Some((path, source)) = write_error {
        return Err(EvaluateError::Write {
            path: path.display().to_string(),
            source,
        });
    }
    let report = report::build(
        &recordings.files,
        recordings.span_ms(),
        &settings,
        &evaluation,
    );
    let characterizations = match (args.characterization.is_some(), characterization_h) {
        (true, Some(h)) => characterization::characterizations(
            &registry,
            &recordings,
            &settings,
            &evaluation,
            &report,
            h,
        ),
        _ => Vec::new(),
    };
    Ok(Outcome {
        report,
        characterizations,
    })
}

/// The report as pretty JSON with a final newline.
pub fn to_json(report: &report::Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into()) + "\n"
}

fn write_out(path: Option<&PathBuf>, text: &str) -> Result<(), EvaluateError> {
    match path {
        Some(p) => std::fs::write(p, text).map_err(|source| EvaluateError::Write {
            path: p.display().to_string(),
            source,
        }),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .map_err(|source| EvaluateError::Write {
                    path: "standard output".into(),
                    source,
                })
        }
    }
}

/// A progress bar on a terminal's standard error; hidden when it is piped.
fn progress_bar(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "evaluate {bar:40} {pos}/{len} messages ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}
