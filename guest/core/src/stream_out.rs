//! `-o -`: the object written to stdout in order. What a stream may do
//! that a file download may not: nothing written can be taken back, so a
//! stop after the first byte is final, and memory (not a disk) holds what
//! arrived early.

use crate::failure::{Failure, Reason, RemoteChange};
use crate::object::{RemoteObject, TransferMode};
use crate::range::ByteRange;
use crate::request::RequestId;
use crate::size::format_size;
use crate::transfer::Stop;

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

/// What a stopped stream does next.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterStop {
    /// Nothing written yet: fetch the new version from the start.
    StartOver(RemoteChange),
    /// Nothing written yet and the server ignored a range: go on with the
    /// body of request `id`, the whole object, as one stream.
    WholeFrom(crate::request::RequestId),
    /// Written bytes cannot be recalled: the run fails (the caller says how
    /// many went out, with [`with_written_note`]).
    Fail(Failure),
}

/// Decides after `stop`, with `written` bytes already on stdout.
pub fn after_stop(stop: Stop, written: u64) -> AfterStop {
    let failure = match stop {
        Stop::Changed(change) if written == 0 => return AfterStop::StartOver(change),
        Stop::RangesIgnored { id } if written == 0 => return AfterStop::WholeFrom(id),
        Stop::Changed(change) => Failure::from(Reason::Changed(change)),
        Stop::RangesIgnored { .. } => Failure::from(Reason::RangesIgnored),
        Stop::Failed(failure) => failure,
    };
    AfterStop::Fail(failure)
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
    use crate::failure::FailureKind;
    use crate::request::RequestId;

    fn change() -> Stop {
        Stop::Changed(RemoteChange::Size { from: 10, to: 11 })
    }

    #[test]
    fn before_the_first_byte_a_stream_may_start_over_after_it_never() {
        assert!(matches!(after_stop(change(), 0), AfterStop::StartOver(_)));
        assert_eq!(
            after_stop(Stop::RangesIgnored { id: RequestId(3) }, 0),
            AfterStop::WholeFrom(RequestId(3))
        );
        let AfterStop::Fail(failure) = after_stop(change(), 5 << 20) else {
            panic!("a change after bytes went out is final");
        };
        assert_eq!(failure.kind(), FailureKind::Validation);
        let text = with_written_note(failure, 5 << 20).to_string();
        assert!(
            text.contains("5.0 MiB (5242880 bytes) were already written"),
            "{text}"
        );
        assert!(matches!(
            after_stop(Stop::RangesIgnored { id: RequestId(3) }, 1),
            AfterStop::Fail(_)
        ));
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
