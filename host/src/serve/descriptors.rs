//! File descriptors: every client connection and every origin connection
//! takes one. Running out used to look like origin failures (a 502 logged
//! as "connection refused") and a silent retry loop; now the soft limit is
//! raised to the hard one at start (as Go's runtime does), start-up warns
//! when the caps may need more than the limit, and an accept that fails for
//! want of descriptors says so.

use std::time::Duration;

use super::rate_limited::{and_more, RateLimitedLog};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the default soft
/// limit of 1024 is the usual cause of running out); returns the limit in
/// force, or `None` if it cannot be read.
pub(super) fn raise_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // Some platforms' rlim_t is not u64.
    #[allow(clippy::useless_conversion)]
    Some(u64::from(limit.rlim_cur))
}

/// The soft limit in force, for messages.
pub(super) fn limit() -> String {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return "unknown".to_string();
    }
    limit.rlim_cur.to_string()
}

/// Descriptors the server may hold at once: its client connections (those
/// served and those being turned away), its origin connections (in flight
/// and idle in the pool), and a few of its own (stdio, the listener,
/// epoll, the runtime's).
pub(super) fn needed(client_connections: usize, origin_connections: usize) -> u64 {
    (client_connections + origin_connections + 32) as u64
}

/// Why `accept` failed, as far as the server's next move is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AcceptFailure {
    /// EMFILE, ENFILE: no descriptor for the connection; it stays queued
    /// in the kernel until some close.
    OutOfDescriptors,
    /// ENOBUFS, ENOMEM: the kernel is short of memory.
    OutOfMemory,
    /// That one connection failed (reset before it was taken, and the like):
    /// take the next.
    ThisConnection,
}

impl AcceptFailure {
    pub(super) fn of(error: &std::io::Error) -> AcceptFailure {
        match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE) => AcceptFailure::OutOfDescriptors,
            Some(libc::ENOBUFS | libc::ENOMEM) => AcceptFailure::OutOfMemory,
            _ => AcceptFailure::ThisConnection,
        }
    }
}

/// After `accept` failed: for one connection's failure, nothing; for
/// want of descriptors or memory, a line (at most one per interval of
/// `log`) and a pause of 100 ms, the new connections waiting in the
/// listen queue meanwhile.
pub(super) async fn pause_after(error: &std::io::Error, log: &RateLimitedLog) {
    let failure = AcceptFailure::of(error);
    if failure == AcceptFailure::ThisConnection {
        return;
    }
    if let Some(untold) = log.note(std::time::Instant::now()) {
        let what = match failure {
            AcceptFailure::OutOfDescriptors => format!(
                "out of file descriptors (ulimit -n is {}): not accepting new connections \
                 for a moment; lower --max-connections or raise ulimit -n",
                limit()
            ),
            _ => format!("cannot accept connections ({error}); retrying in a moment"),
        };
        eprintln!("rangeget serve: {what}{}", and_more(untold));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_are_told_apart() {
        let os = std::io::Error::from_raw_os_error;
        assert_eq!(
            AcceptFailure::of(&os(libc::EMFILE)),
            AcceptFailure::OutOfDescriptors
        );
        assert_eq!(
            AcceptFailure::of(&os(libc::ENFILE)),
            AcceptFailure::OutOfDescriptors
        );
        assert_eq!(
            AcceptFailure::of(&os(libc::ENOBUFS)),
            AcceptFailure::OutOfMemory
        );
        assert_eq!(
            AcceptFailure::of(&os(libc::ECONNABORTED)),
            AcceptFailure::ThisConnection
        );
    }

    #[test]
    fn the_limit_is_raised_as_far_as_allowed() {
        let raised = raise_limit().expect("RLIMIT_NOFILE is readable");
        assert_eq!(limit(), raised.to_string());
    }
}
