//! Consumer lag per symbol: a built-in plugin that remembers the latest event time of each symbol on the
//! processing path (one store per message, no clock read) and, once a second, publishes wall clock minus that
//! time as `realtime_consumer_lag_seconds{symbol}` and the largest lag for the health verdict.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use prometheus::{Gauge, GaugeVec};
use strategy_sdk::{EventContext, MarketEvent, Plugin};

/// The lag plugin (one per pipeline).
pub struct LagPlugin {
    gauge: GaugeVec,
    /// Latest event time (ms) per symbol id, with the symbol's gauge child resolved once.
    symbols: Vec<Option<(i64, Gauge)>>,
    max_lag_ms: Arc<AtomicI64>,
}

impl LagPlugin {
    /// A plugin writing `gauge` and the largest lag (ms; -1 before any message) into `max_lag_ms`.
    pub fn new(gauge: GaugeVec, max_lag_ms: Arc<AtomicI64>) -> Self {
        max_lag_ms.store(-1, Ordering::Relaxed);
        Self {
            gauge,
            symbols: Vec::new(),
            max_lag_ms,
        }
    }
}

impl Plugin for LagPlugin {
    fn on_event(&mut self, ctx: &EventContext<'_>, _event: &MarketEvent<'_>) {
        let i = ctx.symbol_id.index();
        if i >= self.symbols.len() {
            self.symbols.resize_with(i + 1, || None);
        }
        match &mut self.symbols[i] {
            Some((t, _)) => *t = (*t).max(ctx.event_time_ms),
            slot @ None => {
                // First message of a symbol: resolve its gauge child once.
                *slot = Some((
                    ctx.event_time_ms,
                    self.gauge.with_label_values(&[ctx.symbol]),
                ));
            }
        }
    }

    fn tick(&mut self, _now_ms: i64) {
        let now = chrono::Utc::now().timestamp_millis();
        let mut max = -1i64;
        for (t, gauge) in self.symbols.iter().flatten() {
            let lag = (now - t).max(0);
            gauge.set(lag as f64 / 1000.0);
            max = max.max(lag);
        }
        self.max_lag_ms.store(max, Ordering::Relaxed);
    }
}

/// With several processing threads (each with its own lag plugin): every 200 ms, the largest of their lags into
/// `into` (what the health verdict reads). Runs until aborted.
pub async fn merge_max(threads: Vec<Arc<AtomicI64>>, into: Arc<AtomicI64>) {
    let mut every = tokio::time::interval(std::time::Duration::from_millis(200));
    loop {
        every.tick().await;
        let max = threads
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .max()
            .unwrap_or(-1);
        into.store(max, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus::Opts;
    use strategy_sdk::{testing, SymbolId};

    #[test]
    fn lag_is_wall_clock_minus_the_latest_event_time() {
        let gauge = GaugeVec::new(Opts::new("lag", "lag"), &["symbol"]).unwrap();
        let max = Arc::new(AtomicI64::new(0));
        let mut p = LagPlugin::new(gauge.clone(), max.clone());
        assert_eq!(max.load(Ordering::Relaxed), -1);
        let now = chrono::Utc::now().timestamp_millis();
        let trade = testing::trade(1.0, 1.0, false, now);
        for (sym, id, t) in [
            ("BTCUSDT", 0, now - 5_000),
            ("ETHUSDT", 1, now - 1_000),
            ("BTCUSDT", 0, now - 2_000),
        ] {
            let ctx = EventContext {
                symbol: sym,
                symbol_id: SymbolId(id),
                event_time_ms: t,
            };
            p.on_event(&ctx, &MarketEvent::Trade(&trade));
        }
        p.tick(0);
        let btc = gauge.with_label_values(&["BTCUSDT"]).get();
        let eth = gauge.with_label_values(&["ETHUSDT"]).get();
        assert!((2.0..3.0).contains(&btc), "{btc}");
        assert!((1.0..2.0).contains(&eth), "{eth}");
        let m = max.load(Ordering::Relaxed);
        assert!((2_000..3_000).contains(&m), "{m}");
    }
}
