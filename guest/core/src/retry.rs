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
