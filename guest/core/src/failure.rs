//! Why a download failed, as typed reasons: the exit kind follows from the
//! reason, the wording lives in one `Display`, and reports carry a stable
//! code (`Reason::code`) that scripts and tests match instead of words.
//!
//! WASI 0.2's stable `wasi:cli/exit` carries only success or failure, so
//! the kind travels as the first word of the component's final error line
//! (`rangeget: network error: ...`): people read it under any runtime, and
//! the native host parses it back into the exit code documented here.

use std::fmt;

use crate::range::ByteRange;
use crate::size::format_size;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Bad arguments.
    Usage,
    /// The server could not be reached, or connections kept failing.
    Network,
    /// The server answered with an error status.
    Http,
    /// The server's answers or the finished file did not check out
    /// (wrong ranges, size, checksum).
    Validation,
    /// The local file system failed or refused (disk full, permissions,
    /// destination exists).
    File,
}

/// Exit status when the user interrupted the download (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Exit status when the reader of a stream went away before its end
/// (`-o - | head`): 128 + SIGPIPE, what a shell reports for `cat` or
/// `yes` killed by that signal. No message: the reader chose to stop.
pub const EXIT_READER_GONE: u8 = 141;

/// What is left of a download whose checksum did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The `.part` of that path, for inspection.
    Part(String),
    /// Nothing: the bytes went into this stream (stdout, a device).
    StreamedTo(String),
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Usage,
        FailureKind::Network,
        FailureKind::Http,
        FailureKind::Validation,
        FailureKind::File,
    ];

    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::Usage => 2,
            FailureKind::Network => 3,
            FailureKind::Http => 4,
            FailureKind::Validation => 5,
            FailureKind::File => 6,
        }
    }

    /// The word used in messages and reports.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Usage => "usage",
            FailureKind::Network => "network",
            FailureKind::Http => "HTTP",
            FailureKind::Validation => "validation",
            FailureKind::File => "file",
        }
    }
}

/// How a remote object differs from the one being downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteChange {
    Size { from: u64, to: u64 },
    Etag { from: String, to: String },
    LastModified { from: String, to: String },
}

impl fmt::Display for RemoteChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteChange::Size { from, to } => {
                write!(f, "size changed from {from} to {to} bytes")
            }
            RemoteChange::Etag { from, to } => write!(f, "ETag changed from {from} to {to}"),
            RemoteChange::LastModified { from, to } => {
                write!(f, "Last-Modified changed from {from} to {to}")
            }
        }
    }
}

/// An answer to a range request that must not be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeFault {
    /// A 206 for other bytes than asked.
    WrongContentRange {
        asked: ByteRange,
        got: String,
    },
    MissingContentRange,
    MalformedContentRange(String),
    /// A 206 whose Content-Length is not its range's length.
    WrongLength {
        asked: ByteRange,
        length: u64,
    },
    /// Compressed although `Accept-Encoding: identity` was asked.
    Encoded(String),
    /// A 200 that is not the object (an error page, a portal).
    UnrelatedBody {
        change: RemoteChange,
        content_type: String,
    },
    /// A 200 of unknown length instead of a range.
    UnknownLength,
    /// 416 although the range lies inside the object.
    NotSatisfiable(ByteRange),
}

impl fmt::Display for RangeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeFault::WrongContentRange { asked, got } => {
                write!(f, "asked for {asked} but the server sent Content-Range: {got}")
            }
            RangeFault::MissingContentRange => f.write_str("206 without a Content-Range header"),
            RangeFault::MalformedContentRange(value) => {
                write!(f, "malformed Content-Range: {value}")
            }
            RangeFault::WrongLength { asked, length } => write!(
                f,
                "Content-Length {length} does not match {asked} ({} bytes)",
                asked.len()
            ),
            RangeFault::Encoded(encoding) => write!(
                f,
                "the server applied Content-Encoding '{encoding}' despite Accept-Encoding: identity"
            ),
            RangeFault::UnrelatedBody {
                change,
                content_type,
            } => write!(
                f,
                "HTTP 200 with an unrelated body ({change}; Content-Type {content_type}) instead of a range"
            ),
            RangeFault::UnknownLength => f.write_str("HTTP 200 of unknown length instead of a range"),
            RangeFault::NotSatisfiable(range) => {
                write!(f, "HTTP 416 Range Not Satisfiable for {range}")
            }
        }
    }
}

/// What the runtime said of a failed file operation, as the user reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IoError {
    NoEntry,
    Access,
    ReadOnly,
    NoSpace,
    Quota,
    TooLarge,
    NotDirectory,
    IsDirectory,
    /// A plain I/O error (some runtimes report a read-only file system so).
    Io,
    /// A FIFO or terminal, through a runtime that writes files only at
    /// offsets (wasmtime's): only the runtime's stdout can stream there.
    NotSeekable,
    /// The path given is not one of a file inside the output directory.
    NotInOutput,
    /// The file went away before it could be read.
    Disappeared,
    /// Anything else, in the runtime's words.
    Other(String),
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoError::NoEntry => "no such file or directory",
            IoError::Access => "permission denied",
            IoError::ReadOnly => "read-only file system",
            IoError::NoSpace => "no space left on device",
            IoError::Quota => "disk quota exceeded",
            IoError::TooLarge => "file too large",
            IoError::NotDirectory => "not a directory",
            IoError::IsDirectory => "is a directory",
            IoError::Io => "input/output error",
            IoError::NotSeekable => {
                "this runtime writes files only at offsets, which a FIFO or terminal does not \
                 have; stream to stdout instead (-o - > PATH)"
            }
            IoError::NotInOutput => "it is not a file path inside the output directory",
            IoError::Disappeared => "it disappeared before it could be verified",
            IoError::Other(words) => words.trim_end_matches('.'),
        })
    }
}

impl IoError {
    /// What to do about it after `operation` failed, as a clause to append.
    pub fn hint(&self, operation: &str) -> &'static str {
        match self {
            IoError::NoSpace | IoError::Quota => {
                "; free some disk space and run the same command again"
            }
            IoError::ReadOnly | IoError::Access => "; check the directory's permissions",
            IoError::Io if operation == "create" => {
                "; check that the directory is writable (not on a read-only file system)"
            }
            IoError::TooLarge => {
                "; the file system or a process limit does not allow a file this large"
            }
            _ => "",
        }
    }
}

/// Why a download, a probe or a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Bad arguments or an unusable input list.
    Usage(String),
    /// A request failed before an answer: DNS, connection, TLS, a reset.
    Unreachable {
        url: String,
        error: String,
        /// No connection could be made (see `RequestFailure::no_connection`).
        no_connection: bool,
    },
    /// Not tried: another file of the run found its host unreachable (see
    /// `unreachable_hosts`).
    HostGivenUp {
        url: String,
        host: String,
        /// The file that found it so, and how.
        path: String,
        error: String,
    },
    /// A body broke off or went silent.
    BodyFailed(String),
    /// The body ended before all the bytes asked for.
    BodyShort {
        missing: u64,
    },
    /// Less than `min_bytes` arrived in `secs` seconds.
    Stalled {
        min_bytes: u64,
        secs: u64,
    },
    /// An error status (for a retry-worthy one, after the retries).
    Status {
        url: String,
        status: u16,
    },
    TooManyRedirects {
        from: String,
        last: String,
    },
    /// A redirect without a usable `Location`.
    BadRedirect {
        url: String,
        detail: String,
    },
    /// A redirect leaving the prefix the proxy may fetch from.
    RedirectOutOfScope {
        to: String,
        scope: String,
    },
    /// A first-byte probe answered with something that is not one byte.
    BadProbeAnswer {
        url: String,
        status: u16,
        content_range: String,
    },
    Range(RangeFault),
    /// The object changed while it was being fetched.
    Changed(RemoteChange),
    /// The object kept changing, restart after restart.
    KeepsChanging {
        url: String,
        last: RemoteChange,
    },
    /// The server answered a range with the whole object although it
    /// advertises ranges.
    RangesIgnored,
    /// A single stream that did not have the length announced.
    LengthMismatch {
        announced: u64,
        got: u64,
    },
    /// A single stream that ran past the length announced.
    RanPast {
        announced: u64,
    },
    /// The finished `.part` has another length than the object.
    PartLength {
        path: String,
        len: u64,
        expected: u64,
    },
    Checksum {
        expected: String,
        actual: String,
        kept: Kept,
    },
    /// A file-system operation failed.
    Io {
        operation: String,
        path: String,
        error: IoError,
    },
    /// A FIFO, device, directory or link where a regular file belongs.
    NotRegular {
        path: String,
        what: &'static str,
    },
    /// One of rangeget's own files (`.part`, meta, lock) has other names
    /// (hard links): writing it would write the file of those names too.
    Linked {
        path: String,
        links: u64,
    },
    /// The component was granted no directory containing this path.
    NoAccess {
        path: String,
    },
    /// The destination cannot be used as given (a missing directory, say);
    /// the words say why and what to do.
    Destination(String),
    /// The destination exists (and `--force` was not given).
    Exists {
        path: String,
    },
    /// A file appeared at the destination while downloading.
    Appeared {
        path: String,
        kept: String,
    },
    /// The server named the file like another entry of the same run.
    NameTaken {
        path: String,
        /// The other entry's path, when it is not `path` but meets it (one
        /// is the other's working file).
        other_path: Option<String>,
        other_url: String,
    },
    /// Another run holds the destination's lock.
    Busy {
        path: String,
        lock: String,
        renewed_ago_ms: Option<u64>,
    },
    /// Another run took this run's lock over.
    LockLost {
        lock: String,
    },
    /// Other runs keep taking the lock.
    LockContended {
        lock: String,
    },
    TooLarge {
        url: String,
        size: u64,
        max: u64,
    },
    PassedMax {
        url: String,
        max: u64,
    },
    NoRoom {
        dir: String,
        needed: u64,
        free: u64,
    },
    /// The links `requested` redirected to kept expiring: a fresh one
    /// failed `at_once`, or they were renewed `renewals` times, too many.
    LinkExpired {
        requested: String,
        renewals: u32,
        at_once: bool,
        last: Box<Reason>,
    },
    /// Bytes `range` from `url` are not piece `piece` of the Metalink:
    /// that source serves another version of the file.
    PieceMismatch {
        url: String,
        piece: usize,
        range: crate::range::ByteRange,
        kind: &'static str,
    },
    /// A request kept failing: `failures` times in a row, the last for `last`.
    GaveUp {
        what: String,
        failures: u32,
        last: Box<Reason>,
    },
}

impl Reason {
    pub fn kind(&self) -> FailureKind {
        use FailureKind::*;
        match self {
            Reason::Usage(_) => Usage,
            Reason::Unreachable { .. }
            | Reason::HostGivenUp { .. }
            | Reason::BodyFailed(_)
            | Reason::BodyShort { .. }
            | Reason::Stalled { .. } => Network,
            Reason::Status { .. }
            | Reason::TooManyRedirects { .. }
            | Reason::BadRedirect { .. }
            | Reason::RedirectOutOfScope { .. } => Http,
            Reason::BadProbeAnswer { .. }
            | Reason::Range(_)
            | Reason::Changed(_)
            | Reason::KeepsChanging { .. }
            | Reason::RangesIgnored
            | Reason::LengthMismatch { .. }
            | Reason::RanPast { .. }
            | Reason::PartLength { .. }
            | Reason::Checksum { .. }
            | Reason::PieceMismatch { .. } => Validation,
            Reason::Io { .. }
            | Reason::NotRegular { .. }
            | Reason::Linked { .. }
            | Reason::NoAccess { .. }
            | Reason::Destination(_)
            | Reason::Exists { .. }
            | Reason::Appeared { .. }
            | Reason::NameTaken { .. }
            | Reason::Busy { .. }
            | Reason::LockLost { .. }
            | Reason::LockContended { .. }
            | Reason::TooLarge { .. }
            | Reason::PassedMax { .. }
            | Reason::NoRoom { .. } => File,
            Reason::GaveUp { last, .. } | Reason::LinkExpired { last, .. } => last.kind(),
        }
    }

    /// A stable name for the reason, for `--json` reports and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Usage(_) => "usage",
            Reason::Unreachable { .. } => "unreachable",
            Reason::HostGivenUp { .. } => "host-given-up",
            Reason::BodyFailed(_) => "body-failed",
            Reason::BodyShort { .. } => "body-short",
            Reason::Stalled { .. } => "stalled",
            Reason::Status { .. } => "status",
            Reason::TooManyRedirects { .. } => "too-many-redirects",
            Reason::BadRedirect { .. } => "bad-redirect",
            Reason::RedirectOutOfScope { .. } => "redirect-out-of-scope",
            Reason::BadProbeAnswer { .. } => "bad-probe-answer",
            Reason::Range(fault) => match fault {
                RangeFault::WrongContentRange { .. } => "wrong-content-range",
                RangeFault::MissingContentRange => "missing-content-range",
                RangeFault::MalformedContentRange(_) => "malformed-content-range",
                RangeFault::WrongLength { .. } => "wrong-length",
                RangeFault::Encoded(_) => "encoded",
                RangeFault::UnrelatedBody { .. } => "unrelated-body",
                RangeFault::UnknownLength => "unknown-length",
                RangeFault::NotSatisfiable(_) => "not-satisfiable",
            },
            Reason::Changed(_) => "remote-changed",
            Reason::KeepsChanging { .. } => "keeps-changing",
            Reason::RangesIgnored => "ranges-ignored",
            Reason::LengthMismatch { .. } => "length-mismatch",
            Reason::RanPast { .. } => "ran-past",
            Reason::PartLength { .. } => "part-length",
            Reason::Checksum { .. } => "checksum",
            Reason::PieceMismatch { .. } => "piece-mismatch",
            Reason::Io { .. } => "io",
            Reason::NotRegular { .. } => "not-regular",
            Reason::Linked { .. } => "linked",
            Reason::NoAccess { .. } => "no-access",
            Reason::Destination(_) => "destination",
            Reason::Exists { .. } => "exists",
            Reason::Appeared { .. } => "appeared",
            Reason::NameTaken { .. } => "name-taken",
            Reason::Busy { .. } => "busy",
            Reason::LockLost { .. } => "lock-lost",
            Reason::LockContended { .. } => "lock-contended",
            Reason::TooLarge { .. } => "too-large",
            Reason::PassedMax { .. } => "passed-max",
            Reason::NoRoom { .. } => "no-room",
            Reason::GaveUp { .. } => "gave-up",
            Reason::LinkExpired { .. } => "link-expired",
        }
    }

    /// The reason below any `GaveUp`: what actually went wrong.
    pub fn root(&self) -> &Reason {
        match self {
            Reason::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Usage(message) => f.write_str(message),
            Reason::Unreachable { url, error, .. } => write!(f, "{url}: {error}"),
            Reason::HostGivenUp {
                url,
                host,
                path,
                error,
            } => write!(
                f,
                "{url}: not tried: {host} could not be reached for {path} ({error}); \
                 run the same command again once it is back"
            ),
            Reason::BodyFailed(error) => f.write_str(error),
            Reason::BodyShort { missing } => write!(f, "the body ended {missing} bytes short"),
            Reason::Stalled { min_bytes, secs } => write!(
                f,
                "less than {} received in {secs} s",
                format_size(*min_bytes)
            ),
            Reason::Status { url, status } => write!(f, "{url} answered HTTP {status}"),
            Reason::TooManyRedirects { from, last } => write!(
                f,
                "too many redirects starting at {from}; the last one pointed to {last}. \
                 The server is probably in a redirect loop"
            ),
            Reason::BadRedirect { url, detail } => write!(f, "{url}: {detail}"),
            Reason::RedirectOutOfScope { to, scope } => write!(
                f,
                "the origin redirected to {to}, outside {scope}; not followed"
            ),
            Reason::BadProbeAnswer {
                url,
                status,
                content_range,
            } => write!(
                f,
                "{url} answered the first-byte probe with HTTP {status} and Content-Range {content_range:?}"
            ),
            Reason::Range(fault) => fault.fmt(f),
            Reason::Changed(change) => write!(f, "the remote file changed ({change})"),
            Reason::KeepsChanging { url, last } => write!(
                f,
                "{url} keeps changing while it downloads ({last}); try again later"
            ),
            Reason::RangesIgnored => f.write_str(
                "the server answered a range request with the whole file although it advertises ranges",
            ),
            Reason::LengthMismatch { announced, got } => write!(
                f,
                "the body ended after {got} of the {announced} bytes announced"
            ),
            Reason::RanPast { announced } => write!(
                f,
                "the body runs past the {announced} bytes the server announced"
            ),
            Reason::PartLength {
                path,
                len,
                expected,
            } => write!(
                f,
                "{path} has {len} bytes after the download, expected {expected}; run the same command again"
            ),
            Reason::Checksum {
                expected,
                actual,
                kept: Kept::Part(part),
            } => write!(
                f,
                "the downloaded file's SHA-256 is {actual}, not the expected {expected}; \
                 it is kept as {part} for inspection (the next run starts over)"
            ),
            Reason::Checksum {
                expected,
                actual,
                kept: Kept::StreamedTo(to),
            } => write!(
                f,
                "the streamed file's SHA-256 is {actual}, not the expected {expected}; \
                 its bytes went to {to}, whose reader must discard them"
            ),
            Reason::Io {
                operation,
                path,
                error,
            } => write!(
                f,
                "cannot {operation} {path}: {error}{}",
                error.hint(operation)
            ),
            Reason::NotRegular { path, what } => write!(
                f,
                "{path} is {what}, not a regular file; remove it and run the same command again"
            ),
            Reason::Linked { path, links } => write!(
                f,
                "{path} has {links} names (hard links), so writing it would change another \
                 name's file too; remove it and run the same command again"
            ),
            Reason::NoAccess { path } => write!(
                f,
                "cannot write {path}: this component was given no access to that directory \
                 (with the wasmtime CLI, grant it with --dir HOSTDIR::GUESTDIR)"
            ),
            Reason::Destination(why) => f.write_str(why),
            Reason::Exists { path } => write!(
                f,
                "{path} already exists; pass --force to overwrite it, or choose another path with -o"
            ),
            Reason::Appeared { path, kept } => write!(
                f,
                "{path} appeared while this run was downloading, and is left as it is; the download \
                 is complete in {kept}: rerun with --force to replace {path} with it, or choose \
                 another path with -o"
            ),
            Reason::NameTaken {
                path,
                other_path: None,
                other_url,
            } => write!(
                f,
                "the server names this file {path}, which {other_url} writes in this run too; \
                 give one of them out= (or -o) another name"
            ),
            Reason::NameTaken {
                path,
                other_path: Some(other),
                other_url,
            } => {
                let (working, download) = if other.len() > path.len() {
                    (other, path)
                } else {
                    (path, other)
                };
                write!(
                    f,
                    "the server names this file {path}, and {other_url} writes {other} in this \
                     run: {working} is where the download of {download} keeps its progress; \
                     give one of them out= (or -o) another name"
                )
            }
            Reason::Busy {
                path,
                lock,
                renewed_ago_ms,
            } => {
                write!(
                    f,
                    "{path} is being downloaded by another rangeget run, which holds {lock}"
                )?;
                if let Some(ms) = renewed_ago_ms {
                    write!(f, " (renewed {:.1} s ago)", *ms as f64 / 1000.0)?;
                }
                f.write_str("; wait for it to finish, or save to another path with -o")
            }
            Reason::LockLost { lock } => write!(
                f,
                "another rangeget run took {lock} over while this one was held up (for longer \
                 than the lock's lease); this run stops and leaves the download to it"
            ),
            Reason::LockContended { lock } => write!(
                f,
                "{lock} keeps being taken by other runs; try again when they are done"
            ),
            Reason::TooLarge { url, size, max } => write!(
                f,
                "{url} is {} ({size} bytes), more than --max-filesize {} allows",
                format_size(*size),
                format_size(*max)
            ),
            Reason::PassedMax { url, max } => write!(
                f,
                "{url} runs past --max-filesize ({max} bytes); nothing of it is kept"
            ),
            Reason::NoRoom { dir, needed, free } => write!(
                f,
                "{} more are needed in {dir} but only {} are free; free some space, or choose \
                 another directory with -o or -d",
                format_size(*needed),
                format_size(*free)
            ),
            Reason::GaveUp {
                what,
                failures,
                last,
            } => write!(f, "{what} failed {failures} times in a row (last: {last})"),
            Reason::PieceMismatch {
                url,
                piece,
                range,
                kind,
            } => write!(
                f,
                "{range} from {url} do not match the {kind} of piece {piece} in the metalink: \
                 that source serves another version of the file"
            ),
            Reason::LinkExpired {
                requested,
                at_once: true,
                last,
                ..
            } => write!(
                f,
                "{last}; that was a fresh link {requested} redirected to, refused at once, so                  renewing it cannot help (the server may want credentials or cookies)"
            ),
            Reason::LinkExpired {
                requested,
                renewals,
                last,
                ..
            } => write!(
                f,
                "the links {requested} redirected to expired {renewals} times; giving up                  (last: {last})"
            ),
        }
    }
}

/// A failure: its reason, and optionally what was kept and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    /// A sentence after the reason: what was saved, how to go on.
    pub note: Option<Box<str>>,
    /// A file with several sources: what each gave and why it was
    /// dropped (for `--json`).
    // Boxed: a failure travels in many a `Result`, nearly all without.
    pub sources: Option<Box<crate::sources::SourceReports>>,
}

impl Failure {
    pub fn kind(&self) -> FailureKind {
        self.reason.kind()
    }

    /// The same failure, with `note` appended to what it says.
    pub fn with_note(mut self, note: impl Into<String>) -> Failure {
        let note = note.into();
        self.note = Some(match self.note.take() {
            Some(earlier) => format!("{earlier}. {note}").into(),
            None => note.into(),
        });
        self
    }

    /// The final stderr line of a failed run.
    pub fn error_line(&self) -> String {
        format!("rangeget: {} error: {self}", self.kind().label())
    }
}

impl From<Reason> for Failure {
    fn from(reason: Reason) -> Failure {
        Failure {
            reason,
            note: None,
            sources: None,
        }
    }
}

impl Failure {
    /// The status a gateway (the proxy) answers its client with when the
    /// fetch failed for this: 504 Gateway Timeout when the origin went
    /// silent, 502 Bad Gateway for anything else it did or failed to do.
    pub fn gateway_status(&self) -> u16 {
        match self.reason.root() {
            Reason::Stalled { .. } => 504,
            _ => 502,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)?;
        if let Some(note) = &self.note {
            write!(f, ". {note}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_answers_504_for_a_silent_origin_and_502_otherwise() {
        let stalled = Reason::Stalled {
            min_bytes: 1,
            secs: 60,
        };
        let gave_up = Reason::GaveUp {
            what: "0-9 of u".into(),
            failures: 6,
            last: Box::new(stalled.clone()),
        };
        assert_eq!(Failure::from(stalled).gateway_status(), 504);
        assert_eq!(Failure::from(gave_up).gateway_status(), 504);
        let refused = Reason::Unreachable {
            url: "u".into(),
            error: "connection refused".into(),
            no_connection: true,
        };
        assert_eq!(Failure::from(refused).gateway_status(), 502);
        assert_eq!(Failure::from(Reason::RangesIgnored).gateway_status(), 502);
    }

    #[test]
    fn exit_codes_are_distinct_and_not_success() {
        let mut codes: Vec<u8> = FailureKind::ALL.iter().map(|k| k.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), FailureKind::ALL.len());
        assert!(
            !codes.contains(&0)
                && !codes.contains(&1)
                && !codes.contains(&EXIT_INTERRUPTED)
                && !codes.contains(&EXIT_READER_GONE)
        );
    }

    #[test]
    fn giving_up_keeps_the_kind_and_code_of_what_went_wrong() {
        let gave_up = Reason::GaveUp {
            what: "bytes 0-9 of u".into(),
            failures: 6,
            last: Box::new(Reason::Stalled {
                min_bytes: 1024,
                secs: 60,
            }),
        };
        assert_eq!(gave_up.kind(), FailureKind::Network);
        assert_eq!(gave_up.root().code(), "stalled");
        let failure = Failure::from(gave_up).with_note("Progress is saved");
        assert!(failure
            .to_string()
            .ends_with("(last: less than 1.0 KiB received in 60 s). Progress is saved"));
    }
}
