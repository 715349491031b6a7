//! The ranged-download state machine: which chunk to request next, how far
//! each has come (and the digest of what it holds), when a failed or
//! too-slow one is retried, what a resume must verify, and when progress
//! is saved. The adapter feeds it bytes and times and obeys its answers.

use xxhash_rust::xxh3::Xxh3;

use crate::meta::{digest_hex, parse_digest, MetaChunk, MetaFile, SavedChunk, FORMAT_VERSION};
use crate::plan::{plan_chunks, MAX_CHUNKS_AFTER_SPLITS};
use crate::probe::RemoteObject;
use crate::range::ByteRange;
use crate::request_size::{next_request_size, FIRST_REQUEST_SIZE};
use crate::retry::RetryPolicy;

/// Progress is saved (atomically, without fsync) at most this often. A
/// `kill -9` keeps the page cache, so it loses only what arrived since the
/// last save; at tens of MiB/s that is well under a MiB.
pub const QUICK_SAVE_INTERVAL_MS: u64 = 10;
/// Data and meta are synced to disk this often, bounding what a power loss
/// can take (its damage is caught by the digests either way).
pub const DURABLE_SAVE_INTERVAL_MS: u64 = 5_000;
/// The smallest piece an idle connection takes from a busy chunk.
const MIN_SPLIT_OFF: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Pending {
        failures: u32,
        not_before_ms: u64,
    },
    InFlight {
        failures: u32,
        /// Start of the current speed window and bytes received in it.
        window_start_ms: u64,
        window_bytes: u64,
        /// Bytes arrived in this attempt at a useful rate: such an attempt
        /// does not count against the retry budget.
        progressed: bool,
        /// Where the current request ends, counted like `received`: a
        /// chunk may take several requests (see `request_size`).
        request_end: u64,
    },
    Done {
        digest: u128,
    },
}

#[derive(Clone)]
struct Chunk {
    range: ByteRange,
    /// Bytes from `range.start()` already written to the file.
    received: u64,
    /// Digest state over those `received` bytes.
    hasher: Xxh3,
    state: ChunkState,
}

/// One request to make: the still-missing bytes of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    pub chunk: usize,
    pub range: ByteRange,
}

/// Bytes a previous run claims are on disk; the adapter reads them back
/// and passes them to `Download::verify_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub chunk: usize,
    pub range: ByteRange,
    digest: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureVerdict {
    RetryAt { at_ms: u64, retry: u32 },
    GiveUp { failures: u32 },
}

/// What kind of save is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpoint {
    None,
    /// Replace the meta atomically; no fsync.
    Quick,
    /// A chunk finished: replace the meta and sync it, so the record of
    /// finished chunks survives a power loss too (their data is verified
    /// by digest on resume either way).
    FinishedChunk,
    /// Sync the data, then replace the meta and sync it too.
    Durable,
}

#[derive(Clone)]
pub struct Download {
    object: RemoteObject,
    size: u64,
    chunk_size: u64,
    chunks: Vec<Chunk>,
    policy: RetryPolicy,
    /// Bytes per range request; grows when round trips are slow.
    request_size: u64,
    /// The shortest wait for a response head so far: the round trip.
    shortest_wait_ms: u64,
    /// Bytes verified to be on disk from a previous run.
    reused_bytes: u64,
    last_save_ms: u64,
    last_durable_ms: u64,
    unsaved_progress: bool,
    unsaved_finished_chunk: bool,
    undurable: bool,
}

impl Download {
    /// A fresh download of `object`, which must have a known size.
    pub fn new(object: RemoteObject, size: u64, chunk_size: u64, policy: RetryPolicy) -> Download {
        let chunks = plan_chunks(size, chunk_size)
            .into_iter()
            .map(Chunk::fresh)
            .collect();
        Download::with_chunks(object, size, chunk_size, chunks, policy)
    }

    fn with_chunks(
        object: RemoteObject,
        size: u64,
        chunk_size: u64,
        chunks: Vec<Chunk>,
        policy: RetryPolicy,
    ) -> Download {
        Download {
            object,
            size,
            chunk_size,
            chunks,
            policy,
            request_size: FIRST_REQUEST_SIZE,
            shortest_wait_ms: u64::MAX,
            reused_bytes: 0,
            last_save_ms: 0,
            last_durable_ms: 0,
            unsaved_progress: false,
            unsaved_finished_chunk: false,
            undurable: false,
        }
    }

    /// Continues from a meta file that `MetaFile::resume_decision` accepted.
    /// Nothing it claims is trusted yet: every chunk starts empty, and the
    /// returned claims must be read back and verified to count.
    pub fn resume(
        object: RemoteObject,
        meta: &MetaFile,
        policy: RetryPolicy,
    ) -> (Download, Vec<Claim>) {
        // The meta's own chunks, not a new plan: the loader has bounded
        // their number.
        let mut chunks = Vec::with_capacity(meta.chunks.len());
        let mut claims = Vec::new();
        for (index, saved) in meta.chunks.iter().enumerate() {
            let range = ByteRange::new(saved.start, saved.end).expect("meta was checked");
            let (claimed, digest) = match &saved.state {
                SavedChunk::Done { xxh3 } => (range.len(), parse_digest(xxh3)),
                SavedChunk::Pending { received, xxh3 } => {
                    (*received, xxh3.as_deref().and_then(parse_digest))
                }
            };
            if let (Some(digest), Some(claimed)) =
                (digest, ByteRange::from_len(range.start(), claimed))
            {
                claims.push(Claim {
                    chunk: index,
                    range: claimed,
                    digest,
                });
            }
            chunks.push(Chunk::fresh(range));
        }
        let download = Download::with_chunks(object, meta.size, meta.chunk_size, chunks, policy);
        (download, claims)
    }

    /// Feeds bytes read back from the `.part` for `claim`, in order.
    pub fn verify_bytes(&mut self, claim: &Claim, bytes: &[u8]) {
        self.chunks[claim.chunk].hasher.update(bytes);
    }

    /// Accepts the claim if the bytes read back match its digest; otherwise
    /// the chunk starts over. Returns whether it matched.
    pub fn finish_verification(&mut self, claim: &Claim) -> bool {
        let chunk = &mut self.chunks[claim.chunk];
        if chunk.hasher.digest128() != claim.digest {
            chunk.hasher = Xxh3::new();
            return false;
        }
        chunk.received = claim.range.len();
        self.reused_bytes += chunk.received;
        if chunk.received == chunk.range.len() {
            chunk.state = ChunkState::Done {
                digest: claim.digest,
            };
        }
        true
    }

    pub fn object(&self) -> &RemoteObject {
        &self.object
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn reused_bytes(&self) -> u64 {
        self.reused_bytes
    }

    /// Bytes on disk, finished or not.
    pub fn bytes_received(&self) -> u64 {
        self.chunks.iter().map(|c| c.received).sum()
    }

    pub fn in_flight(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| matches!(c.state, ChunkState::InFlight { .. }))
            .count()
    }

    pub fn is_complete(&self) -> bool {
        self.chunks
            .iter()
            .all(|c| matches!(c.state, ChunkState::Done { .. }))
    }

    /// The next chunk whose backoff has passed, now marked in flight.
    /// Once no chunk is left to start, a connection that would sit idle
    /// takes the back half of the largest chunk still in flight instead
    /// (as aria2 does), so one slow connection cannot hold up the end.
    pub fn next_request(&mut self, now_ms: u64) -> Option<ChunkRequest> {
        let startable = |c: &Chunk| matches!(c.state, ChunkState::Pending { not_before_ms, .. } if not_before_ms <= now_ms);
        if !self.chunks.iter().any(startable) {
            self.split_largest_in_flight()?;
        }
        let (index, chunk) = self
            .chunks
            .iter_mut()
            .enumerate()
            .find(|(_, c)| startable(c))?;
        let ChunkState::Pending { failures, .. } = chunk.state else {
            unreachable!("found a pending chunk")
        };
        let request = Self::request_at(index, chunk, self.request_size);
        chunk.state = ChunkState::InFlight {
            failures,
            window_start_ms: now_ms,
            window_bytes: 0,
            progressed: false,
            request_end: chunk.received + request.range.len(),
        };
        Some(request)
    }

    /// The next request of an in-flight chunk whose current request has
    /// delivered all it asked for (`write_window` is empty). `wait_ms` and
    /// `transfer_ms` are that request's round trip and body time, which
    /// may grow the request size.
    pub fn next_request_in_chunk(
        &mut self,
        chunk: usize,
        wait_ms: u64,
        transfer_ms: u64,
    ) -> ChunkRequest {
        // The request that ended asked for a full request size (a shorter
        // one would have finished the chunk), so its timing is evidence.
        self.shortest_wait_ms = self.shortest_wait_ms.min(wait_ms);
        self.request_size = next_request_size(
            self.request_size,
            self.shortest_wait_ms,
            transfer_ms,
            self.chunk_size,
        );
        let c = &mut self.chunks[chunk];
        let request = Self::request_at(chunk, c, self.request_size);
        if let ChunkState::InFlight { request_end, .. } = &mut c.state {
            *request_end = c.received + request.range.len();
        }
        request
    }

    /// Splits the in-flight chunk with the most bytes not yet requested,
    /// when nothing else is left to start: the chunk keeps its current
    /// request and half of what follows, a new pending chunk gets the rest.
    /// Returns `None` when nothing is worth splitting (or a chunk is only
    /// waiting out a backoff: it is not idle work to take).
    fn split_largest_in_flight(&mut self) -> Option<()> {
        let waiting = self
            .chunks
            .iter()
            .any(|c| matches!(c.state, ChunkState::Pending { .. }));
        if waiting || self.chunks.len() >= MAX_CHUNKS_AFTER_SPLITS {
            return None;
        }
        let (index, split_at) = self
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(index, c)| {
                let ChunkState::InFlight { request_end, .. } = c.state else {
                    return None;
                };
                // The chunk's owner keeps its request and half the rest.
                let keep = request_end.max(c.received + (c.range.len() - c.received) / 2);
                let stolen = c.range.len() - keep;
                (stolen >= MIN_SPLIT_OFF).then_some((index, keep, stolen))
            })
            .max_by_key(|&(_, _, stolen)| stolen)
            .map(|(index, keep, _)| (index, keep))?;
        let chunk = &mut self.chunks[index];
        let start = chunk.range.start();
        let stolen = ByteRange::new(start + split_at, chunk.range.end())?;
        chunk.range = ByteRange::from_len(start, split_at)?;
        self.chunks.push(Chunk::fresh(stolen));
        Some(())
    }

    /// At most `request_size` of the chunk's still-missing bytes.
    fn request_at(index: usize, chunk: &Chunk, request_size: u64) -> ChunkRequest {
        let missing = chunk
            .range
            .skip(chunk.received)
            .expect("an unfinished chunk has bytes left");
        let len = missing.len().min(request_size);
        ChunkRequest {
            chunk: index,
            range: ByteRange::from_len(missing.start(), len).expect("not empty"),
        }
    }

    /// Where the next body bytes of `chunk` go and how many may still be
    /// written: the adapter never writes past this, so an overlong body or
    /// an injected page cannot spill into the neighbouring chunk.
    /// A chunk's current request bounds it too: bytes past the range a
    /// request asked for are never the next bytes of the chunk.
    pub fn write_window(&self, chunk: usize) -> (u64, u64) {
        let c = &self.chunks[chunk];
        let end = match c.state {
            ChunkState::InFlight { request_end, .. } => request_end,
            _ => c.range.len(),
        };
        (c.range.start() + c.received, end - c.received)
    }

    /// Records `data` as written at the chunk's write window. Returns true
    /// when the chunk is now complete.
    pub fn on_written(&mut self, chunk: usize, data: &[u8], now_ms: u64) -> bool {
        let c = &mut self.chunks[chunk];
        let ChunkState::InFlight {
            failures,
            window_start_ms,
            window_bytes,
            request_end,
            ..
        } = c.state
        else {
            return false;
        };
        let accepted = &data[..data.len().min((request_end - c.received) as usize)];
        let _ = now_ms;
        c.hasher.update(accepted);
        c.received += accepted.len() as u64;
        if !accepted.is_empty() {
            self.unsaved_progress = true;
            self.undurable = true;
        }
        if c.received == c.range.len() {
            c.state = ChunkState::Done {
                digest: c.hasher.digest128(),
            };
            self.unsaved_finished_chunk = true;
            true
        } else {
            c.state = ChunkState::InFlight {
                failures,
                window_start_ms,
                window_bytes: window_bytes + accepted.len() as u64,
                progressed: true,
                request_end,
            };
            false
        }
    }

    /// A request for `chunk` failed (error status, reset, short body,
    /// stall). Decides whether and when it is tried again.
    pub fn on_failure(
        &mut self,
        chunk: usize,
        retry_after_ms: Option<u64>,
        now_ms: u64,
        random: u64,
    ) -> FailureVerdict {
        let policy = self.policy;
        let c = &mut self.chunks[chunk];
        let ChunkState::InFlight {
            failures,
            progressed,
            ..
        } = c.state
        else {
            return FailureVerdict::GiveUp { failures: 0 };
        };
        // A connection that delivered data before breaking is a flaky link,
        // not a broken chunk: only attempts without progress use up retries.
        let failures = if progressed { 1 } else { failures + 1 };
        if failures > policy.max_retries {
            c.state = ChunkState::Pending {
                failures,
                not_before_ms: u64::MAX,
            };
            return FailureVerdict::GiveUp { failures };
        }
        let at_ms = now_ms.saturating_add(policy.delay_ms(failures, retry_after_ms, random));
        c.state = ChunkState::Pending {
            failures,
            not_before_ms: at_ms,
        };
        FailureVerdict::RetryAt {
            at_ms,
            retry: failures,
        }
    }

    /// In-flight chunks that received fewer than `min_bytes` in the last
    /// `timeout_ms` (a stall, or a trickle below any useful rate). Such an
    /// attempt counts as a failure even if it delivered something. Chunks
    /// that passed get a fresh window.
    pub fn check_stalls(&mut self, now_ms: u64, timeout_ms: u64, min_bytes: u64) -> Vec<usize> {
        let mut stalled = Vec::new();
        for (index, c) in self.chunks.iter_mut().enumerate() {
            let ChunkState::InFlight {
                failures,
                window_start_ms,
                window_bytes,
                request_end,
                ..
            } = c.state
            else {
                continue;
            };
            if now_ms.saturating_sub(window_start_ms) < timeout_ms {
                continue;
            }
            if window_bytes < min_bytes.max(1) {
                c.state = ChunkState::InFlight {
                    failures,
                    window_start_ms,
                    window_bytes,
                    progressed: false,
                    request_end,
                };
                stalled.push(index);
            } else {
                c.state = ChunkState::InFlight {
                    failures,
                    window_start_ms: now_ms,
                    window_bytes: 0,
                    progressed: true,
                    request_end,
                };
            }
        }
        stalled
    }

    /// The earliest moment something is due: a backoff ending (only when
    /// `connection_free`), a speed window closing, or a save. The adapter
    /// sleeps until then at most. A chunk merely waiting for a connection
    /// is due "now" forever; counting it while every connection is busy
    /// turned the adapter's wait into a busy loop.
    pub fn next_deadline_ms(&self, timeout_ms: u64, connection_free: bool) -> Option<u64> {
        let chunk_deadlines = self.chunks.iter().filter_map(|c| match c.state {
            ChunkState::Pending { not_before_ms, .. }
                if connection_free && not_before_ms != u64::MAX =>
            {
                Some(not_before_ms)
            }
            ChunkState::InFlight {
                window_start_ms, ..
            } => Some(window_start_ms.saturating_add(timeout_ms)),
            _ => None,
        });
        let quick = self
            .unsaved_progress
            .then(|| self.last_save_ms + self.quick_interval_ms());
        let durable = self
            .undurable
            .then_some(self.last_durable_ms + DURABLE_SAVE_INTERVAL_MS);
        chunk_deadlines.chain(quick).chain(durable).min()
    }

    /// Finished chunks are saved at once, progress inside chunks every few
    /// milliseconds, and everything is synced every few seconds.
    pub fn checkpoint_due(&self, now_ms: u64) -> Checkpoint {
        let since_durable = now_ms.saturating_sub(self.last_durable_ms);
        let since_save = now_ms.saturating_sub(self.last_save_ms);
        if self.undurable && since_durable >= DURABLE_SAVE_INTERVAL_MS {
            Checkpoint::Durable
        } else if self.unsaved_finished_chunk {
            Checkpoint::FinishedChunk
        } else if self.unsaved_progress && since_save >= self.quick_interval_ms() {
            Checkpoint::Quick
        } else {
            Checkpoint::None
        }
    }

    /// Large files have large metas; save them less often so rewriting the
    /// meta never costs more than a small share of the bandwidth.
    fn quick_interval_ms(&self) -> u64 {
        QUICK_SAVE_INTERVAL_MS.max(self.chunks.len() as u64 / 10)
    }

    /// The adapter calls this once the save of `kind` has completed.
    pub fn mark_checkpointed(&mut self, now_ms: u64, kind: Checkpoint) {
        self.last_save_ms = now_ms;
        self.unsaved_progress = false;
        self.unsaved_finished_chunk = false;
        if kind == Checkpoint::Durable {
            self.last_durable_ms = now_ms;
            self.undurable = false;
        }
    }

    /// In-flight chunks go back to pending (their progress is kept): used
    /// when the run stops and before saving a final meta.
    pub fn cancel_in_flight(&mut self) {
        for c in &mut self.chunks {
            if let ChunkState::InFlight { failures, .. } = c.state {
                c.state = ChunkState::Pending {
                    failures,
                    not_before_ms: 0,
                };
            }
        }
    }

    pub fn to_meta(&self, requested_url: &str) -> MetaFile {
        MetaFile {
            version: FORMAT_VERSION,
            url: requested_url.to_string(),
            size: self.size,
            etag: self.object.etag.clone(),
            last_modified: self.object.last_modified.clone(),
            chunk_size: self.chunk_size,
            // In file order: chunks split off at the tail were appended.
            chunks: self
                .chunks_in_file_order()
                .map(|c| MetaChunk {
                    start: c.range.start(),
                    end: c.range.end(),
                    state: match c.state {
                        ChunkState::Done { digest } => SavedChunk::Done {
                            xxh3: digest_hex(digest),
                        },
                        _ => SavedChunk::Pending {
                            received: c.received,
                            xxh3: (c.received > 0).then(|| digest_hex(c.hasher.digest128())),
                        },
                    },
                })
                .collect(),
        }
    }
}

impl Download {
    fn chunks_in_file_order(&self) -> impl Iterator<Item = &Chunk> {
        let mut order: Vec<&Chunk> = self.chunks.iter().collect();
        order.sort_by_key(|c| c.range.start());
        order.into_iter()
    }
}

impl Chunk {
    fn fresh(range: ByteRange) -> Chunk {
        Chunk {
            range,
            received: 0,
            hasher: Xxh3::new(),
            state: ChunkState::Pending {
                failures: 0,
                not_before_ms: 0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn object(size: u64) -> RemoteObject {
        RemoteObject {
            url: "http://h/f".into(),
            size: Some(size),
            etag: Some("\"e\"".into()),
            last_modified: None,
            accepts_ranges: true,
            content_disposition: None,
        }
    }

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        }
    }

    /// Deterministic file content for the tests.
    fn content(size: u64) -> Vec<u8> {
        (0..size).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn write(d: &mut Download, file: &[u8], chunk: usize, len: u64, now: u64) -> bool {
        let (offset, remaining) = d.write_window(chunk);
        let len = len.min(remaining);
        d.on_written(chunk, &file[offset as usize..(offset + len) as usize], now)
    }

    #[test]
    fn chunks_waiting_for_a_busy_connection_set_no_deadline() {
        const MIB: u64 = 1 << 20;
        let mut d = Download::new(object(8 * MIB), 8 * MIB, MIB, policy(2));
        let first = d.next_request(0).unwrap();
        // Seven chunks wait; the only connection is busy. Only the speed
        // window of the chunk in flight (or a save) may wake the adapter.
        let timeout_ms = 60_000;
        assert_eq!(d.next_deadline_ms(timeout_ms, false), Some(timeout_ms));
        // With a free connection the waiting chunks are due at once.
        assert_eq!(d.next_deadline_ms(timeout_ms, true), Some(0));
        assert_eq!(first.chunk, 0);
    }

    #[test]
    fn a_chunk_larger_than_a_request_takes_several_requests_each_bounded() {
        const MIB: u64 = 1 << 20;
        let size = 5 * MIB;
        let file = content(size);
        let mut d = Download::new(object(size), size, size, policy(2));
        let first = d.next_request(0).unwrap();
        assert_eq!(first.range, ByteRange::from_len(0, 2 * MIB).unwrap());
        assert_eq!(d.write_window(0), (0, 2 * MIB));
        // A body that runs on past the range it was asked for: the rest
        // is not the chunk's next bytes and is not accepted.
        assert!(!d.on_written(0, &file[..(3 * MIB) as usize], 1));
        assert_eq!(
            (d.bytes_received(), d.write_window(0)),
            (2 * MIB, (2 * MIB, 0))
        );

        // Fast round trips keep requests at the first size.
        let second = d.next_request_in_chunk(0, 0, 5);
        assert_eq!(second.range, ByteRange::from_len(2 * MIB, 2 * MIB).unwrap());
        assert!(!write(&mut d, &file, 0, 4 * MIB, 2));
        // One slow wait is noise while a faster one was seen; the tail of
        // the chunk is short.
        let third = d.next_request_in_chunk(0, 100, 5);
        assert_eq!(third.range, ByteRange::from_len(4 * MIB, MIB).unwrap());
        assert!(write(&mut d, &file, 0, MIB, 3));
        assert!(d.is_complete());
        assert_eq!(d.request_size, 2 * MIB);
    }

    #[test]
    fn requests_grow_when_every_round_trip_is_slow() {
        const MIB: u64 = 1 << 20;
        let size = 16 * MIB;
        let mut d = Download::new(object(size), size, size, policy(2));
        let file = content(size);
        d.next_request(0).unwrap();
        assert!(!write(&mut d, &file, 0, 2 * MIB, 1));
        let next = d.next_request_in_chunk(0, 60, 100);
        assert_eq!(next.range, ByteRange::from_len(2 * MIB, 4 * MIB).unwrap());
    }

    #[test]
    fn an_idle_connection_takes_the_back_half_of_a_busy_chunk() {
        const MIB: u64 = 1 << 20;
        let size = 8 * MIB;
        let mut d = Download::new(object(size), size, size, policy(2));
        let first = d.next_request(0).unwrap();
        assert_eq!(first.range, ByteRange::from_len(0, 2 * MIB).unwrap());
        let second = d.next_request(0).unwrap();
        assert_eq!(second.range, ByteRange::from_len(4 * MIB, 2 * MIB).unwrap());
        let third = d.next_request(0).unwrap();
        assert_eq!(third.range, ByteRange::from_len(6 * MIB, 2 * MIB).unwrap());
        // The first chunk's owner keeps only the request it is on.
        let fourth = d.next_request(0).unwrap();
        assert_eq!(fourth.range, ByteRange::from_len(2 * MIB, 2 * MIB).unwrap());
        // Nothing left that is not requested.
        assert_eq!(d.next_request(0), None);
        let meta = d.to_meta("u");
        let starts: Vec<u64> = meta.chunks.iter().map(|c| c.start / MIB).collect();
        assert_eq!(starts, [0, 2, 4, 6], "the meta lists chunks in file order");
        assert!(MetaFile::parse(&meta.to_json()).is_ok());
    }

    /// Resumes from `meta`, verifying the claims against `disk`.
    fn resume_against(meta: &MetaFile, disk: &[u8]) -> Download {
        let (mut d, claims) = Download::resume(object(meta.size), meta, policy(2));
        for claim in &claims {
            d.verify_bytes(
                claim,
                &disk[claim.range.start() as usize..=claim.range.end() as usize],
            );
            d.finish_verification(claim);
        }
        d
    }

    #[test]
    fn hands_out_each_chunk_once_until_it_fails() {
        let mut d = Download::new(object(25), 25, 10, policy(1));
        let a = d.next_request(0).unwrap();
        let b = d.next_request(0).unwrap();
        let c = d.next_request(0).unwrap();
        assert_eq!(
            (a.range, b.range, c.range.len()),
            (
                ByteRange::new(0, 9).unwrap(),
                ByteRange::new(10, 19).unwrap(),
                5
            )
        );
        assert_eq!(d.next_request(0), None);
        assert_eq!(d.in_flight(), 3);
    }

    #[test]
    fn a_short_body_resumes_inside_its_chunk() {
        let file = content(20);
        let mut d = Download::new(object(20), 20, 10, policy(3));
        let r = d.next_request(0).unwrap();
        assert!(!write(&mut d, &file, r.chunk, 4, 5));
        assert!(matches!(
            d.on_failure(r.chunk, None, 5, 0),
            FailureVerdict::RetryAt { .. }
        ));
        let retry = d.next_request(u64::MAX - 1).unwrap();
        assert_eq!(retry.range, ByteRange::new(4, 9).unwrap());
        assert_eq!(d.write_window(retry.chunk), (4, 6));
    }

    #[test]
    fn writes_are_bounded_by_the_chunk() {
        let mut d = Download::new(object(20), 20, 10, policy(3));
        let r = d.next_request(0).unwrap();
        assert!(d.on_written(r.chunk, &[0u8; 1000], 1));
        assert_eq!(d.bytes_received(), 10);
    }

    #[test]
    fn gives_up_after_the_retry_budget_without_progress() {
        let mut d = Download::new(object(10), 10, 10, policy(2));
        for _ in 0..2 {
            let r = d.next_request(u64::MAX - 1).unwrap();
            assert!(matches!(
                d.on_failure(r.chunk, None, 0, 0),
                FailureVerdict::RetryAt { .. }
            ));
        }
        let r = d.next_request(u64::MAX - 1).unwrap();
        assert_eq!(
            d.on_failure(r.chunk, None, 0, 0),
            FailureVerdict::GiveUp { failures: 3 }
        );
        assert_eq!(d.next_request(u64::MAX - 1), None);
    }

    #[test]
    fn retry_after_is_obeyed() {
        let mut d = Download::new(object(10), 10, 10, policy(2));
        let r = d.next_request(0).unwrap();
        assert_eq!(
            d.on_failure(r.chunk, Some(2_000), 100, 0),
            FailureVerdict::RetryAt {
                at_ms: 2_100,
                retry: 1
            }
        );
        assert_eq!(d.next_request(2_099), None);
        assert!(d.next_request(2_100).is_some());
    }

    #[test]
    fn silent_and_trickling_chunks_are_stalled_fast_ones_are_not() {
        let file = content(30);
        let mut d = Download::new(object(30), 30, 10, policy(2));
        let fast = d.next_request(0).unwrap();
        let slow = d.next_request(0).unwrap();
        let _silent = d.next_request(0).unwrap();
        write(&mut d, &file, fast.chunk, 6, 500);
        write(&mut d, &file, slow.chunk, 1, 500);
        assert_eq!(d.check_stalls(999, 1000, 5), Vec::<usize>::new());
        assert_eq!(d.check_stalls(1000, 1000, 5), vec![1, 2]);
        // A trickle that made "progress" still uses up a retry.
        assert_eq!(
            d.on_failure(slow.chunk, None, 1000, 0),
            FailureVerdict::RetryAt {
                at_ms: 1000 + d.policy.delay_ms(1, None, 0),
                retry: 1
            }
        );
        // The fast chunk got a new window (the silent one is still reported
        // until the adapter cancels it).
        assert_eq!(d.check_stalls(1999, 1000, 5), vec![2]);
    }

    #[test]
    fn finished_chunks_are_saved_at_once_progress_quickly_and_synced_periodically() {
        let file = content(20);
        let mut d = Download::new(object(20), 20, 10, policy(2));
        let a = d.next_request(0).unwrap();
        write(&mut d, &file, a.chunk, 3, 1);
        assert_eq!(d.checkpoint_due(1), Checkpoint::None);
        assert_eq!(d.checkpoint_due(QUICK_SAVE_INTERVAL_MS), Checkpoint::Quick);
        d.mark_checkpointed(QUICK_SAVE_INTERVAL_MS, Checkpoint::Quick);
        write(&mut d, &file, a.chunk, 7, QUICK_SAVE_INTERVAL_MS + 1);
        assert_eq!(
            d.checkpoint_due(QUICK_SAVE_INTERVAL_MS + 1),
            Checkpoint::FinishedChunk
        );
        assert_eq!(
            d.checkpoint_due(DURABLE_SAVE_INTERVAL_MS),
            Checkpoint::Durable
        );
        d.mark_checkpointed(DURABLE_SAVE_INTERVAL_MS, Checkpoint::Durable);
        assert_eq!(
            d.checkpoint_due(2 * DURABLE_SAVE_INTERVAL_MS),
            Checkpoint::None
        );
    }

    #[test]
    fn resume_keeps_only_what_the_disk_proves() {
        let file = content(25);
        let mut d = Download::new(object(25), 25, 10, policy(2));
        let a = d.next_request(0).unwrap();
        let b = d.next_request(0).unwrap();
        write(&mut d, &file, a.chunk, 10, 1);
        write(&mut d, &file, b.chunk, 4, 1);
        let meta = d.to_meta("http://h/f");

        let mut resumed = resume_against(&meta, &file);
        assert_eq!(resumed.reused_bytes(), 14);
        assert_eq!(
            resumed.next_request(0).unwrap().range,
            ByteRange::new(14, 19).unwrap()
        );
        assert_eq!(
            resumed.next_request(0).unwrap().range,
            ByteRange::new(20, 24).unwrap()
        );
        assert_eq!(resumed.next_request(0), None);

        // A torn write (power loss) in the finished chunk: only it is refetched.
        let mut torn = file.clone();
        torn[3] ^= 0xFF;
        let mut resumed = resume_against(&meta, &torn);
        assert_eq!(resumed.reused_bytes(), 4);
        assert_eq!(
            resumed.next_request(0).unwrap().range,
            ByteRange::new(0, 9).unwrap()
        );
        assert_eq!(
            resumed.next_request(0).unwrap().range,
            ByteRange::new(14, 19).unwrap()
        );
    }

    #[test]
    fn a_resumed_partial_chunk_finishes_with_the_digest_of_the_whole_chunk() {
        let file = content(10);
        let mut d = Download::new(object(10), 10, 10, policy(2));
        let r = d.next_request(0).unwrap();
        write(&mut d, &file, r.chunk, 4, 1);
        let mut resumed = resume_against(&d.to_meta("u"), &file);
        let r = resumed.next_request(0).unwrap();
        assert!(write(&mut resumed, &file, r.chunk, 6, 2));
        let expected = xxhash_rust::xxh3::xxh3_128(&file);
        assert_eq!(
            resumed.to_meta("u").chunks[0].state,
            SavedChunk::Done {
                xxh3: digest_hex(expected)
            }
        );
    }

    proptest! {
        /// Whatever order bytes arrive and failures happen in, the download
        /// completes with every byte written exactly once.
        #[test]
        fn every_byte_is_written_exactly_once(
            size in 1u64..10_000,
            chunk in 1u64..3_000,
            steps in proptest::collection::vec((any::<u8>(), 1u64..700, any::<bool>()), 1..400),
        ) {
            let mut d = Download::new(object(size), size, chunk, policy(u32::MAX));
            let mut written = vec![0u8; size as usize];
            let data = vec![0u8; 700];
            let mut active: Vec<usize> = Vec::new();
            let mut now = 0;
            for (pick, n, fail) in steps.into_iter().cycle().take(20_000) {
                now += 1;
                while active.len() < 3 {
                    match d.next_request(u64::MAX - 1) { Some(r) => active.push(r.chunk), None => break }
                }
                if active.is_empty() { break; }
                let slot = pick as usize % active.len();
                let i = active[slot];
                if fail {
                    d.on_failure(i, None, now, 0);
                    active.remove(slot);
                    continue;
                }
                let (offset, remaining) = d.write_window(i);
                let n = n.min(remaining);
                for b in &mut written[offset as usize..(offset + n) as usize] { *b += 1; }
                if d.on_written(i, &data[..n as usize], now) { active.remove(slot); }
            }
            if d.is_complete() {
                prop_assert!(written.iter().all(|&b| b == 1));
            } else {
                prop_assert!(written.iter().all(|&b| b <= 1));
            }
        }

        /// Saving and resuming at any point, with the disk intact, loses
        /// nothing that was recorded.
        #[test]
        fn resume_after_any_save_keeps_every_recorded_byte(size in 1u64..5_000, chunk in 1u64..2_000, cut in 0u64..5_000) {
            let file = content(size);
            let mut d = Download::new(object(size), size, chunk, policy(3));
            let mut budget = cut;
            while let Some(r) = d.next_request(0) {
                let n = budget.min(r.range.len());
                budget -= n;
                if n > 0 { write(&mut d, &file, r.chunk, n, 1); }
                if budget == 0 { break; }
            }
            let recorded = d.bytes_received();
            let resumed = resume_against(&d.to_meta("u"), &file);
            prop_assert_eq!(resumed.bytes_received(), recorded);
            prop_assert_eq!(resumed.reused_bytes(), recorded);
        }
    }

    proptest! {
        // Megabytes of bytes per case: fewer cases keep this test quick.
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// With real sizes (requests of 2 MiB, chunks split at the tail for
        /// idle connections) every byte is still written exactly once, and
        /// the meta file tiles the file at every point.
        #[test]
        fn requests_and_tail_splits_write_every_byte_once(
            size_kib in 1u64..(24 << 10),
            chunk_kib in 256u64..(12 << 10),
            steps in proptest::collection::vec((any::<u8>(), 1u64..1536, 0u8..40), 1..200),
            resume_at in 0usize..400,
        ) {
            const KIB: u64 = 1 << 10;
            let size = size_kib * KIB;
            let mut d = Download::new(object(size), size, chunk_kib * KIB, policy(u32::MAX));
            let mut written = vec![0u8; size as usize];
            let data = vec![0u8; (1536 * KIB) as usize];
            let mut active: Vec<usize> = Vec::new();
            let mut now = 0;
            for (step, (pick, n_kib, fail)) in steps.into_iter().cycle().take(5_000).enumerate() {
                now += 1;
                if step == resume_at {
                    // What a resume from this moment's meta would keep:
                    // everything recorded, split chunks included. The
                    // test writes zeros, so the disk is all zeros.
                    let recorded = d.bytes_received();
                    let resumed = resume_against(&d.to_meta("u"), &vec![0; size as usize]);
                    prop_assert_eq!(resumed.bytes_received(), recorded);
                }
                while active.len() < 4 {
                    match d.next_request(u64::MAX - 1) { Some(r) => active.push(r.chunk), None => break }
                }
                if active.is_empty() { break; }
                let slot = pick as usize % active.len();
                let i = active[slot];
                if fail == 0 {
                    d.on_failure(i, None, now, 0);
                    active.remove(slot);
                    continue;
                }
                let (offset, remaining) = d.write_window(i);
                let n = (n_kib * KIB).min(remaining);
                for b in &mut written[offset as usize..(offset + n) as usize] { *b += 1; }
                if d.on_written(i, &data[..n as usize], now) {
                    active.remove(slot);
                } else if d.write_window(i).1 == 0 {
                    d.next_request_in_chunk(i, 0, 1);
                }
                let meta = MetaFile::parse(&d.to_meta("u").to_json());
                prop_assert!(meta.is_ok(), "{:?}", meta.err());
            }
            prop_assert!(d.is_complete(), "5000 steps finish at most 24 MiB");
            prop_assert!(written.iter().all(|&b| b == 1));
        }
    }
}
