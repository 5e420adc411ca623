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

#[cfg(test)]
mod tests {
    use super::*;

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
