//! How many bytes one range request asks for, which is not the chunk size.
//!
//! A chunk is the unit of bookkeeping (the meta file records chunks, a
//! resume verifies them); a request is the unit of transfer, and a chunk may
//! take several. Requests start small because rate limiters commonly
//! let the start of every response through at full speed and throttle
//! only what follows: nginx's `limit_rate` sends the first write of a
//! response (up to its `sendfile_max_chunk`, 2 MiB by default) before it
//! starts pacing, so ranges of at most 2 MiB are never throttled. Small
//! requests cost a wait for a response head each, though, so while that
//! wait is no longer small next to the transfer itself, the size doubles,
//! until the wait costs at most about 1/16 of the time.
//!
//! The wait counts even on loopback. It is then mostly this machine being
//! busy rather than distance, but it is time a connection carries nothing
//! all the same: 1 GiB from nginx on loopback took 1.07 s in 2 MiB
//! requests and 0.87 s in 16 MiB ones, through a SOCKS5 relay 1.73 s
//! against 1.42 s. So that a rate limiter does not get the transfer
//! instead, a doubling is first tried on one request: if it carries much
//! less per ms than the smaller requests ending meanwhile, something paces
//! what follows a response's first bytes, and the size stays where it was
//! for the rest of the download. The try costs one paced request (nginx's
//! `limit_rate 20m`: 4 MiB in 130 ms instead of 2 × 2 MiB in about 20).

use crate::request::RequestId;

/// The size of the first request of a download.
pub const FIRST_REQUEST_SIZE: u64 = 2 << 20;

/// A request's wait for its head may cost this fraction of its transfer
/// time (head → last byte) before requests grow.
const MAX_WAIT_SHARE: u64 = 16;
/// Probe round trips this long mark a far origin (see [`is_far`]).
const FAR_ROUND_TRIP_MS: u64 = 10;
/// A doubled request that carried less than 1/this of what the smaller
/// requests carried in the same time (bytes per ms of wait and body) met a
/// rate limiter: nginx's `limit_rate 20m` gives a 4 MiB request a fifth of
/// what 2 MiB ones get. Requests of one size vary by 3 × and more on a busy
/// machine, but those ending beside the try share its conditions.
const PACED_SHARE: u64 = 2;

/// Whether an origin whose answers take `round_trip_ms` to come back is
/// far: its round trips are worth saving from the start (see
/// `plan::default_chunk_size_for`).
pub fn is_far(round_trip_ms: u64) -> bool {
    round_trip_ms >= FAR_ROUND_TRIP_MS
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

/// A request that got all it asked for, as evidence for the next size.
#[derive(Clone, Copy, Debug)]
pub struct Finished {
    pub id: RequestId,
    pub bytes: u64,
    /// Request sent → response head.
    pub wait_ms: u64,
    /// Response head → last byte.
    pub body_ms: u64,
}

impl Finished {
    /// What the request carried per ms it held its connection.
    fn yield_of(&self) -> Yield {
        Yield {
            bytes: self.bytes,
            ms: (self.wait_ms + self.body_ms).max(1),
        }
    }
}

/// Bytes carried in so many ms of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Yield {
    bytes: u64,
    ms: u64,
}

impl Yield {
    fn add(self, other: Yield) -> Yield {
        Yield {
            bytes: self.bytes + other.bytes,
            ms: self.ms + other.ms,
        }
    }

    /// Whether this carried less than `1/share` of what `other` did per ms.
    fn under_share_of(self, other: Yield, share: u64) -> bool {
        u128::from(self.bytes) * u128::from(other.ms) * u128::from(share)
            < u128::from(other.bytes) * u128::from(self.ms)
    }
}

/// The size of a download's range requests, learnt from how they go.
#[derive(Clone, Debug)]
pub struct RequestSizer {
    size: u64,
    /// Never more than this (a chunk).
    largest: u64,
    /// The waits for heads, smoothed: one wait says little on a busy
    /// machine, and a request boundary costs the typical one.
    typical_wait_ms: Option<u64>,
    growth: Growth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Growth {
    /// Requests of the current size have not asked for more.
    Steady,
    /// The next request that can ask double tries it; `before` is what the
    /// request that asked for it carried.
    Due { before: Yield },
    /// Request `id` asks `size` bytes; what it carries, next to what
    /// requests of the current size carry meanwhile (`beside`), decides.
    Trying {
        id: RequestId,
        size: u64,
        before: Yield,
        beside: Yield,
    },
    /// A doubled request was paced: the size stays.
    Settled,
}

impl RequestSizer {
    pub fn new(size: u64, largest: u64) -> RequestSizer {
        RequestSizer {
            size,
            largest: largest.max(size),
            typical_wait_ms: None,
            growth: Growth::Steady,
        }
    }

    /// Requests of exactly `size`, never grown (a cache in front of the
    /// origin expects the same slices every time).
    pub fn fixed(size: u64) -> RequestSizer {
        RequestSizer {
            growth: Growth::Settled,
            ..RequestSizer::new(size, size)
        }
    }

    /// The size for a chunk's first request.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The probe's answer took `round_trip_ms`: from a far origin requests
    /// start a chunk long; near, the round trip is the first wait known.
    pub fn origin_round_trip(&mut self, round_trip_ms: u64) {
        self.size = first_request_size(round_trip_ms, self.largest);
        self.largest = self.largest.max(self.size);
        self.typical_wait_ms = Some(round_trip_ms);
    }

    /// A request got all it asked for.
    pub fn finished(&mut self, request: Finished) {
        let wait = match self.typical_wait_ms {
            Some(typical) => (3 * typical + request.wait_ms) / 4,
            None => request.wait_ms,
        };
        self.typical_wait_ms = Some(wait);
        let carried = request.yield_of();
        match self.growth {
            Growth::Trying {
                id,
                size,
                before,
                beside,
            } if id != request.id => {
                // Only requests of the current size show what it carries.
                let beside = if request.bytes == self.size {
                    beside.add(carried)
                } else {
                    beside
                };
                self.growth = Growth::Trying {
                    id,
                    size,
                    before,
                    beside,
                };
            }
            Growth::Trying {
                size,
                before,
                beside,
                ..
            } => {
                // With nothing beside it (one connection), the request
                // that asked for the try is the measure.
                let measure = if beside.bytes > 0 { beside } else { before };
                self.growth = if carried.under_share_of(measure, PACED_SHARE) {
                    Growth::Settled
                } else {
                    self.size = size;
                    Growth::Steady
                };
            }
            Growth::Steady
                if request.bytes == self.size
                    && self.size < self.largest
                    && wait.saturating_mul(MAX_WAIT_SHARE) > request.body_ms =>
            {
                self.growth = Growth::Due { before: carried };
            }
            _ => {}
        }
    }

    /// The size for request `id`, which continues a chunk with `missing`
    /// bytes left: double, when a doubling is due and the chunk has room
    /// to try it whole.
    pub fn next(&mut self, id: RequestId, missing: u64) -> u64 {
        if let Growth::Due { before } = self.growth {
            let size = self.size.saturating_mul(2).min(self.largest);
            if missing >= size {
                self.growth = Growth::Trying {
                    id,
                    size,
                    before,
                    beside: Yield::default(),
                };
                return size;
            }
        }
        self.size
    }

    /// Request `id` ended; a doubling it was trying without getting all it
    /// asked is tried again by another.
    pub fn closed(&mut self, id: RequestId) {
        if let Growth::Trying {
            id: trying, before, ..
        } = self.growth
        {
            if trying == id {
                self.growth = Growth::Due { before };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn finished(sizer: &mut RequestSizer, id: u64, bytes: u64, wait_ms: u64, body_ms: u64) {
        sizer.finished(Finished {
            id: RequestId(id),
            bytes,
            wait_ms,
            body_ms,
        });
    }

    /// Sends requests until the size stops changing, each body at
    /// `bytes_per_ms` and each head after `wait_ms`; the size it settles at.
    fn settle(sizer: &mut RequestSizer, wait_ms: u64, bytes_per_ms: impl Fn(u64) -> u64) -> u64 {
        for id in 0..100 {
            let size = sizer.next(RequestId(id), u64::MAX);
            finished(sizer, id, size, wait_ms, size / bytes_per_ms(size));
        }
        sizer.size()
    }

    #[test]
    fn a_costly_wait_doubles_requests_up_to_the_largest() {
        // Loopback on a busy machine: 5 ms for a head, 1 GB/s of body.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 32 * MIB);
        sizer.origin_round_trip(2);
        assert_eq!(sizer.size(), 2 * MIB);
        assert_eq!(settle(&mut sizer, 5, |_| MIB), 32 * MIB);
    }

    #[test]
    fn growth_stops_once_the_wait_is_a_small_share() {
        // 50 ms waits at 10 MiB/s per connection.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 1 << 30);
        assert_eq!(
            settle(&mut sizer, 50, |_| 10 * MIB / 1000),
            8 * MIB,
            "800 ms of transfer per 50 ms wait"
        );
    }

    #[test]
    fn a_quick_wait_keeps_requests_as_they_are() {
        // 4 MiB/s per connection: 500 ms per 2 MiB against 2 ms waits.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        assert_eq!(settle(&mut sizer, 2, |_| 4 * MIB / 1000), 2 * MIB);
    }

    #[test]
    fn a_doubling_that_meets_a_rate_limiter_is_given_up_for_good() {
        // nginx `limit_rate 20m`: a response's first 2 MiB at once, the
        // rest at 20 MB/s.
        let paced = |size: u64| -> u64 {
            let body_ms = 2 + size.saturating_sub(2 * MIB) / 20_000;
            size / body_ms
        };
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        assert_eq!(settle(&mut sizer, 3, paced), 2 * MIB);
        // Only one doubled request was tried: the others stayed small.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        finished(&mut sizer, 1, 2 * MIB, 3, 2);
        let sizes: Vec<u64> = (2..6)
            .map(|id| sizer.next(RequestId(id), u64::MAX))
            .collect();
        assert_eq!(sizes, [4 * MIB, 2 * MIB, 2 * MIB, 2 * MIB]);
        finished(&mut sizer, 2, 4 * MIB, 3, 105);
        finished(&mut sizer, 3, 2 * MIB, 3, 2);
        assert_eq!(sizer.next(RequestId(7), u64::MAX), 2 * MIB);
    }

    #[test]
    fn a_try_is_judged_beside_the_requests_that_ended_meanwhile() {
        // The request that asked for the try was slow (a busy start), so
        // next to it alone the paced try would pass; the requests beside
        // it show what the connection lost.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        finished(&mut sizer, 1, 2 * MIB, 5, 30);
        assert_eq!(sizer.next(RequestId(2), u64::MAX), 4 * MIB);
        for id in 3..6 {
            assert_eq!(sizer.next(RequestId(id), u64::MAX), 2 * MIB);
            finished(&mut sizer, id, 2 * MIB, 5, 3);
        }
        finished(&mut sizer, 2, 4 * MIB, 5, 60);
        assert_eq!(
            sizer.next(RequestId(6), u64::MAX),
            2 * MIB,
            "paced: settled"
        );
        // Unpaced, a try carries more than the small requests beside it.
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        finished(&mut sizer, 1, 2 * MIB, 5, 3);
        assert_eq!(sizer.next(RequestId(2), u64::MAX), 4 * MIB);
        finished(&mut sizer, 3, 2 * MIB, 5, 3);
        finished(&mut sizer, 2, 4 * MIB, 5, 12);
        assert_eq!(sizer.size(), 4 * MIB);
    }

    #[test]
    fn a_doubling_is_tried_only_where_the_chunk_has_room_for_it() {
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 64 * MIB);
        finished(&mut sizer, 1, 2 * MIB, 5, 2);
        assert_eq!(sizer.next(RequestId(2), 3 * MIB), 2 * MIB, "a chunk's tail");
        assert_eq!(sizer.next(RequestId(3), 4 * MIB), 4 * MIB);
        // The try ended without its answer (failed, or cut): another tries.
        sizer.closed(RequestId(3));
        assert_eq!(sizer.next(RequestId(4), 64 * MIB), 4 * MIB);
        finished(&mut sizer, 4, 4 * MIB, 5, 4);
        assert_eq!(sizer.size(), 4 * MIB);
    }

    #[test]
    fn slices_never_grow() {
        let mut sizer = RequestSizer::fixed(MIB);
        assert_eq!(settle(&mut sizer, 20, |_| MIB), MIB);
    }

    #[test]
    fn a_far_origin_gets_whole_chunks_from_the_first_request() {
        assert_eq!(first_request_size(2, 16 * MIB), FIRST_REQUEST_SIZE);
        assert_eq!(first_request_size(100, 16 * MIB), 16 * MIB);
        assert_eq!(first_request_size(100, MIB), FIRST_REQUEST_SIZE);
        let mut sizer = RequestSizer::new(FIRST_REQUEST_SIZE, 16 * MIB);
        sizer.origin_round_trip(100);
        assert_eq!(sizer.size(), 16 * MIB);
    }
}
