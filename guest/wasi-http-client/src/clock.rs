//! Time as the engines want it: plain milliseconds, one clock for both
//! components.

use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::io::poll::Pollable;

/// Milliseconds on the monotonic clock (deadlines, backoffs, timings).
pub fn now_ms() -> u64 {
    monotonic_clock::now() / 1_000_000
}

/// Milliseconds since the Unix epoch (HTTP-date `Retry-After`, leases).
pub fn unix_ms() -> u64 {
    let now = wall_clock::now();
    now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
}

/// A pollable that becomes ready at `at_ms` on the monotonic clock.
pub fn wake_at(at_ms: u64) -> Pollable {
    monotonic_clock::subscribe_instant(at_ms.saturating_mul(1_000_000))
}

pub fn sleep_until(at_ms: u64) {
    wake_at(at_ms).block();
}
