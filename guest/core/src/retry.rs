//! When to try a failed request again.

use crate::headers::Headers;

/// Exponential backoff with jitter, bounded, honouring `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries per chunk after its first attempt; 0 means fail at once.
    pub max_retries: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// A server asking for a longer pause than this is treated as asking for
    /// this much: waiting an hour silently is worse than a clear failure later.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay_ms: 250,
            max_delay_ms: 30_000,
            max_retry_after_ms: 300_000,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based). `random` is any
    /// random number; the delay lands in the upper half of the exponential
    /// step ("equal jitter"), so concurrent chunks do not retry in lockstep
    /// but no retry comes much earlier than the backoff intends.
    pub fn delay_ms(&self, retry: u32, retry_after_ms: Option<u64>, random: u64) -> u64 {
        if let Some(asked) = retry_after_ms {
            return asked.min(self.max_retry_after_ms);
        }
        let exponent = retry.saturating_sub(1).min(20);
        let step = self
            .base_delay_ms
            .saturating_mul(1 << exponent)
            .min(self.max_delay_ms)
            .max(2);
        step / 2 + random % (step / 2)
    }
}

/// The failed attempts of one piece of work (a chunk, a probe, one stream),
/// counted the one way every engine counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attempts {
    failures: u32,
}

/// What a failed attempt leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Retry number `retry` (1-based), after `delay_ms`.
    Retry { retry: u32, delay_ms: u64 },
    /// Too many failures in a row: this many.
    GiveUp { failures: u32 },
}

impl Attempts {
    /// An attempt failed. One that made progress first (data arrived at a
    /// useful rate) was a flaky link, not a broken request: the count
    /// starts over, with this failure as its first. `retry_after_ms` is
    /// the pause the server asked for, if it did.
    #[must_use = "a failed attempt is retried or given up"]
    pub fn failed(
        &mut self,
        progressed: bool,
        policy: &RetryPolicy,
        retry_after_ms: Option<u64>,
        jitter: &mut Jitter,
    ) -> AfterFailure {
        self.failures = if progressed { 1 } else { self.failures + 1 };
        if self.failures > policy.max_retries {
            return AfterFailure::GiveUp {
                failures: self.failures,
            };
        }
        AfterFailure::Retry {
            retry: self.failures,
            delay_ms: policy.delay_ms(self.failures, retry_after_ms, jitter.draw()),
        }
    }

    /// Failures in a row so far.
    pub fn failures(self) -> u32 {
        self.failures
    }
}

/// The randomness that spreads one engine's retries (so that its
/// requests, and the engines of a batch, do not retry in lockstep):
/// xorshift from a seed, so that a test replays a run exactly.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        // xorshift never leaves zero.
        Jitter(seed | 1)
    }

    /// A seed of its own for each `text` (a probe's URL): probes of a
    /// batch spread apart, and each replays the same.
    pub fn for_text(text: &str) -> Jitter {
        // FNV-1a.
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        Jitter::new(hash)
    }

    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The pause a `Retry-After` header asks for, in milliseconds: either
/// delay-seconds or an HTTP-date (relative to `now_unix_ms`).
pub fn retry_after_ms(headers: &Headers, now_unix_ms: u64) -> Option<u64> {
    let value = headers.get("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let when_ms = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
    Some(when_ms.saturating_sub(now_unix_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let h = Headers::from_pairs([("Retry-After", "3")]);
        assert_eq!(retry_after_ms(&h, 0), Some(3000));
        let h = Headers::from_pairs([("Retry-After", "Thu, 01 Jan 1970 00:00:10 GMT")]);
        assert_eq!(retry_after_ms(&h, 4_000), Some(6_000));
        assert_eq!(retry_after_ms(&h, 20_000), Some(0));
        let h = Headers::from_pairs([("Retry-After", "soon")]);
        assert_eq!(retry_after_ms(&h, 0), None);
    }

    #[test]
    fn attempts_give_up_after_the_retries_and_progress_starts_the_count_over() {
        let policy = RetryPolicy {
            max_retries: 2,
            ..RetryPolicy::default()
        };
        let mut jitter = Jitter::new(7);
        let mut attempts = Attempts::default();
        let fail =
            |a: &mut Attempts, progressed, j: &mut Jitter| a.failed(progressed, &policy, None, j);
        assert!(matches!(
            fail(&mut attempts, false, &mut jitter),
            AfterFailure::Retry { retry: 1, .. }
        ));
        assert!(matches!(
            fail(&mut attempts, false, &mut jitter),
            AfterFailure::Retry { retry: 2, .. }
        ));
        // An attempt that delivered data before it broke: a flaky link.
        assert!(matches!(
            fail(&mut attempts, true, &mut jitter),
            AfterFailure::Retry { retry: 1, .. }
        ));
        assert!(matches!(
            fail(&mut attempts, false, &mut jitter),
            AfterFailure::Retry { retry: 2, .. }
        ));
        assert_eq!(
            fail(&mut attempts, false, &mut jitter),
            AfterFailure::GiveUp { failures: 3 }
        );
        // A server's pause is what is waited.
        let mut fresh = Attempts::default();
        assert_eq!(
            fresh.failed(false, &policy, Some(1_234), &mut jitter),
            AfterFailure::Retry {
                retry: 1,
                delay_ms: 1_234
            }
        );
        // The same seed, the same delays.
        let delays = |seed| {
            let mut jitter = Jitter::new(seed);
            (0..4).map(|_| jitter.draw()).collect::<Vec<_>>()
        };
        assert_eq!(delays(3), delays(3));
        assert_ne!(delays(3), delays(4));
    }

    #[test]
    fn server_requested_pause_wins_but_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1, Some(2_000), 7), 2_000);
        assert_eq!(p.delay_ms(1, Some(u64::MAX), 7), p.max_retry_after_ms);
    }

    proptest! {
        #[test]
        fn backoff_grows_and_stays_bounded(retry in 1u32..100, random: u64) {
            let p = RetryPolicy::default();
            let d = p.delay_ms(retry, None, random);
            prop_assert!(d <= p.max_delay_ms);
            let step = (p.base_delay_ms << (retry - 1).min(20)).min(p.max_delay_ms);
            prop_assert!(d >= step / 2);
        }
    }
}
