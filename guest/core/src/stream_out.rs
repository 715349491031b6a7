//! `-o -`: the object written to stdout in order. What a stream may do
//! that a file download may not: nothing written can be taken back, so a
//! stop after the first byte is final, and memory (not a disk) holds what
//! arrived early.

use crate::failure::Failure;
use crate::size::format_size;

/// Bytes per chunk of a stream unless `--chunk-size` says: with `-x`
/// chunks in flight, what arrived out of order is held in memory, so
/// 4 connections hold at most 16 MiB, and a chunk is still several
/// requests long enough to keep a fast link busy.
pub const DEFAULT_STREAM_CHUNK: u64 = 4 << 20;

/// The chunk size of a stream.
pub fn stream_chunk_size(requested: Option<u64>) -> u64 {
    requested.unwrap_or(DEFAULT_STREAM_CHUNK).max(1)
}

/// `failure`, saying what the reader already has.
pub fn with_written_note(failure: Failure, written: u64) -> Failure {
    if written == 0 {
        return failure.with_note("Nothing was written to stdout");
    }
    failure.with_note(format!(
        "{} ({written} bytes) were already written to stdout and cannot be taken back; \
         run again for the whole file",
        format_size(written)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Reason;

    #[test]
    fn the_note_says_what_the_reader_already_has() {
        let failure = Failure::from(Reason::RangesIgnored);
        let text = with_written_note(failure.clone(), 5 << 20).to_string();
        assert!(
            text.contains("5.0 MiB (5242880 bytes) were already written"),
            "{text}"
        );
        assert!(with_written_note(failure, 0)
            .to_string()
            .contains("Nothing was written"));
    }

    #[test]
    fn a_stream_holds_about_connections_times_its_chunk() {
        assert_eq!(stream_chunk_size(None) * 4, 16 << 20);
        assert_eq!(stream_chunk_size(Some(1 << 20)), 1 << 20);
    }
}
