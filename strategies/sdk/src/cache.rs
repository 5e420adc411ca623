//! Cache hints for per-symbol state.
//!
//! With many busy symbols a symbol's state has left the CPU caches by the time its next message comes, and every
//! first touch of a state line waits for memory. The host therefore asks the runners to prefetch the state of the
//! next messages' symbols while it processes the current one ([`crate::StrategyRunner::prefetch`]); a strategy
//! with state behind pointers names its hot lines in [`crate::Strategy::prefetch`] with these helpers. A prefetch
//! is only a hint: it never changes a result and never waits.

/// Starts loading the cache line holding `value` into every cache level, without waiting for it (a no-op on
/// targets other than x86-64).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Bytes of a cache line on the targets the host runs on.
pub const LINE: usize = 64;

/// [`prefetch`] of every cache line `values` spans.
#[inline]
pub fn prefetch_slice<T>(values: &[T]) {
    let size = std::mem::size_of::<T>();
    if size == 0 {
        return;
    }
    let step = (LINE / size).max(1);
    for value in values.iter().step_by(step) {
        prefetch(value);
    }
    if let Some(last) = values.last() {
        prefetch(last);
    }
}
