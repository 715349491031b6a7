//! What a run of several files decides beyond each file: which ones need
//! not be fetched again, and what the whole run reports and exits with.

use std::collections::HashMap;

use serde::Serialize;

use crate::failure::{Failure, FailureKind, Reason};
use crate::paths::{normal_path, owner_of_working_file, WORKING_SUFFIXES};
use crate::report::{plural, FailureReport, Report, Telling, Told};
use crate::size::format_size;

/// Why a file was not fetched: it is already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// It exists (in a batch, without `-N` or a checksum to compare).
    Exists,
    /// Its SHA-256 is the one the list gives.
    ChecksumMatches,
    /// The server says it has not changed (`-N`: a 304, or the same size
    /// and modification time).
    UpToDate,
    /// `-N`, from a server that ignored `If-Modified-Since` (it answered
    /// with the file, not a 304): its size and `Last-Modified` are the
    /// file's, so the answer was dropped before its body.
    MatchesServer,
}

impl Skip {
    pub fn code(self) -> &'static str {
        match self {
            Skip::Exists => "exists",
            Skip::ChecksumMatches => "checksum-matches",
            // The same outcome as a 304's, for scripts.
            Skip::UpToDate | Skip::MatchesServer => "up-to-date",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Skip::Exists => {
                "exists (use -N to compare it with the server, --force to fetch it again)"
            }
            Skip::ChecksumMatches => "already complete: its SHA-256 matches",
            Skip::UpToDate => "up to date with the server",
            Skip::MatchesServer => "up to date with the server (same size and Last-Modified)",
        }
    }
}

/// What an existing file at the destination means for its download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExistingFile {
    /// Leave it: it is complete.
    Skip(Skip),
    /// Fetch the file again and replace it.
    Replace,
    /// Refuse: it is someone's file (a single download without `--force`).
    Refuse,
}

/// What the server has told about the file when an existing one is judged.
#[derive(Clone, Copy, Debug)]
pub enum Remote {
    /// Nothing yet: the file is judged before any request.
    NotAsked,
    /// The probe's answer: the remote's size and modification time (Unix
    /// seconds), as far as it stated them.
    Answered {
        size: Option<u64>,
        mtime: Option<u64>,
    },
}

/// How the run treats files that stand where it would write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExistingRules {
    /// Several files: an existing one is someone's finished download.
    pub batch: bool,
    /// `--force`: fetch again and replace, whatever stands there.
    pub force: bool,
    /// `-N`: replace only what differs from the remote.
    pub timestamping: bool,
}

/// What to do about a file that exists where a download would put it:
/// before any request (the URL's name), and again once the probe answered
/// (the server may name another file, or one may have appeared).
/// `checksum_matches` is known only when a checksum was given (it was
/// computed); `local` is the file's size and modification time.
pub fn existing_file(
    rules: ExistingRules,
    checksum_matches: Option<bool>,
    local: Option<(u64, Option<u64>)>,
    remote: Remote,
) -> ExistingFile {
    match checksum_matches {
        Some(true) => return ExistingFile::Skip(Skip::ChecksumMatches),
        Some(false) => return ExistingFile::Replace,
        None => {}
    }
    if rules.force {
        return ExistingFile::Replace;
    }
    if rules.timestamping {
        return match remote {
            // A conditional request asks the server first.
            Remote::NotAsked => ExistingFile::Replace,
            Remote::Answered { size, mtime } => {
                if local.is_some_and(|local| same_as_remote(local, size, mtime)) {
                    ExistingFile::Skip(Skip::UpToDate)
                } else {
                    ExistingFile::Replace
                }
            }
        };
    }
    if rules.batch {
        ExistingFile::Skip(Skip::Exists)
    } else {
        ExistingFile::Refuse
    }
}

/// `-N`: whether the remote file is the one on disk (same size, same
/// modification time to the second). Unknown on either side: it is not.
fn same_as_remote(
    local: (u64, Option<u64>),
    remote_size: Option<u64>,
    remote_mtime: Option<u64>,
) -> bool {
    let (size, mtime) = local;
    remote_size == Some(size) && mtime.is_some() && remote_mtime == mtime
}

/// The paths the entries of a run write. Two entries never write one path,
/// nor one entry another's working files (`x.part` beside `x`, see
/// `paths`), whatever the spelling (`sub//a` is `sub/a`): the list is
/// checked as it is read, before anything is fetched, but a server can
/// still name a file (`Content-Disposition`) like another entry's, which
/// must fail that file, not skip it as complete once the other one is
/// there.
#[derive(Debug, Default)]
pub struct PathClaims {
    by_path: HashMap<String, Holder>,
}

/// The entry that claimed a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its index in the run.
    pub entry: usize,
    pub url: String,
    /// Its line in the `-i` list, if it came from one.
    pub line: Option<usize>,
    /// The path is the one its server named (`Content-Disposition`), not
    /// the list's or the URL's.
    pub by_server: bool,
}

/// How a path meets another entry's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clash {
    pub holder: Holder,
    /// The other entry's path (normal).
    pub path: String,
    pub meeting: Meeting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meeting {
    /// Both write one file.
    SameFile,
    /// This path is one of the other download's working files.
    ItsWorkingFile,
    /// The other path is one of this download's working files.
    OurWorkingFile,
}

impl Clash {
    /// "would both write d/x" and the like, after the two entries' names.
    pub fn describe(&self, path: &str) -> String {
        match self.meeting {
            Meeting::SameFile => format!("would both write {path}"),
            Meeting::ItsWorkingFile => format!(
                "clash: {path} is where the download of {} keeps its progress",
                self.path
            ),
            Meeting::OurWorkingFile => format!(
                "clash: {} is where the download of {path} keeps its progress",
                self.path
            ),
        }
    }
}

impl PathClaims {
    /// The other entry whose path `path` would meet, if any.
    pub fn clash(&self, path: &str, entry: usize) -> Option<Clash> {
        let path = normal_path(path);
        let ours = WORKING_SUFFIXES.map(|suffix| (path.clone() + suffix, Meeting::OurWorkingFile));
        let theirs =
            owner_of_working_file(&path).map(|owner| (owner.to_string(), Meeting::ItsWorkingFile));
        let candidates = [(path.clone(), Meeting::SameFile)]
            .into_iter()
            .chain(theirs)
            .chain(ours);
        for (other, meeting) in candidates {
            match self.by_path.get(&other) {
                Some(holder) if holder.entry != entry => {
                    return Some(Clash {
                        holder: holder.clone(),
                        path: other,
                        meeting,
                    })
                }
                _ => {}
            }
        }
        None
    }

    /// Records the path entry `entry` writes as listed (its URL's name, or
    /// `out=`), checked with [`PathClaims::clash`] by the caller; `line`
    /// in the list, if it came from one.
    pub fn claim_listed(&mut self, path: &str, entry: usize, url: &str, line: Option<usize>) {
        self.by_path
            .entry(normal_path(path))
            .or_insert_with(|| Holder {
                entry,
                url: url.to_string(),
                line,
                by_server: false,
            });
    }

    /// Claims `path`, the name a server gave entry `entry`'s file (of
    /// `url`); fails if it meets another entry's (see [`PathClaims::clash`]).
    pub fn claim(&mut self, path: &str, entry: usize, url: &str) -> Result<(), Failure> {
        if let Some(clash) = self.clash(path, entry) {
            return Err(Reason::NameTaken {
                path: path.to_string(),
                other_path: (clash.meeting != Meeting::SameFile).then_some(clash.path),
                other_url: clash.holder.url,
            }
            .into());
        }
        self.by_path
            .entry(normal_path(path))
            .or_insert_with(|| Holder {
                entry,
                url: url.to_string(),
                line: None,
                by_server: true,
            });
        Ok(())
    }
}

/// An HTTP-date (`If-Modified-Since`) for a file modified at `unix_seconds`.
pub fn http_date(unix_seconds: u64) -> String {
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds);
    httpdate::fmt_http_date(when)
}

/// The `--json` object of a skipped file.
#[derive(Serialize)]
pub struct SkipReport<'a> {
    pub status: &'static str,
    pub url: &'a str,
    pub path: &'a str,
    pub reason: &'static str,
}

impl<'a> SkipReport<'a> {
    pub fn new(url: &'a str, path: &'a str, skip: Skip) -> SkipReport<'a> {
        SkipReport {
            status: "skipped",
            url,
            path,
            reason: skip.code(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("reports serialise")
    }
}

/// One failed file, as the summary lists it.
#[derive(Clone, Debug, Serialize)]
pub struct FailedFile {
    /// Its place in the run (the summary lists failures in the list's order).
    #[serde(skip)]
    pub entry: usize,
    pub url: String,
    pub path: String,
    pub error_kind: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// What a batch did, as its last report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub saved: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Body bytes received in this run.
    pub bytes_fetched: u64,
    pub elapsed_ms: u64,
    /// The worst failure's exit code (0 when none failed).
    pub exit_code: u8,
    pub failures: Vec<FailedFile>,
    /// Why the run took no more files (a mistake further down its list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

impl Summary {
    /// Counts a file saved as `report` says; the lines that tell it.
    pub fn tell_saved(&mut self, report: &Report, how: Telling) -> Told {
        self.saved(report.bytes_fetched);
        let stdout = if how.json {
            Some(report.to_json())
        } else {
            (!how.quiet && !how.batch).then(|| report.human_summary())
        };
        Told {
            stdout,
            stderr: None,
        }
    }

    /// Counts the file of `url` at `path`, skipped; the lines that tell it.
    pub fn tell_skipped(&mut self, url: &str, path: &str, skip: Skip, how: Telling) -> Told {
        self.skipped();
        if how.json {
            return Told {
                stdout: Some(SkipReport::new(url, path, skip).to_json()),
                stderr: None,
            };
        }
        let stderr = (!how.quiet && !how.batch)
            .then(|| format!("rangeget: {path}: {}; skipped", skip.describe()));
        Told {
            stdout: None,
            stderr,
        }
    }

    /// Counts file `entry` of the run, failed; the lines that tell it (the
    /// error line always: a failure is never quiet).
    pub fn tell_failed(
        &mut self,
        entry: usize,
        url: &str,
        path: &str,
        failure: &Failure,
        how: Telling,
    ) -> Told {
        self.failed(entry, url, path, failure);
        Told {
            stdout: how
                .json
                .then(|| FailureReport::new(url, path, failure).to_json()),
            stderr: Some(failure.error_line()),
        }
    }

    pub fn saved(&mut self, bytes_fetched: u64) {
        self.files += 1;
        self.saved += 1;
        self.bytes_fetched += bytes_fetched;
    }

    pub fn skipped(&mut self) {
        self.files += 1;
        self.skipped += 1;
    }

    /// Failed file `entry` of the run; the run's exit code is the worst
    /// failure's, the highest of the documented codes (file > validation >
    /// HTTP > network).
    pub fn failed(&mut self, entry: usize, url: &str, path: &str, failure: &Failure) {
        self.files += 1;
        self.failed += 1;
        self.exit_code = self.exit_code.max(failure.kind().exit_code());
        self.failures.push(FailedFile {
            entry,
            url: url.to_string(),
            path: path.to_string(),
            error_kind: failure.kind().label(),
            reason: failure.reason.root().code(),
            message: failure.to_string(),
        });
    }

    /// The run took no more files because of `failure` (a mistake in its
    /// list, read as the run went): what started ended as it would have.
    pub fn stopped_by(&mut self, failure: &Failure) {
        self.exit_code = self.exit_code.max(failure.kind().exit_code());
        self.stopped = Some(failure.to_string());
    }

    /// The run ended after `elapsed_ms`: its failures are put in the
    /// list's order (they came in the order they failed).
    pub fn finish(&mut self, elapsed_ms: u64) {
        self.elapsed_ms = elapsed_ms;
        self.failures.sort_by_key(|failed| failed.entry);
    }

    /// The worst failure's kind, if any failed.
    pub fn worst(&self) -> Option<FailureKind> {
        FailureKind::ALL
            .into_iter()
            .find(|k| k.exit_code() == self.exit_code)
    }

    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Line<'a> {
            status: &'static str,
            #[serde(flatten)]
            summary: &'a Summary,
        }
        serde_json::to_string(&Line {
            status: "summary",
            summary: self,
        })
        .expect("reports serialise")
    }

    /// The human summary: one line, then one line per failed file, up to
    /// [`MAX_LISTED`]; the rest are counted by kind. Each failure was
    /// already named on stderr as it happened, and `--json` lists them
    /// all: a thousand files failing alike need not fill the screen twice.
    pub fn human(&self) -> String {
        let seconds = self.elapsed_ms.max(1) as f64 / 1000.0;
        let mut text = format!(
            "{} file{}: {} saved, {} skipped, {} failed; {} in {seconds:.2} s ({}/s)",
            self.files,
            plural(self.files as u64),
            self.saved,
            self.skipped,
            self.failed,
            format_size(self.bytes_fetched),
            format_size((self.bytes_fetched as f64 / seconds) as u64)
        );
        if let Some(why) = &self.stopped {
            text.push_str(&format!("\n  stopped reading the list: {why}"));
        }
        for failed in self.failures.iter().take(MAX_LISTED) {
            // Most messages name their URL already.
            if failed.message.contains(&failed.url) {
                text.push_str(&format!("\n  failed: {}: {}", failed.path, failed.message));
            } else {
                text.push_str(&format!(
                    "\n  failed: {} ({}): {}",
                    failed.path, failed.url, failed.message
                ));
            }
        }
        if let Some(rest) = self
            .failures
            .get(MAX_LISTED..)
            .filter(|rest| !rest.is_empty())
        {
            text.push_str(&format!(
                "\n  and {} more failed ({}), each named on stderr as it failed",
                rest.len(),
                count_by_kind(rest)
            ));
        }
        text
    }
}

/// How many failed files the human summary names one by one.
pub const MAX_LISTED: usize = 20;

/// "18 HTTP errors, 2 network errors", most frequent first.
fn count_by_kind(failures: &[FailedFile]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for failed in failures {
        match counts
            .iter_mut()
            .find(|(kind, _)| *kind == failed.error_kind)
        {
            Some((_, count)) => *count += 1,
            None => counts.push((failed.error_kind, 1)),
        }
    }
    counts.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
    let parts: Vec<String> = counts
        .into_iter()
        .map(|(kind, count)| format!("{count} {kind} error{}", plural(count as u64)))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::Reason;

    #[test]
    fn a_path_is_written_by_one_entry_of_a_run() {
        let mut claims = PathClaims::default();
        claims.claim_listed("d/a.bin", 0, "http://h/a", None);
        claims.claim_listed("d/b.bin", 1, "http://h/b", None);
        // The same entry again (after a restart) keeps its path.
        claims.claim("d/a.bin", 0, "http://h/a").unwrap();
        let failure = claims.claim("d/a.bin", 1, "http://h/b").unwrap_err();
        assert_eq!(failure.reason.code(), "name-taken");
        assert_eq!(failure.kind(), FailureKind::File);
        assert!(failure
            .to_string()
            .contains("http://h/a writes in this run too"));
        // Spelled differently, it is the same path.
        let failure = claims.claim("d//./a.bin", 1, "http://h/b").unwrap_err();
        assert_eq!(failure.reason.code(), "name-taken");
        // Nor may a file be another's working file, either way round.
        for (path, says) in [
            ("d/a.bin.part", "download of d/a.bin keeps its progress"),
            (
                "d/b.bin.part.lock",
                "download of d/b.bin keeps its progress",
            ),
        ] {
            let failure = claims.claim(path, 2, "http://h/c").unwrap_err();
            assert!(failure.to_string().contains(says), "{failure}");
        }
        claims.claim("d/e.part", 2, "http://h/c").unwrap();
        let clash = claims.clash("d/e", 3).unwrap();
        assert_eq!(
            (clash.meeting, clash.holder.entry),
            (Meeting::OurWorkingFile, 2)
        );
        assert!(clash.holder.by_server);
        assert!(clash
            .describe("d/e")
            .contains("d/e.part is where the download of d/e"));
        let clash = claims.clash("d/a.bin.part.meta", 3).unwrap();
        assert_eq!(
            (clash.meeting, clash.holder.entry),
            (Meeting::ItsWorkingFile, 0)
        );
        assert!(!clash.holder.by_server);
        assert_eq!(claims.clash("d/a.bin.part.meta", 0), None, "its own");
    }

    #[test]
    fn an_existing_file_is_skipped_replaced_or_refused() {
        use ExistingFile::{Refuse, Replace, Skip as Skipped};
        let rules = |batch, force, timestamping| ExistingRules {
            batch,
            force,
            timestamping,
        };
        let local = Some((10, Some(5)));
        let same = Remote::Answered {
            size: Some(10),
            mtime: Some(5),
        };
        let newer = Remote::Answered {
            size: Some(10),
            mtime: Some(6),
        };
        let cases = [
            // (batch, force, -N), checksum matches, remote: verdict
            (
                (true, false, false),
                Some(true),
                newer,
                Skipped(Skip::ChecksumMatches),
            ),
            ((false, false, false), Some(false), same, Replace),
            (
                (true, false, false),
                None,
                Remote::NotAsked,
                Skipped(Skip::Exists),
            ),
            ((true, false, false), None, newer, Skipped(Skip::Exists)),
            ((false, false, false), None, Remote::NotAsked, Refuse),
            ((false, false, false), None, same, Refuse),
            ((false, true, false), None, Remote::NotAsked, Replace),
            // --force wins over -N, before and after the probe alike.
            ((true, true, true), None, same, Replace),
            // -N asks the server first, then compares.
            ((true, false, true), None, Remote::NotAsked, Replace),
            ((true, false, true), None, same, Skipped(Skip::UpToDate)),
            ((false, false, true), None, newer, Replace),
        ];
        for ((batch, force, timestamping), matches, remote, verdict) in cases {
            assert_eq!(
                existing_file(rules(batch, force, timestamping), matches, local, remote),
                verdict,
                "batch {batch}, force {force}, -N {timestamping}, {matches:?}, {remote:?}"
            );
        }
    }

    #[test]
    fn timestamping_needs_both_size_and_time_to_match() {
        assert!(same_as_remote((10, Some(5)), Some(10), Some(5)));
        assert!(!same_as_remote((10, Some(5)), Some(11), Some(5)));
        assert!(!same_as_remote((10, Some(5)), Some(10), Some(6)));
        assert!(!same_as_remote((10, None), Some(10), None));
    }

    #[test]
    fn the_summary_exits_with_the_worst_failure_and_lists_them() {
        let mut summary = Summary::default();
        summary.saved(100);
        summary.skipped();
        let http = Failure::from(Reason::Status {
            url: "http://h/a".into(),
            status: 404,
        });
        let file = Failure::from(Reason::Exists { path: "d/b".into() });
        // Entry 3 failed before entry 1: the summary lists them in order.
        summary.failed(3, "http://h/b", "d/b", &file);
        summary.failed(1, "http://h/a", "d/a", &http);
        summary.finish(10);
        assert_eq!((summary.files, summary.exit_code), (4, 6));
        assert_eq!(summary.worst(), Some(FailureKind::File));
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
        assert_eq!(json["status"], "summary");
        assert_eq!(json["failures"][0]["reason"], "status");
        let human = summary.human();
        // The URL once: the 404's message names it, the other's does not.
        assert!(
            human.contains("failed: d/a: http://h/a answered"),
            "{human}"
        );
        assert!(human.contains("failed: d/b (http://h/b): d/b "), "{human}");
        assert!(human.find("d/a").unwrap() < human.find("d/b").unwrap());
        assert_eq!(json["failures"][0]["path"], "d/a");
    }

    #[test]
    fn many_failures_are_named_up_to_a_limit_and_the_rest_counted_by_kind() {
        let mut summary = Summary::default();
        let not_found = Failure::from(Reason::Status {
            url: "http://h/x".into(),
            status: 404,
        });
        let exists = Failure::from(Reason::Exists { path: "d/x".into() });
        for entry in 0..MAX_LISTED + 3 {
            let failure = if entry < MAX_LISTED + 2 {
                &not_found
            } else {
                &exists
            };
            summary.failed(entry, "http://h/x", &format!("d/{entry}"), failure);
        }
        summary.finish(10);
        let human = summary.human();
        assert_eq!(human.matches("failed: d/").count(), MAX_LISTED, "{human}");
        assert!(
            human.ends_with("\n  and 3 more failed (2 HTTP errors, 1 file error), each named on stderr as it failed"),
            "{human}"
        );
        let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
        assert_eq!(json["failures"].as_array().unwrap().len(), MAX_LISTED + 3);
    }
}
