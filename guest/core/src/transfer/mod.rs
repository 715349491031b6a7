//! The transfer engine: one remote object fetched by validated requests,
//! every rule of rangeget in one place. The fetch (`crate::fetch`) builds
//! and drives it for every destination — a file, a stream, a client of
//! the proxy — and no adapter restates a rule: which bytes to ask for next, `Range` and `If-Range`,
//! whether an answer may be used, redirects, retries and their budget,
//! stalls, `--max-speed`, when progress is saved, when the object changed.
//!
//! # Where the bytes go
//! - **At an offset in a file** ([`Transfer::to_file`], [`Transfer::resume_file`]):
//!   chunks in any order, each body written where
//!   [`Transfer::body_window`] says, progress recorded in the meta file
//!   (digests, so a resume can verify it).
//! - **In order, through a bounded window** ([`Transfer::in_order`]): for a
//!   client of the proxy (and `-o -`). A chunk is requested only within
//!   `connections` chunks of the first one not yet delivered, so memory
//!   stays at about connections × chunk size and a slow reader means fewer
//!   requests, not a bigger buffer. [`Transfer::poll_delivery`] gives the
//!   bytes in order.
//! - **One stream** ([`Transfer::whole`]): for servers without usable
//!   ranges, a single GET from byte 0, to a file or in order.
//!
//! # Contract
//! `Transfer` never touches a socket, a file or a clock, in the style of
//! quinn-proto's `Connection`. The driver repeats, until
//! [`Transfer::poll_end`] returns the end:
//!
//! 1. [`Transfer::poll_command`] until `None`: send each
//!    [`Command::Send`] (method, URL, [`Request::headers`] plus the
//!    user's), drop each [`Command::Close`]d request (its body is complete,
//!    it failed, stalled, or the transfer stopped), truncate the file on
//!    [`Command::Truncate`]. Then [`Transfer::poll_start`] until `None`,
//!    or while a budget shared with other transfers has room: send each.
//! 2. [`Transfer::poll_event`] until `None`: tell the user.
//! 3. File: [`Transfer::poll_save`]; when a save is due, write
//!    [`Transfer::to_meta`] as it asks, then [`Transfer::handle_saved`]
//!    (or [`Transfer::handle_local_failure`] if it failed).
//!    In order: hand [`Transfer::poll_delivery`] to the client while it
//!    has room.
//! 4. [`Transfer::poll_end`]: `Some` once everything above is drained.
//! 5. Wait until a request is ready, or until [`Transfer::poll_timeout`].
//! 6. Feed what happened, with the time: [`Transfer::handle_head`] when a
//!    response head arrives; for a body, read at most
//!    [`Transfer::body_window`]`.len` bytes (file: write them at its
//!    `offset`), then [`Transfer::handle_body`]; [`Transfer::handle_body_end`]
//!    when a body ends, [`Transfer::handle_error`] when a request fails.
//! 7. [`Transfer::handle_timeout`] once per turn (stalls are cut there).

mod chunks;
mod inputs;
mod relink;
mod requests;
mod saves;
mod sources;
#[cfg(test)]
mod sources_tests;
#[cfg(test)]
mod tests;
mod whole;

use std::collections::VecDeque;

pub use chunks::Claim;
pub use saves::{Save, SaveKind};

use crate::answer::{judge, Judgement};
use crate::failure::{Failure, Reason, RemoteChange};
use crate::headers::Headers;
use crate::meta::{MetaFile, FORMAT_VERSION};
use crate::object::RemoteObject;
use crate::range::ByteRange;
use crate::rate_limit::{RateLimiter, SharedRateLimiter};
use crate::request::{Event, Method, Request, RequestFailure, RequestId, RequestRules};
use crate::request_size::{RequestSizer, FIRST_REQUEST_SIZE};
use crate::retry::{AfterFailure, Attempts, Jitter};
use crate::room::check_max_filesize;
use crate::validate::{check_range_response, RangeVerdict};
use chunks::{ChunkTable, Progress};
use saves::SaveSchedule;
use sources::open_per_source;

/// How a transfer behaves, resolved from the command line or the proxy's
/// configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Requests in flight at once (and, in order, the window in chunks).
    pub connections: usize,
    pub rules: RequestRules,
    pub stall: StallRule,
    /// `--max-speed`: bytes per second for the whole transfer.
    pub max_speed: Option<u64>,
    /// `--max-filesize`, for streams of unknown length.
    pub max_filesize: Option<u64>,
    /// Sync the data before recording it durably, and start write-back of
    /// what requests write as they go (`--no-fsync` turns this off).
    pub durable: bool,
    /// Seeds the jitter of retry delays.
    pub seed: u64,
}

/// A request receiving less than `min_bytes` in `timeout_ms` (its head
/// included) is cut and retried; `--timeout` and `--speed-limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StallRule {
    pub timeout_ms: u64,
    pub min_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            connections: 4,
            rules: RequestRules::default(),
            stall: StallRule {
                timeout_ms: 60_000,
                min_bytes: 60 * 1024,
            },
            max_speed: None,
            max_filesize: None,
            durable: true,
            seed: 0x2545_f491_4f6c_dd1d,
        }
    }
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Send(Request),
    /// Stop reading request `id` and drop it. `flush` (a file, durable) is
    /// a range whose bytes are now all written: hand it to the disk.
    Close {
        id: RequestId,
        flush: Option<ByteRange>,
    },
    /// A file, durable: the bytes of this range are all written; hand
    /// them to the disk.
    Flush(ByteRange),
    /// One stream starts over: what the file holds is void.
    Truncate,
}

/// A durable file's bytes are handed to the disk at least this often per
/// request (and when it ends), whatever the request's size, so that the
/// final sync finds little left to write.
const WRITEBACK_EVERY: u64 = 2 << 20;

/// How many bytes of a body to read now, and where they belong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyWindow {
    /// The object offset of the next byte (a file writes it there).
    pub offset: u64,
    /// Read at most this many (0: wait, for the reader or `--max-speed`).
    pub len: u64,
}

/// How a transfer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte arrived (and, in order, was delivered).
    Finished,
    Stopped {
        stop: Stop,
        /// A file's progress was saved as the transfer stopped (false
        /// when that save failed too: the previous one stands).
        saved: bool,
    },
}

/// Why a transfer stopped before its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The object is not the one being fetched any more.
    Changed(RemoteChange),
    /// The server answered a range with the whole, unchanged object: the
    /// body of request `id` (left open) is the object from byte 0.
    RangesIgnored {
        id: RequestId,
    },
    Failed(Failure),
}

/// A stop as a failure: what a caller that cannot go on tells its user.
impl From<Stop> for Failure {
    fn from(stop: Stop) -> Failure {
        match stop {
            Stop::Changed(change) => Reason::Changed(change).into(),
            Stop::RangesIgnored { .. } => Reason::RangesIgnored.into(),
            Stop::Failed(failure) => failure,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Changed(change) => Reason::Changed(change.clone()).fmt(f),
            Stop::RangesIgnored { .. } => Reason::RangesIgnored.fmt(f),
            Stop::Failed(failure) => failure.fmt(f),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Head,
    Body,
}

/// A request in flight.
#[derive(Clone, Debug)]
struct Open {
    id: RequestId,
    /// The chunk it fetches (ranged transfers).
    chunk: usize,
    range: Option<ByteRange>,
    url: String,
    redirects: u32,
    /// Its redirects started at the requested URL, for a fresh link (see
    /// `relink.rs`).
    fresh_link: bool,
    /// The source it asks (see `sources.rs`; 0 with one source).
    source: usize,
    stage: Stage,
    sent_ms: u64,
    head_ms: u64,
    /// The current stall window: when it started, what arrived in it.
    window_start_ms: u64,
    window_bytes: u64,
    /// Body bytes it brought so far, and when the last of them came.
    body_bytes: u64,
    body_at_ms: u64,
    /// How many bytes of its range were handed to the disk (a durable file).
    handed_to_disk: u64,
}

/// Where the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    File,
    InOrder,
}

#[derive(Clone)]
enum Mode {
    Ranged(Ranged),
    Whole(Whole),
}

#[derive(Clone)]
struct Ranged {
    chunks: ChunkTable,
    chunk_size: u64,
    /// Bytes per range request; grows while waits for heads are costly.
    sizer: RequestSizer,
    /// A file's save schedule.
    saves: Option<SaveSchedule>,
}

#[derive(Clone)]
struct Whole {
    written: u64,
    /// The length the body must have, when the server stated one.
    announced: Option<u64>,
    attempts: Attempts,
    /// The next attempt goes out then (after a backoff).
    resend_at_ms: Option<u64>,
    ended: bool,
    /// In order: bytes not yet delivered, and how many may wait.
    pieces: VecDeque<Vec<u8>>,
    buffer_limit: u64,
}

/// One object's transfer. See the module documentation for the contract.
#[derive(Clone)]
pub struct Transfer {
    object: RemoteObject,
    settings: Settings,
    sink: Sink,
    mode: Mode,
    open: Vec<Open>,
    commands: VecDeque<Command>,
    events: VecDeque<Event>,
    next_id: u64,
    jitter: Jitter,
    limiter: Option<SharedRateLimiter>,
    end: Option<End>,
    /// A stopped file transfer saves its progress before it ends.
    final_save: bool,
    reused: u64,
    fetched: u64,
    retries: u32,
    validated: bool,
    /// Whether [`Event::LongerThanRange`] was told.
    told_longer_than_range: bool,
    /// In order, of slices: the bytes before and after the wanted span
    /// that are fetched (whole slices) but not delivered.
    trim: Option<Trim>,
    /// Links reached through redirects, renewed when they expire.
    relinks: relink::Relinks,
    /// Other sources of the object, when bytes may be mixed.
    sources: Option<sources::SourceSet>,
}

/// What [`Transfer::in_order_slices`] fetches but does not deliver.
#[derive(Clone, Debug)]
struct Trim {
    skip: u64,
    left: u64,
}

/// A file that comes whole in the probe's one answer (its first bytes are
/// at most 1 MiB) keeps no record unless it takes longer than
/// [`UNRECORDED_MS`]: a kill before then refetches only what was in flight,
/// and a record (a meta written, synced, renamed, removed) would cost more
/// than the file: with 100 files of 1 MiB 50 ms away, a batch took 0.62 s
/// with records and 0.45–0.50 s without (curl -Z: 0.50). A slow one (a
/// trickle, a far link) is recorded after that, and on failure.
pub const UNRECORDED_MAX: u64 = 1024 * 1024;
/// How long such a file may go unrecorded.
pub const UNRECORDED_MS: u64 = 1000;

impl Transfer {
    fn new(
        object: RemoteObject,
        settings: Settings,
        sink: Sink,
        mode: Mode,
        now_ms: u64,
    ) -> Transfer {
        let limiter = settings
            .max_speed
            .map(|rate| SharedRateLimiter::new(RateLimiter::new(rate, now_ms).into()));
        Transfer {
            object,
            jitter: Jitter::new(settings.seed),
            settings,
            sink,
            mode,
            open: Vec::new(),
            commands: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            limiter,
            end: None,
            final_save: false,
            reused: 0,
            fetched: 0,
            retries: 0,
            validated: false,
            told_longer_than_range: false,
            trim: None,
            relinks: relink::Relinks::default(),
            sources: None,
        }
    }

    /// A fresh download of `object` (of `size` bytes, in chunks of
    /// `chunk_size`) into a file.
    pub fn to_file(
        object: RemoteObject,
        size: u64,
        chunk_size: u64,
        settings: Settings,
        now_ms: u64,
    ) -> Transfer {
        let mode = Mode::Ranged(Ranged::new(
            ChunkTable::planned(size, chunk_size),
            chunk_size,
            true,
        ));
        Transfer::new(object, settings, Sink::File, mode, now_ms)
    }

    /// Tells the engine how long the probe's answer took (about a round
    /// trip): from a far origin, requests start a chunk long (see
    /// [`crate::request_size::first_request_size`]) instead of growing
    /// there one round trip at a time.
    pub fn origin_round_trip(&mut self, round_trip_ms: u64) {
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.sizer.origin_round_trip(round_trip_ms);
        }
    }

    /// Continues a file download from a meta file that `resume_verdict`
    /// accepted. Nothing it claims is trusted yet: every chunk starts
    /// empty, and the returned claims must be read back and verified
    /// ([`Transfer::verify_claim`], [`Transfer::finish_verification`]).
    pub fn resume_file(
        object: RemoteObject,
        meta: &MetaFile,
        settings: Settings,
        now_ms: u64,
    ) -> (Transfer, Vec<Claim>) {
        let (chunks, claims) = ChunkTable::from_meta(meta);
        let mode = Mode::Ranged(Ranged::new(chunks, meta.chunk_size, true));
        (
            Transfer::new(object, settings, Sink::File, mode, now_ms),
            claims,
        )
    }

    /// `span` of `object`, delivered in order, fetched in chunks of
    /// `chunk_size`, at most `settings.connections` chunks ahead.
    pub fn in_order(
        object: RemoteObject,
        span: ByteRange,
        chunk_size: u64,
        settings: Settings,
        now_ms: u64,
    ) -> Transfer {
        let table = ChunkTable::windowed(span, chunk_size, settings.connections);
        let mode = Mode::Ranged(Ranged::new(table, chunk_size, false));
        Transfer::new(object, settings, Sink::InOrder, mode, now_ms)
    }

    /// `wanted` of `object` (of `size` bytes), delivered in order, fetched
    /// as whole slices of `slice` bytes on `slice`-aligned boundaries, one
    /// request per slice, as nginx's slice module does: a cache between
    /// this and the origin sees the same requests whatever range a client
    /// asks, and can reuse them. What lies outside `wanted` is dropped.
    pub fn in_order_slices(
        object: RemoteObject,
        wanted: ByteRange,
        slice: u64,
        size: u64,
        settings: Settings,
        now_ms: u64,
    ) -> Transfer {
        let slice = slice.max(1);
        let first = wanted.start() / slice * slice;
        let end = (wanted.end() / slice + 1).saturating_mul(slice).min(size);
        let fetched = ByteRange::new(first, end - 1).expect("wanted lies within the object");
        let mut transfer = Transfer::in_order(object, fetched, slice, settings, now_ms);
        if let Mode::Ranged(ranged) = &mut transfer.mode {
            ranged.sizer = RequestSizer::fixed(slice);
        }
        transfer.trim = Some(Trim {
            skip: wanted.start() - first,
            left: wanted.len(),
        });
        transfer
    }

    /// The whole object in one stream from byte 0, to a file or (when
    /// `in_order`, holding at most `buffer_limit` bytes) to a reader.
    /// `adopted` is a request already sent whose head the driver will
    /// feed (the probe's GET, or an answer that ignored a range).
    pub fn whole(
        object: RemoteObject,
        in_order: Option<u64>,
        adopted: Option<RequestId>,
        settings: Settings,
        now_ms: u64,
    ) -> Transfer {
        let whole = Whole {
            written: 0,
            announced: None,
            attempts: Attempts::default(),
            resend_at_ms: adopted.is_none().then_some(now_ms),
            ended: false,
            pieces: VecDeque::new(),
            buffer_limit: in_order.unwrap_or(u64::MAX).max(1),
        };
        let sink = if in_order.is_some() {
            Sink::InOrder
        } else {
            Sink::File
        };
        let mut transfer = Transfer::new(object, settings, sink, Mode::Whole(whole), now_ms);
        if let Some(id) = adopted {
            transfer.next_id = id.0 + 1;
            let url = transfer.object.url.clone();
            transfer.open.push(Open::new(id, 0, None, url, 0, now_ms));
        }
        transfer
    }

    /// Takes over request `id`, already sent for `range` (a first-bytes
    /// probe's answer, whose head the driver feeds next), as the first
    /// request of the chunk `range` starts. False when it fits no chunk
    /// not started yet (a resume, a small chunk size): drop it then.
    pub fn adopt(&mut self, id: RequestId, range: ByteRange, now_ms: u64) -> bool {
        let Mode::Ranged(ranged) = &mut self.mode else {
            return false;
        };
        let Some(chunk) = ranged.chunks.adopt(range) else {
            return false;
        };
        if range.start() == 0
            && Some(range.len()) == self.object.size
            && range.len() <= UNRECORDED_MAX
        {
            if let Some(saves) = &mut ranged.saves {
                saves.unrecorded_until(now_ms + UNRECORDED_MS);
            }
        }
        self.next_id = self.next_id.max(id.0 + 1);
        let url = self.object.url.clone();
        self.open
            .push(Open::new(id, chunk, Some(range), url, 0, now_ms));
        true
    }

    /// Its new requests' ids start at `next` at the earliest (a fetch's
    /// ids go on across its probes and transfers).
    pub(crate) fn ids_from(&mut self, next: u64) {
        self.next_id = self.next_id.max(next);
    }

    /// The id its next request would have.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    pub fn object(&self) -> &RemoteObject {
        &self.object
    }

    /// Feeds bytes read back from the `.part` for `claim`, in order.
    pub fn verify_claim(&mut self, claim: &Claim, bytes: &[u8]) {
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.chunks.verify(claim, bytes);
        }
    }

    /// Accepts `claim` if the bytes read back match its digest (the chunk
    /// starts over otherwise); returns whether they did.
    pub fn finish_verification(&mut self, claim: &Claim) -> bool {
        let Mode::Ranged(ranged) = &mut self.mode else {
            return false;
        };
        let accepted = ranged.chunks.finish_verification(claim);
        if accepted {
            self.reused += claim.range.len();
        }
        accepted
    }

    /// Body bytes received in this run, those dropped later included (a
    /// piece that failed, a request cut part-way).
    pub fn fetched_bytes(&self) -> u64 {
        self.fetched
    }

    /// Bytes taken over from a previous run.
    pub fn reused_bytes(&self) -> u64 {
        self.reused
    }

    /// Bytes received so far, from this run and verified from earlier ones.
    pub fn bytes_received(&self) -> u64 {
        match &self.mode {
            Mode::Ranged(ranged) => ranged.chunks.bytes_received(),
            Mode::Whole(whole) => whole.written,
        }
    }

    /// Draws on `limiter` (the run's `--max-speed`, shared by the files of
    /// a batch) instead of a bucket of its own.
    pub fn share_rate_limit(&mut self, limiter: SharedRateLimiter) {
        self.limiter = Some(limiter);
    }

    /// Whether the transfer records progress a later run can resume.
    pub fn saves_progress(&self) -> bool {
        matches!(&self.mode, Mode::Ranged(Ranged { saves: Some(_), .. }))
    }

    /// Whether the record is put off (see [`UNRECORDED_MAX`]): the driver
    /// writes no meta before the first save it is asked for.
    pub fn defers_record(&self) -> bool {
        matches!(&self.mode, Mode::Ranged(Ranged { saves: Some(saves), .. }) if saves.is_unrecorded())
    }

    /// Retries so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Connections the transfer could use at once.
    pub fn connections_used(&self) -> usize {
        match &self.mode {
            Mode::Ranged(ranged) => self.settings.connections.min(ranged.chunks.chunk_count()),
            Mode::Whole(_) => 1,
        }
    }

    /// A range answer has passed validation: the object is as probed (the
    /// proxy sends its response head only then).
    pub fn validated(&self) -> bool {
        self.validated
    }

    /// The next thing to do about requests already under way, in order:
    /// drops before sends, so a finished request's connection is back in
    /// the pool for the one that continues its chunk.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// A new request the transfer would start now (the next chunk, a
    /// retry after its backoff, the stream), if it has one and fewer than
    /// its `connections` are open. A driver with a budget across many
    /// transfers asks only while the budget has room.
    pub fn poll_start(&mut self, now_ms: u64) -> Option<Request> {
        if self.end.is_some() {
            return None;
        }
        let request = match &mut self.mode {
            Mode::Ranged(ranged) => {
                if self.open.len() >= self.settings.connections {
                    // A connection held by a crawling source is better
                    // spent on a fast one.
                    if self.sources.is_some() && self.cut_slowest(now_ms) {
                        return self.poll_start(now_ms);
                    }
                    return None;
                }
                let source = match &self.sources {
                    Some(set) => set.pick(&open_per_source(&self.open, set), now_ms)?,
                    None => 0,
                };
                let next = ranged.chunks.next_request(now_ms, ranged.sizer.size());
                let Some((chunk, range)) = next else {
                    // Nothing left to ask: a request crawling from a slow
                    // source may be worth asking a faster one.
                    if self.cut_slowest(now_ms) {
                        return self.poll_start(now_ms);
                    }
                    return None;
                };
                let id = self.fresh_id();
                let object = match &self.sources {
                    Some(set) => set.object(source),
                    None => &self.object,
                };
                let url = object.url.clone();
                let request = Request::range_of(id, object, &url, range);
                let mut open = Open::new(id, chunk, Some(range), url.clone(), 0, now_ms);
                open.fresh_link = self.relinks.is_requested(&url);
                open.source = source;
                self.open.push(open);
                request
            }
            Mode::Whole(whole) => {
                if !self.open.is_empty() || whole.resend_at_ms.is_none_or(|at| at > now_ms) {
                    return None;
                }
                whole.resend_at_ms = None;
                let id = self.fresh_id();
                let url = self.object.url.clone();
                self.open
                    .push(Open::new(id, 0, None, url.clone(), 0, now_ms));
                Request {
                    id,
                    method: Method::Get,
                    url,
                    range: None,
                    if_range: None,
                    if_modified_since: None,
                }
            }
        };
        Some(request)
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A save of a file transfer's progress, when one is due.
    pub fn poll_save(&mut self, now_ms: u64) -> Option<Save> {
        // A stopped transfer makes its final save, once; no other after it
        // (one that failed is not asked again: the previous one stands).
        if matches!(self.end, Some(End::Stopped { .. })) && !self.final_save {
            return None;
        }
        let Mode::Ranged(Ranged {
            saves: Some(saves),
            chunks,
            ..
        }) = &self.mode
        else {
            return None;
        };
        let kind = if self.final_save {
            SaveKind::Durable
        } else {
            match saves.due(now_ms, chunks.len())? {
                // The last chunk: the meta is removed when the file is
                // published, so this record need not wait for the disk.
                SaveKind::FinishedChunk if chunks.is_complete() => SaveKind::Quick,
                kind => kind,
            }
        };
        let durable = self.settings.durable;
        Some(Save {
            kind,
            sync_data: kind == SaveKind::Durable && durable,
            // --no-fsync: never wait for the disk (digests make any record
            // safe to load; a power loss may cost what it did not keep).
            sync_meta: durable && matches!(kind, SaveKind::Durable | SaveKind::FinishedChunk),
        })
    }

    /// The driver completed `save` at `now_ms`.
    pub fn handle_saved(&mut self, save: Save, now_ms: u64) {
        if let Mode::Ranged(Ranged {
            saves: Some(saves), ..
        }) = &mut self.mode
        {
            saves.saved(save.kind, now_ms);
        }
        self.final_save = false;
    }

    /// Something local failed (a write, a save): the transfer stops. If it
    /// was already stopping, its own reason stands and the failed save
    /// means the progress of the previous save is what is kept.
    pub fn handle_local_failure(&mut self, failure: Failure) {
        if self.end.is_some() {
            if self.final_save {
                self.final_save = false;
                if let Some(End::Stopped { saved, .. }) = &mut self.end {
                    *saved = false;
                }
            }
            return;
        }
        self.stop(Stop::Failed(failure));
    }

    /// The next bytes for the reader, in order (in-order transfers).
    pub fn poll_delivery(&mut self) -> Option<Vec<u8>> {
        loop {
            let piece = self.poll_fetched_piece()?;
            let Some(trim) = &mut self.trim else {
                return Some(piece);
            };
            let start = trim.skip.min(piece.len() as u64);
            trim.skip -= start;
            let len = (piece.len() as u64 - start).min(trim.left);
            trim.left -= len;
            if start == 0 && len == piece.len() as u64 {
                return Some(piece);
            }
            if len > 0 {
                let start = start as usize;
                return Some(piece[start..start + len as usize].to_vec());
            }
        }
    }

    /// The next piece in order, as fetched.
    fn poll_fetched_piece(&mut self) -> Option<Vec<u8>> {
        match &mut self.mode {
            Mode::Ranged(ranged) if self.sink == Sink::InOrder => ranged.chunks.take_delivery(),
            Mode::Whole(whole) => whole.pieces.pop_front(),
            Mode::Ranged(_) => None,
        }
    }

    /// Whether [`Transfer::poll_delivery`] has bytes to give.
    pub fn has_delivery(&self) -> bool {
        match &self.mode {
            Mode::Ranged(ranged) => self.sink == Sink::InOrder && ranged.chunks.has_delivery(),
            Mode::Whole(whole) => !whole.pieces.is_empty(),
        }
    }

    /// Bytes received and waiting for the reader.
    #[cfg(test)]
    pub fn buffered_bytes(&self) -> u64 {
        match &self.mode {
            Mode::Ranged(ranged) => ranged.chunks.buffered_bytes(),
            Mode::Whole(whole) => whole.pieces.iter().map(|p| p.len() as u64).sum(),
        }
    }

    /// How the transfer ended, once: after its last commands, events,
    /// save and delivery are drained.
    pub fn poll_end(&mut self) -> Option<End> {
        if self.end.is_none() && self.is_finished() {
            self.end = Some(End::Finished);
        }
        let drained = self.commands.is_empty() && !self.final_save && !self.has_delivery();
        // A finished file records its last chunk before it is published;
        // a stopped one made its last save already, or failed to (then the
        // previous save is what is kept).
        let stopped = matches!(self.end, Some(End::Stopped { .. }));
        let recorded = match &self.mode {
            Mode::Ranged(Ranged {
                saves: Some(saves), ..
            }) => stopped || !saves.has_unsaved_finished_chunk(),
            _ => true,
        };
        if drained && recorded {
            self.end.take()
        } else {
            None
        }
    }

    fn is_finished(&self) -> bool {
        match &self.mode {
            Mode::Ranged(ranged) => ranged.chunks.is_complete(),
            Mode::Whole(whole) => whole.ended,
        }
    }

    /// The earliest moment something is due: a backoff ending (only while
    /// a connection is free: a chunk merely waiting for one would turn the
    /// wait into a busy loop), a stall window closing, a save, tokens for
    /// `--max-speed`. The driver waits until then at most.
    pub fn poll_timeout(&self, now_ms: u64) -> Option<u64> {
        self.poll_timeout_without_starts(now_ms)
            .into_iter()
            .chain(self.next_start_ms(now_ms))
            .min()
    }

    /// When a request may start again after a backoff (see `poll_timeout`).
    fn next_start_ms(&self, now_ms: u64) -> Option<u64> {
        match &self.mode {
            _ if self.end.is_some() => None,
            Mode::Ranged(ranged) => {
                let free = self.open.len() < self.settings.connections;
                let rested = self.sources.as_ref().and_then(|s| s.next_rest_end(now_ms));
                let backoff = ranged.chunks.next_backoff_ms();
                free.then(|| backoff.into_iter().chain(rested).min())
                    .flatten()
            }
            Mode::Whole(whole) => whole.resend_at_ms,
        }
    }

    /// [`Transfer::poll_timeout`] for a driver whose budget of connections
    /// is full: a start that is due cannot happen until a request ends
    /// (which its poll tells), so only the other deadlines count.
    pub fn poll_timeout_without_starts(&self, now_ms: u64) -> Option<u64> {
        if self.end.is_some() {
            return None;
        }
        let stalls = self.open.iter().map(|o| {
            o.window_start_ms
                .saturating_add(self.settings.stall.timeout_ms)
        });
        let save = match &self.mode {
            Mode::Ranged(ranged) => ranged
                .saves
                .as_ref()
                .and_then(|s| s.next_due_ms(ranged.chunks.len())),
            Mode::Whole(_) => None,
        };
        let reading = self.open.iter().any(|o| o.stage == Stage::Body);
        let tokens = self
            .limiter
            .as_ref()
            .map(|l| l.borrow())
            .filter(|l| reading && l.available(now_ms) == 0)
            .map(|l| l.next_grant_ms(now_ms));
        stalls.chain(save).chain(tokens).min()
    }

    /// A file transfer's progress, as the meta file records it. The URL is
    /// the one the user asked for (not a short-lived redirect target).
    pub fn to_meta(&self, requested_url: &str) -> MetaFile {
        let (chunks, chunk_size) = match &self.mode {
            Mode::Ranged(ranged) => (ranged.chunks.to_meta_chunks(), ranged.chunk_size),
            Mode::Whole(_) => (Vec::new(), 0),
        };
        MetaFile {
            version: FORMAT_VERSION,
            url: requested_url.to_string(),
            size: self.object.size.unwrap_or(0),
            etag: self.object.etag.clone(),
            last_modified: self.object.last_modified.clone(),
            chunk_size,
            chunks,
            sources: self
                .sources
                .as_ref()
                .map_or_else(Vec::new, sources::SourceSet::listed),
            pieces: self.pieces().map(|p| p.fingerprint()),
        }
    }

    fn fresh_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    fn find(&self, id: RequestId, stage: Stage) -> Option<usize> {
        self.open
            .iter()
            .position(|o| o.id == id && o.stage == stage)
    }

    /// Whether written bytes are handed to the disk as they come (a
    /// durable file).
    fn writes_back(&self) -> bool {
        self.sink == Sink::File && self.settings.durable
    }

    /// Drops request `id`; `written` is the range it completed, if any.
    fn close(&mut self, id: RequestId, written: Option<ByteRange>) {
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.sizer.closed(id);
        }
        let flush = written.filter(|_| self.writes_back());
        self.commands.push_back(Command::Close { id, flush });
    }

    /// Ends the transfer: every open request is dropped; a file transfer
    /// that failed saves its progress first.
    fn stop(&mut self, stop: Stop) {
        if self.end.is_some() {
            return;
        }
        for open in std::mem::take(&mut self.open) {
            self.close(open.id, None);
        }
        if let Mode::Ranged(ranged) = &mut self.mode {
            ranged.chunks.cancel_in_flight();
        }
        // A failed file keeps its record for the next run; one that never
        // had a record (small and quick so far) has nothing worth keeping.
        self.final_save =
            self.saves_progress() && !self.defers_record() && matches!(stop, Stop::Failed(_));
        self.end = Some(End::Stopped {
            stop,
            saved: self.final_save,
        });
    }
}

impl Ranged {
    fn new(chunks: ChunkTable, chunk_size: u64, file: bool) -> Ranged {
        Ranged {
            chunks,
            chunk_size,
            sizer: RequestSizer::new(FIRST_REQUEST_SIZE, chunk_size),
            saves: file.then(SaveSchedule::default),
        }
    }
}

impl Open {
    fn new(
        id: RequestId,
        chunk: usize,
        range: Option<ByteRange>,
        url: String,
        redirects: u32,
        now_ms: u64,
    ) -> Open {
        Open {
            id,
            chunk,
            range,
            url,
            redirects,
            fresh_link: false,
            source: 0,
            stage: Stage::Head,
            sent_ms: now_ms,
            head_ms: now_ms,
            window_start_ms: now_ms,
            window_bytes: 0,
            body_bytes: 0,
            body_at_ms: now_ms,
            handed_to_disk: 0,
        }
    }

    /// Its bytes written since the last hand-over to the disk, once they
    /// are [`WRITEBACK_EVERY`] long; `next` is the first byte not written.
    fn writeback_due(&mut self, next: u64) -> Option<ByteRange> {
        let range = self.range?;
        let from = range.start() + self.handed_to_disk;
        if next < from + WRITEBACK_EVERY {
            return None;
        }
        self.handed_to_disk = next - range.start();
        ByteRange::new(from, next - 1)
    }

    /// Its range's bytes not handed to the disk yet.
    fn not_handed_to_disk(&self) -> Option<ByteRange> {
        self.range?.skip(self.handed_to_disk)
    }

    fn start_body(&mut self, now_ms: u64) {
        self.stage = Stage::Body;
        self.head_ms = now_ms;
        self.body_at_ms = now_ms;
    }
}
