//! Server-Sent Events for live views: published signals, and the market summary once a second.
//!
//! Fed without slowing the processing path: signals come from a bounded broadcast channel (a slow browser lags
//! and skips, the publisher never waits); market snapshots are read from the analyzer at a fixed rate.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::api::market::reader;
use crate::api::AppState;

/// Interval of market snapshots.
pub const MARKET_INTERVAL: Duration = Duration::from_secs(1);

/// `GET /api/v1/stream/signals` — event `signal` per published signal (data: the published JSON); an event
/// `lagged` tells a slow client how many it missed.
pub async fn signals(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.live.signal_feed.subscribe();
    let stop = state.live.shutdown_signal();
    let stream = stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(body) => Some((Ok(Event::default().event("signal").data(&*body)), rx)),
            Err(RecvError::Lagged(n)) => {
                Some((Ok(Event::default().event("lagged").data(n.to_string())), rx))
            }
            Err(RecvError::Closed) => None,
        }
    })
    .take_until(stop);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/v1/stream/market` — event `market` about once a second: `{"summary": …, "symbols": …}` with the
/// documents of `/api/v1/metrics/summary` and `/api/v1/metrics/all` (its `data` map).
pub async fn market(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stop = state.live.shutdown_signal();
    let mut ticker = tokio::time::interval(MARKET_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stream = stream::unfold((state, ticker), |(state, mut ticker)| async move {
        ticker.tick().await;
        let data = match reader(&state) {
            Ok(r) => {
                let query = plugin_depth_analyzer::AllMetricsQuery {
                    limit: 200,
                    ..Default::default()
                };
                let all = r.all(&query);
                let all = serde_json::to_value(&all).unwrap_or_default();
                json!({ "summary": r.summary(), "symbols": all.get("data").cloned().unwrap_or_default() })
            }
            Err(e) => json!({ "error": e.to_string() }),
        };
        Some((
            Ok(Event::default().event("market").data(data.to_string())),
            (state, ticker),
        ))
    })
    .take_until(stop);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
