//! What a run keeps of its files as they end: the summary, the bytes of
//! the files done (for the run's progress), the directories a file was
//! published in (each synced once, at the end), and when the native CLI
//! next hears where the batch stands. The command's loop only hands each
//! file's outcome over and says what the ledger tells it to.

use std::collections::{BTreeMap, BTreeSet};

use crate::batch::{Skip, Summary};
use crate::batch_progress::{ActiveFile, BatchProgress, MAX_NAMED};
use crate::budget::host_of;
use crate::report::{Report, Telling, Told};
use crate::unreachable_hosts::UnreachableHosts;
use crate::Failure;

/// How often the host hears where the batch stands (its bar redraws at 10 Hz).
pub const PROGRESS_EVENT_MS: u64 = 200;

/// How one file's download ended.
pub enum Outcome {
    Saved(Report),
    Skipped { path: String, skip: Skip },
    Failed { path: String, failure: Failure },
}

/// A run's account of its files.
#[derive(Default)]
pub struct Ledger {
    pub summary: Summary,
    /// Bytes of the files saved so far.
    done_bytes: u64,
    /// One file published in each directory files were published in, by
    /// directory (with its slash; "" for the current one).
    published: BTreeMap<String, String>,
    /// When the next progress event is due; `None`: the host asked for none.
    next_event_ms: Option<u64>,
    /// Hosts found ignoring `If-Modified-Since` (told once each).
    ignoring_conditions: BTreeSet<String>,
}

impl Ledger {
    /// `progress_events`: the host asked to hear where the batch stands.
    pub fn new(progress_events: bool) -> Ledger {
        Ledger {
            next_event_ms: progress_events.then_some(0),
            ..Ledger::default()
        }
    }

    /// Counts file `entry` (of `url`) as `outcome` says; the lines that
    /// tell it. A failure counts against its host (see [`UnreachableHosts`]).
    pub fn ended(
        &mut self,
        entry: usize,
        url: &str,
        outcome: Outcome,
        how: Telling,
        unreachable: &mut UnreachableHosts,
    ) -> Told {
        match outcome {
            Outcome::Saved(report) => {
                self.done_bytes += report.size;
                let dir = parent_of(&report.path).to_string();
                self.published.insert(dir, report.path.clone());
                self.summary.tell_saved(&report, how)
            }
            Outcome::Skipped { path, skip } => {
                let mut told = self.summary.tell_skipped(url, &path, skip, how);
                if skip == Skip::MatchesServer && !how.quiet {
                    let host = host_of(url);
                    if let Some(warning) = self.ignores_conditions(host) {
                        told.stderr = Some(match told.stderr {
                            Some(line) => format!("{warning}\n{line}"),
                            None => warning,
                        });
                    }
                }
                told
            }
            Outcome::Failed { path, failure } => {
                unreachable.file_failed(&path, &failure);
                self.summary.tell_failed(entry, url, &path, &failure, how)
            }
        }
    }

    /// The warning that `host` ignores `If-Modified-Since`, the first time.
    fn ignores_conditions(&mut self, host: String) -> Option<String> {
        let warning = format!(
            "rangeget: {host} ignores If-Modified-Since (it answers with the file, not 304): \
             files whose size and Last-Modified match are skipped, their answers dropped \
             before the body"
        );
        self.ignoring_conditions.insert(host).then_some(warning)
    }

    /// Bytes on disk over the run, and its total size when every file's is
    /// known: the files done, and `under_way`'s (bytes so far, size).
    pub fn progress(
        &self,
        under_way: impl Iterator<Item = (u64, Option<u64>)>,
    ) -> (u64, Option<u64>) {
        let done = (self.done_bytes, Some(self.done_bytes));
        under_way.fold(done, |(got, total), (more, size)| {
            (got + more, total.zip(size).map(|(a, b)| a + b))
        })
    }

    /// The progress event for the host at `now_ms`, if it asked for them
    /// and one is due (at most every [`PROGRESS_EVENT_MS`], and always the
    /// `last`): `files` in the run, `under_way` the files not ended.
    pub fn progress_event<T>(
        &mut self,
        now_ms: u64,
        files: usize,
        under_way: &[T],
        active: impl Fn(&T) -> ActiveFile,
        last: bool,
    ) -> Option<String> {
        let next = self.next_event_ms.as_mut()?;
        if now_ms < *next && !last {
            return None;
        }
        *next = now_ms + PROGRESS_EVENT_MS;
        let event = BatchProgress {
            files,
            done: self.summary.files,
            failed: self.summary.failed,
            active: under_way.iter().take(MAX_NAMED).map(active).collect(),
            more_active: under_way.len().saturating_sub(MAX_NAMED),
        };
        Some(event.to_line())
    }

    /// The directories to sync at the end of a batch, each named by one
    /// file published in it (a single file syncs its own at once).
    pub fn directories_to_sync(&self) -> impl Iterator<Item = &str> {
        self.published.values().map(String::as_str)
    }

    /// The run ended after `elapsed_ms`: the summary's line (a batch's
    /// only: a single file was told already), and the exit status.
    pub fn finish(&mut self, elapsed_ms: u64, how: Telling) -> (Told, i32) {
        self.summary.finish(elapsed_ms);
        let stdout = match how {
            Telling { batch: false, .. } => None,
            Telling { json: true, .. } => Some(self.summary.to_json()),
            Telling { quiet: true, .. } => None,
            _ => Some(self.summary.human()),
        };
        let told = Told {
            stdout,
            stderr: None,
        };
        (told, i32::from(self.summary.exit_code))
    }
}

/// The directory part of `path` (with its slash), or "" for a bare name.
fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |slash| &path[..=slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(path: &str, size: u64) -> Outcome {
        Outcome::Saved(Report {
            url: format!("http://h/{path}"),
            final_url: format!("http://h/{path}"),
            path: path.into(),
            size,
            sha256: None,
            elapsed_ms: 1,
            bytes_fetched: size,
            bytes_reused: 0,
            retries: 0,
            connections: 1,
            sources: Vec::new(),
        })
    }

    const BATCH: Telling = Telling {
        json: false,
        quiet: false,
        batch: true,
    };

    #[test]
    fn progress_counts_the_files_done_and_those_under_way() {
        let mut ledger = Ledger::new(false);
        let mut hosts = UnreachableHosts::default();
        let _ = ledger.ended(0, "http://h/a", saved("a", 10), BATCH, &mut hosts);
        assert_eq!(ledger.progress([(5, Some(20))].into_iter()), (15, Some(30)));
        // One size unknown: no total.
        let under_way = [(5, Some(20)), (1, None)].into_iter();
        assert_eq!(ledger.progress(under_way), (16, None));
    }

    #[test]
    fn each_directory_is_synced_once() {
        let mut ledger = Ledger::new(false);
        let mut hosts = UnreachableHosts::default();
        for (entry, path) in ["d/a", "d/b", "c", "e/f/g"].into_iter().enumerate() {
            let _ = ledger.ended(entry, "u", saved(path, 1), BATCH, &mut hosts);
        }
        let dirs: Vec<&str> = ledger.directories_to_sync().collect();
        assert_eq!(dirs, ["c", "d/b", "e/f/g"]);
    }

    #[test]
    fn progress_events_come_when_asked_and_due_and_always_last() {
        let named = |path: &&str| ActiveFile {
            path: path.to_string(),
            got: 0,
            size: None,
        };
        let mut quiet = Ledger::new(false);
        assert!(quiet.progress_event(0, 1, &["a"], named, true).is_none());
        let mut ledger = Ledger::new(true);
        let files = ["a", "b", "c", "d", "e", "f"];
        let first = ledger.progress_event(0, 9, &files, named, false).unwrap();
        let event = BatchProgress::from_line(&first).unwrap();
        assert_eq!((event.active.len(), event.more_active), (MAX_NAMED, 2));
        assert!(ledger
            .progress_event(100, 9, &files, named, false)
            .is_none());
        assert!(ledger.progress_event(150, 9, &files, named, true).is_some());
        assert!(ledger
            .progress_event(350, 9, &files, named, false)
            .is_some());
    }

    #[test]
    fn a_host_ignoring_conditions_is_told_once() {
        let mut ledger = Ledger::new(false);
        let mut hosts = UnreachableHosts::default();
        let skipped = |path: &str| Outcome::Skipped {
            path: path.into(),
            skip: Skip::MatchesServer,
        };
        let first = ledger.ended(0, "http://h/a", skipped("a"), BATCH, &mut hosts);
        assert!(first
            .stderr
            .unwrap()
            .contains("h:80 ignores If-Modified-Since"));
        let second = ledger.ended(1, "http://h/b", skipped("b"), BATCH, &mut hosts);
        assert_eq!(second.stderr, None);
        assert_eq!(ledger.summary.skipped, 2);
    }

    #[test]
    fn only_a_batch_ends_with_a_summary_line_and_its_worst_exit_code() {
        let mut ledger = Ledger::new(false);
        let mut hosts = UnreachableHosts::default();
        let failure = Failure::from(crate::failure::Reason::Usage("no".into()));
        let failed = Outcome::Failed {
            path: "x".into(),
            failure,
        };
        let told = ledger.ended(0, "http://h/x", failed, BATCH, &mut hosts);
        assert!(told.stderr.is_some(), "a failure is always told");
        let (single, code) = ledger.finish(
            5,
            Telling {
                batch: false,
                ..BATCH
            },
        );
        assert_eq!((single.stdout, code), (None, 2));
        let (told, _) = ledger.finish(5, BATCH);
        assert!(told
            .stdout
            .unwrap()
            .starts_with("1 file: 0 saved, 0 skipped, 1 failed"));
    }
}
