//! How many bytes one range request asks for, which is not the chunk size.
//!
//! A chunk is the unit of bookkeeping (the meta file records chunks, a
//! resume verifies them); a request is the unit of transfer, and a chunk may
//! take several. Requests start small because rate limiters commonly
//! let the start of every response through at full speed and throttle
//! only what follows: nginx's `limit_rate` sends the first write of a
//! response (up to its `sendfile_max_chunk`, 2 MiB by default) before it
//! starts pacing, so ranges of at most 2 MiB are never throttled. Small
//! requests cost one round trip each, though, so when the wait for a
//! response's head is no longer small next to the transfer itself, the size
//! doubles, until the round trip costs at most about 1/16 of the time.

/// The size of the first request of a download.
pub const FIRST_REQUEST_SIZE: u64 = 2 << 20;

/// A request's round trip (request sent → response head) may cost this
/// fraction of its transfer time (head → last byte) before requests grow.
const MAX_WAIT_SHARE: u64 = 16;
/// Round trips shorter than this never grow requests. On loopback or a LAN
/// the wait is mostly the server and this machine being busy, not distance,
/// and a gap on one connection is filled by the others sharing the link;
/// growing there would only hand the transfer to a rate limiter.
const NEGLIGIBLE_WAIT_MS: u64 = 10;

/// Whether an origin whose answers take `round_trip_ms` to come back is
/// far: its round trips are worth saving (see `plan::default_chunk_size_for`).
pub fn is_far(round_trip_ms: u64) -> bool {
    round_trip_ms >= NEGLIGIBLE_WAIT_MS
}

/// The size of a download's first requests: [`FIRST_REQUEST_SIZE`] near
/// the origin; a whole chunk of `chunk_size` from a far one, where a round
/// trip per 2 MiB would cost a quarter of the time at 8 MiB/s and 100 ms
/// (rate limiters that let a response's first 2 MiB through matter less
/// than that).
pub fn first_request_size(round_trip_ms: u64, chunk_size: u64) -> u64 {
    if is_far(round_trip_ms) {
        chunk_size.max(FIRST_REQUEST_SIZE)
    } else {
        FIRST_REQUEST_SIZE
    }
}

/// The request size to use after a request of `current` bytes took
/// `transfer_ms` for its body, when the shortest wait for a response head
/// seen so far is `wait_ms`. The shortest, because single waits are noisy
/// (a busy server or CPU adds milliseconds); the floor is the round trip.
/// Only requests that asked for the full `current` bytes are evidence
/// (a chunk's short tail says nothing); the caller passes only those.
pub fn next_request_size(current: u64, wait_ms: u64, transfer_ms: u64, largest: u64) -> u64 {
    if wait_ms >= NEGLIGIBLE_WAIT_MS && wait_ms.saturating_mul(MAX_WAIT_SHARE) > transfer_ms {
        current.saturating_mul(2).min(largest.max(current))
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_fast_round_trip_keeps_requests_small() {
        // Loopback: the head comes back at once.
        assert_eq!(next_request_size(2 * MIB, 0, 3, 64 * MIB), 2 * MIB);
        assert_eq!(next_request_size(2 * MIB, 1, 20, 64 * MIB), 2 * MIB);
        // A busy machine: the head took a while, the body none.
        assert_eq!(next_request_size(2 * MIB, 9, 0, 64 * MIB), 2 * MIB);
    }

    #[test]
    fn a_slow_round_trip_doubles_requests_up_to_the_largest() {
        assert_eq!(next_request_size(2 * MIB, 50, 200, 64 * MIB), 4 * MIB);
        assert_eq!(next_request_size(32 * MIB, 50, 200, 48 * MIB), 48 * MIB);
        assert_eq!(next_request_size(48 * MIB, 50, 200, 48 * MIB), 48 * MIB);
    }

    #[test]
    fn a_far_origin_gets_whole_chunks_from_the_first_request() {
        assert_eq!(first_request_size(2, 16 * MIB), FIRST_REQUEST_SIZE);
        assert_eq!(first_request_size(100, 16 * MIB), 16 * MIB);
        assert_eq!(first_request_size(100, MIB), FIRST_REQUEST_SIZE);
    }

    #[test]
    fn growth_stops_once_the_round_trip_is_a_small_share() {
        // 50 ms round trips at 10 MiB/s per connection.
        let mut size = 2 * MIB;
        for _ in 0..10 {
            let transfer_ms = size * 1000 / (10 * MIB);
            size = next_request_size(size, 50, transfer_ms, 1 << 30);
        }
        assert_eq!(size, 8 * MIB, "800 ms of transfer per 50 ms round trip");
    }
}
