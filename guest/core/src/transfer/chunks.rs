//! The chunk table of a ranged transfer: which chunk to request next, how
//! far each has come (and, for a file, the digest of what it holds), when
//! a failed one may be tried again, and where a chunk's bytes wait for
//! their turn when they must leave in order.
//!
//! A chunk is the unit of bookkeeping (the meta file records chunks, a
//! resume verifies them, a retry continues one); a request is the unit of
//! transfer, and a chunk may take several (`request_size`).

use std::collections::VecDeque;
use std::sync::Arc;

use xxhash_rust::xxh3::Xxh3;

use crate::meta::{digest_hex, parse_digest, MetaChunk, MetaFile, SavedChunk};
use crate::pieces::{Hasher, PieceHashes};
use crate::plan::{plan_chunks, MAX_CHUNKS_AFTER_SPLITS};
use crate::range::ByteRange;
use crate::retry::{AfterFailure, Attempts, Jitter, RetryPolicy};

/// The smallest piece an idle connection takes from a busy chunk.
const MIN_SPLIT_OFF: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkState {
    Pending {
        attempts: Attempts,
        not_before_ms: u64,
    },
    InFlight {
        attempts: Attempts,
        /// Bytes arrived in this attempt at a useful rate: such an attempt
        /// does not count against the retry budget.
        progressed: bool,
        /// Where the current request ends, counted like `received`.
        request_end: u64,
    },
    Done {
        digest: u128,
    },
}

#[derive(Clone)]
struct Chunk {
    range: ByteRange,
    /// Bytes from `range.start()` received so far.
    received: u64,
    /// Digest state over those bytes (file transfers only).
    hasher: Option<Xxh3>,
    state: ChunkState,
    /// Received bytes not yet delivered, oldest first (in-order transfers).
    pieces: VecDeque<Vec<u8>>,
    /// With piece hashes: how far the chunk is proven.
    checked: Option<Checked>,
}

/// A chunk checked piece by piece (its start is a piece's start). Only
/// what passed counts: a failed request or a piece that does not match
/// rolls the chunk back to `verified`, so every piece comes whole from
/// one request, from one source.
#[derive(Clone)]
struct Checked {
    /// Bytes from the chunk's start whose pieces matched.
    verified: u64,
    /// The chunk's digest state over those bytes.
    hasher_at_verified: Xxh3,
    /// The piece being received.
    piece: Hasher,
}

impl Chunk {
    fn fresh(range: ByteRange, digests: bool) -> Chunk {
        Chunk {
            range,
            received: 0,
            hasher: digests.then(Xxh3::new),
            state: ChunkState::Pending {
                attempts: Attempts::default(),
                not_before_ms: 0,
            },
            pieces: VecDeque::new(),
            checked: None,
        }
    }

    /// Takes `data`, the chunk's next bytes, checking each piece it
    /// completes; a piece that does not match rolls the chunk back.
    fn take_checked(
        &mut self,
        pieces: &PieceHashes,
        size: u64,
        data: &[u8],
    ) -> Result<(), Progress> {
        let mut rest = data;
        while !rest.is_empty() {
            let at = self.range.start() + self.received;
            let end = pieces.piece_end(at, size);
            let n = ((end - at) as usize).min(rest.len());
            let (segment, tail) = rest.split_at(n);
            rest = tail;
            if let Some(hasher) = &mut self.hasher {
                hasher.update(segment);
            }
            let checked = self.checked.as_mut().expect("a chunk checked by pieces");
            checked.piece.update(segment);
            self.received += n as u64;
            if at + n as u64 != end {
                continue;
            }
            let piece = pieces.piece_at(at);
            let digest = std::mem::replace(&mut checked.piece, Hasher::new(pieces.kind)).finish();
            if pieces.matches(piece, &digest) {
                checked.verified = self.received;
                checked.hasher_at_verified = self.hasher.clone().unwrap_or_default();
                continue;
            }
            let start = piece as u64 * pieces.length;
            self.roll_back();
            let range = ByteRange::new(start, end - 1).expect("a piece is not empty");
            return Err(Progress::PieceBad { piece, range });
        }
        Ok(())
    }

    /// Back to what its pieces proved (all it has, without piece hashes).
    fn roll_back(&mut self) {
        if let Some(checked) = &mut self.checked {
            self.received = checked.verified;
            self.hasher = Some(checked.hasher_at_verified.clone());
            checked.piece = Hasher::new(checked.piece.kind());
        }
    }
}

impl Checked {
    fn new(pieces: &PieceHashes) -> Checked {
        Checked {
            verified: 0,
            hasher_at_verified: Xxh3::new(),
            piece: Hasher::new(pieces.kind),
        }
    }
}

/// How chunks come to be.
#[derive(Clone, Debug)]
enum Layout {
    /// Every chunk planned at the start (a file: at most a few thousand),
    /// and idle connections may split busy ones near the end.
    Planned,
    /// Chunks of `chunk_size` over `span`, created only within `window`
    /// chunks of the first one not yet delivered, and dropped once
    /// delivered: memory stays within `window × chunk_size`.
    Windowed {
        span: ByteRange,
        chunk_size: u64,
        count: usize,
        window: usize,
    },
}

/// Bytes a previous run claims are on disk; the driver reads them back
/// and feeds them to [`super::Transfer::verify_claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim {
    pub(crate) chunk: usize,
    pub range: ByteRange,
    digest: u128,
}

/// What arrived bytes completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// The request wants more.
    Continue,
    /// The request has all it asked for; the chunk wants more.
    RequestDone,
    ChunkDone,
    /// Piece `piece` (bytes `range`) did not match its hash: the chunk
    /// went back to its last proven piece and waits to be asked again.
    PieceBad {
        piece: usize,
        range: ByteRange,
    },
}

#[derive(Clone)]
pub(crate) struct ChunkTable {
    /// Chunks `base..base + chunks.len()`.
    chunks: VecDeque<Chunk>,
    base: usize,
    layout: Layout,
    digests: bool,
    /// Piece hashes every chunk is checked against, and the object's size.
    pieces: Option<(Arc<PieceHashes>, u64)>,
}

impl ChunkTable {
    /// Every chunk of a file of `size` bytes, with digests.
    pub(crate) fn planned(size: u64, chunk_size: u64) -> ChunkTable {
        ChunkTable {
            chunks: plan_chunks(size, chunk_size)
                .into_iter()
                .map(|r| Chunk::fresh(r, true))
                .collect(),
            base: 0,
            layout: Layout::Planned,
            digests: true,
            pieces: None,
        }
    }

    /// `span` in chunks of `chunk_size`, at most `window` of them ahead
    /// of delivery.
    pub(crate) fn windowed(span: ByteRange, chunk_size: u64, window: usize) -> ChunkTable {
        let chunk_size = chunk_size.max(1);
        ChunkTable {
            chunks: VecDeque::new(),
            base: 0,
            layout: Layout::Windowed {
                span,
                chunk_size,
                count: span.len().div_ceil(chunk_size) as usize,
                window: window.max(1),
            },
            digests: false,
            pieces: None,
        }
    }

    /// The piece hashes chunks are checked against, if any.
    pub(crate) fn pieces(&self) -> Option<&PieceHashes> {
        self.pieces.as_ref().map(|(pieces, _)| pieces.as_ref())
    }

    /// Checks every chunk against `pieces` (of an object of `size`
    /// bytes); every chunk must start where a piece starts.
    pub(crate) fn check_pieces(&mut self, pieces: Arc<PieceHashes>, size: u64) {
        for chunk in &mut self.chunks {
            debug_assert_eq!(chunk.range.start() % pieces.length, 0);
            chunk.checked = Some(Checked::new(&pieces));
        }
        self.pieces = Some((pieces, size));
    }

    /// The chunks a meta file records, each empty until its claim is
    /// verified; the claims to verify.
    pub(crate) fn from_meta(meta: &MetaFile) -> (ChunkTable, Vec<Claim>) {
        let mut chunks = VecDeque::with_capacity(meta.chunks.len());
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
            chunks.push_back(Chunk::fresh(range, true));
        }
        let table = ChunkTable {
            chunks,
            base: 0,
            layout: Layout::Planned,
            digests: true,
            pieces: None,
        };
        (table, claims)
    }

    /// Feeds bytes read back for `claim`, in order.
    pub(crate) fn verify(&mut self, claim: &Claim, bytes: &[u8]) {
        if let Some(hasher) = &mut self.chunk_mut(claim.chunk).hasher {
            hasher.update(bytes);
        }
    }

    /// Accepts the claim if the bytes read back match its digest; returns
    /// whether they did. A chunk whose claim fails starts over.
    pub(crate) fn finish_verification(&mut self, claim: &Claim) -> bool {
        // Checked by pieces, a run records only proven pieces.
        let proven = self
            .pieces
            .as_ref()
            .is_none_or(|(pieces, size)| pieces.is_boundary(claim.range.end() + 1, *size));
        let chunk = self.chunk_mut(claim.chunk);
        let hasher = chunk.hasher.get_or_insert_with(Xxh3::new);
        if !proven || hasher.digest128() != claim.digest {
            *hasher = Xxh3::new();
            return false;
        }
        chunk.received = claim.range.len();
        if let Some(checked) = &mut chunk.checked {
            checked.verified = chunk.received;
            checked.hasher_at_verified = hasher.clone();
        }
        if chunk.received == chunk.range.len() {
            chunk.state = ChunkState::Done {
                digest: claim.digest,
            };
        }
        true
    }

    fn chunk(&self, index: usize) -> &Chunk {
        &self.chunks[index - self.base]
    }

    fn chunk_mut(&mut self, index: usize) -> &mut Chunk {
        &mut self.chunks[index - self.base]
    }

    pub(crate) fn chunk_count(&self) -> usize {
        match self.layout {
            Layout::Planned => self.chunks.len(),
            Layout::Windowed { count, .. } => count,
        }
    }

    pub(crate) fn bytes_received(&self) -> u64 {
        self.chunks.iter().map(|c| c.received).sum()
    }

    pub(crate) fn is_complete(&self) -> bool {
        match self.layout {
            Layout::Planned => self
                .chunks
                .iter()
                .all(|c| matches!(c.state, ChunkState::Done { .. })),
            Layout::Windowed { count, .. } => self.base == count,
        }
    }

    /// The next request to make, of at most `request_size` bytes: the
    /// earliest chunk whose backoff has passed (retries first, as delivery
    /// may wait on them), else a new one within the window. Once nothing is
    /// left to start, an idle connection takes the back half of the largest
    /// chunk still in flight (as aria2 does), so one slow connection cannot
    /// hold up the end.
    pub(crate) fn next_request(
        &mut self,
        now_ms: u64,
        request_size: u64,
    ) -> Option<(usize, ByteRange)> {
        let startable = |c: &Chunk| matches!(c.state, ChunkState::Pending { not_before_ms, .. } if not_before_ms <= now_ms);
        let index = match self.chunks.iter().position(startable) {
            Some(offset) => self.base + offset,
            None => self
                .new_chunk()
                .or_else(|| self.split_largest_in_flight())?,
        };
        let chunk = self.chunk_mut(index);
        let ChunkState::Pending { attempts, .. } = chunk.state else {
            unreachable!("only pending chunks are started")
        };
        let range = Self::request_in(chunk, request_size);
        chunk.state = ChunkState::InFlight {
            attempts,
            progressed: false,
            request_end: chunk.received + range.len(),
        };
        Some((index, range))
    }

    /// Takes `range`, already requested, as the first request of the
    /// chunk it starts, if it fits in one not started yet.
    pub(crate) fn adopt(&mut self, range: ByteRange) -> Option<usize> {
        if self.chunks.is_empty() && self.base == 0 {
            // A window not opened yet: its first chunk may take it.
            self.new_chunk();
        }
        let offset = self.chunks.iter().position(|c| {
            c.range.start() == range.start()
                && c.range.len() >= range.len()
                && c.received == 0
                && matches!(c.state, ChunkState::Pending { .. })
        })?;
        let chunk = &mut self.chunks[offset];
        let ChunkState::Pending { attempts, .. } = chunk.state else {
            unreachable!("checked above")
        };
        chunk.state = ChunkState::InFlight {
            attempts,
            progressed: false,
            request_end: range.len(),
        };
        Some(self.base + offset)
    }

    /// The next request of in-flight chunk `index`, whose current request
    /// has delivered all it asked for.
    pub(crate) fn continue_chunk(&mut self, index: usize, request_size: u64) -> ByteRange {
        let chunk = self.chunk_mut(index);
        let range = Self::request_in(chunk, request_size);
        if let ChunkState::InFlight { request_end, .. } = &mut chunk.state {
            *request_end = chunk.received + range.len();
        }
        range
    }

    /// How many bytes chunk `index` still misses.
    pub(crate) fn missing(&self, index: usize) -> u64 {
        let chunk = self.chunk(index);
        chunk.range.len() - chunk.received
    }

    /// At most `request_size` of the chunk's still-missing bytes.
    fn request_in(chunk: &Chunk, request_size: u64) -> ByteRange {
        let missing = chunk
            .range
            .skip(chunk.received)
            .expect("an unfinished chunk has bytes left");
        ByteRange::from_len(missing.start(), missing.len().min(request_size)).expect("not empty")
    }

    /// A chunk of the window not created yet, as a pending chunk.
    fn new_chunk(&mut self) -> Option<usize> {
        if !self.can_create_chunk() {
            return None;
        }
        let Layout::Windowed {
            span, chunk_size, ..
        } = self.layout
        else {
            return None;
        };
        let index = self.base + self.chunks.len();
        let start = span.start() + index as u64 * chunk_size;
        let len = chunk_size.min(span.end() - start + 1);
        let range = ByteRange::from_len(start, len).expect("a chunk lies inside the span");
        self.chunks.push_back(Chunk::fresh(range, self.digests));
        Some(index)
    }

    /// Splits the in-flight chunk with the most bytes not yet requested:
    /// it keeps its current request and half of what follows, a new
    /// pending chunk gets the rest. `None` when nothing is worth splitting
    /// or a chunk only waits out a backoff (it is not idle work to take).
    fn split_largest_in_flight(&mut self) -> Option<usize> {
        let waiting = self
            .chunks
            .iter()
            .any(|c| matches!(c.state, ChunkState::Pending { .. }));
        if !matches!(self.layout, Layout::Planned)
            || waiting
            || self.chunks.len() >= MAX_CHUNKS_AFTER_SPLITS
        {
            return None;
        }
        let (offset, keep) = self
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(offset, c)| {
                let ChunkState::InFlight { request_end, .. } = c.state else {
                    return None;
                };
                let keep = request_end.max(c.received + (c.range.len() - c.received) / 2);
                // Checked by pieces, a chunk starts where a piece does.
                let keep = match &self.pieces {
                    Some((pieces, _)) => keep.div_ceil(pieces.length) * pieces.length,
                    None => keep,
                };
                let stolen = c.range.len().saturating_sub(keep);
                (stolen >= MIN_SPLIT_OFF).then_some((offset, keep, stolen))
            })
            .max_by_key(|&(_, _, stolen)| stolen)
            .map(|(offset, keep, _)| (offset, keep))?;
        let chunk = &mut self.chunks[offset];
        let start = chunk.range.start();
        let stolen = ByteRange::new(start + keep, chunk.range.end())?;
        chunk.range = ByteRange::from_len(start, keep)?;
        let mut split_off = Chunk::fresh(stolen, self.digests);
        if let Some((pieces, _)) = &self.pieces {
            split_off.checked = Some(Checked::new(pieces));
        }
        self.chunks.push_back(split_off);
        Some(self.base + self.chunks.len() - 1)
    }

    /// Where chunk `index`'s next bytes go and how many its current
    /// request may still bring: bytes past the range a request asked for
    /// are never the chunk's next bytes, and never spill into a neighbour.
    pub(crate) fn window(&self, index: usize) -> (u64, u64) {
        let c = self.chunk(index);
        let end = match c.state {
            ChunkState::InFlight { request_end, .. } => request_end,
            _ => c.received,
        };
        (c.range.start() + c.received, end - c.received)
    }

    /// Records `data`, which arrived for chunk `index` in its window (any
    /// excess is dropped); returns what it completed and how many bytes
    /// counted.
    pub(crate) fn record(&mut self, index: usize, mut data: Vec<u8>) -> (Progress, u64) {
        let (_, room) = self.window(index);
        let keep_pieces = matches!(self.layout, Layout::Windowed { .. });
        let pieces = self.pieces.clone();
        let c = self.chunk_mut(index);
        let ChunkState::InFlight {
            attempts,
            progressed,
            request_end,
        } = c.state
        else {
            return (Progress::Continue, 0);
        };
        data.truncate(room as usize);
        let len = data.len() as u64;
        match pieces {
            Some((pieces, size)) => {
                if let Err(bad) = c.take_checked(&pieces, size, &data) {
                    c.state = ChunkState::Pending {
                        attempts,
                        not_before_ms: 0,
                    };
                    return (bad, 0);
                }
            }
            None => {
                if let Some(hasher) = &mut c.hasher {
                    hasher.update(&data);
                }
                c.received += len;
            }
        }
        if keep_pieces && len > 0 {
            c.pieces.push_back(data);
        }
        if c.received == c.range.len() {
            let digest = c.hasher.as_ref().map_or(0, Xxh3::digest128);
            c.state = ChunkState::Done { digest };
            return (Progress::ChunkDone, len);
        }
        c.state = ChunkState::InFlight {
            attempts,
            progressed: progressed || len > 0,
            request_end,
        };
        let progress = if c.received == request_end {
            Progress::RequestDone
        } else {
            Progress::Continue
        };
        (progress, len)
    }

    /// The attempt on chunk `index` moved at a useful rate (or did not):
    /// it counts against the retry budget only if it did not.
    pub(crate) fn set_progressed(&mut self, index: usize, moved: bool) {
        if let ChunkState::InFlight { progressed, .. } = &mut self.chunk_mut(index).state {
            *progressed = moved;
        }
    }

    /// A request of chunk `index` failed (see [`Attempts::failed`]: an
    /// attempt that made progress does not use up the retries).
    pub(crate) fn fail(
        &mut self,
        index: usize,
        policy: &RetryPolicy,
        retry_after_ms: Option<u64>,
        jitter: &mut Jitter,
        now_ms: u64,
    ) -> AfterFailure {
        let c = self.chunk_mut(index);
        let ChunkState::InFlight {
            mut attempts,
            progressed,
            ..
        } = c.state
        else {
            return AfterFailure::GiveUp { failures: 0 };
        };
        c.roll_back();
        let after = attempts.failed(progressed, policy, retry_after_ms, jitter);
        let not_before_ms = match after {
            AfterFailure::Retry { delay_ms, .. } => now_ms.saturating_add(delay_ms),
            AfterFailure::GiveUp { .. } => u64::MAX,
        };
        c.state = ChunkState::Pending {
            attempts,
            not_before_ms,
        };
        after
    }

    /// A request of chunk `index` ended through no fault of the chunk's
    /// (its link expired): the chunk is asked again at once, its attempts
    /// as they were.
    pub(crate) fn requeue(&mut self, index: usize) {
        let c = self.chunk_mut(index);
        if let ChunkState::InFlight { attempts, .. } = c.state {
            c.roll_back();
            c.state = ChunkState::Pending {
                attempts,
                not_before_ms: 0,
            };
        }
    }

    /// In-flight chunks go back to pending, their progress kept.
    pub(crate) fn cancel_in_flight(&mut self) {
        for c in &mut self.chunks {
            if let ChunkState::InFlight { attempts, .. } = c.state {
                c.roll_back();
                c.state = ChunkState::Pending {
                    attempts,
                    not_before_ms: 0,
                };
            }
        }
    }

    /// The earliest backoff to end, if any chunk waits for one.
    pub(crate) fn next_backoff_ms(&self) -> Option<u64> {
        self.chunks
            .iter()
            .filter_map(|c| match c.state {
                ChunkState::Pending { not_before_ms, .. } if not_before_ms != u64::MAX => {
                    Some(not_before_ms)
                }
                _ => None,
            })
            .min()
            // A chunk the window may still create is due at once.
            .or_else(|| self.can_create_chunk().then_some(0))
    }

    /// Whether the window has room for a chunk not created yet.
    fn can_create_chunk(&self) -> bool {
        match self.layout {
            Layout::Planned => false,
            Layout::Windowed { count, window, .. } => {
                self.chunks.len() < window && self.base + self.chunks.len() < count
            }
        }
    }

    /// Whether bytes are waiting to be delivered in order.
    pub(crate) fn has_delivery(&self) -> bool {
        self.chunks.front().is_some_and(|c| !c.pieces.is_empty())
    }

    /// The next bytes in order, if the first undelivered chunk has some.
    /// Taking the last of a finished chunk moves the window on.
    pub(crate) fn take_delivery(&mut self) -> Option<Vec<u8>> {
        let piece = self.chunks.front_mut()?.pieces.pop_front()?;
        while self
            .chunks
            .front()
            .is_some_and(|c| matches!(c.state, ChunkState::Done { .. }) && c.pieces.is_empty())
        {
            self.chunks.pop_front();
            self.base += 1;
        }
        Some(piece)
    }

    /// Bytes received and waiting for delivery.
    #[cfg(test)]
    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .flat_map(|c| &c.pieces)
            .map(|p| p.len() as u64)
            .sum()
    }

    /// The meta records, in file order (split-off chunks were appended).
    pub(crate) fn to_meta_chunks(&self) -> Vec<MetaChunk> {
        let mut order: Vec<&Chunk> = self.chunks.iter().collect();
        order.sort_by_key(|c| c.range.start());
        order
            .into_iter()
            .map(|c| MetaChunk {
                start: c.range.start(),
                end: c.range.end(),
                state: match c.state {
                    ChunkState::Done { digest } => SavedChunk::Done {
                        xxh3: digest_hex(digest),
                    },
                    _ => match &c.checked {
                        // Only proven pieces are worth a claim.
                        Some(checked) => SavedChunk::Pending {
                            received: checked.verified,
                            xxh3: (checked.verified > 0)
                                .then(|| digest_hex(checked.hasher_at_verified.digest128())),
                        },
                        None => SavedChunk::Pending {
                            received: c.received,
                            xxh3: (c.received > 0)
                                .then(|| c.hasher.as_ref().map(Xxh3::digest128))
                                .flatten()
                                .map(digest_hex),
                        },
                    },
                },
            })
            .collect()
    }

    /// The range of chunk `index`.
    pub(crate) fn range(&self, index: usize) -> ByteRange {
        self.chunk(index).range
    }

    /// How many chunks exist now (for bounding the meta's save interval).
    pub(crate) fn len(&self) -> usize {
        self.chunks.len()
    }
}
