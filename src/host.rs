//! Wiring: registry → configuration → pipeline → source → HTTP, and graceful shutdown.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::config::{ConfigService, EnvError, StoreError};
use crate::metrics::Metrics;
use crate::registry::{Registry, RegistryError};
use crate::runtime::admission::{EventTimeGuard, SymbolAdmission};
use crate::runtime::pipeline::ShardFilter;
use crate::runtime::source::{self, Input, ReplayError};
use crate::runtime::{run_processing, Pipeline, Processing, SignalOutput};
use crate::settings::Settings;
use crate::state::{LiveState, SourceInfo};

/// Why the host could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The registry refused to load.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An environment variable does not fit its parameter.
    #[error(transparent)]
    Env(#[from] EnvError),
    /// Invalid settings.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// The replay recording could not be read.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The configuration store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// NATS client set-up failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// HTTP listener failure.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

/// Reads environment variables (injectable for tests).
pub type EnvReader = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvReader {
    Arc::new(|name| std::env::var(name).ok())
}

/// A started host: processing runs; serve the router to expose the APIs.
pub struct Host {
    /// Shared API state.
    pub state: AppState,
    shutdown_tx: watch::Sender<bool>,
    processing: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl Host {
    /// Starts everything but the HTTP listener.
    pub async fn start(settings: Settings) -> Result<Self, HostError> {
        Self::start_with_env(settings, process_env()).await
    }

    /// Starts with an explicit environment reader (strategy switches and parameter variables).
    pub async fn start_with_env(settings: Settings, env: EnvReader) -> Result<Self, HostError> {
        settings.validate().map_err(HostError::Settings)?;
        let settings = Arc::new(settings);
        let registry = Arc::new(Registry::load()?);
        tracing::info!(strategies = ?registry.ids(), plugins = ?registry.plugins().iter().map(|p| p.id).collect::<Vec<_>>(), "registry loaded");
        let metrics = Metrics::new();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let store = crate::config::open_store(&settings).await?;
        let config = Arc::new(ConfigService::new(
            registry.clone(),
            &*env,
            cmd_tx.clone(),
            store.clone(),
            Duration::from_secs(settings.config_cache_ttl_seconds),
            settings.rate_limits(),
        )?);
        config.register_metrics(metrics.registry());
        config.load_initial().await;

        let enabled: BTreeSet<&'static str> = registry
            .strategies()
            .iter()
            .filter(|s| s.enabled_in(&*env))
            .map(|s| s.id())
            .collect();
        metrics.enabled_strategies.set(enabled.len() as i64);
        // Every strategy gets a runner, gated by its host-level `enabled` parameter (env switch below the API's
        // overrides), so enabling one through the API needs no restart. Each processing thread gets its own
        // runners and plugin writers (see runtime::threads).
        let host_params = config.host_table();
        let threads = settings.processing_threads();
        let mut readers = strategy_sdk::PluginReaders::default();
        let max_lag_ms = Arc::new(std::sync::atomic::AtomicI64::new(-1));
        let thread_lags: Vec<Arc<std::sync::atomic::AtomicI64>> = (0..threads)
            .map(|_| Arc::new(std::sync::atomic::AtomicI64::new(-1)))
            .collect();
        // Per plugin, a writer over the first thread's state that later threads copy (None: not shareable).
        let mut templates: Vec<Option<Box<dyn strategy_sdk::Plugin>>> = Vec::new();
        let mut thread_parts = Vec::with_capacity(threads);
        for (t, thread_lag) in thread_lags.iter().enumerate() {
            let runners: Vec<Box<dyn strategy_sdk::StrategyRunner>> = registry
                .strategies()
                .iter()
                .map(|s| {
                    let runner = (s.descriptor.build)(s.descriptor);
                    Box::new(crate::host_params::GatedRunner::new(
                        runner,
                        host_params.active_flag(s.id()),
                    )) as Box<dyn strategy_sdk::StrategyRunner>
                })
                .collect();
            let mut plugins: Vec<(
                Box<dyn strategy_sdk::Plugin>,
                &'static [strategy_sdk::StreamKind],
            )> = registry
                .plugins()
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let plugin = if t == 0 {
                        let plugin = (p.build)();
                        plugin.register_readers(&mut readers);
                        templates.push(plugin.thread_writer());
                        plugin
                    } else {
                        // Further threads write into the first thread's readable state when the plugin shares it;
                        // otherwise they get their own instance (the API reads the first thread's).
                        templates
                            .get(i)
                            .and_then(|w| w.as_ref()?.thread_writer())
                            .unwrap_or_else(|| (p.build)())
                    };
                    (plugin, p.consumes)
                })
                .collect();
            plugins.push((
                Box::new(crate::runtime::lag::LagPlugin::new(
                    metrics.consumer_lag.clone(),
                    if threads == 1 {
                        max_lag_ms.clone()
                    } else {
                        thread_lag.clone()
                    },
                )),
                &strategy_sdk::StreamKind::ALL,
            ));
            thread_parts.push((runners, plugins));
        }

        let shard = settings.shard().map_err(HostError::Settings)?;
        match settings.write_auth() {
            crate::settings::WriteAuth::Open(why) => tracing::warn!(
                "configuration API writes are OPEN without a token ({why}); set API_TOKEN to protect them"
            ),
            crate::settings::WriteAuth::Refused => tracing::warn!(
                "API_TOKEN is not set: configuration API writes are refused (401); set API_TOKEN, or API_AUTH=disabled to open them"
            ),
            crate::settings::WriteAuth::Token(_) => {}
        }
        let source_info = match (&settings.nats_url, shard) {
            (Some(url), None) => SourceInfo {
                kind: "nats",
                detail: crate::settings::redact_urls(url),
                mode: format!("queue_group {}", settings.nats_consumer_group),
            },
            (Some(url), Some((i, n))) => SourceInfo {
                kind: "nats",
                detail: crate::settings::redact_urls(url),
                mode: format!("shard {i}/{n}"),
            },
            (None, _) => SourceInfo {
                kind: "replay",
                detail: settings
                    .replay_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "bundled recording (BTCUSDT+ETHUSDT, 2024-08-08)".into()),
                mode: format!(
                    "replay x{} loop={}",
                    settings.replay_speed, settings.replay_loop
                ),
            },
        };
        let live = Arc::new(LiveState::new(source_info).with_host_params(host_params.clone()));
        let symbol_budget = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut pipelines: Vec<Pipeline> = thread_parts
            .into_iter()
            .enumerate()
            .map(|(t, (runners, plugins))| {
                Pipeline::new(
                    runners,
                    plugins,
                    metrics.clone(),
                    settings.max_message_bytes,
                    settings.max_book_levels,
                )
                .with_shard(shard.map(|(index, count)| ShardFilter { count, index }))
                .with_thread(Some(ShardFilter {
                    count: threads as u32,
                    index: t as u32,
                }))
                .with_symbol_admission({
                    let admission = SymbolAdmission::new(
                        settings.max_symbols,
                        settings.symbol_allowlist.clone(),
                        settings.symbol_idle_seconds,
                    );
                    if threads > 1 {
                        admission.with_shared_budget(
                            symbol_budget.clone(),
                            ShardFilter {
                                count: threads as u32,
                                index: t as u32,
                            },
                        )
                    } else {
                        admission
                    }
                })
                .with_event_time_guard(if settings.nats_url.is_some() {
                    EventTimeGuard::live(
                        settings.max_clock_skew_ms,
                        settings.max_event_time_regression_ms,
                    )
                } else {
                    EventTimeGuard::offline(settings.max_event_time_regression_ms)
                })
            })
            .collect();

        let mut background = Vec::new();
        // Strategies with an external feed get one per processing thread (each thread's runner has its own data).
        for pipeline in &mut pipelines {
            for runner in pipeline.strategies_mut() {
                if let Some(feed) = runner.take_feed(shutdown_rx.clone()) {
                    background.push(tokio::spawn(feed));
                }
            }
        }
        if threads > 1 {
            background.push(tokio::spawn(crate::runtime::lag::merge_max(
                thread_lags,
                max_lag_ms.clone(),
            )));
        }
        config.push_all().map_err(HostError::Settings)?;
        background.push(config.spawn_background(shutdown_rx.clone()));
        let shadows = Arc::new(crate::config::shadows::ShadowService::new(
            registry.clone(),
            config.clone(),
            store,
            cmd_tx,
        ));
        background.push(shadows.spawn_background(shutdown_rx.clone()));
        let replicas = Arc::new(crate::config::replicas::Replicas::new(
            config.clone(),
            metrics.clone(),
            Duration::from_millis(settings.config_ack_wait_ms),
        ));
        if settings.nats_url.is_none() {
            background.push(replicas.spawn_gauge(shutdown_rx.clone()));
        }
        let safeguards = Arc::new(crate::safeguard::Safeguards::new(live.clone()));
        background.push(safeguards.spawn(config.clone(), metrics.clone(), shutdown_rx.clone()));

        let (input, nats_client) = match &settings.nats_url {
            Some(url) => {
                let (input, client) = connect_nats(
                    url,
                    &settings,
                    shard.is_some(),
                    &live,
                    &metrics,
                    &mut background,
                    shutdown_rx.clone(),
                )
                .await?;
                let listener = config
                    .attach_nats(client.clone(), settings.config_changes_subject.clone())
                    .await
                    .map_err(HostError::Nats)?;
                background.push(listener);
                background.push(
                    replicas
                        .attach_nats(
                            client.clone(),
                            &settings.config_changes_subject,
                            shutdown_rx.clone(),
                        )
                        .await
                        .map_err(HostError::Nats)?,
                );
                (input, Some(client))
            }
            None => {
                tracing::warn!(
                    "NATS_URL is not set: STANDALONE REPLAY of the bundled recording; signals are printed to stdout"
                );
                let lines = source::read_recording(settings.replay_file.as_deref())?;
                let (rx, report, replay_task) = source::spawn_replay(
                    lines,
                    settings.replay_speed,
                    settings.replay_loop,
                    shutdown_rx.clone(),
                )?;
                if report.skipped_without_timestamp > 0 || report.out_of_order > 0 {
                    live.source_notes.write().push(format!(
                        "recording: {} lines replayed, {} skipped (no timestamp), {} out of time order (sorted)",
                        report.lines, report.skipped_without_timestamp, report.out_of_order
                    ));
                }
                let replay_live = live.clone();
                background.push(tokio::spawn(async move {
                    if let Err(e) = replay_task.await {
                        if e.is_panic() {
                            replay_live.fail(format!(
                                "replay task panicked: {}",
                                crate::runtime::panic_message(e.into_panic())
                            ));
                        }
                    }
                }));
                live.source_connected.store(true, Ordering::Relaxed);
                (Input::Channel(rx), None)
            }
        };
        if let (Some(client), true) = (&nats_client, settings.health_verdict_enabled) {
            background.push(crate::verdict::spawn(
                settings.verdict_config(),
                client.clone(),
                live.clone(),
                metrics.clone(),
                config.clone(),
                max_lag_ms.clone(),
                shutdown_rx.clone(),
            ));
        }
        let mut output = SignalOutput::new(
            nats_client
                .clone()
                .map(|c| (c, settings.nats_topic_intents.clone())),
            settings.print_signals(),
            metrics.clone(),
            live.clone(),
        )
        .with_max_age_ms(if settings.nats_url.is_some() {
            settings.signal_max_age_ms
        } else {
            0
        });
        output = output.with_config(config.clone());
        if settings.signal_revision_id {
            output = output.with_revision_ids(
                registry
                    .strategies()
                    .iter()
                    .map(|s| (s.id(), crate::revision::strategy_revision_id(s)))
                    .collect(),
            );
        }
        let heartbeat = settings
            .heartbeat_enabled
            .then(|| Duration::from_secs(settings.heartbeat_interval_seconds.max(1)));
        let input_may_end = settings.nats_url.is_none() && !settings.replay_loop;
        let processing = tokio::spawn(crate::runtime::supervise(
            tokio::spawn(run_processing(Processing {
                pipelines,
                input,
                output,
                commands: cmd_rx,
                live: live.clone(),
                metrics: metrics.clone(),
                shutdown: shutdown_rx,
                heartbeat,
                drain: Duration::from_millis(settings.shutdown_drain_ms),
            })),
            live.clone(),
            input_may_end,
        ));
        let live_hub = Arc::new(crate::api::live::LiveHub::new(settings.live_max_clients));
        live_hub.register(metrics.registry());
        let state = AppState {
            live_hub,
            registry,
            settings,
            live,
            metrics,
            writes: config.writes().clone(),
            replication: config.replication().clone(),
            snapshot: config.snapshot().clone(),
            layers: config.layers().clone(),
            store_health: config.health().clone(),
            config,
            shadows,
            safeguards,
            replicas,
            enabled: Arc::new(enabled),
            plugin_readers: Arc::new(readers),
        };
        Ok(Self {
            state,
            shutdown_tx,
            processing,
            background,
        })
    }

    /// The HTTP router over this host's state.
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
    }

    /// Serves HTTP on `listener` until `signal` completes, then stops intake, finishes in-flight work, flushes
    /// published signals and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        signal: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), HostError> {
        let router = self.router();
        let (stop_http_tx, mut stop_http_rx) = watch::channel(false);
        let limits = crate::api::server::ServerLimits {
            header_read_timeout: Duration::from_secs(
                self.state.settings.http_header_read_timeout_seconds.max(1),
            ),
            idle_timeout: Duration::from_secs(self.state.settings.http_idle_timeout_seconds.max(1)),
        };
        let server = tokio::spawn(async move {
            let stop = async move {
                let _ = stop_http_rx.changed().await;
            };
            crate::api::server::serve(listener, router, limits, stop, Duration::from_secs(5)).await
        });
        signal.await;
        tracing::info!("shutting down: stopping intake and flushing signals");
        let _ = self.state.live.shutting_down.send(true);
        self.stop().await;
        let _ = stop_http_tx.send(true);
        match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(Ok(Err(e))) => Err(HostError::Http(e)),
            _ => Ok(()),
        }
    }

    /// Stops processing and background tasks (flushes published signals).
    pub async fn stop(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(10), self.processing).await;
        for task in &self.background {
            task.abort();
        }
        // Wait until the aborted tasks are dropped, so what they hold (the config store's file lock among it) is
        // released when this returns.
        for task in self.background {
            let _ = task.await;
        }
    }
}

async fn connect_nats(
    url: &str,
    settings: &Settings,
    sharded: bool,
    live: &Arc<LiveState>,
    metrics: &Metrics,
    background: &mut Vec<JoinHandle<()>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(Input, async_nats::Client), HostError> {
    let slow = metrics.nats_slow_consumer.clone();
    let (options, servers) = crate::runtime::nats_auth::connect_options(settings, url)
        .await
        .map_err(HostError::Nats)?;
    let client = options
        .name(&settings.nats_consumer_name)
        .retry_on_initial_connect()
        .subscription_capacity(settings.nats_subscription_capacity.max(1))
        .event_callback(move |event| {
            let slow = slow.clone();
            async move {
                match event {
                    async_nats::Event::SlowConsumer(_) => slow.inc(),
                    async_nats::Event::Disconnected => tracing::warn!("NATS disconnected"),
                    async_nats::Event::Connected => tracing::info!("NATS connected"),
                    other => tracing::debug!(event = %other, "NATS event"),
                }
            }
        })
        .connect(servers.as_slice())
        .await
        .map_err(|e| HostError::Nats(crate::settings::redact_urls(&e.to_string())))?;
    let subscriber = if sharded {
        client.subscribe(settings.nats_consumer_topic.clone()).await
    } else {
        client
            .queue_subscribe(
                settings.nats_consumer_topic.clone(),
                settings.nats_consumer_group.clone(),
            )
            .await
    }
    .map_err(|e| HostError::Nats(e.to_string()))?;
    let watch_client = client.clone();
    let live = live.clone();
    let gauge = metrics.nats_connected.clone();
    let in_messages = metrics.nats_in_messages.clone();
    let stats = client.statistics();
    background.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(200));
        loop {
            every.tick().await;
            let up = matches!(
                watch_client.connection_state(),
                async_nats::connection::State::Connected
            );
            live.source_connected.store(up, Ordering::Relaxed);
            gauge.set(i64::from(up));
            in_messages.set(stats.in_messages.load(Ordering::Relaxed) as i64);
        }
    }));
    let (queue, forwarder) = crate::runtime::input::spawn_forwarder(
        client.clone(),
        subscriber,
        settings.nats_subscription_max_bytes.max(1),
        settings.nats_subscription_capacity.max(1),
        metrics
            .messages_dropped
            .with_label_values(&[crate::runtime::input::BUFFER_FULL]),
        shutdown,
    );
    background.push(forwarder);
    Ok((Input::Nats(queue), client))
}

/// Runs the host with the process environment until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings) -> Result<(), HostError> {
    let addr = settings
        .http_addr()
        .map_err(|e| HostError::Settings(format!("HTTP_BIND/HEALTH_CHECK_PORT: {e}")))?;
    survive_file_size_limit();
    let host = Host::start(settings).await?;
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving HTTP");
    host.serve(listener, shutdown_signal()).await
}

/// A write past the file size limit (`RLIMIT_FSIZE`) raises SIGXFSZ, whose default action kills the process: catch
/// it, so such a write fails with EFBIG and the configuration store reports itself unavailable instead.
fn survive_file_size_limit() {
    #[cfg(target_os = "linux")]
    {
        const SIGXFSZ: i32 = 25;
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(SIGXFSZ)) {
            // The handler stays installed for the life of the process; the stream itself is not needed.
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "SIGXFSZ not caught"),
        }
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
