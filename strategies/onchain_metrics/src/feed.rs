//! The background task that polls blockchain.info's public charts API.
//!
//! Three charts, each a *source* with its own schedule: polled every `poll_interval` (hourly, the original's fetch
//! interval) while healthy; after a failure an exponentially growing backoff; after `breaker_threshold` consecutive
//! failures the circuit opens for `breaker_cooldown`, then one trial request closes or reopens it. Requests have a
//! short timeout. Nothing here runs on the event path: results go into [`SharedMetrics`].
//!
//! Endpoint (public, no key): `GET {base_url}/charts/{chart}?timespan=90days&format=json` with `chart` one of
//! `n-unique-addresses`, `estimated-transaction-volume`, `hash-rate` → `{"status": "ok", "name": …, "unit": …,
//! "period": "day", "description": …, "values": [{"x": <unix seconds>, "y": <value>}, …]}`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde::Deserialize;
use strategy_sdk::feed::{http, FeedEnv};
use strategy_sdk::EnvSetting;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::{wall_clock_ms, Metric, SharedMetrics};
use crate::params::OnchainMetricsParams;

/// Default blockchain.info API base URL.
pub const BLOCKCHAIN_INFO_BASE_URL: &str = "https://api.blockchain.info";
/// Span of history requested (covers the largest baseline, 60 points, plus publication lag).
pub const TIMESPAN: &str = "90days";

pub use strategy_sdk::feed::http::FetchError;
pub use strategy_sdk::feed::{BackoffPolicy, SourceHealth};

/// This feed's backoff and circuit-breaker defaults.
pub const DEFAULT_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(30),
    max: Duration::from_secs(900),
    breaker_threshold: 5,
    breaker_cooldown: Duration::from_secs(1800),
};

/// Where and how often the feed polls. Built from the environment by [`FeedConfig::from_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// API base URL (`ONCHAIN_METRICS_BASE_URL`).
    pub base_url: String,
    /// Poll interval of a healthy source (`ONCHAIN_METRICS_POLL_INTERVAL_MS`, default one hour).
    pub poll_interval: Duration,
    /// Timeout of one request, connect included (`ONCHAIN_METRICS_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Backoff and circuit breaker (`ONCHAIN_METRICS_BREAKER_FAILURES`, `ONCHAIN_METRICS_BREAKER_COOLDOWN_MS`).
    pub backoff: BackoffPolicy,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            base_url: BLOCKCHAIN_INFO_BASE_URL.into(),
            poll_interval: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(5),
            backoff: DEFAULT_BACKOFF,
        }
    }
}

/// Every environment variable [`FeedConfig::from_lookup`] reads (declared in the strategy's descriptor as
/// `FEED_ENV`; a read of an undeclared name fails the debug assertion in `from_lookup`).
pub const ENV: &[EnvSetting] = &[
    EnvSetting {
        name: "ONCHAIN_METRICS_BASE_URL",
        meaning: "blockchain.info charts base URL",
    },
    EnvSetting {
        name: "ONCHAIN_METRICS_POLL_INTERVAL_MS",
        meaning: "poll interval (ms)",
    },
    EnvSetting {
        name: "ONCHAIN_METRICS_TIMEOUT_MS",
        meaning: "request timeout (ms)",
    },
    EnvSetting {
        name: "ONCHAIN_METRICS_BREAKER_FAILURES",
        meaning: "consecutive failures that open the circuit",
    },
    EnvSetting {
        name: "ONCHAIN_METRICS_BREAKER_COOLDOWN_MS",
        meaning: "how long an open circuit stays open (ms)",
    },
];

impl FeedConfig {
    /// The configuration from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The configuration from any variable lookup (unset or unparsable values keep their defaults).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let env = FeedEnv::new(ENV, get);
        let mut c = Self::default();
        if let Some(v) = env.base_url("ONCHAIN_METRICS_BASE_URL") {
            c.base_url = v;
        }
        if let Some(d) = env.millis("ONCHAIN_METRICS_POLL_INTERVAL_MS") {
            c.poll_interval = d;
        }
        if let Some(d) = env.millis("ONCHAIN_METRICS_TIMEOUT_MS") {
            c.request_timeout = d;
        }
        c.backoff.apply_env(&env, "ONCHAIN_METRICS");
        c
    }

    /// The request URL of one chart.
    pub fn url(&self, metric: Metric) -> String {
        format!(
            "{}/charts/{}?timespan={TIMESPAN}&format=json",
            self.base_url,
            metric.chart()
        )
    }
}

#[derive(Deserialize)]
struct Chart {
    #[serde(default)]
    status: Option<String>,
    values: Vec<Point>,
}

#[derive(Deserialize)]
struct Point {
    x: f64,
    y: f64,
}

/// Parses a charts API body into `(unix seconds, value)` points.
pub fn parse_chart(body: &[u8]) -> Result<Vec<(i64, f64)>, FetchError> {
    let chart: Chart =
        serde_json::from_slice(body).map_err(|e| FetchError::Format(e.to_string()))?;
    if let Some(status) = chart.status.filter(|s| s != "ok") {
        return Err(FetchError::Format(format!("status {status:?}")));
    }
    let points: Vec<(i64, f64)> = chart
        .values
        .iter()
        .filter(|p| p.x.is_finite())
        .map(|p| (p.x as i64, p.y))
        .collect();
    if points.is_empty() {
        return Err(FetchError::Format("no values".into()));
    }
    Ok(points)
}

/// Largest response body accepted (90 daily points are a few kilobytes).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Fetches one chart (an `otel` span per call: exported when the host runs with `ENABLE_OTEL`).
#[tracing::instrument(target = "otel", name = "feed.fetch", skip(client), fields(url = %url), err(Display))]
pub async fn fetch_chart(
    client: &reqwest::Client,
    url: &str,
) -> Result<Vec<(i64, f64)>, FetchError> {
    let body = http::get_body(client, url, MAX_BODY_BYTES).await?;
    parse_chart(&body)
}

/// Runs the feed until `shutdown` turns true (or its sender is dropped). The parameters do not change what is
/// fetched (the 90-day span covers every allowed baseline); the receiver is kept so the signature matches the SDK.
pub async fn run_feed(
    config: FeedConfig,
    metrics: SharedMetrics,
    _params: watch::Receiver<Arc<OnchainMetricsParams>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match http::client(config.request_timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "onchain_metrics: cannot build the HTTP client");
            metrics.record_feed_error(&e.to_string());
            return;
        }
    };
    let mut sources: Vec<(Metric, String, SourceHealth)> = Metric::ALL
        .iter()
        .map(|m| (*m, config.url(*m), SourceHealth::default()))
        .collect();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let now = Instant::now();
        let due: Vec<usize> = (0..sources.len())
            .filter(|&i| sources[i].2.ready(now))
            .collect();
        if !due.is_empty() {
            let requests = due.iter().map(|&i| {
                let url = &sources[i].1;
                let client = &client;
                async move { (i, fetch_chart(client, url).await) }
            });
            let results = tokio::select! {
                r = join_all(requests) => r,
                _ = shutdown.changed() => break,
            };
            let done = Instant::now();
            for (i, result) in results {
                let (metric, _, health) = &mut sources[i];
                match result {
                    Ok(points) => {
                        health.on_success(done, config.poll_interval);
                        metrics.set(*metric, &points, wall_clock_ms());
                    }
                    Err(e) => {
                        let wait = health.on_failure(done, &config.backoff);
                        let open = health.breaker_open(done, &config.backoff);
                        tracing::warn!(
                            chart = metric.chart(),
                            error = %e,
                            failures = health.failures(),
                            retry_in_ms = wait.as_millis() as u64,
                            circuit_open = open,
                            "onchain_metrics: chart fetch failed"
                        );
                        metrics.record_failure(*metric, &e.to_string(), open);
                    }
                }
            }
        }
        let now = Instant::now();
        let next = sources
            .iter()
            .map(|s| s.2.next_attempt().unwrap_or(now))
            .min()
            .unwrap_or(now + config.poll_interval)
            .max(now + Duration::from_millis(1));
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            r = shutdown.changed() => if r.is_err() { break },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_the_circuit_opens_and_closes() {
        let policy = BackoffPolicy {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(100),
            breaker_threshold: 4,
            breaker_cooldown: Duration::from_secs(1800),
        };
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        assert!(h.ready(t0));
        assert_eq!(h.on_failure(t0, &policy), Duration::from_secs(30));
        assert_eq!(h.on_failure(t0, &policy), Duration::from_secs(60));
        assert_eq!(
            h.on_failure(t0, &policy),
            Duration::from_secs(100),
            "capped"
        );
        assert_eq!(
            h.on_failure(t0, &policy),
            Duration::from_secs(1800),
            "circuit opens"
        );
        assert!(h.breaker_open(t0 + Duration::from_secs(1799), &policy));
        assert!(!h.breaker_open(t0 + Duration::from_secs(1800), &policy));
        h.on_success(t0, Duration::from_secs(3600));
        assert_eq!(h.failures(), 0);
    }

    #[test]
    fn parses_the_real_chart_format() {
        let body = br#"{"status":"ok","name":"Unique Addresses Used","unit":"Addresses","period":"day","description":"The total number of unique addresses used on the blockchain.","values":[{"x":1722988800,"y":612345},{"x":1723075200,"y":598765.0}]}"#;
        assert_eq!(
            parse_chart(body).unwrap(),
            vec![(1_722_988_800, 612_345.0), (1_723_075_200, 598_765.0)]
        );
        assert!(parse_chart(br#"{"status":"error","values":[]}"#).is_err());
        assert!(parse_chart(br#"{"status":"ok","values":[]}"#).is_err());
        assert!(parse_chart(b"Too Many Requests").is_err());
    }

    #[test]
    fn urls_and_env_configuration() {
        let c = FeedConfig::from_lookup(|k| match k {
            "ONCHAIN_METRICS_BASE_URL" => Some("http://127.0.0.1:9/".into()),
            "ONCHAIN_METRICS_POLL_INTERVAL_MS" => Some("60000".into()),
            "ONCHAIN_METRICS_TIMEOUT_MS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(
            c.url(Metric::HashRate),
            "http://127.0.0.1:9/charts/hash-rate?timespan=90days&format=json"
        );
        assert_eq!(
            FeedConfig::default().url(Metric::UniqueAddresses),
            "https://api.blockchain.info/charts/n-unique-addresses?timespan=90days&format=json"
        );
    }
}
