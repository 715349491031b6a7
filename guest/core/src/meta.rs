//! The `FILE.part.meta` control file: what has been fetched so far.
//!
//! It is the only thing trusted on resume. The length of `FILE.part` says
//! nothing (the file is sized up front, and the page cache may hold writes
//! that never reached the disk), so every chunk's progress is recorded here
//! explicitly, and the file is replaced atomically by the adapter.

use serde::{Deserialize, Serialize};

use crate::failure::{Reason, RemoteChange};
use crate::object::RemoteObject;
use crate::plan::{is_plannable, MAX_CHUNKS_AFTER_SPLITS};
use crate::range::ByteRange;
use crate::signed_url::{url_change, UrlChange};

/// Bumped whenever the layout changes; older files are then discarded.
pub const FORMAT_VERSION: u32 = 1;
/// The largest meta file a plan can produce is a few hundred KiB (at most
/// `MAX_CHUNKS_AFTER_SPLITS` chunks); anything larger is not read.
pub const MAX_META_BYTES: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u32,
    /// The URL the user asked for (not the redirect target, which may be a
    /// short-lived signed link).
    pub url: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub chunk_size: u64,
    pub chunks: Vec<MetaChunk>,
    /// The file's other sources (a metalink's, a list's mirrors), for
    /// whoever reads the meta.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// The fingerprint of the piece hashes the chunks were proven by: a
    /// run with the same ones continues whichever source it reaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pieces: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaChunk {
    pub start: u64,
    /// Inclusive, like HTTP ranges.
    pub end: u64,
    #[serde(flatten)]
    pub state: SavedChunk,
}

/// A chunk's recorded state. Every claim that bytes are on disk carries
/// their XXH3-128 digest (32 hex digits), so a resume can check the claim
/// against the `.part` before trusting it: after a power loss, or a disk
/// that rotted, the meta may promise bytes the file does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum SavedChunk {
    /// `received` bytes from `start` are on disk; the rest is still to fetch.
    Pending {
        #[serde(default)]
        received: u64,
        /// Digest of the `received` bytes; absent when nothing was received.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        xxh3: Option<String>,
    },
    Done {
        xxh3: String,
    },
}

/// Formats a digest the way the meta file stores it.
pub fn digest_hex(digest: u128) -> String {
    format!("{digest:032x}")
}

/// Parses a stored digest; `None` unless exactly 32 hex digits.
pub fn parse_digest(hex: &str) -> Option<u128> {
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    #[error("it is larger than any meta file rangeget writes ({MAX_META_BYTES} bytes at most)")]
    TooLarge,
    #[error("it is not valid meta JSON ({0})")]
    Unreadable(String),
    #[error("it has format version {found}, this rangeget writes version {FORMAT_VERSION}")]
    WrongVersion { found: u32 },
    #[error("it is inconsistent: {0}")]
    Inconsistent(String),
}

/// Whether saved progress may be continued against what the server says now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResumeDecision {
    Resume,
    Restart(RestartReason),
}

/// Why a previous run's progress is not continued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartReason {
    /// The meta file cannot be trusted.
    Meta(MetaError),
    /// The meta describes a `.part` that is not there.
    PartMissing,
    /// A `.part` with no meta: nothing says what it holds.
    PartWithoutMeta,
    /// The server no longer serves ranges.
    NoRanges,
    Changed(RemoteChange),
    /// The progress is for another URL that cannot be proven to serve
    /// the same object.
    OtherUrl {
        saved: String,
        url: String,
        why: String,
    },
}

impl RestartReason {
    /// What a user reads, naming the `.part` and meta files as given.
    pub fn describe(&self, part: &str, meta: &str) -> String {
        match self {
            RestartReason::Meta(error) => format!("ignoring {meta}: {error}"),
            RestartReason::PartMissing => format!("{part} is missing"),
            RestartReason::PartWithoutMeta => format!(
                "{part} has no {meta} describing it, so its content cannot be trusted"
            ),
            RestartReason::NoRanges => "the server no longer supports range requests".into(),
            RestartReason::Changed(change) => Reason::Changed(change.clone()).to_string(),
            RestartReason::OtherUrl { saved, url, why } => format!(
                "the saved progress is for {saved} and {url} cannot be proven to serve the same file ({why})"
            ),
        }
    }
}

/// What to do with the `.part` and meta a previous run may have left,
/// given the meta's bytes (if any, as read up to [`MAX_META_BYTES`] + 1),
/// the `.part`'s length (if it exists), the URL asked for and the object
/// a fresh probe found.
pub fn resume_verdict(
    meta: Option<&[u8]>,
    part_len: Option<u64>,
    url: &str,
    object: &RemoteObject,
    pieces: Option<&str>,
) -> Result<MetaFile, Option<RestartReason>> {
    let Some(bytes) = meta else {
        return Err(part_len.map(|_| RestartReason::PartWithoutMeta));
    };
    let meta = MetaFile::parse(bytes).map_err(|e| Some(RestartReason::Meta(e)))?;
    // Proven by the same piece hashes, the bytes are the file's,
    // whichever source served them and whichever answers now.
    let same_pieces = pieces.is_some() && meta.pieces.as_deref() == pieces;
    let decision = if same_pieces && object.size == Some(meta.size) {
        ResumeDecision::Resume
    } else {
        meta.resume_decision(url, object)
    };
    if let ResumeDecision::Restart(reason) = decision {
        return Err(Some(reason));
    }
    let part_len = part_len.ok_or(Some(RestartReason::PartMissing))?;
    meta.check_part_len(part_len)
        .map_err(|e| Some(RestartReason::Meta(e)))?;
    Ok(meta)
}

impl MetaFile {
    /// Reads a meta file, held to the bounds of a fresh plan: whatever a
    /// damaged or hostile file says, loading it costs no more memory or
    /// time than planning the download anew.
    pub fn parse(bytes: &[u8]) -> Result<MetaFile, MetaError> {
        if bytes.len() as u64 > MAX_META_BYTES {
            return Err(MetaError::TooLarge);
        }
        // Read the version first so a future layout is reported as such,
        // not as garbage.
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let version: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| MetaError::Unreadable(e.to_string()))?;
        if version.version != FORMAT_VERSION {
            return Err(MetaError::WrongVersion {
                found: version.version,
            });
        }
        let meta: MetaFile =
            serde_json::from_slice(bytes).map_err(|e| MetaError::Unreadable(e.to_string()))?;
        meta.check_consistency()?;
        Ok(meta)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("meta always serialises");
        json.push(b'\n');
        json
    }

    /// Chunks must tile `[0, size)` in order, each with sane progress.
    fn check_consistency(&self) -> Result<(), MetaError> {
        let bad = |why: String| Err(MetaError::Inconsistent(why));
        if self.size == 0 {
            return bad("size is 0".into());
        }
        if !is_plannable(self.size, self.chunk_size) {
            return bad(format!(
                "chunk size {} is outside what a plan of {} bytes uses",
                self.chunk_size, self.size
            ));
        }
        if self.chunks.len() > MAX_CHUNKS_AFTER_SPLITS {
            return bad(format!(
                "{} chunks, more than the {MAX_CHUNKS_AFTER_SPLITS} a download ever has",
                self.chunks.len()
            ));
        }
        let mut next = 0u64;
        for (i, chunk) in self.chunks.iter().enumerate() {
            if chunk.start != next {
                return bad(format!(
                    "chunk {i} starts at {} but the previous one ended at {next} (overlap or gap)",
                    chunk.start
                ));
            }
            let Some(range) = ByteRange::new(chunk.start, chunk.end) else {
                return bad(format!("chunk {i} ends before it starts"));
            };
            match &chunk.state {
                SavedChunk::Pending { received, xxh3 } => {
                    if *received >= range.len() {
                        return bad(format!(
                            "chunk {i} claims {received} of {} bytes but is not done",
                            range.len()
                        ));
                    }
                    if *received > 0 && xxh3.as_deref().and_then(parse_digest).is_none() {
                        return bad(format!(
                            "chunk {i} claims {received} bytes without a valid digest"
                        ));
                    }
                }
                SavedChunk::Done { xxh3 } => {
                    if parse_digest(xxh3).is_none() {
                        return bad(format!(
                            "chunk {i} is done but its digest '{xxh3}' is invalid"
                        ));
                    }
                }
            }
            next = chunk.end.saturating_add(1);
        }
        if next != self.size {
            return bad(format!(
                "chunks cover {next} bytes of a {}-byte file",
                self.size
            ));
        }
        Ok(())
    }

    /// Bytes recorded as written: finished chunks plus progress inside the others.
    pub fn bytes_on_disk(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match &c.state {
                SavedChunk::Done { .. } => c.end - c.start + 1,
                SavedChunk::Pending { received, .. } => *received,
            })
            .sum()
    }

    /// `FILE.part` is sized to the full length when created, so any other
    /// length means it was replaced or truncated behind our back.
    pub fn check_part_len(&self, part_len: u64) -> Result<(), MetaError> {
        if part_len == self.size {
            Ok(())
        } else {
            Err(MetaError::Inconsistent(format!(
                "the .part file has {part_len} bytes, the meta expects {}",
                self.size
            )))
        }
    }

    /// Compares the saved object with a fresh probe of `url`.
    pub fn resume_decision(&self, url: &str, remote: &RemoteObject) -> ResumeDecision {
        if !remote.accepts_ranges || remote.size.is_none() {
            return ResumeDecision::Restart(RestartReason::NoRanges);
        }
        let saved = RemoteObject {
            url: self.url.clone(),
            size: Some(self.size),
            etag: self.etag.clone(),
            last_modified: self.last_modified.clone(),
            accepts_ranges: true,
            content_disposition: None,
        };
        if let Some(change) = saved.change_from(remote) {
            return ResumeDecision::Restart(RestartReason::Changed(change));
        }
        if self.url != url {
            if let Some(why) = not_provably_the_same(&saved, url, remote) {
                return ResumeDecision::Restart(RestartReason::OtherUrl {
                    saved: self.url.clone(),
                    url: url.to_string(),
                    why,
                });
            }
        }
        ResumeDecision::Resume
    }
}

/// Why `url` may serve another object than `saved` (fetched from another
/// URL), or `None` when it provably serves the same one: the same scheme,
/// host, port and path, a query that differs at most in signature and
/// expiry parameters (a re-signed link, see `signed_url`), and validators
/// that match. A matching validator alone proves nothing across paths or
/// queries: nginx's ETags (mtime and size) are equal for two files written
/// in one second.
fn not_provably_the_same(saved: &RemoteObject, url: &str, remote: &RemoteObject) -> Option<String> {
    match url_change(&saved.url, url) {
        UrlChange::OtherPath => {
            return Some("another host or path; only a re-signed link keeps the progress".into())
        }
        UrlChange::OtherQuery { names } => {
            return Some(format!(
                "its query differs in {}; only a change of signature or expiry parameters \
                 (X-Amz-*, Signature, Expires, sig, se, token, ...) keeps the progress",
                names.join(", ")
            ))
        }
        UrlChange::SameObject => {}
    }
    let same_etag = saved.strong_etag().is_some() && saved.strong_etag() == remote.strong_etag();
    let same_date = saved.last_modified.is_some() && saved.last_modified == remote.last_modified;
    (!same_etag && !same_date).then(|| "no strong ETag or Last-Modified that matches".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> MetaFile {
        MetaFile {
            version: FORMAT_VERSION,
            url: "http://h/f".into(),
            size: 25,
            etag: Some("\"e\"".into()),
            last_modified: None,
            sources: Vec::new(),
            pieces: None,
            chunk_size: 4096,
            chunks: vec![
                MetaChunk {
                    start: 0,
                    end: 9,
                    state: SavedChunk::Done {
                        xxh3: digest_hex(1),
                    },
                },
                MetaChunk {
                    start: 10,
                    end: 19,
                    state: SavedChunk::Pending {
                        received: 3,
                        xxh3: Some(digest_hex(2)),
                    },
                },
                MetaChunk {
                    start: 20,
                    end: 24,
                    state: SavedChunk::Pending {
                        received: 0,
                        xxh3: None,
                    },
                },
            ],
        }
    }

    fn remote(size: u64, etag: &str) -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(size),
            etag: Some(etag.into()),
            last_modified: None,
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    #[test]
    fn round_trips_through_json() {
        let meta = sample();
        assert_eq!(MetaFile::parse(&meta.to_json()), Ok(meta));
    }

    #[test]
    fn rejects_gaps_overlaps_and_overclaims() {
        let mut gap = sample();
        gap.chunks[1].start = 11;
        assert!(matches!(
            MetaFile::parse(&gap.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        let mut short = sample();
        short.size = 30;
        assert!(matches!(
            MetaFile::parse(&short.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        let mut overclaim = sample();
        overclaim.chunks[1].state = SavedChunk::Pending {
            received: 10,
            xxh3: Some(digest_hex(2)),
        };
        assert!(matches!(
            MetaFile::parse(&overclaim.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        let mut unverifiable = sample();
        unverifiable.chunks[1].state = SavedChunk::Pending {
            received: 3,
            xxh3: None,
        };
        assert!(matches!(
            MetaFile::parse(&unverifiable.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        let mut bad_digest = sample();
        bad_digest.chunks[0].state = SavedChunk::Done { xxh3: "xyz".into() };
        assert!(matches!(
            MetaFile::parse(&overclaim.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        let mut version = sample();
        version.version = 99;
        assert_eq!(
            MetaFile::parse(&version.to_json()),
            Err(MetaError::WrongVersion { found: 99 })
        );
        assert!(matches!(
            MetaFile::parse(b"{\"version\":1"),
            Err(MetaError::Unreadable(_))
        ));
    }

    #[test]
    fn resumes_only_the_same_object() {
        let meta = sample();
        assert_eq!(
            meta.resume_decision("http://h/f", &remote(25, "\"e\"")),
            ResumeDecision::Resume
        );
        assert!(matches!(
            meta.resume_decision("http://h/f", &remote(26, "\"e\"")),
            ResumeDecision::Restart(_)
        ));
        assert!(matches!(
            meta.resume_decision("http://h/f", &remote(25, "\"x\"")),
            ResumeDecision::Restart(_)
        ));
        // A re-signed link to the same object keeps the progress...
        assert_eq!(
            meta.resume_decision("http://h/f?sig=2", &remote(25, "\"e\"")),
            ResumeDecision::Resume
        );
        // ...but without a strong ETag nothing proves it is the same file.
        let mut weak = sample();
        weak.etag = None;
        let mut r = remote(25, "\"e\"");
        r.etag = None;
        assert!(matches!(
            weak.resume_decision("http://other/g", &r),
            ResumeDecision::Restart(_)
        ));
        assert_eq!(
            weak.resume_decision("http://h/f", &r),
            ResumeDecision::Resume
        );
    }

    #[test]
    fn another_path_is_never_resumed_even_with_a_matching_etag() {
        // nginx's ETags are mtime-size: two files of one size written in
        // the same second share one.
        let meta = sample();
        let mut other = remote(25, "\"e\"");
        other.url = "http://h/g".into();
        assert!(matches!(
            meta.resume_decision("http://h/g", &other),
            ResumeDecision::Restart(RestartReason::OtherUrl { why, .. }) if why.contains("path")
        ));
        // Nor another query of one path: an export's `?id=2` is not `?id=1`.
        let mut by_id = sample();
        by_id.url = "http://h/q?id=1&X-Amz-Signature=a".into();
        assert!(matches!(
            by_id.resume_decision("http://h/q?id=2&X-Amz-Signature=b", &remote(25, "\"e\"")),
            ResumeDecision::Restart(RestartReason::OtherUrl { why, .. }) if why.contains("differs in id")
        ));
        // A re-signed query with only Last-Modified to go by is fine...
        let mut dated = sample();
        dated.etag = None;
        dated.last_modified = Some("Mon, 01 Jan 2024 00:00:00 GMT".into());
        let mut r = remote(25, "\"e\"");
        r.etag = None;
        r.last_modified = dated.last_modified.clone();
        assert_eq!(
            dated.resume_decision("http://h/f?sig=3", &r),
            ResumeDecision::Resume
        );
        // ...but with no validator at all nothing proves it.
        r.last_modified = None;
        dated.last_modified = None;
        assert!(matches!(
            dated.resume_decision("http://h/f?sig=3", &r),
            ResumeDecision::Restart(_)
        ));
    }

    #[test]
    fn metas_outside_the_bounds_of_a_plan_are_refused() {
        let mut tiny_chunks = sample();
        tiny_chunks.chunk_size = 0;
        assert!(matches!(
            MetaFile::parse(&tiny_chunks.to_json()),
            Err(MetaError::Inconsistent(_))
        ));
        // A million valid 16-byte chunks of a 16 MiB file.
        let size = 16u64 << 20;
        let chunks = crate::plan::plan_chunks(size, 16)
            .into_iter()
            .map(|r| MetaChunk {
                start: r.start(),
                end: r.end(),
                state: SavedChunk::Pending {
                    received: 0,
                    xxh3: None,
                },
            })
            .collect();
        let many = MetaFile {
            size,
            chunk_size: 16,
            chunks,
            ..sample()
        };
        assert_eq!(MetaFile::parse(&many.to_json()), Err(MetaError::TooLarge));
        let mut padded = vec![b' '; MAX_META_BYTES as usize];
        padded.extend_from_slice(&sample().to_json());
        assert_eq!(MetaFile::parse(&padded), Err(MetaError::TooLarge));
    }

    #[test]
    fn bytes_on_disk_counts_done_chunks_and_partial_progress() {
        assert_eq!(sample().bytes_on_disk(), 13);
    }

    #[test]
    fn part_length_must_match() {
        assert!(sample().check_part_len(25).is_ok());
        assert!(sample().check_part_len(24).is_err());
    }

    proptest! {
        #[test]
        fn loader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = MetaFile::parse(&bytes);
        }

        /// Well-formed JSON with any numbers in it: whatever is accepted
        /// is within the bounds of a plan, so resuming it costs no more
        /// than a fresh start.
        #[test]
        fn hostile_metas_are_accepted_only_within_plan_bounds(
            size in prop_oneof![Just(0u64), 1u64..1 << 20, any::<u64>()],
            chunk_size in prop_oneof![Just(0u64), 1u64..64, any::<u64>()],
            ends in proptest::collection::vec(any::<u64>(), 0..64),
            received in any::<u64>(),
        ) {
            let mut start = 0u64;
            let chunks = ends.iter().map(|&len| {
                let end = start.saturating_add(len % (size.max(1)));
                let chunk = MetaChunk { start, end, state: SavedChunk::Pending { received: received % (len.max(1)), xxh3: Some(digest_hex(1)) } };
                start = end.saturating_add(1);
                chunk
            }).collect();
            let meta = MetaFile { version: FORMAT_VERSION, url: "u".into(), size, etag: None, last_modified: None, chunk_size, chunks, sources: Vec::new(), pieces: None };
            if let Ok(parsed) = MetaFile::parse(&meta.to_json()) {
                prop_assert!(crate::plan::is_plannable(parsed.size, parsed.chunk_size));
                prop_assert!(parsed.chunks.len() <= MAX_CHUNKS_AFTER_SPLITS);
            }
        }

        #[test]
        fn any_planned_meta_round_trips(size in 1u64..1<<40, chunk in crate::plan::SMALLEST_CHUNK_SIZE..1<<32, progress in any::<u64>()) {
            prop_assume!(is_plannable(size, chunk));
            let chunks = crate::plan::plan_chunks(size, chunk)
                .into_iter()
                .enumerate()
                .map(|(i, r)| MetaChunk {
                    start: r.start(),
                    end: r.end(),
                    state: if i % 3 == 0 {
                        SavedChunk::Done { xxh3: digest_hex(u128::from(progress) << 64 | i as u128) }
                    } else {
                        let received = progress % r.len();
                        SavedChunk::Pending { received, xxh3: (received > 0).then(|| digest_hex(7)) }
                    },
                })
                .collect();
            let meta = MetaFile { version: FORMAT_VERSION, url: "u".into(), size, etag: None, last_modified: Some("x".into()), chunk_size: chunk, chunks, sources: Vec::new(), pieces: None };
            prop_assert_eq!(MetaFile::parse(&meta.to_json()), Ok(meta));
        }
    }
}
