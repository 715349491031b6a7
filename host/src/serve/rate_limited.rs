//! A log line that may come thousands of times a second (a refused
//! connection, a failed accept) is written at most once per interval, with
//! how many went unwritten since the last one: the operator learns that it
//! happens and how often, and stderr stays readable under attack.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Events of one kind; [`RateLimitedLog::note`] says when one is to be told.
pub(super) struct RateLimitedLog {
    every: Duration,
    state: Mutex<Counts>,
}

struct Counts {
    last_told: Option<Instant>,
    untold: u64,
}

impl RateLimitedLog {
    pub(super) const fn new(every: Duration) -> RateLimitedLog {
        RateLimitedLog {
            every,
            state: Mutex::new(Counts {
                last_told: None,
                untold: 0,
            }),
        }
    }

    /// Counts one event at `now`. `Some(untold)` when it is to be logged:
    /// the first, and the first after each interval; `untold` is how many
    /// happened since the last line without one of their own.
    #[must_use]
    pub(super) fn note(&self, now: Instant) -> Option<u64> {
        let mut counts = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let due = counts
            .last_told
            .is_none_or(|last| now.saturating_duration_since(last) >= self.every);
        if due {
            counts.last_told = Some(now);
            Some(std::mem::take(&mut counts.untold))
        } else {
            counts.untold += 1;
            None
        }
    }
}

/// `" (and 12 more since the last such line)"`, or nothing.
pub(super) fn and_more(untold: u64) -> String {
    if untold == 0 {
        String::new()
    } else {
        format!(" (and {untold} more since the last such line)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_first_then_one_per_interval_with_the_count_between() {
        let log = RateLimitedLog::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(log.note(t0), Some(0));
        for ms in [1, 500, 9_999] {
            assert_eq!(log.note(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(log.note(t0 + Duration::from_secs(10)), Some(3));
        assert_eq!(log.note(t0 + Duration::from_secs(11)), None);
        assert_eq!(log.note(t0 + Duration::from_secs(25)), Some(1));
        assert_eq!(and_more(0), "");
        assert_eq!(and_more(3), " (and 3 more since the last such line)");
    }
}
