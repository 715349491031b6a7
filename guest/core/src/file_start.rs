//! How a file's download begins, from what stands at its destination
//! before any request: skipped, refused, or probed (continuing a previous
//! run's progress, or from scratch), with a condition when `-N` lets the
//! server answer that nothing changed.

use crate::batch::{existing_file, http_date, ExistingFile, ExistingRules, Remote, Skip};
use crate::plan::MIN_CHUNK_SIZE;

/// What the adapter found at the destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtDestination {
    /// Something stands at the file's own name.
    pub file_exists: bool,
    /// Its size and modification time (Unix seconds), when it is a
    /// regular file.
    pub file: Option<(u64, Option<u64>)>,
    /// A previous run's `.part.meta`.
    pub meta: bool,
    /// Its `.part`, which matters only when the file and the meta are
    /// both there (the adapter may look only then).
    pub part: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstStep {
    Skip(Skip),
    /// A file stands there and nothing allows replacing it.
    Refuse,
    Probe(ProbeStart),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeStart {
    /// A previous run's progress is continued.
    pub continuing: bool,
    /// A meta left by a run stopped between naming the file and removing
    /// it: it describes nothing and is removed (it is inert where it
    /// cannot be).
    pub stale_meta: bool,
    /// The file standing there is to be replaced.
    pub replacing: bool,
    /// `-N`: the probe asks only if the remote changed since this
    /// HTTP-date, the file's modification time.
    pub if_modified_since: Option<String>,
    /// Bytes the probe asks for (see [`probe_bytes`]).
    pub bytes: u64,
}

/// The first step of the download of a file whose destination holds
/// `at`. `checksum_matches` is known only when a checksum was given and a
/// file stands there (it was computed).
pub fn first_step(
    at: AtDestination,
    rules: ExistingRules,
    checksum_matches: Option<bool>,
    chunk_size: Option<u64>,
) -> FirstStep {
    let stale_meta = at.file_exists && at.meta && !at.part;
    let continuing = at.meta && !stale_meta;
    let mut start = ProbeStart {
        continuing,
        stale_meta,
        replacing: false,
        if_modified_since: None,
        bytes: probe_bytes(chunk_size, continuing),
    };
    if at.file_exists {
        match existing_file(rules, checksum_matches, at.file, Remote::NotAsked) {
            ExistingFile::Skip(skip) => return FirstStep::Skip(skip),
            ExistingFile::Refuse => return FirstStep::Refuse,
            ExistingFile::Replace => start.replacing = true,
        }
        if rules.timestamping && !rules.force {
            start.if_modified_since = at.file.and_then(|(_, mtime)| mtime).map(http_date);
            if start.if_modified_since.is_some() {
                // Most likely up to date: a server that ignores the
                // condition then sends little before its answer is dropped.
                start.bytes = start.bytes.min(CONDITIONAL_PROBE_BYTES);
            }
        }
    }
    FirstStep::Probe(start)
}

/// What a `-N` probe asks for: a file that changed is rarely smaller, and
/// its answer is still the start of chunk 0.
pub const CONDITIONAL_PROBE_BYTES: u64 = 64 * 1024;

/// How many bytes a download's probe asks for. Continuing a previous run:
/// one, as the rest may be on disk already. Otherwise its answer is chunk
/// 0's first request, so no more than the smallest chunk: the plan made
/// from the answer can still split the object as it likes.
pub fn probe_bytes(chunk_size: Option<u64>, continuing: bool) -> u64 {
    if continuing {
        1
    } else {
        chunk_size.unwrap_or(MIN_CHUNK_SIZE).min(MIN_CHUNK_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BATCH: ExistingRules = ExistingRules {
        batch: true,
        force: false,
        timestamping: false,
    };

    fn at(file: bool, meta: bool, part: bool) -> AtDestination {
        AtDestination {
            file_exists: file,
            file: file.then_some((10, Some(784_111_777))),
            meta,
            part,
        }
    }

    fn probe(step: FirstStep) -> ProbeStart {
        match step {
            FirstStep::Probe(start) => start,
            other => panic!("not a probe: {other:?}"),
        }
    }

    #[test]
    fn a_previous_runs_progress_is_continued_with_a_one_byte_probe() {
        let start = probe(first_step(at(false, true, true), BATCH, None, None));
        assert!(start.continuing && !start.stale_meta && !start.replacing);
        assert_eq!(start.bytes, 1);
        let fresh = probe(first_step(
            at(false, false, false),
            BATCH,
            None,
            Some(4 << 30),
        ));
        assert!(!fresh.continuing);
        assert_eq!(fresh.bytes, MIN_CHUNK_SIZE);
        assert_eq!(probe_bytes(Some(1000), false), 1000);
    }

    #[test]
    fn a_meta_beside_a_named_file_without_its_part_is_stale() {
        let rules = ExistingRules {
            force: true,
            ..BATCH
        };
        let start = probe(first_step(at(true, true, false), rules, None, None));
        assert!(start.stale_meta && !start.continuing && start.replacing);
        // With its .part, it is a download in progress over an old file.
        let start = probe(first_step(at(true, true, true), rules, None, None));
        assert!(!start.stale_meta && start.continuing);
    }

    #[test]
    fn an_existing_file_is_skipped_refused_or_asked_about() {
        assert_eq!(
            first_step(at(true, false, false), BATCH, None, None),
            FirstStep::Skip(Skip::Exists)
        );
        let single = ExistingRules {
            batch: false,
            ..BATCH
        };
        assert_eq!(
            first_step(at(true, false, false), single, None, None),
            FirstStep::Refuse
        );
        assert_eq!(
            first_step(at(true, false, false), BATCH, Some(true), None),
            FirstStep::Skip(Skip::ChecksumMatches)
        );
        let timestamping = ExistingRules {
            timestamping: true,
            ..BATCH
        };
        let start = probe(first_step(at(true, false, false), timestamping, None, None));
        assert!(start.replacing);
        assert_eq!(
            start.if_modified_since.as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(start.bytes, CONDITIONAL_PROBE_BYTES);
        // --force asks no condition: it fetches again whatever the answer.
        let forced = ExistingRules {
            force: true,
            ..timestamping
        };
        let start = probe(first_step(at(true, false, false), forced, None, None));
        assert_eq!(start.if_modified_since, None);
    }
}
