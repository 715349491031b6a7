//! Clocks, in the milliseconds the core works with.

use wasip2::clocks::{monotonic_clock, wall_clock};
use wasip2::io::poll::Pollable;

/// Milliseconds since the Unix epoch (for HTTP-date `Retry-After`).
pub fn unix_ms() -> u64 {
    let now = wall_clock::now();
    now.seconds * 1000 + u64::from(now.nanoseconds / 1_000_000)
}

/// A pollable ready `ms` milliseconds from now.
pub fn after_ms(ms: u64) -> Pollable {
    monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000))
}
