//! The processing task: source → pipeline → signal output, plus configuration commands and housekeeping.

pub mod admission;
pub mod input;
pub mod lag;
pub mod nats_auth;
pub mod output;
pub mod pipeline;
pub mod shadows;
pub mod source;
pub mod symbols;
pub mod threads;
pub mod touch;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;
use crate::state::{LiveState, StrategyLive};
pub use output::SignalOutput;
pub use pipeline::{Outcome, Pipeline, PipelineCommand};
pub use source::Input;

/// Signals waiting for the publisher task before intake waits (back-pressure).
const PUBLISH_QUEUE: usize = 16_384;

/// Most input messages processed per wake-up of the processing task.
const BATCH_MAX: usize = 256;

/// Drop reason of a message larger than `MAX_MESSAGE_BYTES` (refused before decoding).
pub const OVERSIZED: &str = "oversized";

/// Every drop reason the runtime counts besides the decoder's (`DecodeError::ALL`): the metrics register each at
/// start-up, so that a reason shows at zero before its first drop.
pub const DROP_REASONS: [&str; 6] = [
    OVERSIZED,
    admission::FUTURE_TIMESTAMP,
    admission::STALE_TIMESTAMP,
    admission::SYMBOL_LIMIT,
    admission::SYMBOL_NOT_ALLOWED,
    input::BUFFER_FULL,
];

/// Rate limit for "dropped message" log lines.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Everything the processing task owns.
pub struct Processing {
    /// The processing path of each processing thread (`PROCESSING_THREADS`; one = no dispatcher). With several,
    /// each must be restricted to its thread's symbols ([`Pipeline::with_thread`]).
    pub pipelines: Vec<Pipeline>,
    /// Market data source.
    pub input: Input,
    /// Signal destinations.
    pub output: SignalOutput,
    /// Configuration changes.
    pub commands: mpsc::UnboundedReceiver<PipelineCommand>,
    /// Shared live state.
    pub live: Arc<LiveState>,
    /// Metrics.
    pub metrics: Metrics,
    /// Turns true at shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Heartbeat log interval, if enabled.
    pub heartbeat: Option<Duration>,
    /// At shutdown, how long buffered input is still processed.
    pub drain: Duration,
}

/// Why the processing loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested.
    Shutdown,
    /// The input finished (a replay without loop, or a closed subscription).
    InputFinished,
}

/// Runs the processing loop until the input ends or `shutdown` turns true; then flushes published signals. With
/// several pipelines, a dispatcher routes the input to one processing thread per pipeline ([`threads::run`]).
pub async fn run_processing(processing: Processing) -> Ended {
    let Processing {
        pipelines,
        input,
        output,
        commands,
        live,
        metrics,
        shutdown,
        heartbeat,
        drain,
    } = processing;
    // Publishing runs in its own task so a busy NATS connection never stalls intake; the channel is bounded
    // (back-pressure, never loss) and drained before shutdown completes.
    let (publish_tx, mut publish_rx) =
        mpsc::channel::<(strategy_sdk::Signal, Instant)>(PUBLISH_QUEUE);
    let publisher_metrics = metrics.clone();
    let mut output = output;
    let publisher = tokio::spawn(async move {
        while let Some((signal, received)) = publish_rx.recv().await {
            output.publish(&signal).await;
            publisher_metrics
                .signal_latency
                .observe(received.elapsed().as_secs_f64());
            if publish_rx.is_empty() || output.pending() >= output::CONFIRM_BATCH {
                output.confirm().await;
            }
        }
        output.flush().await;
    });
    metrics.processing_threads.set(pipelines.len() as i64);
    live.pipeline_running.store(true, Ordering::Relaxed);
    let shared = ThreadShared {
        publish_tx,
        live: live.clone(),
        metrics,
        shutdown,
        heartbeat,
        drain,
    };
    let ended = threads::run(pipelines, input, commands, shared).await;
    live.pipeline_running.store(false, Ordering::Relaxed);
    let _ = publisher.await;
    ended
}

/// What every processing thread shares.
#[derive(Clone)]
pub struct ThreadShared {
    /// Signals to the publisher task.
    pub publish_tx: mpsc::Sender<(strategy_sdk::Signal, Instant)>,
    /// Shared live state.
    pub live: Arc<LiveState>,
    /// Metrics.
    pub metrics: Metrics,
    /// Turns true at shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Heartbeat log interval, if enabled (logged by the first thread).
    pub heartbeat: Option<Duration>,
    /// At shutdown, how long buffered input is still processed.
    pub drain: Duration,
}

/// One processing thread's loop: its pipeline over its input, configuration commands between batches, housekeeping
/// once a second. The `primary` thread (the first) also reports strategy status, counts configuration changes
/// and logs the heartbeat.
pub async fn run_thread(
    mut pipeline: Pipeline,
    mut input: Input,
    mut commands: mpsc::UnboundedReceiver<PipelineCommand>,
    shared: ThreadShared,
    primary: bool,
) -> Ended {
    let ThreadShared {
        publish_tx,
        live,
        metrics,
        mut shutdown,
        heartbeat,
        drain: drain_deadline,
    } = shared;
    let heartbeat = heartbeat.filter(|_| primary);
    let mut signals = Vec::with_capacity(16);
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut lookahead = pipeline::prefetch::Lookahead::default();
    // The live scorecard follows every published signal through the books that come after it.
    let mut scorecard = crate::scoring::live::LiveScorecard::new(
        live.scorecard.clone(),
        crate::scoring::live::ScorecardMetrics {
            returns: metrics.signal_return_bps.clone(),
            outcomes: metrics.signal_outcomes.clone(),
        },
    );
    for runner in pipeline.strategies() {
        scorecard.register(runner.descriptor().id);
    }
    let mut shadows = shadows::ShadowSet::default();
    let mut housekeeping = tokio::time::interval(Duration::from_secs(1));
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_drop_log = Instant::now() - DROP_LOG_INTERVAL;
    let mut drops_since_log: u64 = 0;
    let mut last_heartbeat = Instant::now();
    if primary {
        refresh_status(&pipeline, &live);
    }
    let ended = loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                drain(&mut input, &mut pipeline, &mut signals, &publish_tx, &live, drain_deadline).await;
                break Ended::Shutdown;
            }
            Some(cmd) = commands.recv() => {
                let (strategy, scope) = match cmd {
                    PipelineCommand::Shadow(command) => {
                        if let Some(stopped) = shadows.apply(&mut pipeline, command) {
                            live.scorecard.forget_shadow(stopped.strategy, &stopped.name);
                        }
                        metrics.tuning.shadows_running.set(shadows.len() as i64);
                        continue;
                    }
                    PipelineCommand::Params { ref strategy, ref symbol, .. } => {
                        (strategy.clone(), if symbol.is_some() { "symbol" } else { "global" })
                    }
                };
                match pipeline.apply(cmd) {
                    Some(true) if primary => metrics.config_changes.with_label_values(&[&strategy, scope]).inc(),
                    Some(true) => {}
                    Some(false) => tracing::error!(
                        strategy,
                        "configuration command rejected by the pipeline (parameter type mismatch)"
                    ),
                    None => {}
                }
            }
            n = input.next_batch(&mut batch, BATCH_MAX) => {
                // Everything queued is processed on this one wake-up (commands and shutdown are looked at between
                // batches).
                if n == 0 { break Ended::InputFinished };
                // One clock read per batch: a signal's publish latency counts from when its batch was taken.
                let received = Instant::now();
                pipeline.note_batch_wall_clock(admission::wall_clock_ms());
                pipeline.start_batch(received);
                lookahead.read(&pipeline, &batch);
                for (index, payload) in batch.iter().enumerate() {
                    lookahead.prefetch(&pipeline, &batch, index);
                    let outcome = pipeline.process(payload, &mut signals);
                    scorecard.observe(touch::last_quote(&pipeline));
                    match outcome {
                        Outcome::Processed(_) => {
                            live.processed.fetch_add(1, Ordering::Relaxed);
                        }
                        Outcome::Dropped(reason) => {
                            drops_since_log += 1;
                            if last_drop_log.elapsed() >= DROP_LOG_INTERVAL {
                                tracing::warn!(reason, dropped = drops_since_log, "dropping invalid market data messages");
                                last_drop_log = Instant::now();
                                drops_since_log = 0;
                            }
                        }
                        Outcome::Skipped => {}
                    }
                    for mut signal in signals.drain(..) {
                        // Signals leave the pipeline here: host-level parameters (enabled, risk overrides) apply.
                        if !crate::host_params::apply(&live.host_params, &mut signal) {
                            continue;
                        }
                        scorecard.on_published(&signal);
                        if publish_tx.send((signal, received)).await.is_err() {
                            tracing::error!("signal publisher stopped");
                        }
                    }
                    if !shadows.is_empty() {
                        score_shadow_signals(&mut pipeline, &shadows, &mut scorecard, &live, &metrics);
                    }
                }
                pipeline.end_batch();
                batch.clear();
            }
            _ = housekeeping.tick() => {
                // One event clock for every thread: the host-wide latest event time.
                live.last_event_time_ms.fetch_max(pipeline.last_event_time_ms(), Ordering::Relaxed);
                pipeline.note_event_time(live.last_event_time_ms.load(Ordering::Relaxed));
                pipeline.tick();
                if primary {
                    refresh_status(&pipeline, &live);
                }
                if let Some(every) = heartbeat {
                    if last_heartbeat.elapsed() >= every {
                        last_heartbeat = Instant::now();
                        tracing::info!(
                            processed = live.processed.load(Ordering::Relaxed),
                            signals = live.signals.load(Ordering::Relaxed),
                            connected = live.source_connected.load(Ordering::Relaxed),
                            "heartbeat"
                        );
                    }
                }
            }
        }
    };
    ended
}

/// Scores the shadows' signals of the last message and shows them on the live stream tagged `"shadow"`; they are
/// never published.
fn score_shadow_signals(
    pipeline: &mut Pipeline,
    shadows: &shadows::ShadowSet,
    scorecard: &mut crate::scoring::live::LiveScorecard,
    live: &LiveState,
    metrics: &Metrics,
) {
    for (variant, mut signal) in pipeline.drain_variant_signals() {
        let Some(shadow) = shadows.get(variant) else {
            continue;
        };
        let host = crate::host_params::HostParams {
            enabled: true,
            ..shadow.host
        };
        crate::host_params::apply_params(&host, &mut signal);
        scorecard.on_shadow(&shadow.name, &signal);
        metrics
            .tuning
            .shadow_signals
            .with_label_values(&[shadow.strategy, &shadow.name])
            .inc();
        if live.signal_feed.receiver_count() > 0 {
            let id = uuid::Uuid::new_v4().to_string();
            if let Ok(mut body) = serde_json::to_value(signal.to_contract(&id)) {
                if let Some(map) = body.as_object_mut() {
                    map.insert("shadow".into(), serde_json::Value::from(&*shadow.name));
                }
                let _ = live
                    .signal_feed
                    .send(std::sync::Arc::from(body.to_string()));
            }
        }
    }
}

/// At shutdown: processes what is buffered (the source stops feeding: the NATS forwarder unsubscribes, the replay
/// stops) until the input ends or `deadline` passes, so nothing accepted is silently lost.
async fn drain(
    input: &mut Input,
    pipeline: &mut Pipeline,
    signals: &mut Vec<strategy_sdk::Signal>,
    publish_tx: &mpsc::Sender<(strategy_sdk::Signal, Instant)>,
    live: &LiveState,
    deadline: Duration,
) {
    let until = tokio::time::Instant::now() + deadline;
    let mut drained = 0u64;
    loop {
        match tokio::time::timeout_at(until, input.next()).await {
            Ok(Some(payload)) => {
                let received = Instant::now();
                if let Outcome::Processed(_) = pipeline.process(&payload, signals) {
                    live.processed.fetch_add(1, Ordering::Relaxed);
                }
                drained += 1;
                for mut signal in signals.drain(..) {
                    // Signals leave the pipeline here too: host-level parameters apply.
                    if crate::host_params::apply(&live.host_params, &mut signal) {
                        let _ = publish_tx.send((signal, received)).await;
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                tracing::warn!(
                    drained,
                    "shutdown drain deadline reached; the rest of the buffered input is dropped"
                );
                return;
            }
        }
    }
    tracing::info!(drained, "buffered input processed before shutdown");
}

/// Watches the processing task: when it panics, or ends while its input should not end (`input_may_end` false:
/// NATS, looped replay) and no shutdown was asked, the host is marked failed with the reason.
pub async fn supervise(
    processing: tokio::task::JoinHandle<Ended>,
    live: Arc<LiveState>,
    input_may_end: bool,
) {
    match processing.await {
        Ok(Ended::Shutdown) => {}
        Ok(Ended::InputFinished) if input_may_end => {
            tracing::info!("replay finished; processing stopped");
        }
        // At shutdown the intake stops first, so the input can run out before the processing task is told to stop.
        Ok(Ended::InputFinished) if *live.shutting_down.borrow() => {
            tracing::info!("input drained at shutdown; processing stopped");
        }
        Ok(Ended::InputFinished) => live.fail("market data input ended unexpectedly".into()),
        Err(e) if e.is_panic() => live.fail(format!(
            "processing task panicked: {}",
            panic_message(e.into_panic())
        )),
        Err(_) => live.fail("processing task was cancelled".into()),
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "unknown panic".to_owned(), |s| (*s).to_owned()),
    }
}

fn refresh_status(pipeline: &Pipeline, live: &LiveState) {
    let mut map = live.strategies.write();
    for s in pipeline.strategies() {
        map.insert(
            s.descriptor().id,
            StrategyLive {
                enabled: live.host_params.enabled(s.descriptor().id),
                data: s.status(),
            },
        );
    }
}
