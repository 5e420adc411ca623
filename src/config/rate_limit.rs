//! The write rate limit of the configuration API, as the original service applied it to automated writers:
//! at most `per_agent` changes per hour by one `changed_by`, at least `cooldown` seconds between two changes by one
//! `changed_by`, and at most `global` changes per hour in total. Writers whose `changed_by` contains `ROLLBACK`,
//! `EMERGENCY` or `SYSTEM_RECOVERY` are never limited.
//!
//! The state (the times of the last hour's changes) lives in the configuration store and is read, checked and
//! updated inside the same transaction as the change itself, so only changes that succeed are counted, concurrent
//! writers cannot both slip under a limit, and every replica — and a restarted one — sees the same counts.

use serde::{Deserialize, Serialize};

/// Length of the counting window.
pub const WINDOW_MS: i64 = 3_600_000;

/// Words in `changed_by` that bypass the limit (rollbacks and emergency fixes must never be refused).
pub const BYPASS_WORDS: [&str; 3] = ["ROLLBACK", "EMERGENCY", "SYSTEM_RECOVERY"];

/// Store key of the global counter.
pub const GLOBAL_KEY: &str = "global";

/// The limits (0 switches one off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Changes per hour by one `changed_by` (`CONFIG_RATE_LIMIT_PER_AGENT`).
    pub per_agent: u32,
    /// Seconds between two changes by one `changed_by` (`CONFIG_RATE_LIMIT_COOLDOWN`).
    pub cooldown_seconds: u64,
    /// Changes per hour in total (`CONFIG_RATE_LIMIT_GLOBAL`).
    pub global: u32,
}

impl RateLimits {
    /// Whether any limit is on.
    pub fn active(&self) -> bool {
        self.per_agent > 0 || self.cooldown_seconds > 0 || self.global > 0
    }

    /// The policy for one writer, or `None` when the writer bypasses the limit or no limit is on.
    pub fn for_writer(&self, changed_by: &str) -> Option<RatePolicy> {
        let upper = changed_by.to_ascii_uppercase();
        if !self.active() || BYPASS_WORDS.iter().any(|w| upper.contains(w)) {
            return None;
        }
        Some(RatePolicy {
            limits: *self,
            agent_key: format!("agent:{changed_by}"),
        })
    }
}

/// The limit to enforce on one change, carried with it into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatePolicy {
    /// The limits.
    pub limits: RateLimits,
    /// Store key of the writer's counter (`agent:<changed_by>`).
    pub agent_key: String,
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    /// `cooldown_period`, `agent_hourly_limit` or `global_hourly_limit`.
    pub reason: &'static str,
    /// Seconds until the change would be accepted (at least 1).
    pub retry_after: u64,
}

/// Change times of one counter within the window, oldest first (what the store keeps per key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    /// Milliseconds since the epoch.
    pub at_ms: Vec<i64>,
}

impl Events {
    fn trimmed(mut self, now_ms: i64) -> Self {
        self.at_ms
            .retain(|t| *t > now_ms - WINDOW_MS && *t <= now_ms);
        self.at_ms.sort_unstable();
        self
    }
}

fn seconds_until(ms: i64) -> u64 {
    u64::try_from(ms.max(0)).map_or(1, |ms| ms.div_ceil(1000).max(1))
}

/// Checks a change against the writer's and the global counters at `now_ms`. When admitted, returns both counters
/// with this change recorded (to be written in the change's transaction); otherwise why and for how long not.
pub fn admit(
    policy: &RatePolicy,
    agent: Events,
    global: Events,
    now_ms: i64,
) -> Result<(Events, Events), Denied> {
    let mut agent = agent.trimmed(now_ms);
    let mut global = global.trimmed(now_ms);
    let limits = policy.limits;
    if limits.cooldown_seconds > 0 {
        if let Some(last) = agent.at_ms.last() {
            let cooldown_ms =
                i64::try_from(limits.cooldown_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
            let free_at = last.saturating_add(cooldown_ms);
            if free_at > now_ms {
                return Err(Denied {
                    reason: "cooldown_period",
                    retry_after: seconds_until(free_at - now_ms),
                });
            }
        }
    }
    if limits.per_agent > 0 && agent.at_ms.len() >= limits.per_agent as usize {
        let oldest = agent.at_ms[agent.at_ms.len() - limits.per_agent as usize];
        return Err(Denied {
            reason: "agent_hourly_limit",
            retry_after: seconds_until(oldest + WINDOW_MS - now_ms),
        });
    }
    if limits.global > 0 && global.at_ms.len() >= limits.global as usize {
        let oldest = global.at_ms[global.at_ms.len() - limits.global as usize];
        return Err(Denied {
            reason: "global_hourly_limit",
            retry_after: seconds_until(oldest + WINDOW_MS - now_ms),
        });
    }
    agent.at_ms.push(now_ms);
    global.at_ms.push(now_ms);
    Ok((agent, global))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(per_agent: u32, cooldown_seconds: u64, global: u32) -> RateLimits {
        RateLimits {
            per_agent,
            cooldown_seconds,
            global,
        }
    }

    #[test]
    fn cooldown_then_hourly_then_global() {
        let p = limits(2, 300, 3).for_writer("petrosa-cio:x").unwrap();
        let t0 = 1_000_000_000;
        let (a, g) = admit(&p, Events::default(), Events::default(), t0).unwrap();
        let d = admit(&p, a.clone(), g.clone(), t0 + 10_000).unwrap_err();
        assert_eq!(d.reason, "cooldown_period");
        assert_eq!(d.retry_after, 290);
        let (a, g) = admit(&p, a, g, t0 + 300_000).unwrap();
        let d = admit(&p, a.clone(), g.clone(), t0 + 700_000).unwrap_err();
        assert_eq!(d.reason, "agent_hourly_limit");
        assert_eq!(d.retry_after, 3_600 - 700);
        // Another writer shares the global counter.
        let q = limits(2, 300, 3).for_writer("ops").unwrap();
        let (_, g) = admit(&q, Events::default(), g, t0 + 700_000).unwrap();
        let d = admit(&q, Events::default(), g.clone(), t0 + 701_000).unwrap_err();
        assert_eq!(d.reason, "global_hourly_limit");
        // After the window everything is free again.
        assert!(admit(&p, a, g, t0 + WINDOW_MS + 400_000).is_ok());
    }

    #[test]
    fn bypass_words_and_zero_limits() {
        let l = limits(10, 300, 100);
        assert!(l.for_writer("cio-ROLLBACK-bot").is_none());
        assert!(l.for_writer("emergency:ops").is_none());
        assert!(l.for_writer("SYSTEM_RECOVERY").is_none());
        assert!(l.for_writer("petrosa-cio:orderbook_skew").is_some());
        assert!(limits(0, 0, 0).for_writer("anyone").is_none());
    }
}
