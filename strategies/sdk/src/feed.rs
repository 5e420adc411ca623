//! Building blocks for strategies' external data feeds: exponential backoff and a circuit breaker per source.
//!
//! A source is polled every interval while healthy; after a failure it waits an exponentially growing backoff;
//! after `breaker_threshold` consecutive failures the circuit opens for `breaker_cooldown`, then one trial request
//! closes or reopens it.

use std::time::Duration;

use tokio::time::Instant;

/// An environment variable a feed or plugin reads, declared in its descriptor so the host (and the deployment
/// tests) know every variable without reading source: `StrategyDescriptor::feed_env`, `PluginDescriptor::env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvSetting {
    /// Variable name.
    pub name: &'static str,
    /// What it sets.
    pub meaning: &'static str,
}

/// A feed's view of its environment variables: every name it reads must be in its declared list (a debug
/// assertion, so an undeclared read fails the tests), values are trimmed, and an unset, unparsable or
/// out-of-range value is `None`, so the feed keeps its default.
pub struct FeedEnv<'a, F> {
    declared: &'a [EnvSetting],
    lookup: F,
}

impl<'a, F: Fn(&str) -> Option<String>> FeedEnv<'a, F> {
    /// Reads through `lookup` (the process environment, or a test's table) the variables in `declared`.
    pub fn new(declared: &'a [EnvSetting], lookup: F) -> Self {
        Self { declared, lookup }
    }

    /// The trimmed value of `name`.
    pub fn text(&self, name: &str) -> Option<String> {
        debug_assert!(
            self.declared.iter().any(|e| e.name == name),
            "{name} is not declared in the feed's ENV"
        );
        (self.lookup)(name).map(|v| v.trim().to_owned())
    }

    /// A base URL without its trailing slashes.
    pub fn base_url(&self, name: &str) -> Option<String> {
        self.text(name).map(|v| v.trim_end_matches('/').to_owned())
    }

    /// A positive whole number of milliseconds.
    pub fn millis(&self, name: &str) -> Option<Duration> {
        self.text(name)
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|v| *v > 0)
            .map(Duration::from_millis)
    }

    /// A positive count.
    pub fn positive_u32(&self, name: &str) -> Option<u32> {
        self.text(name)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| *n > 0)
    }
}

/// Exponential backoff and circuit-breaker settings (each feed chooses its own values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Wait after the first failure; doubles with each further failure.
    pub initial: Duration,
    /// Largest backoff wait.
    pub max: Duration,
    /// Consecutive failures that open the circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit stays open before one trial request.
    pub breaker_cooldown: Duration,
}

impl BackoffPolicy {
    /// Overrides the breaker from `<prefix>_BREAKER_FAILURES` (consecutive failures that open the circuit) and
    /// `<prefix>_BREAKER_COOLDOWN_MS` (how long it stays open), where set and valid.
    pub fn apply_env<F: Fn(&str) -> Option<String>>(&mut self, env: &FeedEnv<'_, F>, prefix: &str) {
        if let Some(n) = env.positive_u32(&format!("{prefix}_BREAKER_FAILURES")) {
            self.breaker_threshold = n;
        }
        if let Some(d) = env.millis(&format!("{prefix}_BREAKER_COOLDOWN_MS")) {
            self.breaker_cooldown = d;
        }
    }
}

/// Schedule and failure count of one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceHealth {
    failures: u32,
    next_attempt: Option<Instant>,
}

impl SourceHealth {
    /// Whether a request may be sent at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.next_attempt.is_none_or(|t| now >= t)
    }

    /// When the next request is due (`None`: now).
    pub fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether the circuit is open (too many failures and the cooldown has not elapsed).
    pub fn breaker_open(&self, now: Instant, policy: &BackoffPolicy) -> bool {
        self.failures >= policy.breaker_threshold && !self.ready(now)
    }

    /// A success: failures reset, next poll one interval later.
    pub fn on_success(&mut self, now: Instant, poll_interval: Duration) {
        self.failures = 0;
        self.next_attempt = Some(now + poll_interval);
    }

    /// A failure: returns the wait before the next attempt (backoff, or the cooldown once the circuit opens).
    pub fn on_failure(&mut self, now: Instant, policy: &BackoffPolicy) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let wait = if self.failures >= policy.breaker_threshold {
            policy.breaker_cooldown
        } else {
            let factor = 2u32.saturating_pow(self.failures - 1);
            policy.initial.saturating_mul(factor).min(policy.max)
        };
        self.next_attempt = Some(now + wait);
        wait
    }
}

/// HTTP requests of a feed: one client setup and one bounded GET, so every feed times out, identifies itself and
/// caps what it reads the same way.
#[cfg(feature = "http")]
pub mod http {
    use std::time::Duration;

    /// Why a fetch failed.
    #[derive(Debug, thiserror::Error)]
    pub enum FetchError {
        /// Connection, timeout or body error.
        #[error("request failed: {0}")]
        Http(#[from] reqwest::Error),
        /// Non-2xx answer.
        #[error("HTTP status {0}")]
        Status(u16),
        /// The body was not the expected document.
        #[error("unexpected response: {0}")]
        Format(String),
    }

    /// A client whose every request, connecting included, gives up after `timeout`; rustls; a user agent naming
    /// this service.
    pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("realtime-strategies/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// GETs `url` and returns its body: a non-2xx status and a body over `max_bytes` are failures.
    pub async fn get_body(
        client: &reqwest::Client,
        url: &str,
        max_bytes: usize,
    ) -> Result<bytes::Bytes, FetchError> {
        let response = client.get(url).send().await?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let body = response.bytes().await?;
        if body.len() > max_bytes {
            return Err(FetchError::Format(format!("body of {} bytes", body.len())));
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECLARED: &[EnvSetting] = &[
        EnvSetting {
            name: "F_URL",
            meaning: "base URL",
        },
        EnvSetting {
            name: "F_MS",
            meaning: "a duration",
        },
        EnvSetting {
            name: "F_BREAKER_FAILURES",
            meaning: "failures",
        },
        EnvSetting {
            name: "F_BREAKER_COOLDOWN_MS",
            meaning: "cooldown",
        },
    ];

    fn table(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn feed_env_trims_and_refuses_what_a_feed_cannot_use() {
        let env = FeedEnv::new(
            DECLARED,
            table(&[("F_URL", " http://h:1// "), ("F_MS", " 250 ")]),
        );
        assert_eq!(env.base_url("F_URL").as_deref(), Some("http://h:1"));
        assert_eq!(env.millis("F_MS"), Some(Duration::from_millis(250)));
        assert_eq!(env.positive_u32("F_BREAKER_FAILURES"), None, "unset");
        for bad in ["0", "-5", "1.5", "soon", ""] {
            let env = FeedEnv::new(
                DECLARED,
                table(&[("F_MS", bad), ("F_BREAKER_FAILURES", bad)]),
            );
            assert_eq!(env.millis("F_MS"), None, "{bad:?}");
            assert_eq!(env.positive_u32("F_BREAKER_FAILURES"), None, "{bad:?}");
        }
    }

    #[test]
    #[should_panic(expected = "F_OTHER is not declared")]
    #[cfg(debug_assertions)]
    fn feed_env_refuses_an_undeclared_name() {
        let _ = FeedEnv::new(DECLARED, table(&[])).text("F_OTHER");
    }

    #[test]
    fn the_breaker_takes_its_two_variables_under_the_feed_prefix() {
        let defaults = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(60),
        };
        let mut policy = defaults;
        let env = FeedEnv::new(
            DECLARED,
            table(&[
                ("F_BREAKER_FAILURES", "3"),
                ("F_BREAKER_COOLDOWN_MS", "1500"),
            ]),
        );
        policy.apply_env(&env, "F");
        assert_eq!(policy.breaker_threshold, 3);
        assert_eq!(policy.breaker_cooldown, Duration::from_millis(1500));
        assert_eq!(
            (policy.initial, policy.max),
            (defaults.initial, defaults.max)
        );
        let mut untouched = defaults;
        untouched.apply_env(&FeedEnv::new(DECLARED, table(&[])), "F");
        assert_eq!(untouched, defaults);
    }

    #[test]
    fn backoff_doubles_then_the_circuit_opens_and_a_success_closes_it() {
        let policy = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            breaker_threshold: 4,
            breaker_cooldown: Duration::from_secs(60),
        };
        let now = Instant::now();
        let mut h = SourceHealth::default();
        assert!(h.ready(now));
        assert_eq!(h.on_failure(now, &policy), Duration::from_secs(1));
        assert_eq!(h.on_failure(now, &policy), Duration::from_secs(2));
        assert_eq!(
            h.on_failure(now, &policy),
            Duration::from_secs(3),
            "capped at max"
        );
        assert!(!h.breaker_open(now, &policy));
        assert_eq!(h.on_failure(now, &policy), Duration::from_secs(60));
        assert!(h.breaker_open(now, &policy));
        assert!(!h.ready(now + Duration::from_secs(59)));
        assert!(h.ready(now + Duration::from_secs(60)));
        h.on_success(now, Duration::from_secs(10));
        assert_eq!(h.failures(), 0);
        assert!(!h.breaker_open(now, &policy));
    }
}
