//! The ranged-download state machine: which chunk to request next, how far
//! each has come, when a failed one is retried, and when progress must be
//! saved. The adapter feeds it byte counts and times and obeys its answers.

use crate::meta::{MetaChunk, MetaFile, SavedChunk, FORMAT_VERSION};
use crate::plan::plan_chunks;
use crate::probe::RemoteObject;
use crate::range::ByteRange;
use crate::retry::RetryPolicy;

/// Progress inside an unfinished chunk is saved at most this often (besides
/// after every finished chunk): a kill then loses at most about this much
/// transfer time per connection, while the meta is not rewritten per packet.
pub const PROGRESS_SAVE_INTERVAL_MS: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    Pending {
        failures: u32,
        not_before_ms: u64,
    },
    InFlight {
        failures: u32,
        last_progress_ms: u64,
        /// Bytes written by this attempt; an attempt that moved forward
        /// does not count against the retry budget.
        progressed: bool,
    },
    Done,
}

#[derive(Clone, Debug)]
struct Chunk {
    range: ByteRange,
    /// Bytes from `range.start()` already written to the file.
    received: u64,
    state: ChunkState,
}

/// One request to make: the still-missing bytes of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    pub chunk: usize,
    pub range: ByteRange,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureVerdict {
    RetryAt { at_ms: u64, retry: u32 },
    GiveUp { failures: u32 },
}

#[derive(Clone, Debug)]
pub struct Download {
    object: RemoteObject,
    size: u64,
    chunk_size: u64,
    chunks: Vec<Chunk>,
    policy: RetryPolicy,
    /// Bytes that were already on disk when this run started.
    reused_bytes: u64,
    last_checkpoint_ms: u64,
    unsaved_progress: bool,
    unsaved_finished_chunk: bool,
}

impl Download {
    /// A fresh download of `object`, which must have a known size.
    pub fn new(object: RemoteObject, size: u64, chunk_size: u64, policy: RetryPolicy) -> Download {
        let chunks = plan_chunks(size, chunk_size)
            .into_iter()
            .map(|range| Chunk {
                range,
                received: 0,
                state: ChunkState::Pending {
                    failures: 0,
                    not_before_ms: 0,
                },
            })
            .collect();
        Download {
            object,
            size,
            chunk_size,
            chunks,
            policy,
            reused_bytes: 0,
            last_checkpoint_ms: 0,
            unsaved_progress: false,
            unsaved_finished_chunk: false,
        }
    }

    /// Continues from a meta file that `MetaFile::resume_decision` accepted.
    pub fn resume(object: RemoteObject, meta: &MetaFile, policy: RetryPolicy) -> Download {
        let chunks: Vec<Chunk> = meta
            .chunks
            .iter()
            .map(|c| {
                let range = ByteRange::new(c.start, c.end).expect("meta was checked");
                match c.state {
                    SavedChunk::Done => Chunk {
                        range,
                        received: range.len(),
                        state: ChunkState::Done,
                    },
                    SavedChunk::Pending { received } => Chunk {
                        range,
                        received,
                        state: ChunkState::Pending {
                            failures: 0,
                            not_before_ms: 0,
                        },
                    },
                }
            })
            .collect();
        let reused_bytes = chunks.iter().map(|c| c.received).sum();
        Download {
            object,
            size: meta.size,
            chunk_size: meta.chunk_size,
            chunks,
            policy,
            reused_bytes,
            last_checkpoint_ms: 0,
            unsaved_progress: false,
            unsaved_finished_chunk: false,
        }
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
        self.chunks.iter().all(|c| c.state == ChunkState::Done)
    }

    /// The next chunk whose backoff has passed, now marked in flight.
    pub fn next_request(&mut self, now_ms: u64) -> Option<ChunkRequest> {
        let (index, chunk) = self.chunks.iter_mut().enumerate().find(|(_, c)| {
            matches!(c.state, ChunkState::Pending { not_before_ms, .. } if not_before_ms <= now_ms)
        })?;
        let ChunkState::Pending { failures, .. } = chunk.state else {
            unreachable!("found a pending chunk")
        };
        chunk.state = ChunkState::InFlight {
            failures,
            last_progress_ms: now_ms,
            progressed: false,
        };
        let range = chunk
            .range
            .skip(chunk.received)
            .expect("pending chunks have bytes left");
        Some(ChunkRequest {
            chunk: index,
            range,
        })
    }

    /// Where the next body bytes of `chunk` go and how many may still be
    /// written: the adapter never writes past this, so an overlong body or
    /// an injected page cannot spill into the neighbouring chunk.
    pub fn write_window(&self, chunk: usize) -> (u64, u64) {
        let c = &self.chunks[chunk];
        (c.range.start() + c.received, c.range.len() - c.received)
    }

    /// Records `written` bytes of `chunk` as on disk. Returns true when the chunk is now complete.
    pub fn on_written(&mut self, chunk: usize, written: u64, now_ms: u64) -> bool {
        let c = &mut self.chunks[chunk];
        let ChunkState::InFlight { failures, .. } = c.state else {
            return false;
        };
        let written = written.min(c.range.len() - c.received);
        c.received += written;
        self.unsaved_progress |= written > 0;
        if c.received == c.range.len() {
            c.state = ChunkState::Done;
            self.unsaved_finished_chunk = true;
            true
        } else {
            c.state = ChunkState::InFlight {
                failures,
                last_progress_ms: now_ms,
                progressed: true,
            };
            false
        }
    }

    /// A request for `chunk` failed (error status, reset, short body,
    /// timeout). Decides whether and when it is tried again.
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

    /// In-flight chunks that made no progress for `timeout_ms`.
    pub fn stalled_chunks(&self, now_ms: u64, timeout_ms: u64) -> Vec<usize> {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.state {
                ChunkState::InFlight {
                    last_progress_ms, ..
                } if now_ms.saturating_sub(last_progress_ms) >= timeout_ms => Some(i),
                _ => None,
            })
            .collect()
    }

    /// The earliest moment something is due: a backoff ending, a stall
    /// deadline, or a progress save. The adapter sleeps until then at most.
    pub fn next_deadline_ms(&self, timeout_ms: u64) -> Option<u64> {
        let chunk_deadlines = self.chunks.iter().filter_map(|c| match c.state {
            ChunkState::Pending { not_before_ms, .. } if not_before_ms != u64::MAX => {
                Some(not_before_ms)
            }
            ChunkState::InFlight {
                last_progress_ms, ..
            } => Some(last_progress_ms.saturating_add(timeout_ms)),
            _ => None,
        });
        let save = self
            .unsaved_progress
            .then(|| self.last_checkpoint_ms + PROGRESS_SAVE_INTERVAL_MS);
        chunk_deadlines.chain(save).min()
    }

    /// Every finished chunk is saved at once; progress inside chunks at most
    /// once per `PROGRESS_SAVE_INTERVAL_MS`.
    pub fn checkpoint_due(&self, now_ms: u64) -> bool {
        self.unsaved_finished_chunk
            || (self.unsaved_progress
                && now_ms.saturating_sub(self.last_checkpoint_ms) >= PROGRESS_SAVE_INTERVAL_MS)
    }

    /// The adapter calls this once the data is synced and the meta replaced.
    pub fn mark_checkpointed(&mut self, now_ms: u64) {
        self.last_checkpoint_ms = now_ms;
        self.unsaved_progress = false;
        self.unsaved_finished_chunk = false;
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
            chunks: self
                .chunks
                .iter()
                .map(|c| MetaChunk {
                    start: c.range.start(),
                    end: c.range.end(),
                    state: match c.state {
                        ChunkState::Done => SavedChunk::Done,
                        _ => SavedChunk::Pending {
                            received: c.received,
                        },
                    },
                })
                .collect(),
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
        let mut d = Download::new(object(20), 20, 10, policy(3));
        let r = d.next_request(0).unwrap();
        assert!(!d.on_written(r.chunk, 4, 5));
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
        assert!(d.on_written(r.chunk, 1_000, 1));
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
    fn stalled_chunks_are_reported_after_the_timeout() {
        let mut d = Download::new(object(20), 20, 10, policy(2));
        let a = d.next_request(0).unwrap();
        let _b = d.next_request(0).unwrap();
        d.on_written(a.chunk, 1, 500);
        assert_eq!(d.stalled_chunks(999, 1000), Vec::<usize>::new());
        assert_eq!(d.stalled_chunks(1000, 1000), vec![1]);
        assert_eq!(d.next_deadline_ms(1000), Some(1000));
    }

    #[test]
    fn finished_chunks_are_saved_at_once_progress_at_intervals() {
        let mut d = Download::new(object(20), 20, 10, policy(2));
        let a = d.next_request(0).unwrap();
        d.on_written(a.chunk, 3, 10);
        assert!(!d.checkpoint_due(10));
        assert!(d.checkpoint_due(PROGRESS_SAVE_INTERVAL_MS));
        d.mark_checkpointed(PROGRESS_SAVE_INTERVAL_MS);
        d.on_written(a.chunk, 7, PROGRESS_SAVE_INTERVAL_MS + 1);
        assert!(d.checkpoint_due(PROGRESS_SAVE_INTERVAL_MS + 1));
    }

    #[test]
    fn resume_skips_done_chunks_and_partial_prefixes() {
        let mut d = Download::new(object(25), 25, 10, policy(2));
        let a = d.next_request(0).unwrap();
        let b = d.next_request(0).unwrap();
        d.on_written(a.chunk, 10, 1);
        d.on_written(b.chunk, 4, 1);
        let meta = d.to_meta("http://h/f");
        let mut resumed = Download::resume(object(25), &meta, policy(2));
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
                if d.on_written(i, n, now) { active.remove(slot); }
            }
            if d.is_complete() {
                prop_assert!(written.iter().all(|&b| b == 1));
            } else {
                prop_assert!(written.iter().all(|&b| b <= 1));
            }
        }
    }
}
