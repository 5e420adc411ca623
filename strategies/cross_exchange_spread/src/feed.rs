//! The background task that polls other exchanges' public ticker endpoints.
//!
//! Each (exchange, symbol) pair is an independent *source* with its own schedule: after a success it is polled
//! again one `poll_interval` later; after a failure it waits an exponentially growing backoff; after
//! `breaker_threshold` consecutive failures its circuit opens for `breaker_cooldown`, then one trial request
//! decides whether it closes (success) or opens again (failure). Requests have a short timeout. Nothing here runs
//! on the event path: results go into [`SharedQuotes`], which the strategy reads.
//!
//! Endpoints (public, no key):
//! - Coinbase Exchange: `GET {coinbase_base_url}/products/{BASE}-USD/ticker` → `{"price": "…", …}`;
//! - Kraken: `GET {kraken_base_url}/0/public/Ticker?pair={PAIR}` → `{"error": [], "result": {"<key>": {"c":
//!   ["<last price>", "<lot volume>"], …}}}` (the result key is Kraken's own name, e.g. `XXBTZUSD`).

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde::Deserialize;
use serde_json::{Map, Value};
use strategy_sdk::feed::{http, FeedEnv};
use strategy_sdk::EnvSetting;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::params::{CrossExchangeSpreadParams, Exchange};
use crate::quotes::{wall_clock_ms, SharedQuotes};

/// Default Coinbase Exchange REST base URL.
pub const COINBASE_BASE_URL: &str = "https://api.exchange.coinbase.com";
/// Default Kraken REST base URL.
pub const KRAKEN_BASE_URL: &str = "https://api.kraken.com";

pub use strategy_sdk::feed::http::FetchError;
pub use strategy_sdk::feed::{BackoffPolicy, SourceHealth};

/// This feed's backoff and circuit-breaker defaults.
pub const DEFAULT_BACKOFF: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(5),
    max: Duration::from_secs(120),
    breaker_threshold: 5,
    breaker_cooldown: Duration::from_secs(300),
};

/// Where and how often the feed polls. Built from the environment by [`FeedConfig::from_env`].
#[derive(Debug, Clone, PartialEq)]
pub struct FeedConfig {
    /// Coinbase Exchange base URL (`CROSS_EXCHANGE_SPREAD_COINBASE_URL`).
    pub coinbase_base_url: String,
    /// Kraken base URL (`CROSS_EXCHANGE_SPREAD_KRAKEN_URL`).
    pub kraken_base_url: String,
    /// Binance symbols to fetch quotes for (`CROSS_EXCHANGE_SPREAD_SYMBOLS`, comma-separated).
    pub symbols: Vec<String>,
    /// Poll interval of a healthy source (`CROSS_EXCHANGE_SPREAD_POLL_INTERVAL_MS`).
    pub poll_interval: Duration,
    /// Timeout of one request, connect included (`CROSS_EXCHANGE_SPREAD_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Backoff and circuit breaker (`CROSS_EXCHANGE_SPREAD_BREAKER_FAILURES`,
    /// `CROSS_EXCHANGE_SPREAD_BREAKER_COOLDOWN_MS`).
    pub backoff: BackoffPolicy,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            coinbase_base_url: COINBASE_BASE_URL.into(),
            kraken_base_url: KRAKEN_BASE_URL.into(),
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            poll_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            backoff: DEFAULT_BACKOFF,
        }
    }
}

/// Every environment variable [`FeedConfig::from_lookup`] reads (declared in the strategy's descriptor as
/// `FEED_ENV`; a read of an undeclared name fails the debug assertion in `from_lookup`).
pub const ENV: &[EnvSetting] = &[
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_COINBASE_URL",
        meaning: "Coinbase API base URL",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_KRAKEN_URL",
        meaning: "Kraken API base URL",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_SYMBOLS",
        meaning: "comma-separated Binance symbols whose venue prices are polled",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_POLL_INTERVAL_MS",
        meaning: "poll interval (ms)",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_TIMEOUT_MS",
        meaning: "request timeout (ms)",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_BREAKER_FAILURES",
        meaning: "consecutive failures that open the circuit",
    },
    EnvSetting {
        name: "CROSS_EXCHANGE_SPREAD_BREAKER_COOLDOWN_MS",
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
        if let Some(v) = env.base_url("CROSS_EXCHANGE_SPREAD_COINBASE_URL") {
            c.coinbase_base_url = v;
        }
        if let Some(v) = env.base_url("CROSS_EXCHANGE_SPREAD_KRAKEN_URL") {
            c.kraken_base_url = v;
        }
        if let Some(v) = env.text("CROSS_EXCHANGE_SPREAD_SYMBOLS") {
            let symbols: Vec<String> = v
                .split(',')
                .map(|s| s.trim().to_ascii_uppercase())
                .filter(|s| !s.is_empty())
                .collect();
            if !symbols.is_empty() {
                c.symbols = symbols;
            }
        }
        if let Some(d) = env.millis("CROSS_EXCHANGE_SPREAD_POLL_INTERVAL_MS") {
            c.poll_interval = d;
            c.backoff.initial = d;
        }
        if let Some(d) = env.millis("CROSS_EXCHANGE_SPREAD_TIMEOUT_MS") {
            c.request_timeout = d;
        }
        c.backoff.apply_env(&env, "CROSS_EXCHANGE_SPREAD");
        c
    }

    /// The request URL of `exchange` for a Binance `symbol`; `None` when the symbol has no USD market mapping.
    pub fn url(&self, exchange: Exchange, symbol: &str) -> Option<String> {
        let base = base_asset(symbol)?;
        match exchange {
            Exchange::Binance => None,
            Exchange::Coinbase => Some(format!(
                "{}/products/{base}-USD/ticker",
                self.coinbase_base_url
            )),
            Exchange::Kraken => {
                let asset = if base == "BTC" { "XBT" } else { base };
                Some(format!(
                    "{}/0/public/Ticker?pair={asset}USD",
                    self.kraken_base_url
                ))
            }
        }
    }
}

/// Dollar quote assets a Binance symbol may end in, longest match first where one is a suffix of another.
pub const DOLLAR_QUOTES: [&str; 5] = ["USDT", "USDC", "FDUSD", "BUSD", "USD"];

/// The base asset of a Binance symbol quoted in a US-dollar stablecoin (`BTCUSDT` → `BTC`).
pub fn base_asset(symbol: &str) -> Option<&str> {
    split_symbol(symbol).map(|(base, _)| base)
}

/// The dollar quote asset of a Binance symbol (`BTCUSDT` → `USDT`).
pub fn quote_asset(symbol: &str) -> Option<&'static str> {
    split_symbol(symbol).map(|(_, quote)| quote)
}

fn split_symbol(symbol: &str) -> Option<(&str, &'static str)> {
    DOLLAR_QUOTES
        .iter()
        .find_map(|q| symbol.strip_suffix(q).map(|b| (b, *q)))
        .filter(|(b, _)| !b.is_empty() && b.bytes().all(|c| c.is_ascii_alphanumeric()))
}

/// The quote-book key under which a stablecoin's price in US dollars is kept (`USDT` → `USDTUSD`, fetched like
/// any symbol: Coinbase `USDT-USD`, Kraken `USDTUSD`). Coinbase and Kraken quote in US dollars, so their prices
/// are converted into the Binance symbol's quote asset with the same exchange's rate before they are compared.
pub fn rate_key(quote: &str) -> String {
    format!("{quote}USD")
}

#[derive(Deserialize)]
struct CoinbaseTicker {
    price: String,
}

#[derive(Deserialize)]
struct KrakenResponse {
    #[serde(default)]
    error: Vec<String>,
    #[serde(default)]
    result: Map<String, Value>,
}

fn parse_price(text: &str) -> Result<f64, FetchError> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p > 0.0)
        .ok_or_else(|| FetchError::Format(format!("price {text:?} is not a positive number")))
}

/// Parses a Coinbase Exchange `/products/{id}/ticker` body.
pub fn parse_coinbase(body: &[u8]) -> Result<f64, FetchError> {
    let t: CoinbaseTicker =
        serde_json::from_slice(body).map_err(|e| FetchError::Format(format!("coinbase: {e}")))?;
    parse_price(&t.price)
}

/// Parses a Kraken `/0/public/Ticker` body: the first element of `c` (last trade closed) of the only result.
pub fn parse_kraken(body: &[u8]) -> Result<f64, FetchError> {
    let r: KrakenResponse =
        serde_json::from_slice(body).map_err(|e| FetchError::Format(format!("kraken: {e}")))?;
    if !r.error.is_empty() {
        return Err(FetchError::Format(format!(
            "kraken: {}",
            r.error.join(", ")
        )));
    }
    let last = r
        .result
        .values()
        .next()
        .and_then(|t| t.get("c"))
        .and_then(|c| c.get(0))
        .and_then(Value::as_str)
        .ok_or_else(|| FetchError::Format("kraken: no result.<pair>.c[0]".into()))?;
    parse_price(last)
}

/// Largest response body accepted (a ticker is a few hundred bytes).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Fetches one price (an `otel` span per call: exported when the host runs with `ENABLE_OTEL`).
#[tracing::instrument(target = "otel", name = "feed.fetch", skip(client), fields(exchange = ?exchange, url = %url), err(Display))]
pub async fn fetch_price(
    client: &reqwest::Client,
    exchange: Exchange,
    url: &str,
) -> Result<f64, FetchError> {
    let body = http::get_body(client, url, MAX_BODY_BYTES).await?;
    match exchange {
        Exchange::Coinbase => parse_coinbase(&body),
        Exchange::Kraken => parse_kraken(&body),
        Exchange::Binance => Err(FetchError::Format("binance is not polled".into())),
    }
}

struct Source {
    exchange: Exchange,
    symbol: String,
    url: String,
    health: SourceHealth,
}

/// Runs the feed until `shutdown` turns true (or its sender is dropped). Polls only the exchanges that the current
/// global parameters use.
pub async fn run_feed(
    config: FeedConfig,
    quotes: SharedQuotes,
    mut params: watch::Receiver<Arc<CrossExchangeSpreadParams>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let client = match http::client(config.request_timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cross_exchange_spread: cannot build the HTTP client");
            quotes.record_feed_error(&e.to_string());
            return;
        }
    };
    let mut sources: Vec<Source> = Vec::new();
    for exchange in Exchange::EXTERNAL {
        for symbol in &config.symbols {
            match config.url(exchange, symbol) {
                Some(url) => sources.push(Source {
                    exchange,
                    symbol: symbol.clone(),
                    url,
                    health: SourceHealth::default(),
                }),
                None => tracing::warn!(
                    symbol,
                    "cross_exchange_spread: symbol has no USD market mapping"
                ),
            }
        }
    }
    // The stablecoin/USD rates of the symbols' quote assets, polled the same way and from the same exchanges.
    let mut rate_quotes: Vec<&'static str> = config
        .symbols
        .iter()
        .filter_map(|s| quote_asset(s))
        .filter(|q| *q != "USD")
        .collect();
    rate_quotes.sort_unstable();
    rate_quotes.dedup();
    for exchange in Exchange::EXTERNAL {
        for quote in &rate_quotes {
            let key = rate_key(quote);
            if let Some(url) = config.url(exchange, &key) {
                sources.push(Source {
                    exchange,
                    symbol: key,
                    url,
                    health: SourceHealth::default(),
                });
            }
        }
    }
    let mut params_open = true;
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        let wanted = params.borrow_and_update().exchanges.clone();
        quotes.set_wanted(&wanted);
        let now = Instant::now();
        let due: Vec<usize> = (0..sources.len())
            .filter(|&i| wanted.contains(&sources[i].exchange) && sources[i].health.ready(now))
            .collect();
        if !due.is_empty() {
            let requests = due.iter().map(|&i| {
                let s = &sources[i];
                let client = &client;
                async move { (i, fetch_price(client, s.exchange, &s.url).await) }
            });
            let results = tokio::select! {
                r = join_all(requests) => r,
                _ = shutdown.changed() => break,
            };
            let done = Instant::now();
            for (i, result) in results {
                let s = &mut sources[i];
                match result {
                    Ok(price) => {
                        s.health.on_success(done, config.poll_interval);
                        quotes.set(s.exchange, &s.symbol, price, wall_clock_ms());
                    }
                    Err(e) => {
                        let wait = s.health.on_failure(done, &config.backoff);
                        let open = s.health.breaker_open(done, &config.backoff);
                        tracing::warn!(
                            exchange = s.exchange.as_str(),
                            symbol = %s.symbol,
                            error = %e,
                            failures = s.health.failures(),
                            retry_in_ms = wait.as_millis() as u64,
                            circuit_open = open,
                            "cross_exchange_spread: quote fetch failed"
                        );
                        quotes.record_failure(s.exchange, &s.symbol, &e.to_string(), open);
                    }
                }
            }
        }
        let now = Instant::now();
        let next = sources
            .iter()
            .filter(|s| wanted.contains(&s.exchange))
            .map(|s| s.health.next_attempt().unwrap_or(now))
            .min()
            .unwrap_or(now + config.poll_interval)
            .max(now + Duration::from_millis(1));
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            r = shutdown.changed() => if r.is_err() { break },
            r = params.changed(), if params_open => if r.is_err() { params_open = false },
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
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            breaker_threshold: 4,
            breaker_cooldown: Duration::from_secs(60),
        };
        let t0 = Instant::now();
        let mut h = SourceHealth::default();
        assert!(h.ready(t0));
        assert_eq!(h.on_failure(t0, &policy), Duration::from_secs(1));
        assert!(!h.ready(t0));
        assert!(h.ready(t0 + Duration::from_secs(1)));
        assert_eq!(h.on_failure(t0, &policy), Duration::from_secs(2));
        assert_eq!(h.on_failure(t0, &policy), Duration::from_secs(3), "capped");
        assert!(!h.breaker_open(t0, &policy));
        assert_eq!(
            h.on_failure(t0, &policy),
            Duration::from_secs(60),
            "circuit opens"
        );
        assert!(h.breaker_open(t0 + Duration::from_secs(59), &policy));
        assert!(
            !h.breaker_open(t0 + Duration::from_secs(60), &policy),
            "half-open trial"
        );
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(
            h.on_failure(t1, &policy),
            Duration::from_secs(60),
            "trial failed: open again"
        );
        h.on_success(t1, Duration::from_secs(5));
        assert_eq!(h.failures(), 0);
        assert!(!h.breaker_open(t1, &policy));
        assert_eq!(h.next_attempt(), Some(t1 + Duration::from_secs(5)));
    }

    #[test]
    fn parses_the_real_response_formats() {
        let cb = br#"{"ask":"60010.01","bid":"60010","volume":"8421.1","trade_id":686212112,"price":"60010.02","size":"0.0009","time":"2024-08-08T23:54:15.408Z","rfq_volume":"12.3"}"#;
        assert_eq!(parse_coinbase(cb).ok(), Some(60010.02));
        let kr = br#"{"error":[],"result":{"XXBTZUSD":{"a":["60012.40000","1","1.000"],"b":["60012.30000","3","3.000"],"c":["60012.40000","0.00080000"],"v":["1200.1","2800.2"],"p":["59900.1","59800.2"],"t":[20000,40000],"l":["59000.0","58000.0"],"h":["61000.0","61500.0"],"o":"59500.0"}}}"#;
        assert_eq!(parse_kraken(kr).ok(), Some(60012.4));
        let err = br#"{"error":["EQuery:Unknown asset pair"]}"#;
        assert!(parse_kraken(err)
            .unwrap_err()
            .to_string()
            .contains("Unknown asset pair"));
        assert!(parse_coinbase(br#"{"message":"NotFound"}"#).is_err());
        assert!(parse_coinbase(br#"{"price":"-1"}"#).is_err());
        assert!(parse_coinbase(br#"{"price":"NaN"}"#).is_err());
        assert!(parse_kraken(br#"{"error":[],"result":{}}"#).is_err());
    }

    #[test]
    fn urls_and_env_configuration() {
        let c = FeedConfig::from_lookup(|k| match k {
            "CROSS_EXCHANGE_SPREAD_COINBASE_URL" => Some("http://127.0.0.1:9/".into()),
            "CROSS_EXCHANGE_SPREAD_SYMBOLS" => Some(" btcusdt, SOLUSDC ,".into()),
            "CROSS_EXCHANGE_SPREAD_POLL_INTERVAL_MS" => Some("250".into()),
            "CROSS_EXCHANGE_SPREAD_TIMEOUT_MS" => Some("nope".into()),
            _ => None,
        });
        assert_eq!(c.symbols, vec!["BTCUSDT", "SOLUSDC"]);
        assert_eq!(c.poll_interval, Duration::from_millis(250));
        assert_eq!(c.request_timeout, Duration::from_secs(2));
        assert_eq!(
            c.url(Exchange::Coinbase, "BTCUSDT").as_deref(),
            Some("http://127.0.0.1:9/products/BTC-USD/ticker")
        );
        assert_eq!(
            c.url(Exchange::Kraken, "BTCUSDT").as_deref(),
            Some("https://api.kraken.com/0/public/Ticker?pair=XBTUSD")
        );
        assert_eq!(
            c.url(Exchange::Kraken, "ETHUSDT").as_deref(),
            Some("https://api.kraken.com/0/public/Ticker?pair=ETHUSD")
        );
        assert_eq!(c.url(Exchange::Coinbase, "ETHBTC"), None);
        assert_eq!(c.url(Exchange::Binance, "BTCUSDT"), None);
        assert_eq!(base_asset("USDT"), None);
    }
}
