//! Rate limiting of one response body, for `throttle` and `trickle`.

use std::time::{Duration, Instant};

/// A token bucket refilled continuously and sized for one step: the byte
/// budget is computed from the time since the first byte, so late timer
/// wake-ups are caught up and the long-run rate stays exact.
#[derive(Debug)]
pub(crate) struct Pacer {
    bytes_per_second: u64,
    started: Option<Instant>,
    sent: u64,
}

impl Pacer {
    /// How long to wait when the bucket is empty.
    pub(crate) const STEP: Duration = Duration::from_millis(10);

    pub(crate) fn new(bytes_per_second: u64) -> Self {
        Pacer {
            bytes_per_second: bytes_per_second.max(1),
            started: None,
            sent: 0,
        }
    }

    /// Bytes that may go out at `now` (zero: wait a [`Pacer::STEP`]); the
    /// caller reports what it actually sent with [`Pacer::record`].
    pub(crate) fn allowance(&mut self, now: Instant) -> u64 {
        let started = *self.started.get_or_insert(now);
        let elapsed = now.saturating_duration_since(started);
        let earned = u128::from(self.bytes_per_second) * elapsed.as_nanos() / 1_000_000_000;
        let earned = u64::try_from(earned).unwrap_or(u64::MAX);
        earned
            .saturating_add(self.bucket_size())
            .saturating_sub(self.sent)
    }

    pub(crate) fn record(&mut self, len: u64) {
        self.sent += len;
    }

    /// One step's worth of bytes, so the first step is not empty.
    fn bucket_size(&self) -> u64 {
        (self.bytes_per_second / 100).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_follows_elapsed_time() {
        let start = Instant::now();
        let mut pacer = Pacer::new(1000);
        assert_eq!(pacer.allowance(start), 10);
        pacer.record(10);
        assert_eq!(pacer.allowance(start), 0);
        assert_eq!(pacer.allowance(start + Duration::from_millis(500)), 500);
        pacer.record(500);
        assert_eq!(pacer.allowance(start + Duration::from_secs(2)), 1500);
    }
}
