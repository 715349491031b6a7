//! What a transfer that stopped leads to, and how often a download starts
//! over because the remote object changed under it. One rule for the file
//! download, `-o -` and the proxy: a change or a server ignoring a range
//! is recovered from while nothing that cannot be taken back went out, and
//! an object rewritten faster than it can be fetched (a live log, a file
//! regenerated in place) is not fetched forever.

use crate::failure::{Reason, RemoteChange};
use crate::request::RequestId;
use crate::transfer::Stop;
use crate::Failure;

/// Starts of one download, the first included.
pub const MAX_STARTS: u32 = 4;

/// Counts the starts of one download.
#[derive(Debug)]
pub struct FreshStarts {
    starts: u32,
}

impl Default for FreshStarts {
    fn default() -> Self {
        FreshStarts { starts: 1 }
    }
}

impl FreshStarts {
    /// The remote changed (`change`): one more start, with what to tell
    /// the user of it, or the failure that ends the download of `url` once
    /// there have been [`MAX_STARTS`].
    pub fn start_over(&mut self, url: &str, change: RemoteChange) -> Result<StartingOver, Failure> {
        if self.starts >= MAX_STARTS {
            return Err(Reason::KeepsChanging {
                url: url.to_string(),
                last: change,
            }
            .into());
        }
        self.starts += 1;
        Ok(StartingOver(change))
    }
}

/// What a stopped transfer leads to.
#[must_use = "a stop is recovered from or fails the download"]
#[derive(Debug, PartialEq, Eq)]
pub enum AfterStop {
    /// The object changed: fetch the new version from the start (tell the
    /// user so).
    StartOver(StartingOver),
    /// The server answered a range with the whole object: go on with the
    /// body of request `id`, from byte 0, as one stream.
    OneStreamFrom(RequestId),
    /// The download fails: the transfer's own failure, a change or an
    /// ignored range after what cannot be taken back went out, or an
    /// object that keeps changing.
    Fail(Failure),
}

impl FreshStarts {
    /// Decides after `stop` of the download of `url`. `recallable`: nothing
    /// that cannot be taken back has gone out (a file's `.part` can always
    /// be started over; a stream's first byte, or a proxy's response head,
    /// cannot).
    pub fn after_stop(&mut self, url: &str, stop: Stop, recallable: bool) -> AfterStop {
        match stop {
            Stop::Changed(change) if recallable => match self.start_over(url, change) {
                Ok(notice) => AfterStop::StartOver(notice),
                Err(failure) => AfterStop::Fail(failure),
            },
            Stop::RangesIgnored { id } if recallable => AfterStop::OneStreamFrom(id),
            other => AfterStop::Fail(other.into()),
        }
    }
}

/// A start over as the user reads it: "the remote file changed (…);
/// starting over".
#[must_use = "a start over is told to the user"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartingOver(pub RemoteChange);

impl std::fmt::Display for StartingOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; starting over", Reason::Changed(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureKind;

    fn change(n: u64) -> RemoteChange {
        RemoteChange::Size { from: n, to: n + 1 }
    }

    #[test]
    fn a_stop_is_recovered_from_only_while_nothing_went_out_for_good() {
        let mut starts = FreshStarts::default();
        assert!(matches!(
            starts.after_stop("u", Stop::Changed(change(1)), true),
            AfterStop::StartOver(_)
        ));
        assert_eq!(
            starts.after_stop("u", Stop::RangesIgnored { id: RequestId(3) }, true),
            AfterStop::OneStreamFrom(RequestId(3))
        );
        // Bytes a reader has (or a response head a client has) cannot be
        // taken back.
        let AfterStop::Fail(failure) = starts.after_stop("u", Stop::Changed(change(2)), false)
        else {
            panic!("a change after bytes went out is final");
        };
        assert_eq!(failure.reason.code(), "remote-changed");
        assert!(matches!(
            starts.after_stop("u", Stop::RangesIgnored { id: RequestId(3) }, false),
            AfterStop::Fail(_)
        ));
        let own = Failure::from(Reason::RangesIgnored);
        assert_eq!(
            starts.after_stop("u", Stop::Failed(own.clone()), true),
            AfterStop::Fail(own)
        );
        // A change too many: the download fails, even if it could start over.
        for n in 3..10 {
            if let AfterStop::Fail(failure) = starts.after_stop("u", Stop::Changed(change(n)), true)
            {
                assert_eq!(failure.reason.code(), "keeps-changing");
                return;
            }
        }
        panic!("never gave up");
    }

    #[test]
    fn a_remote_that_keeps_changing_ends_after_the_last_start() {
        let mut starts = FreshStarts::default();
        for n in 1..MAX_STARTS {
            assert!(
                starts.start_over("u", change(n.into())).is_ok(),
                "start {}",
                n + 1
            );
        }
        let failure = starts.start_over("u", change(9)).unwrap_err();
        // One wording, the failure's own, for every start over.
        let notice = FreshStarts::default().start_over("u", change(1)).unwrap();
        assert_eq!(
            notice.to_string(),
            "the remote file changed (size changed from 1 to 2 bytes); starting over"
        );
        assert_eq!(failure.kind(), FailureKind::Validation);
        let text = failure.to_string();
        assert!(
            text.contains("u keeps changing") && text.contains("from 9 to 10"),
            "{text}"
        );
    }
}
