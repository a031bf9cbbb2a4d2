//! Shared by the in-process benchmarks.

use std::time::{Duration, Instant};

/// The best mean time per call of `f` over 7 rounds of `n` calls.
pub fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed() / n);
    }
    best
}
