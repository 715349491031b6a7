//! Where a batch stands, as the component tells its host: the native CLI
//! draws the terminal's progress from these lines (the component never
//! sees a terminal there). One line on stderr, a marker then JSON, that
//! the host takes out of the stream instead of printing.

use serde::{Deserialize, Serialize};

/// Starts every progress line; no message of rangeget's starts so.
const MARKER: &str = "\u{1b}[rangeget-progress]";

/// How many active files a line names: the rest are counted.
pub const MAX_NAMED: usize = 4;

/// A file under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveFile {
    pub path: String,
    /// Bytes on disk so far.
    pub got: u64,
    /// Its size, once known.
    pub size: Option<u64>,
}

/// The batch at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchProgress {
    /// Files in the run.
    pub files: usize,
    /// Files ended (saved, skipped or failed).
    pub done: usize,
    pub failed: usize,
    /// Files under way (at most [`MAX_NAMED`]).
    pub active: Vec<ActiveFile>,
    /// How many more are under way than `active` names.
    pub more_active: usize,
}

impl BatchProgress {
    pub fn to_line(&self) -> String {
        let json = serde_json::to_string(self).expect("plain data serializes");
        format!("{MARKER}{json}")
    }

    /// The progress a line carries, if it is a progress line.
    pub fn from_line(line: &str) -> Option<BatchProgress> {
        serde_json::from_str(line.strip_prefix(MARKER)?).ok()
    }

    /// How far the batch got, for the line that says it was interrupted:
    /// "3 of 5 files ended (1 failed)".
    pub fn ended_so_far(&self) -> String {
        let failed = match self.failed {
            0 => String::new(),
            n => format!(" ({n} failed)"),
        };
        format!("{} of {} files ended{failed}", self.done, self.files)
    }

    /// The `--json` line of an interrupted batch, last on stdout where a
    /// finished one prints its summary object.
    pub fn interrupted_json(&self, exit_code: i32) -> String {
        serde_json::json!({
            "status": "interrupted",
            "files": self.files,
            "ended": self.done,
            "failed": self.failed,
            "exit_code": exit_code,
        })
        .to_string()
    }

    /// The active files for a terminal line: "a.bin 45%, b.bin 3 MiB (+2)".
    pub fn describe_active(&self) -> String {
        let mut parts: Vec<String> = self
            .active
            .iter()
            .map(|file| {
                let name = file.path.rsplit('/').next().unwrap_or(&file.path);
                match file.size {
                    Some(size) if size > 0 => {
                        format!("{name} {}%", file.got.min(size) * 100 / size)
                    }
                    // Not started yet (the server has not answered).
                    _ if file.got == 0 => name.to_string(),
                    _ => format!("{name} {}", crate::size::format_size(file.got)),
                }
            })
            .collect();
        if self.more_active > 0 {
            parts.push(format!("+{} more", self.more_active));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_line_round_trips_and_nothing_else_is_one() {
        let progress = BatchProgress {
            files: 10,
            done: 3,
            failed: 1,
            active: vec![
                ActiveFile {
                    path: "out/a.bin".into(),
                    got: 50,
                    size: Some(200),
                },
                ActiveFile {
                    path: "b.bin".into(),
                    got: 2048,
                    size: None,
                },
                ActiveFile {
                    path: "c.bin".into(),
                    got: 0,
                    size: None,
                },
            ],
            more_active: 2,
        };
        let line = progress.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(BatchProgress::from_line(&line), Some(progress.clone()));
        assert_eq!(BatchProgress::from_line("rangeget: error: x"), None);
        assert_eq!(
            progress.describe_active(),
            "a.bin 25%, b.bin 2.0 KiB, c.bin, +2 more"
        );
        assert_eq!(progress.ended_so_far(), "3 of 10 files ended (1 failed)");
        let json: serde_json::Value =
            serde_json::from_str(&progress.interrupted_json(130)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "interrupted", "files": 10, "ended": 3, "failed": 1, "exit_code": 130})
        );
    }
}
