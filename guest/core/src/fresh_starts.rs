//! How often a download starts over because the remote object changed
//! under it. One rule for the file download, `-o -` and the proxy: an
//! object rewritten faster than it can be fetched (a live log, a file
//! regenerated in place) would otherwise be fetched forever.

use crate::failure::{Reason, RemoteChange};
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
