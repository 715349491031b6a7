//! Waiting in a way that keeps this run's lease on its destination (see
//! `lease`): however long a wait lasts, the lock is renewed on time, so no
//! other run takes a live download for an abandoned one.

use wasip2::io::poll::{poll, Pollable};

use super::{clock, lease};

/// Sleeps until `at_ms` on the monotonic clock.
pub fn sleep_until(at_ms: u64) {
    loop {
        let now = clock::now_ms();
        if now >= at_ms {
            return;
        }
        clock::sleep_until(with_lease(Some(at_ms)).unwrap_or(at_ms));
        // A lease that is lost stops the run at its next check.
        let _ = lease::renew_if_due();
    }
}

/// Blocks until `pollable` is ready.
pub fn until_ready(pollable: &Pollable) {
    while let Some(renewal) = lease::next_renewal_ms() {
        let timer = clock::wake_at(renewal);
        poll(&[pollable, &timer]);
        let _ = lease::renew_if_due();
        if pollable.ready() {
            return;
        }
    }
    pollable.block();
}

/// The earlier of `deadline` and the lease's next renewal: a loop that
/// waits until then and calls `lease::renew_if_due` keeps the lease.
pub fn with_lease(deadline: Option<u64>) -> Option<u64> {
    match (deadline, lease::next_renewal_ms()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
