//! Why a download failed, as a kind with a stable exit code.
//!
//! WASI 0.2's stable `wasi:cli/exit` carries only success or failure, so
//! the kind travels as the first word of the component's final error line
//! (`rangeget: network error: ...`): people read it under any runtime, and
//! the native host parses it back into the exit code documented here.

use std::fmt;

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

    /// Recognises the kind in a line printed by `Failure::error_line`.
    pub fn from_error_line(line: &str) -> Option<FailureKind> {
        let rest = line.trim_start().strip_prefix("rangeget: ")?;
        FailureKind::ALL
            .into_iter()
            .find(|kind| rest.starts_with(&format!("{} error: ", kind.label())))
    }
}

/// A failure with its kind and a message saying what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub fn network(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Network, message)
    }

    pub fn http(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Http, message)
    }

    pub fn validation(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Validation, message)
    }

    pub fn file(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::File, message)
    }

    /// The final stderr line of a failed run.
    pub fn error_line(&self) -> String {
        format!("rangeget: {} error: {}", self.kind.label(), self.message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_survives_the_trip_through_its_error_line() {
        for kind in FailureKind::ALL {
            let line = Failure::new(kind, "something: went wrong").error_line();
            assert_eq!(FailureKind::from_error_line(&line), Some(kind), "{line}");
        }
        assert_eq!(
            FailureKind::from_error_line("rangeget: retry 1 in 0.2 s"),
            None
        );
    }

    #[test]
    fn exit_codes_are_distinct_and_not_success() {
        let mut codes: Vec<u8> = FailureKind::ALL.iter().map(|k| k.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), FailureKind::ALL.len());
        assert!(!codes.contains(&0) && !codes.contains(&1) && !codes.contains(&EXIT_INTERRUPTED));
    }
}
