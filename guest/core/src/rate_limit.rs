//! `--max-speed`: a token bucket shared by every connection of a run (in
//! a batch, by every file's).

use std::cell::RefCell;
use std::rc::Rc;

/// One bucket for a whole run: each transfer of a batch draws from it.
pub type SharedRateLimiter = Rc<RefCell<RateLimiter>>;

/// Grants bytes at `rate` per second on average, allowing bursts of a
/// tenth of a second's worth so reads stay reasonably large.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    rate: u64,
    tokens: u64,
    last_refill_ms: u64,
}

impl RateLimiter {
    pub fn new(bytes_per_second: u64, now_ms: u64) -> RateLimiter {
        let mut limiter = RateLimiter {
            rate: bytes_per_second.max(1),
            tokens: 0,
            last_refill_ms: now_ms,
        };
        limiter.tokens = limiter.burst();
        limiter
    }

    fn burst(&self) -> u64 {
        (self.rate / 10).max(1)
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_refill_ms);
        let earned = self.rate.saturating_mul(elapsed) / 1000;
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(self.burst());
            // Keep the remainder of a partial millisecond's worth.
            self.last_refill_ms += (earned * 1000).div_ceil(self.rate);
            if self.tokens == self.burst() {
                self.last_refill_ms = now_ms;
            }
        }
    }

    /// How many bytes may be read now, without taking them.
    pub fn available(&self, now_ms: u64) -> u64 {
        let mut probe = self.clone();
        probe.refill(now_ms);
        probe.tokens
    }

    /// Takes `used` bytes that were read (at most what was available).
    pub fn consume(&mut self, now_ms: u64, used: u64) {
        self.refill(now_ms);
        self.tokens = self.tokens.saturating_sub(used);
    }

    /// When at least one byte will be available again.
    pub fn next_grant_ms(&self, now_ms: u64) -> u64 {
        let mut this = self.clone();
        this.refill(now_ms);
        if this.tokens > 0 {
            now_ms
        } else {
            this.last_refill_ms + 1000u64.div_ceil(this.rate).max(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn starts_with_a_small_burst_then_waits() {
        let mut l = RateLimiter::new(1000, 0);
        assert_eq!(l.available(0), 100);
        l.consume(0, 100);
        assert_eq!(l.available(0), 0);
        assert!(l.next_grant_ms(0) > 0);
        assert_eq!(l.available(50), 50);
    }

    proptest! {
        /// Over any schedule of requests, no more than rate × time (plus
        /// one burst) is ever granted.
        #[test]
        fn never_exceeds_the_rate(rate in 1u64..10_000_000, steps in proptest::collection::vec((0u64..50, 1u64..1_000_000), 1..300)) {
            let mut l = RateLimiter::new(rate, 0);
            let (mut now, mut granted) = (0u64, 0u64);
            for (dt, want) in steps {
                now += dt;
                let take = l.available(now).min(want);
                l.consume(now, take);
                granted += take;
                prop_assert!(granted <= rate * now / 1000 + (rate / 10).max(1) + 1);
            }
        }
    }
}
