//! The on-chain metrics rules.

use std::sync::{Arc, Mutex};

use strategy_sdk::{
    Action, DataStatus, EnvVar, EventContext, FeedTask, MarketEvent, Signal, SignalSink, Strategy,
    StreamKind,
};
use tokio::sync::watch;

use strategy_sdk::Cooldown;

use crate::feed::{run_feed, FeedConfig};
use crate::metrics::{wall_clock_ms, Growth, SharedMetrics};
use crate::params::OnchainMetricsParams;

/// The on-chain metrics strategy. Holds the series its feed fills.
#[derive(Debug, Default)]
pub struct OnchainMetrics {
    metrics: SharedMetrics,
    /// The coin's own minimum interval: every pair of the coin (BTCUSDT, BTCUSDC, …) shares it, so the coin
    /// signals once per interval however many of its pairs are streamed.
    coin_gate: Mutex<Cooldown>,
}

impl OnchainMetrics {
    /// The shared series (tests inject data through it).
    pub fn metrics(&self) -> &SharedMetrics {
        &self.metrics
    }
}

/// Per-symbol state: the last signal's direction and daily data point (the minimum interval between signals is
/// the host runner's).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OnchainState {
    last_signalled: Option<(i64, Action)>,
}

/// Quote assets a Bitcoin market may be quoted in to count as "the coin" (dollar stablecoins, USD, EUR).
pub const BTC_QUOTES: &[&str] = &["USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "EUR"];

/// Whether the symbol is a spot market of Bitcoin itself (the only asset with a free on-chain source here):
/// exactly `BTC` followed by one of [`BTC_QUOTES`], so BTCUSDT and BTCUSDC count but BTCSTUSDT (a different token)
/// and BTCDOWNUSDT (a leveraged token) do not.
pub fn is_btc_symbol(symbol: &str) -> bool {
    symbol
        .strip_prefix("BTC")
        .is_some_and(|quote| BTC_QUOTES.contains(&quote))
}

/// The rule that holds, if any: buy on network growth against the accumulation baseline, sell on contraction
/// against the distribution baseline.
pub fn evaluate(
    metrics: &SharedMetrics,
    now_ms: i64,
    p: &OnchainMetricsParams,
) -> Option<(Action, Growth, u32)> {
    if let Some(g) = metrics.growth(now_ms, p.accumulation_periods as usize) {
        if g.addresses > p.network_growth_threshold
            && g.volume > p.volume_threshold
            && g.hash_rate > 0.0
        {
            return Some((Action::Buy, g, p.accumulation_periods));
        }
    }
    let g = metrics.growth(now_ms, p.distribution_periods as usize)?;
    (g.addresses < -p.network_growth_threshold
        && g.volume < -p.volume_threshold
        && g.hash_rate < 0.0)
        .then_some((Action::Sell, g, p.distribution_periods))
}

/// Confidence: `strong_signal_confidence` when the address and the volume changes are both at least twice their
/// thresholds (in the signal's direction), otherwise `base_confidence`.
pub fn confidence(g: &Growth, p: &OnchainMetricsParams) -> f64 {
    if g.addresses.abs() >= 2.0 * p.network_growth_threshold
        && g.volume.abs() >= 2.0 * p.volume_threshold
    {
        p.strong_signal_confidence
    } else {
        p.base_confidence
    }
}

impl Strategy for OnchainMetrics {
    type Params = OnchainMetricsParams;
    type SymbolState = OnchainState;

    const ID: &'static str = "onchain_metrics";
    const NAME: &'static str = "On-Chain Metrics";
    const DESCRIPTION: &'static str =
        "Analyzes blockchain data for whale activity and exchange flows";
    const CATEGORY: &'static str = "market_logic";
    const CONSUMES: &'static [StreamKind] = &[StreamKind::Ticker];
    const ENABLED_BY_DEFAULT: bool = false;
    const FEED_ENV: &'static [strategy_sdk::EnvSetting] = crate::feed::ENV;
    const ENV_VARS: &'static [EnvVar] = &[
        EnvVar {
            field: "min_signal_interval",
            var: "ONCHAIN_MIN_SIGNAL_INTERVAL",
        },
        EnvVar {
            field: "network_growth_threshold",
            var: "ONCHAIN_NETWORK_GROWTH_THRESHOLD",
        },
        EnvVar {
            field: "volume_threshold",
            var: "ONCHAIN_VOLUME_THRESHOLD",
        },
    ];

    fn create() -> Self {
        Self::default()
    }

    fn min_signal_interval_ms(params: &OnchainMetricsParams) -> i64 {
        i64::from(params.min_signal_interval) * 1000
    }

    fn on_event(
        &mut self,
        ctx: &EventContext<'_>,
        p: &OnchainMetricsParams,
        state: &mut OnchainState,
        event: &MarketEvent<'_>,
        sink: &mut SignalSink,
    ) {
        let MarketEvent::Ticker(t) = event else {
            return;
        };
        let price = t.last_price;
        if !(price.is_finite() && price > 0.0 && is_btc_symbol(ctx.symbol)) {
            return;
        }
        let now = ctx.event_time_ms;
        let Some((action, g, periods)) = evaluate(&self.metrics, now, p) else {
            return;
        };
        if state.last_signalled == Some((g.data_point_ms, action)) {
            return; // same conclusion from the same daily data: said once
        }
        state.last_signalled = Some((g.data_point_ms, action));
        let coin_ready = self
            .coin_gate
            .lock()
            .map(|mut gate| gate.try_fire(now, Self::min_signal_interval_ms(p)))
            .unwrap_or(false);
        if !coin_ready {
            return; // another pair of the coin signalled within the interval
        }
        let kind = match action {
            Action::Buy => "network_growth",
            Action::Sell => "network_contraction",
        };
        sink.emit(
            Signal::new(Self::ID, Self::NAME, ctx, action, confidence(&g, p), price)
                .indicator("active_addresses_growth", g.addresses)
                .indicator("transaction_volume_growth", g.volume)
                .indicator("hash_rate_growth", g.hash_rate)
                .indicator("baseline_periods", periods)
                .meta("signal_type", kind)
                .meta("asset", "BTC")
                .meta(
                    "data_point",
                    strategy_sdk::decode::format_timestamp_ms(g.data_point_ms),
                )
                .meta("source", "blockchain.info charts API"),
        );
    }

    fn status(&self) -> DataStatus {
        self.metrics.status_at(wall_clock_ms())
    }

    fn data_feed(
        &self,
        params: watch::Receiver<Arc<OnchainMetricsParams>>,
        shutdown: watch::Receiver<bool>,
    ) -> Option<FeedTask> {
        Some(Box::pin(run_feed(
            FeedConfig::from_env(),
            self.metrics.clone(),
            params,
            shutdown,
        )))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metrics::{Metric, MAX_FETCH_AGE_MS};
    use strategy_sdk::testing::{self, Harness};
    use strategy_sdk::StrategyParams;

    const DAY_S: i64 = 86_400;
    /// 2024-08-08 00:00 UTC, the day of the bundled recording.
    const DAY0_S: i64 = 1_723_075_200;
    const T0: i64 = DAY0_S * 1000 + 12 * 3_600_000;

    /// A daily series of `n` points ending on DAY0: flat at `base`, the last point at `base × (1 + pct/100)`.
    fn series(n: i64, base: f64, pct: f64) -> Vec<(i64, f64)> {
        (0..n)
            .map(|i| {
                let y = if i == n - 1 {
                    base * (1.0 + pct / 100.0)
                } else {
                    base
                };
                (DAY0_S - (n - 1 - i) * DAY_S, y)
            })
            .collect()
    }

    fn inject(m: &SharedMetrics, addresses: f64, volume: f64, hash: f64, fetched_at: i64) {
        m.set(
            Metric::UniqueAddresses,
            &series(90, 700_000.0, addresses),
            fetched_at,
        );
        m.set(
            Metric::TransactionVolume,
            &series(90, 400_000.0, volume),
            fetched_at,
        );
        m.set(
            Metric::HashRate,
            &series(90, 600_000_000.0, hash),
            fetched_at,
        );
    }

    fn tick(h: &mut Harness<OnchainMetrics>, symbol: &str, t: i64) -> Vec<Signal> {
        h.feed(
            symbol,
            t,
            MarketEvent::Ticker(&testing::ticker(60_000.0, 1.0)),
        )
    }

    #[test]
    fn worked_example_network_growth_buys_btc_only() {
        let mut h = Harness::<OnchainMetrics>::default();
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0);
        let s = tick(&mut h, "BTCUSDT", T0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].action, Action::Buy);
        assert_eq!(s[0].price, 60_000.0);
        assert!((s[0].confidence - 0.77).abs() < 1e-12);
        let g = s[0].indicators[0].1.as_f64().unwrap();
        assert!((g - 12.0).abs() < 1e-9, "{g}");
        assert!(s[0]
            .metadata
            .contains(&("data_point", "2024-08-08T00:00:00.000000Z".into())));
        assert!(tick(&mut h, "ETHUSDT", T0).is_empty(), "no free ETH source");
    }

    #[test]
    fn thresholds_are_strict_and_need_hash_rate_confirmation() {
        // thresholds 12.5 % and 25 %: growth ratios exactly representable in binary floating point
        let p = OnchainMetricsParams {
            network_growth_threshold: 12.5,
            volume_threshold: 25.0,
            ..Default::default()
        };
        for (addr, vol, hash, fires) in [
            (12.5, 30.0, 1.0, false), // addresses exactly at the threshold
            (12.51, 30.0, 1.0, true), // just above
            (20.0, 25.0, 1.0, false), // volume exactly at the threshold
            (20.0, 25.01, 1.0, true),
            (20.0, 30.0, 0.0, false),  // hash rate flat
            (20.0, 30.0, -1.0, false), // hash rate falling
        ] {
            let mut h = Harness::<OnchainMetrics>::new(p.clone());
            inject(h.strategy().metrics(), addr, vol, hash, T0);
            assert_eq!(
                tick(&mut h, "BTCUSDT", T0).len(),
                usize::from(fires),
                "{addr} {vol} {hash}"
            );
        }
    }

    #[test]
    fn contraction_sells_and_strong_confidence() {
        let mut h = Harness::<OnchainMetrics>::default();
        inject(h.strategy().metrics(), -25.0, -40.0, -2.0, T0);
        let s = tick(&mut h, "BTCUSDT", T0);
        assert_eq!(s[0].action, Action::Sell);
        assert!(
            (s[0].confidence - 0.85).abs() < 1e-12,
            "both past twice their thresholds"
        );
        assert!(s[0]
            .metadata
            .contains(&("signal_type", "network_contraction".into())));
        let mut h = Harness::<OnchainMetrics>::default();
        inject(h.strategy().metrics(), -10.01, -40.0, 0.0, T0);
        assert!(
            tick(&mut h, "BTCUSDT", T0).is_empty(),
            "hash rate must fall too"
        );
    }

    #[test]
    fn baselines_use_their_own_periods() {
        // the last 5 points before the newest are 20 % higher than the older ones: against a 3-point baseline
        // the newest (= older level × 1.32) is +10 %, against 24 points it is far above.
        let m = |h: &Harness<OnchainMetrics>| {
            for metric in Metric::ALL {
                let pts: Vec<(i64, f64)> = (0..30)
                    .map(|i| {
                        let y = if i == 29 {
                            132.0
                        } else if i >= 24 {
                            120.0
                        } else {
                            100.0
                        };
                        (DAY0_S - (29 - i) * DAY_S, y)
                    })
                    .collect();
                h.strategy().metrics().set(metric, &pts, T0);
            }
        };
        let mut h = Harness::<OnchainMetrics>::new(OnchainMetricsParams {
            accumulation_periods: 3,
            ..Default::default()
        });
        m(&h);
        assert!(
            tick(&mut h, "BTCUSDT", T0).is_empty(),
            "+10 % against 3 points: not above 10 %"
        );
        let mut h = Harness::<OnchainMetrics>::default();
        m(&h);
        assert_eq!(
            tick(&mut h, "BTCUSDT", T0).len(),
            1,
            "against 24 points it is above both thresholds"
        );
        // too short a history for the baseline: nothing
        let mut h = Harness::<OnchainMetrics>::new(OnchainMetricsParams {
            accumulation_periods: 60,
            distribution_periods: 60,
            ..Default::default()
        });
        for metric in Metric::ALL {
            h.strategy()
                .metrics()
                .set(metric, &series(60, 100.0, 50.0), T0);
        }
        assert!(tick(&mut h, "BTCUSDT", T0).is_empty());
    }

    #[test]
    fn only_the_coins_own_pairs() {
        for (symbol, ok) in [
            ("BTCUSDT", true),
            ("BTCUSDC", true),
            ("BTCEUR", true),
            ("BTCSTUSDT", false),
            ("BTCDOWNUSDT", false),
            ("BTCUPUSDT", false),
            ("ETHBTC", false),
            ("BTC", false),
        ] {
            assert_eq!(is_btc_symbol(symbol), ok, "{symbol}");
            let mut h = Harness::<OnchainMetrics>::default();
            inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0);
            assert_eq!(tick(&mut h, symbol, T0).len(), usize::from(ok), "{symbol}");
        }
    }

    #[test]
    fn the_interval_is_per_coin_across_its_pairs() {
        let mut h = Harness::<OnchainMetrics>::default();
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0);
        assert_eq!(tick(&mut h, "BTCUSDT", T0).len(), 1);
        assert!(
            tick(&mut h, "BTCUSDC", T0 + 1_000).is_empty(),
            "BTCUSDC is the same coin: inside the interval"
        );
        let interval = OnchainMetrics::min_signal_interval_ms(&OnchainMetricsParams::default());
        assert_eq!(
            tick(&mut h, "BTCEUR", T0 + interval).len(),
            1,
            "after the coin's interval another pair may signal"
        );
    }

    #[test]
    fn once_per_daily_point() {
        let mut h = Harness::<OnchainMetrics>::default();
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0);
        assert_eq!(tick(&mut h, "BTCUSDT", T0).len(), 1);
        assert!(
            tick(&mut h, "BTCUSDT", T0 + 3_600_000).is_empty(),
            "same daily data, same direction"
        );
        // a refetch of the same day changes nothing
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0 + 3_600_000);
        assert!(tick(&mut h, "BTCUSDT", T0 + 3_600_001).is_empty());
        // the next day's point arrives: fires again once the interval has passed
        let next_day = |pct: f64, base: f64| -> Vec<(i64, f64)> {
            let mut s = series(90, base, 0.0);
            s.push((DAY0_S + DAY_S, base * (1.0 + pct / 100.0)));
            s
        };
        let m = h.strategy().metrics();
        let t1 = T0 + 86_400_000;
        m.set(Metric::UniqueAddresses, &next_day(12.0, 700_000.0), t1);
        m.set(Metric::TransactionVolume, &next_day(20.0, 400_000.0), t1);
        m.set(Metric::HashRate, &next_day(1.0, 600_000_000.0), t1);
        let s = tick(&mut h, "BTCUSDT", t1);
        assert_eq!(s.len(), 1);
        assert!(s[0]
            .metadata
            .contains(&("data_point", "2024-08-09T00:00:00.000000Z".into())));
    }

    #[test]
    fn missing_or_stale_data_gives_nothing_and_status_says_why() {
        let mut h = Harness::<OnchainMetrics>::default();
        assert!(tick(&mut h, "BTCUSDT", T0).is_empty());
        assert!(
            matches!(h.strategy().status(), DataStatus::NoData(r) if r.contains("not fetched yet"))
        );
        // two of three series only
        let m = h.strategy().metrics();
        m.set(Metric::UniqueAddresses, &series(90, 1.0, 50.0), T0);
        m.set(Metric::TransactionVolume, &series(90, 1.0, 50.0), T0);
        assert!(tick(&mut h, "BTCUSDT", T0).is_empty());
        // fetched more than 3 h before the event: stale
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, T0);
        assert!(tick(&mut h, "BTCUSDT", T0 + MAX_FETCH_AGE_MS + 1).is_empty());
        // newest daily point more than 3 days before the event: stale even if just fetched
        let later = DAY0_S * 1000 + 4 * 86_400_000;
        inject(h.strategy().metrics(), 12.0, 20.0, 1.0, later);
        assert!(tick(&mut h, "BTCUSDT", later).is_empty());
        assert_eq!(
            tick(&mut h, "BTCUSDT", T0 + 1).len(),
            0,
            "fetched 3.5 days after the event: replay, stale"
        );
    }

    #[test]
    fn params_rules_env_names_and_schema() {
        assert!(OnchainMetricsParams::default().validate().is_ok());
        let bad = OnchainMetricsParams {
            strong_signal_confidence: 0.7,
            ..Default::default()
        };
        assert_eq!(
            bad.validate().unwrap_err()[0].field,
            "/strong_signal_confidence"
        );
        let d = strategy_sdk::StrategyDescriptor::of::<OnchainMetrics>();
        assert!(!d.enabled_by_default);
        assert_eq!(
            d.env_var_for("min_signal_interval"),
            "ONCHAIN_MIN_SIGNAL_INTERVAL"
        );
        assert_eq!(
            d.env_var_for("network_growth_threshold"),
            "ONCHAIN_NETWORK_GROWTH_THRESHOLD"
        );
        assert_eq!(
            d.env_var_for("whale_threshold_btc"),
            "ONCHAIN_METRICS_WHALE_THRESHOLD_BTC"
        );
        let schema = serde_json::to_value((d.schema)()).unwrap();
        let props = schema["properties"].as_object().unwrap();
        assert_eq!(props.len(), 10);
        assert_eq!(props["min_signal_interval"]["minimum"], 1800);
        assert_eq!(props["exchange_flow_threshold_percent"]["maximum"], 50.0);
    }

    #[test]
    fn golden_no_signal_without_onchain_data() {
        // No on-chain data is available during a replay: the strategy genuinely cannot fire.
        let lines = testing::bundled_recording();
        let mut h = Harness::<OnchainMetrics>::default();
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/onchain_metrics.txt"
            ),
            &signals,
        );
    }

    #[test]
    fn golden_with_injected_series_on_the_recording() {
        // Injected: 90 daily points ending 2024-08-08, fetched 2024-08-08T23:50Z (just before the recording):
        // addresses +12 %, volume +20 %, hash rate +1 % on the newest day → one BTCUSDT buy at the first ticker,
        // then nothing (cooldown, same daily point); ETHUSDT never.
        let lines = testing::bundled_recording();
        let mut h = Harness::<OnchainMetrics>::default();
        inject(
            h.strategy().metrics(),
            12.0,
            20.0,
            1.0,
            DAY0_S * 1000 + 86_400_000 - 600_000,
        );
        let signals = h.feed_envelopes(lines.iter().map(String::as_str));
        assert_eq!(signals.len(), 1);
        testing::assert_golden(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/golden/onchain_metrics_injected.txt"
            ),
            &signals,
        );
    }

    proptest::proptest! {
        #[test]
        fn signals_are_always_well_formed(
            addr in -100.0f64..1e6,
            vol in -100.0f64..1e6,
            hash in -100.0f64..1e6,
            base in 1e-9f64..1e12,
        ) {
            let mut h = Harness::<OnchainMetrics>::default();
            let m = h.strategy().metrics();
            m.set(Metric::UniqueAddresses, &series(30, base, addr), T0);
            m.set(Metric::TransactionVolume, &series(30, base, vol), T0);
            m.set(Metric::HashRate, &series(30, base, hash), T0);
            for s in tick(&mut h, "BTCUSDT", T0) {
                proptest::prop_assert!(s.confidence == 0.77 || s.confidence == 0.85);
                proptest::prop_assert!(s.price.is_finite() && s.price > 0.0);
                proptest::prop_assert_eq!(s.indicators.len(), 4);
                for (_, v) in &s.indicators {
                    proptest::prop_assert!(v.as_f64().is_some_and(f64::is_finite));
                }
            }
        }
    }
}
