//! Server-Sent Events for live views: published signals, and the market summary once a second.
//!
//! Fed without slowing the processing path: signals come from a bounded broadcast channel (a slow browser lags
//! and skips, the publisher never waits). The market snapshot is computed once per tick by one task of the
//! [`LiveHub`] and shared with every client through a watch channel (a slow client just sees the newest one), and
//! only while someone listens. At most `LIVE_MAX_CLIENTS` streams are open at once; one more is answered 503.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::api::error::ApiError;
use crate::api::market::reader;
use crate::api::AppState;

/// Interval of market snapshots.
pub const MARKET_INTERVAL: Duration = Duration::from_secs(1);

/// The live streams' shared parts: the client cap and the one market snapshot per tick.
pub struct LiveHub {
    max_clients: usize,
    open: Arc<AtomicUsize>,
    market: OnceLock<watch::Sender<(Instant, Arc<str>)>>,
    /// Open live streams (`realtime_live_clients`).
    pub clients: IntGauge,
    /// Streams refused because `LIVE_MAX_CLIENTS` were open, by stream (`realtime_live_clients_rejected_total`).
    pub rejected: IntCounterVec,
    /// Market snapshots computed (`realtime_live_market_snapshots_total`): one per tick while anyone listens,
    /// whatever the number of clients.
    pub snapshots: IntCounter,
}

impl LiveHub {
    /// A hub admitting at most `max_clients` open streams (0: none).
    #[allow(clippy::expect_used)]
    pub fn new(max_clients: usize) -> Self {
        Self {
            max_clients,
            open: Arc::new(AtomicUsize::new(0)),
            market: OnceLock::new(),
            clients: IntGauge::new("realtime_live_clients", "Open live (SSE) streams")
                .expect("static metric"),
            rejected: IntCounterVec::new(
                Opts::new(
                    "realtime_live_clients_rejected_total",
                    "Live (SSE) streams refused with 503 because LIVE_MAX_CLIENTS were open",
                ),
                &["stream"],
            )
            .expect("static metric"),
            snapshots: IntCounter::new(
                "realtime_live_market_snapshots_total",
                "Market snapshots computed for the live market stream (one per tick, shared by all clients)",
            )
            .expect("static metric"),
        }
    }

    /// Registers the hub's metrics.
    pub fn register(&self, registry: &prometheus::Registry) {
        for c in [
            Box::new(self.clients.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.rejected.clone()),
            Box::new(self.snapshots.clone()),
        ] {
            if let Err(e) = registry.register(c) {
                tracing::warn!(error = %e, "live stream metric not registered");
            }
        }
        for s in ["signals", "market"] {
            self.rejected.with_label_values(&[s]);
        }
    }

    /// A slot for one more stream, or 503 when `LIVE_MAX_CLIENTS` are open.
    fn admit(&self, stream: &str) -> Result<ClientSlot, ApiError> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_clients).then_some(n + 1)
            });
        if taken.is_err() {
            self.rejected.with_label_values(&[stream]).inc();
            return Err(ApiError::TooManyClients(format!(
                "{} live streams are open (LIVE_MAX_CLIENTS); try again later or poll /api/v1/metrics/summary",
                self.max_clients
            )));
        }
        self.clients.inc();
        Ok(ClientSlot {
            open: self.open.clone(),
            gauge: self.clients.clone(),
        })
    }

    /// The shared market snapshots, starting the one task that computes them on first use.
    fn market(&self, state: &AppState) -> watch::Receiver<(Instant, Arc<str>)> {
        let tx = self.market.get_or_init(|| {
            let (tx, _) = watch::channel((Instant::now(), Arc::<str>::from("")));
            tokio::spawn(snapshot_task(state.clone(), tx.clone()));
            tx
        });
        let mut rx = tx.subscribe();
        // A fresh snapshot is sent at once; an old one (no listener for a while) waits for the next tick.
        if rx.borrow().0.elapsed() < MARKET_INTERVAL && !rx.borrow().1.is_empty() {
            rx.mark_changed();
        }
        rx
    }
}

/// One admitted stream; frees its slot when the stream ends (client gone or shutdown).
struct ClientSlot {
    open: Arc<AtomicUsize>,
    gauge: IntGauge,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
        self.gauge.dec();
    }
}

/// Computes the market snapshot once per tick while at least one client listens, until shutdown.
async fn snapshot_task(state: AppState, tx: watch::Sender<(Instant, Arc<str>)>) {
    let mut ticker = tokio::time::interval(MARKET_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut stop = std::pin::pin!(state.live.shutdown_signal());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = &mut stop => return,
        }
        if tx.receiver_count() == 0 {
            continue;
        }
        let data: Arc<str> = market_snapshot(&state).to_string().into();
        state.live_hub.snapshots.inc();
        tx.send_replace((Instant::now(), data));
    }
}

fn market_snapshot(state: &AppState) -> serde_json::Value {
    match reader(state) {
        Ok(r) => {
            let query = plugin_depth_analyzer::AllMetricsQuery {
                limit: 200,
                ..Default::default()
            };
            let all = serde_json::to_value(r.all(&query)).unwrap_or_default();
            json!({ "summary": r.summary(), "symbols": all.get("data").cloned().unwrap_or_default() })
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// A Server-Sent Events answer, documented as `text/event-stream`.
pub struct EventStream<S>(Sse<S>);

impl<S> axum::response::IntoResponse for EventStream<S>
where
    Sse<S>: axum::response::IntoResponse,
{
    fn into_response(self) -> axum::response::Response {
        self.0.into_response()
    }
}

impl<S> aide::operation::OperationOutput for EventStream<S> {
    type Inner = String;

    fn operation_response(
        _ctx: &mut aide::generate::GenContext,
        _operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        Some(aide::openapi::Response {
            description:
                "Event stream (text/event-stream); keep-alive comments at least every 15 s".into(),
            content: crate::api::openapi::body(
                &["text/event-stream"],
                &schemars::json_schema!({
                    "description": "One event: `event` names it, `data` is a JSON document",
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "event": { "type": "string", "enum": ["signal", "lagged", "market"] },
                        "data": { "type": "string" },
                        "id": { "type": "string" },
                        "retry": { "type": "integer" }
                    }
                }),
            ),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, operation)
            .map(|r| (Some(aide::openapi::StatusCode::Code(200)), r))
            .into_iter()
            .collect()
    }
}

/// Keep-alive comments every 15 s, or more often when `HTTP_IDLE_TIMEOUT_SECONDS` is shorter, so a reading client
/// is never cut as idle.
fn keep_alive(state: &AppState) -> KeepAlive {
    let idle = state.settings.http_idle_timeout_seconds.max(1);
    KeepAlive::new().interval(Duration::from_millis((idle * 1000 / 3).clamp(300, 15_000)))
}

/// `GET /api/v1/stream/signals` — event `signal` per published signal (data: the published JSON); an event
/// `lagged` tells a slow client how many it missed. 503 when `LIVE_MAX_CLIENTS` streams are open.
pub async fn signals(
    State(state): State<AppState>,
) -> Result<EventStream<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state.live_hub.admit("signals")?;
    let rx = state.live.signal_feed.subscribe();
    let stop = state.live.shutdown_signal();
    let stream = stream::unfold((rx, slot), |(mut rx, slot)| async move {
        match rx.recv().await {
            Ok(body) => Some((
                Ok(Event::default().event("signal").data(&*body)),
                (rx, slot),
            )),
            Err(RecvError::Lagged(n)) => Some((
                Ok(Event::default().event("lagged").data(n.to_string())),
                (rx, slot),
            )),
            Err(RecvError::Closed) => None,
        }
    })
    .take_until(stop);
    Ok(EventStream(Sse::new(stream).keep_alive(keep_alive(&state))))
}

/// `GET /api/v1/stream/market` — event `market` about once a second: `{"summary": …, "symbols": …}` with the
/// documents of `/api/v1/metrics/summary` and `/api/v1/metrics/all` (its `data` map). 503 when
/// `LIVE_MAX_CLIENTS` streams are open.
pub async fn market(
    State(state): State<AppState>,
) -> Result<EventStream<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = state.live_hub.admit("market")?;
    let rx = state.live_hub.market(&state);
    let stop = state.live.shutdown_signal();
    let stream = stream::unfold((rx, slot), |(mut rx, slot)| async move {
        rx.changed().await.ok()?;
        let data = rx.borrow_and_update().1.clone();
        Some((
            Ok(Event::default().event("market").data(&*data)),
            (rx, slot),
        ))
    })
    .take_until(stop);
    Ok(EventStream(Sse::new(stream).keep_alive(keep_alive(&state))))
}
