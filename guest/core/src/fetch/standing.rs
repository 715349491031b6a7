//! A file's name, before the probe and once the server named the file:
//! what stands there is looked at (and hashed, when a checksum is given),
//! judged by the run's rules — skipped, refused, replaced; `-N` asks the
//! server only if it changed — and the destination located.

use super::{Destination, Ending, Fetch, Output, Probed, Stage};
use crate::batch::{existing_file, ExistingFile, ExistingRules, Remote, Skip};
use crate::failure::{Failure, Reason};
use crate::file_start::{first_step, AtDestination, FirstStep};

/// A file to fetch, and how the run treats what stands at its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTarget {
    /// Where the file goes (the URL's name until the server names it).
    pub path: String,
    pub rules: ExistingRules,
    /// `--checksum`: the SHA-256 the file must have.
    pub checksum: Option<String>,
    /// `--json`: the report carries the file's SHA-256 even without a
    /// checksum to compare.
    pub report_sha256: bool,
    /// The file takes the server's modification time (unless
    /// `--no-remote-time`).
    pub remote_time: bool,
    /// The run gave up on the URL's host: a file that is not skipped
    /// fails with this before anything is asked.
    pub given_up: Option<Failure>,
}

/// Waiting for [`super::Input::Standing`] (and, with a checksum, for
/// [`super::Input::Hashed`]).
pub(super) struct Looking {
    at: Option<AtDestination>,
    then: Then,
}

/// What the look is for.
enum Then {
    /// The first look, before any request.
    Start,
    /// The look once the destination is locked, the object known.
    Locked(Probed),
}

impl Fetch {
    pub(super) fn target(&self) -> &FileTarget {
        match &self.to {
            Destination::File(target) => target,
            _ => unreachable!("a file's"),
        }
    }

    /// Looks at the file's name before anything is asked.
    pub(super) fn look_first(&mut self) {
        self.outputs.push_back(Output::Look { progress: true });
        self.stage = Stage::Looking(Looking {
            at: None,
            then: Then::Start,
        });
    }

    /// What stands at the name: judged, once hashed if a checksum says
    /// what it must be.
    pub(super) fn standing(&mut self, at: AtDestination) {
        let hash = at.file_exists && self.target().checksum.is_some();
        let Stage::Looking(looking) = &mut self.stage else {
            return; // Unasked: a bug of the pump, without effect.
        };
        if hash {
            looking.at = Some(at);
            return self.outputs.push_back(Output::Hash { part: false });
        }
        self.judge(at, None);
    }

    /// The SHA-256 asked for: of the file at the name, or of the `.part`.
    pub(super) fn hashed(&mut self, sha256: String) {
        match &self.stage {
            Stage::Looking(Looking { at: Some(at), .. }) => {
                let at = *at;
                let matches = self.target().checksum.as_deref() == Some(sha256.as_str());
                self.judge(at, Some(matches));
            }
            Stage::Publishing(_) => self.part_hashed(sha256),
            _ => {} // Unasked: a bug of the pump, without effect.
        }
    }

    fn judge(&mut self, at: AtDestination, checksum_matches: Option<bool>) {
        let Stage::Looking(looking) = std::mem::replace(&mut self.stage, Stage::Over) else {
            unreachable!("looking");
        };
        let rules: ExistingRules = self.target().rules;
        match looking.then {
            Then::Start => match first_step(at, rules, checksum_matches, self.spec.chunk_size) {
                FirstStep::Skip(skip) => self.finish(Ending::Skipped(skip)),
                FirstStep::Refuse => self.fail(self.exists()),
                FirstStep::Probe(start) => {
                    if let Some(given_up) = self.target().given_up.clone() {
                        return self.fail(given_up);
                    }
                    if start.stale_meta {
                        self.outputs.push_back(Output::RemoveStaleMeta);
                    }
                    self.replacing = start.replacing;
                    self.asked_if_modified = start.if_modified_since.is_some();
                    self.probe(start.bytes, start.if_modified_since);
                }
            },
            Then::Locked(probed) => {
                if at.file_exists {
                    let remote = Remote::Answered {
                        size: probed.object.size,
                        mtime: probed.object.last_modified_unix(),
                    };
                    match existing_file(rules, checksum_matches, at.file, remote) {
                        // Asked if modified, answered with the file: the
                        // server ignores the condition.
                        ExistingFile::Skip(Skip::UpToDate) if self.asked_if_modified => {
                            return self.finish(Ending::Skipped(Skip::MatchesServer))
                        }
                        ExistingFile::Skip(skip) => return self.finish(Ending::Skipped(skip)),
                        ExistingFile::Refuse => return self.fail(self.exists()),
                        ExistingFile::Replace => self.replacing = true,
                    }
                }
                self.open_progress(probed);
            }
        }
    }

    fn exists(&self) -> Failure {
        Reason::Exists {
            path: self.target().path.clone(),
        }
        .into()
    }

    /// Asks for what a previous run left at the destination.
    fn open_progress(&mut self, probed: Probed) {
        self.outputs.push_back(Output::OpenProgress);
        self.stage = Stage::Locating(probed);
    }

    /// The destination, at `path`, is this run's. A file standing there
    /// (named by the server, so not seen before the probe) is judged
    /// again, unless it is to be replaced anyway.
    pub(super) fn locked(&mut self, path: String) {
        let probed = match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Locating(probed) if !self.located => probed,
            // Unasked: a bug of the pump, without effect.
            other => return self.stage = other,
        };
        self.located = true;
        if let Destination::File(target) = &mut self.to {
            if target.path != path {
                // The server named another file: what was judged is not there.
                target.path = path;
                self.replacing = false;
                self.asked_if_modified = false;
            }
        }
        // A file to replace is not looked at again, unless the server was
        // asked about it and answered with the file anyway.
        if self.replacing && !self.asked_if_modified {
            return self.open_progress(probed);
        }
        self.outputs.push_back(Output::Look { progress: false });
        self.stage = Stage::Looking(Looking {
            at: None,
            then: Then::Locked(probed),
        });
    }
}
