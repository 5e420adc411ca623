//! One async lock per configuration key (strategy, symbol): writes to one key are ordered in this process while
//! writes to other keys proceed in parallel (a slow or unreachable store no longer queues every write behind one
//! lock). Entries are dropped when their last holder or waiter goes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The per-key locks.
#[derive(Default)]
pub struct KeyLocks {
    locks: Mutex<HashMap<String, Weak<AsyncMutex<()>>>>,
}

impl KeyLocks {
    /// Waits for the lock of `key` and holds it until the guard is dropped.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock();
            if let Some(l) = map.get(key).and_then(Weak::upgrade) {
                l
            } else {
                map.retain(|_, w| w.strong_count() > 0);
                let l = Arc::new(AsyncMutex::new(()));
                map.insert(key.to_owned(), Arc::downgrade(&l));
                l
            }
        };
        lock.lock_owned().await
    }

    /// Keys with a holder or a waiter right now.
    pub fn active(&self) -> usize {
        self.locks
            .lock()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_key_is_exclusive_other_keys_are_not() {
        let locks = Arc::new(KeyLocks::default());
        let a = locks.lock("a").await;
        // Another key is free at once.
        let b = tokio::time::timeout(Duration::from_millis(100), locks.lock("b")).await;
        assert!(b.is_ok());
        // The same key waits for the holder.
        let waiting = tokio::time::timeout(Duration::from_millis(100), locks.lock("a")).await;
        assert!(waiting.is_err());
        drop(a);
        let again = tokio::time::timeout(Duration::from_millis(100), locks.lock("a")).await;
        assert!(again.is_ok());
        drop(again);
        drop(b);
        assert_eq!(locks.active(), 0);
    }
}
