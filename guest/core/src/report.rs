//! What a finished (or failed) download reports: one JSON object per file
//! with `--json`, one human line otherwise.

use serde::Serialize;

use crate::failure::Failure;
#[cfg(test)]
use crate::failure::Reason;
use crate::size::format_size;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub url: String,
    /// After redirects.
    pub final_url: String,
    pub path: String,
    pub size: u64,
    /// Hex SHA-256 of the file, when it was computed (`--json`, `--checksum`).
    pub sha256: Option<String>,
    pub elapsed_ms: u64,
    /// Body bytes received in this run (including any refetched after failures).
    pub bytes_fetched: u64,
    /// Bytes a previous run had already written.
    pub bytes_reused: u64,
    pub retries: u32,
    pub connections: u32,
    /// What each source gave, when the file had several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::sources::SourceReport>,
}

/// The `--json` object of a failed download.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureReport<'a> {
    pub url: &'a str,
    pub path: &'a str,
    pub status: &'static str,
    pub error_kind: &'static str,
    /// `Reason::code` of what went wrong (below any "gave up").
    pub reason: &'static str,
    pub exit_code: u8,
    pub message: String,
    /// A file with several sources: what each gave, why one was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<&'a crate::sources::SourceReports>,
}

/// How a run tells how each file ended: `--json` reports, `-q`, and
/// whether it has several files (a file of a batch is told only when it
/// fails; the summary tells the rest).
#[derive(Clone, Copy, Debug)]
pub struct Telling {
    pub json: bool,
    pub quiet: bool,
    pub batch: bool,
}

/// The lines that tell how one file ended: one for stdout, one for stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Told {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

impl Report {
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Ok<'a> {
            status: &'static str,
            #[serde(flatten)]
            report: &'a Report,
        }
        serde_json::to_string(&Ok {
            status: "ok",
            report: self,
        })
        .expect("reports serialise")
    }

    /// The lines that tell a stream (`-o -`, a device) ended: the
    /// `--json` report on stdout when `json_on_stdout` (the file went into
    /// a device of the component's own), else on stderr (stdout may carry
    /// the file; the native CLI moves it from there when it opened the
    /// device); or the summary line on stderr.
    pub fn tell_streamed(&self, how: Telling, json_on_stdout: bool) -> Told {
        match (how.json, json_on_stdout) {
            (true, true) => Told {
                stdout: Some(self.to_json()),
                stderr: None,
            },
            (true, false) => Told {
                stdout: None,
                stderr: Some(self.to_json()),
            },
            (false, _) => Told {
                stdout: None,
                stderr: (!how.quiet).then(|| format!("rangeget: {}", self.streamed_summary())),
            },
        }
    }

    /// The line a stream (`-o -`, a device) ends with.
    pub fn streamed_summary(&self) -> String {
        let seconds = self.elapsed_ms.max(1) as f64 / 1000.0;
        format!(
            "streamed {} to {} in {seconds:.2} s, {}/s",
            format_size(self.size),
            self.path,
            format_size((self.size as f64 / seconds) as u64)
        )
    }

    pub fn human_summary(&self) -> String {
        let seconds = self.elapsed_ms.max(1) as f64 / 1000.0;
        let rate = self.bytes_fetched as f64 / seconds;
        let mut line = format!(
            "saved {} ({}) in {seconds:.2} s, {}/s over {} connection{}",
            self.path,
            format_size(self.size),
            format_size(rate as u64),
            self.connections,
            plural(self.connections as u64)
        );
        if self.bytes_reused > 0 {
            line.push_str(&format!(
                "; {} reused from an earlier run",
                format_size(self.bytes_reused)
            ));
        }
        if self.retries > 0 {
            line.push_str(&format!(
                "; {} retr{}",
                self.retries,
                if self.retries == 1 { "y" } else { "ies" }
            ));
        }
        let used = self.sources.iter().filter(|s| s.bytes > 0).count();
        if used > 0 {
            line.push_str(&format!("; from {used} of {} sources", self.sources.len()));
        }
        if let Some(sha) = &self.sha256 {
            line.push_str(&format!("; sha256 {sha}"));
        }
        line
    }
}

impl<'a> FailureReport<'a> {
    pub fn new(url: &'a str, path: &'a str, failure: &'a Failure) -> FailureReport<'a> {
        FailureReport {
            url,
            path,
            status: "error",
            error_kind: failure.kind().label(),
            reason: failure.reason.root().code(),
            exit_code: failure.kind().exit_code(),
            message: failure.to_string(),
            sources: failure.sources.as_deref(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("reports serialise")
    }
}

/// The "s" of "2 connections", none for one.
pub(crate) fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The one-line progress a component draws on a terminal it owns (under
/// `wasmtime run`; the native CLI draws its own): what it says, and when
/// it is redrawn (at most every [`ProgressText::INTERVAL_MS`]).
pub struct ProgressText {
    start_ms: u64,
    last_ms: u64,
}

impl ProgressText {
    pub const INTERVAL_MS: u64 = 500;

    pub fn new(now_ms: u64) -> ProgressText {
        ProgressText {
            start_ms: now_ms,
            last_ms: now_ms,
        }
    }

    /// The line to draw at `now_ms`, if one is due: `received` bytes of
    /// `total`, and with several files, how many `files` ended of how many.
    pub fn line(
        &mut self,
        now_ms: u64,
        received: u64,
        total: Option<u64>,
        files: Option<(usize, usize)>,
    ) -> Option<String> {
        if now_ms < self.last_ms + Self::INTERVAL_MS {
            return None;
        }
        self.last_ms = now_ms;
        let seconds = (now_ms - self.start_ms).max(1) as f64 / 1000.0;
        let rate = format_size((received as f64 / seconds) as u64);
        let bytes = match total {
            Some(total) => format!(
                "{} / {} ({:.0}%) {rate}/s",
                format_size(received),
                format_size(total),
                received as f64 * 100.0 / total.max(1) as f64,
            ),
            None => format!("{} {rate}/s", format_size(received)),
        };
        let files = files.map_or(String::new(), |(done, all)| {
            format!("{done}/{all} files · ")
        });
        Some(format!("{files}{bytes}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_is_redrawn_at_most_twice_a_second() {
        let mut text = ProgressText::new(1_000);
        assert_eq!(text.line(1_200, 10, None, None), None);
        let line = text.line(2_000, 1 << 20, Some(4 << 20), Some((1, 3)));
        assert_eq!(
            line.as_deref(),
            Some("1/3 files · 1.0 MiB / 4.0 MiB (25%) 1.0 MiB/s")
        );
        assert_eq!(text.line(2_400, 1 << 20, None, None), None);
    }

    fn report() -> Report {
        Report {
            url: "http://h/f".into(),
            final_url: "http://cdn/f".into(),
            path: "f".into(),
            size: 3 << 20,
            sha256: None,
            elapsed_ms: 1500,
            bytes_fetched: 2 << 20,
            bytes_reused: 1 << 20,
            retries: 1,
            connections: 4,
            sources: Vec::new(),
        }
    }

    const HUMAN: Telling = Telling {
        json: false,
        quiet: false,
        batch: false,
    };

    #[test]
    fn a_file_is_told_on_stdout_unless_quiet_or_in_a_batch_and_a_failure_always() {
        use crate::batch::{Skip, Summary};
        let mut summary = Summary::default();
        let told = summary.tell_saved(&report(), HUMAN);
        assert!(told.stdout.unwrap().starts_with("saved f"));
        let batch = Telling {
            batch: true,
            ..HUMAN
        };
        assert_eq!(summary.tell_saved(&report(), batch), Told::default());
        let json = Telling {
            json: true,
            ..batch
        };
        assert!(summary
            .tell_saved(&report(), json)
            .stdout
            .unwrap()
            .starts_with('{'));
        let told = summary.tell_skipped("u", "f", Skip::UpToDate, HUMAN);
        assert!(told.stderr.unwrap().ends_with("; skipped"));
        let quiet = Telling {
            quiet: true,
            ..HUMAN
        };
        assert_eq!(
            summary.tell_skipped("u", "f", Skip::UpToDate, quiet),
            Told::default()
        );
        let failure = Failure::from(crate::failure::Reason::RangesIgnored);
        let told = summary.tell_failed(0, "u", "f", &failure, quiet);
        assert!(told.stderr.unwrap().starts_with("rangeget: "));
        assert_eq!((summary.saved, summary.skipped, summary.failed), (3, 2, 1));
    }

    #[test]
    fn a_streams_json_report_goes_to_stderr_unless_its_device_is_the_components() {
        let json = Telling {
            json: true,
            ..HUMAN
        };
        assert!(report()
            .tell_streamed(json, false)
            .stderr
            .unwrap()
            .starts_with('{'));
        assert!(report()
            .tell_streamed(json, true)
            .stdout
            .unwrap()
            .starts_with('{'));
        let told = report().tell_streamed(HUMAN, true);
        assert!(told
            .stderr
            .unwrap()
            .starts_with("rangeget: streamed 3.0 MiB to f"));
        let quiet = Telling {
            quiet: true,
            ..HUMAN
        };
        assert_eq!(report().tell_streamed(quiet, false), Told::default());
    }

    #[test]
    fn json_report_has_every_documented_field() {
        let json: serde_json::Value = serde_json::from_str(&report().to_json()).unwrap();
        for field in [
            "status",
            "url",
            "final_url",
            "path",
            "size",
            "sha256",
            "elapsed_ms",
            "bytes_fetched",
            "bytes_reused",
            "retries",
            "connections",
        ] {
            assert!(json.get(field).is_some(), "missing {field}: {json}");
        }
        assert_eq!(json["status"], "ok");
    }

    #[test]
    fn human_summary_mentions_reuse_and_retries() {
        let line = report().human_summary();
        assert!(line.starts_with("saved f (3.0 MiB) in 1.50 s"), "{line}");
        assert!(
            line.contains("1.0 MiB reused") && line.contains("1 retry"),
            "{line}"
        );
    }

    #[test]
    fn failure_report_carries_kind_and_exit_code() {
        let failure = Failure::from(Reason::Status {
            url: "u".into(),
            status: 404,
        });
        let json: serde_json::Value =
            serde_json::from_str(&FailureReport::new("u", "p", &failure).to_json()).unwrap();
        assert_eq!(json["error_kind"], "HTTP");
        assert_eq!(json["reason"], "status");
        assert_eq!(json["exit_code"], 4);
        assert_eq!(json["status"], "error");
    }
}
