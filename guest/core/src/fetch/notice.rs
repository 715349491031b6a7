//! What a fetch tells its user about the object as it goes: every
//! sentence written once, here.

use std::fmt;

use super::Destination;
use crate::fresh_starts::StartingOver;
use crate::meta::RestartReason;
use crate::paths::meta_path;
use crate::size::format_size;

/// A line for the user (a warning on stderr; the proxy's log).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The object changed before anything went out for good.
    StartingOver { over: StartingOver, to: Destination },
    /// A range was answered with the whole object; `then` says what
    /// happens instead.
    RangesIgnored { url: String, then: &'static str },
    /// A file comes in one stream from a server without usable ranges.
    OneStream { url: String, why: &'static str },
    /// A previous run's `.part` of `path` is not continued.
    NotResumed { reason: RestartReason, path: String },
    /// Bytes of `path`'s `.part` failed their digest and are fetched again.
    Damaged { bytes: u64, path: String },
    /// `path` continues from `reused` of `size` bytes, verified.
    Resuming {
        path: String,
        reused: u64,
        size: u64,
    },
    /// The file's hash failed after `sources` were mixed: it starts over
    /// from one source, `from`.
    Unmixing { sources: usize, from: String },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::StartingOver { over, to } => match to {
                Destination::File(target) => write!(f, "{}: {over}", target.path),
                Destination::InOrder { .. } => write!(f, "{over} (no byte of it had gone out)"),
                Destination::Client(ask) => write!(f, "{}: {over}", ask.path),
            },
            Notice::RangesIgnored { url, then } => write!(
                f,
                "{url} answered a range request with the whole file although it advertises \
                 ranges; {then}"
            ),
            Notice::OneStream { url, why } => write!(
                f,
                "{url} {why}; downloading in one stream, which cannot be resumed"
            ),
            Notice::NotResumed { reason, path } => write!(
                f,
                "{}; starting over",
                reason.describe(&part_path(path), &meta_path(path))
            ),
            Notice::Damaged { bytes, path } => write!(
                f,
                "{} of {} did not match its recorded digest (torn by a crash or damaged on \
                 disk) and will be fetched again",
                format_size(*bytes),
                part_path(path)
            ),
            Notice::Unmixing { sources, from } => write!(
                f,
                "the file did not match its hash after {sources} sources were mixed, and \
                 without piece hashes no range can tell which source was wrong: starting over \
                 from one source, {from} (each source's whole file is then held to the hash)"
            ),
            Notice::Resuming { path, reused, size } => write!(
                f,
                "resuming {path}: {} of {} already downloaded and verified",
                format_size(*reused),
                format_size(*size)
            ),
        }
    }
}

fn part_path(path: &str) -> String {
    crate::paths::part_path(path)
}
