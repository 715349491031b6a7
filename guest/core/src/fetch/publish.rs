//! A file's last steps once every byte is in its `.part`: synced, its
//! length checked, its checksum compared (`--checksum`), its time set to
//! the server's, and only then named.

use super::{Ending, Fetch, Output, Stage, Stats};
use crate::checksum::verdict;
use crate::failure::{Kept, Reason};
use crate::paths::part_path;
use crate::transfer::Transfer;

/// How the `.part` gets the file's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish {
    /// The server's modification time (Unix seconds), given to the file
    /// before its name: a file never stands there without it, which `-N`
    /// would take for a changed remote.
    pub mtime: Option<u64>,
    /// Replace a file standing at the name (`--force`, or one judged to be
    /// replaced); otherwise one that appeared meanwhile stays, and this
    /// fails.
    pub replace: bool,
    /// Sync the directory for the new name now: a batch syncs its
    /// directories once, at its end (one sync per file would double the
    /// cost of many small ones); `--no-fsync` never.
    pub sync_dir: bool,
}

/// A file between its last byte and its name.
pub(super) struct Publishing {
    stats: Stats,
    /// The object's size when known; the `.part`'s length must be it.
    size: Option<u64>,
    mtime: Option<u64>,
}

impl Publishing {
    /// The file's size, as far as it is known.
    pub(super) fn size(&self) -> u64 {
        self.size.unwrap_or(self.stats.size)
    }
}

impl Fetch {
    /// Every byte is in the `.part`: the last steps begin.
    pub(super) fn publish(&mut self, stats: Stats, transfer: &Transfer) {
        let object = transfer.object();
        let publishing = Publishing {
            stats,
            size: object.size,
            mtime: object.last_modified_unix(),
        };
        self.outputs.push_back(Output::Finish {
            sync: self.spec.settings.durable,
        });
        self.stage = Stage::Publishing(publishing);
    }

    fn part_path(&self) -> String {
        part_path(&self.target().path)
    }

    /// The `.part`, synced, is `len` bytes long.
    pub(super) fn synced(&mut self, len: u64) {
        let Stage::Publishing(publishing) = &mut self.stage else {
            return; // Unasked: a bug of the pump, without effect.
        };
        let size = publishing.size.unwrap_or(len);
        publishing.stats.size = size;
        if len != size {
            let failure = Reason::PartLength {
                path: self.part_path(),
                len,
                expected: size,
            };
            return self.fail(failure.into());
        }
        let target = self.target();
        if target.checksum.is_some() || target.report_sha256 {
            return self.outputs.push_back(Output::Hash { part: true });
        }
        self.name();
    }

    /// The `.part`'s SHA-256: compared with `--checksum`. A mismatch
    /// keeps the `.part` for inspection but drops its meta, so the next
    /// run starts clean instead of trusting it.
    pub(super) fn part_hashed(&mut self, sha256: String) {
        let part = self.part_path();
        let expected = self.target().checksum.clone();
        match verdict(expected.as_deref(), Some(sha256), || Kept::Part(part)) {
            Ok(sha256) => {
                if let Stage::Publishing(publishing) = &mut self.stage {
                    publishing.stats.sha256 = sha256;
                }
                self.name();
            }
            Err(mismatch) => {
                let used = match &self.stage {
                    Stage::Publishing(p) => p.stats.sources.iter().filter(|r| r.bytes > 0).count(),
                    _ => 0,
                };
                if self.unmix(used) {
                    return;
                }
                self.outputs.push_back(Output::RemoveMeta);
                if self.fail_over(&mismatch, true) {
                    return;
                }
                self.fail(mismatch.into());
            }
        }
    }

    fn name(&mut self) {
        let Stage::Publishing(publishing) = &self.stage else {
            unreachable!("publishing");
        };
        let target = self.target();
        let durable = self.spec.settings.durable;
        let publish = Publish {
            mtime: publishing.mtime.filter(|_| target.remote_time),
            replace: target.rules.force || self.replacing,
            sync_dir: durable && !target.rules.batch,
        };
        self.outputs.push_back(Output::Publish(publish));
    }

    /// The file has its name: done.
    pub(super) fn published(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Publishing(publishing) => self.finish(Ending::Finished(publishing.stats)),
            // Unasked: a bug of the pump, without effect.
            other => self.stage = other,
        }
    }
}
