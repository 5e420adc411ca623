//! Event-time helpers every strategy shares: a per-key minimum interval ([`Cooldown`]) and a sliding window of
//! timestamped values ([`EventWindow`]). Both use event time only, so a replay at any speed behaves the same.

use std::collections::VecDeque;

/// A minimum interval between two events of one key (a symbol's signals), in event time.
///
/// It stores when it last fired, not a deadline, so a changed interval applies at once. An event older than the
/// last firing (out-of-order input) is never ready: time that runs backwards cannot reopen the gate. An interval
/// of 0 or less turns the limit off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cooldown {
    last_ms: Option<i64>,
}

impl Cooldown {
    /// Whether an event at `now_ms` may fire with `min_interval_ms` since the last firing.
    pub fn ready(&self, now_ms: i64, min_interval_ms: i64) -> bool {
        match self.last_ms {
            _ if min_interval_ms <= 0 => true,
            None => true,
            Some(last) => now_ms >= last && now_ms - last >= min_interval_ms,
        }
    }

    /// Records a firing at `now_ms`.
    pub fn fire(&mut self, now_ms: i64) {
        self.last_ms = Some(now_ms);
    }

    /// Fires and returns true when ready; returns false otherwise.
    pub fn try_fire(&mut self, now_ms: i64, min_interval_ms: i64) -> bool {
        let ok = self.ready(now_ms, min_interval_ms);
        if ok {
            self.fire(now_ms);
        }
        ok
    }

    /// When it last fired.
    pub fn last_ms(&self) -> Option<i64> {
        self.last_ms
    }
}

/// Values with their event times, oldest first, trimmed to a window ending at the newest time pushed.
#[derive(Debug, Clone, Default)]
pub struct EventWindow<T> {
    items: VecDeque<(i64, T)>,
}

impl<T> EventWindow<T> {
    /// An empty window.
    pub fn new() -> Self {
        Self {
            items: VecDeque::new(),
        }
    }

    /// Appends a value and drops those older than `window_ms` before `time_ms`.
    pub fn push(&mut self, time_ms: i64, value: T, window_ms: i64) {
        self.items.push_back((time_ms, value));
        self.expire(time_ms, window_ms);
    }

    /// Drops values older than `window_ms` before `now_ms`.
    pub fn expire(&mut self, now_ms: i64, window_ms: i64) {
        while self
            .items
            .front()
            .is_some_and(|(t, _)| now_ms - *t > window_ms)
        {
            self.items.pop_front();
        }
    }

    /// The values, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(i64, T)> + ExactSizeIterator {
        self.items.iter()
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Oldest value.
    pub fn front(&self) -> Option<&(i64, T)> {
        self.items.front()
    }

    /// Newest value.
    pub fn back(&self) -> Option<&(i64, T)> {
        self.items.back()
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldown_holds_the_interval_and_ignores_time_running_backwards() {
        let mut c = Cooldown::default();
        assert!(c.try_fire(1_000, 60_000));
        assert!(!c.try_fire(30_000, 60_000));
        assert!(!c.try_fire(500, 60_000), "older event cannot fire");
        assert!(c.ready(61_000, 60_000));
        assert!(
            c.ready(31_000, 30_000),
            "a shorter interval applies at once"
        );
        assert!(c.try_fire(61_000, 60_000));
        assert_eq!(c.last_ms(), Some(61_000));
    }

    #[test]
    fn window_keeps_only_recent_values() {
        let mut w = EventWindow::new();
        w.push(0, 1, 1_000);
        w.push(500, 2, 1_000);
        w.push(1_200, 3, 1_000);
        assert_eq!(w.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![2, 3]);
        w.expire(5_000, 1_000);
        assert!(w.is_empty());
    }
}
