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

#[cfg(test)]
mod tests {
    use super::*;

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
        }
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
