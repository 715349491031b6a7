//! Cutting a file into chunks.

use crate::range::ByteRange;
use crate::request_size;

const MIB: u64 = 1 << 20;
/// Below this, a chunk costs more in request overhead than it gains in parallelism.
pub const MIN_CHUNK_SIZE: u64 = MIB;
/// Every chunk finished rewrites the meta file, so keep the chunk count bounded:
/// a 100 GiB file still has at most this many entries.
pub const MAX_CHUNKS: u64 = 1024;
/// Idle connections split busy chunks near the end (see `download`); the
/// splitting stops at this many chunks, so the meta file stays small.
pub const MAX_CHUNKS_AFTER_SPLITS: usize = 2048;
/// The smallest chunk size anyone may ask for (`--chunk-size`).
pub const SMALLEST_CHUNK_SIZE: u64 = 4096;

/// The chunk size used when the user gave none: enough chunks that every
/// connection gets several (a slow one then holds back little at the end),
/// few enough that the meta file stays small.
pub fn default_chunk_size(size: u64, connections: u32) -> u64 {
    let per_connection_share = size / (u64::from(connections.max(1)) * 8);
    let bounded_count = size.div_ceil(MAX_CHUNKS);
    let chunk = per_connection_share
        .clamp(MIN_CHUNK_SIZE, 64 * MIB)
        .max(bounded_count);
    // Round up to whole MiB so chunk boundaries are easy to read in the meta.
    chunk.div_ceil(MIB) * MIB
}

/// The default chunk size for an origin `round_trip_ms` away. A far one
/// (see [`request_size::is_far`]) gets one chunk per connection, each
/// fetched by one request (see [`request_size::first_request_size`]): a
/// connection then pays the round trip once, as with aria2c's one
/// open-ended request per connection, not once per few MiB. At most
/// 64 MiB each, so a resume still finds progress in pieces.
pub fn default_chunk_size_for(size: u64, connections: u32, round_trip_ms: u64) -> u64 {
    if !request_size::is_far(round_trip_ms) {
        return default_chunk_size(size, connections);
    }
    let per_connection = size.div_ceil(u64::from(connections.max(1)));
    per_connection.clamp(MIN_CHUNK_SIZE, 64 * MIB).div_ceil(MIB) * MIB
}

/// The chunk size of a plan for `size` bytes from an origin
/// `round_trip_ms` away: the user's (`requested`) or the default, raised
/// where needed so that no plan has more than [`MAX_CHUNKS`] chunks,
/// whatever was asked.
pub fn chunk_size_for(
    size: u64,
    requested: Option<u64>,
    connections: u32,
    round_trip_ms: u64,
) -> u64 {
    requested
        .unwrap_or_else(|| default_chunk_size_for(size, connections, round_trip_ms))
        .max(SMALLEST_CHUNK_SIZE)
        .max(size.div_ceil(MAX_CHUNKS))
}

/// Whether a plan of `size` bytes in chunks of `chunk_size` is one this
/// planner could have made: a loaded meta file is held to the same bounds.
pub fn is_plannable(size: u64, chunk_size: u64) -> bool {
    chunk_size >= SMALLEST_CHUNK_SIZE && size.div_ceil(chunk_size) <= MAX_CHUNKS
}

/// Splits `[0, size)` into consecutive ranges of `chunk_size` bytes (the last
/// one shorter). Empty for `size == 0`; `chunk_size` 0 is treated as 1.
pub fn plan_chunks(size: u64, chunk_size: u64) -> Vec<ByteRange> {
    let chunk_size = chunk_size.max(1);
    let mut chunks = Vec::with_capacity(size.div_ceil(chunk_size) as usize);
    let mut start = 0;
    while start < size {
        let len = chunk_size.min(size - start);
        chunks.push(ByteRange::from_len(start, len).expect("len > 0 and within size"));
        start += len;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_far_origin_gets_one_chunk_per_connection() {
        assert_eq!(chunk_size_for(128 * MIB, None, 8, 100), 16 * MIB);
        // Near: several chunks per connection, as before.
        assert_eq!(chunk_size_for(128 * MIB, None, 8, 1), 2 * MIB);
        // Bounded both ways, and the user's choice wins.
        assert_eq!(chunk_size_for(4 << 30, None, 8, 100), 64 * MIB);
        assert_eq!(chunk_size_for(2 * MIB, None, 8, 100), MIB);
        assert_eq!(chunk_size_for(128 * MIB, Some(MIB), 8, 100), MIB);
    }

    #[test]
    fn last_chunk_takes_the_remainder() {
        let chunks = plan_chunks(10, 4);
        let lens: Vec<u64> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [4, 4, 2]);
        assert!(plan_chunks(0, 4).is_empty());
    }

    #[test]
    fn default_chunk_size_is_sane_at_every_scale() {
        assert_eq!(default_chunk_size(1000, 4), MIB);
        assert_eq!(default_chunk_size(1 << 30, 4), 32 * MIB);
        let huge = 100u64 << 30;
        assert!(huge.div_ceil(default_chunk_size(huge, 4)) <= MAX_CHUNKS);
    }

    #[test]
    fn a_requested_chunk_size_is_raised_to_keep_the_plan_bounded() {
        assert_eq!(
            chunk_size_for(1 << 30, Some(4096), 4, 0),
            (1 << 30) / MAX_CHUNKS
        );
        assert_eq!(chunk_size_for(1 << 20, Some(4096), 4, 0), 4096);
        assert_eq!(chunk_size_for(100, Some(1), 4, 0), SMALLEST_CHUNK_SIZE);
        assert!(!is_plannable(16 << 20, 16));
        assert!(!is_plannable(1 << 30, 4096));
        assert!(is_plannable(1 << 30, 1 << 20));
    }

    proptest! {
        #[test]
        fn chunks_cover_the_file_exactly_once(size in 0u64..1<<40, chunk in 1u64..1<<34) {
            prop_assume!(size / chunk < 100_000);
            let chunks = plan_chunks(size, chunk);
            let mut next = 0;
            for c in &chunks {
                prop_assert_eq!(c.start(), next);
                prop_assert!(c.len() <= chunk);
                next = c.end() + 1;
            }
            prop_assert_eq!(next, size);
        }

        #[test]
        fn every_chosen_chunk_size_is_plannable(size in 0u64..1<<50, requested in proptest::option::of(any::<u64>()), connections in 1u32..64, round_trip_ms in 0u64..500) {
            prop_assert!(is_plannable(size, chunk_size_for(size, requested, connections, round_trip_ms)));
        }

        #[test]
        fn default_chunk_size_bounds_the_chunk_count(size in 1u64..1<<50, connections in 1u32..64) {
            let chunk = default_chunk_size(size, connections);
            prop_assert!(chunk >= MIN_CHUNK_SIZE);
            prop_assert!(size.div_ceil(chunk) <= MAX_CHUNKS);
        }
    }
}
