//! `-o -`: the object written to stdout in order. What a stream may do
//! that a file download may not: nothing written can be taken back, so a
//! stop after the first byte is final, and memory (not a disk) holds what
//! arrived early.

use crate::failure::Failure;
use crate::object::{RemoteObject, TransferMode};
use crate::range::ByteRange;
use crate::request::RequestId;
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

/// How a stream starts, from what its probe found.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamStart {
    /// In order from parallel ranges of the `size`-byte object; `first`,
    /// the probe's answer carrying the first bytes, is chunk 0's first
    /// request.
    Ranged {
        size: u64,
        first: Option<(RequestId, ByteRange)>,
    },
    /// One stream from byte 0: `adopted` is the probe's answer when it is
    /// the whole object (streamed as it comes rather than asked again);
    /// `ranges_ignored` when the server advertises ranges yet ignored the
    /// probe's, which the user is told.
    Whole {
        adopted: Option<RequestId>,
        ranges_ignored: bool,
    },
}

/// Decides how to stream `object`, given the probe's open answer `body`
/// and, when that answer holds the first bytes only, their range `first`.
pub fn stream_start(
    object: &RemoteObject,
    body: Option<RequestId>,
    first: Option<ByteRange>,
) -> StreamStart {
    match (object.transfer_mode(), body, first) {
        (TransferMode::Ranged { size }, Some(id), Some(range)) => StreamStart::Ranged {
            size,
            first: Some((id, range)),
        },
        (TransferMode::Ranged { size }, None, _) => StreamStart::Ranged { size, first: None },
        (_, adopted, _) => StreamStart::Whole {
            adopted,
            ranges_ignored: object.accepts_ranges,
        },
    }
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
    fn a_probe_answer_that_is_the_whole_object_is_streamed_as_it_is() {
        let object = |accepts_ranges, size| RemoteObject {
            url: "http://h/f".into(),
            size,
            etag: Some("\"e\"".into()),
            last_modified: None,
            accepts_ranges,
            content_disposition: None,
        };
        let first = ByteRange::from_len(0, 10).unwrap();
        assert_eq!(
            stream_start(&object(true, Some(100)), Some(RequestId(1)), Some(first)),
            StreamStart::Ranged {
                size: 100,
                first: Some((RequestId(1), first))
            }
        );
        // Ranges advertised, yet the answer is the whole object: use it.
        assert_eq!(
            stream_start(&object(true, Some(100)), Some(RequestId(1)), None),
            StreamStart::Whole {
                adopted: Some(RequestId(1)),
                ranges_ignored: true
            }
        );
        assert_eq!(
            stream_start(&object(false, None), Some(RequestId(1)), None),
            StreamStart::Whole {
                adopted: Some(RequestId(1)),
                ranges_ignored: false
            }
        );
    }

    #[test]
    fn a_stream_holds_about_connections_times_its_chunk() {
        assert_eq!(stream_chunk_size(None) * 4, 16 << 20);
        assert_eq!(stream_chunk_size(Some(1 << 20)), 1 << 20);
    }
}
