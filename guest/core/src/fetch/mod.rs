//! One object's whole life, sans-IO: probe → plan → transfer → (start
//! over when it changed, one stream when ranges are ignored, resume from a
//! previous run's meta) → the end, for each of the three destinations:
//! a file written at offsets, a stream written in order (`-o -`, a
//! device), and a client of the proxy with a `Range` of its own.
//!
//! # Contract
//! [`Fetch`] never touches a socket, a file or a clock, in the style of
//! str0m's `Rtc` and quinn-proto's `Connection`: what happens goes in
//! through [`Fetch::handle`], what to do comes out of [`Fetch::poll`]. An
//! adapter (the pump) repeats:
//!
//! 1. `poll` until it returns [`Output::Wait`], carrying out each output
//!    at once, in the order given (a [`Output::SaveMeta`] before the bytes
//!    that follow it; [`Output::Close`] before the [`Output::Send`] that
//!    reuses its connection). Outputs that ask a question — `Locate`,
//!    `CreatePart`, `ReadBack`, `SaveMeta` — are answered with their input
//!    before the next `poll`. After [`Output::End`] there is nothing more.
//! 2. Wait until a request has something (its head, body bytes, its end,
//!    its failure), the reader has room again, or the moment `Wait` names.
//! 3. `handle` what happened: [`Input::Head`]; for a body, read at most
//!    [`Fetch::body_window`]`.len` bytes (a file writes them at its
//!    `offset` first) and hand them in as [`Input::Body`]; [`Input::BodyEnd`];
//!    [`Input::Failed`] (also for a request that could not be sent).
//!
//! Every input names a request id the fetch handed out; one it does not
//! have open is a bug of the pump, reported as [`Event::Unexpected`] and
//! otherwise ignored. Times are the pump's monotonic milliseconds.
//!
//! The pump decides nothing: which request, whether an answer is usable,
//! retries, a changed object, what a user reads — all of it is here.

mod client;
mod file;
mod notice;
mod publish;
mod sources;
mod standing;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

pub use client::{Answer, ClientAsk, ResponseHead};
pub use notice::Notice;
pub use publish::Publish;
pub use standing::FileTarget;
// The transfer's types a pump and the options meet.
pub use crate::transfer::{BodyWindow, Settings, StallRule};

use crate::batch::Skip;
use crate::failure::{Failure, Reason};
use crate::file_start::AtDestination;
use crate::fresh_starts::{AfterStop, FreshStarts};
use crate::headers::Headers;
use crate::object::{RemoteObject, TransferMode};
use crate::probe::{Probe, ProbeEnd};
use crate::range::ByteRange;
use crate::rate_limit::SharedRateLimiter;
use crate::request::{Event, Request, RequestFailure, RequestId};
use crate::room::check_max_filesize;
use crate::sources::{Mirrors, SourceReport, SourceReports};
use crate::transfer::{Command, End, Save, Stop, Transfer};
use file::Prepare;

/// What to fetch and how.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The URL the user asked for (redirects are followed from it).
    pub url: String,
    /// How the transfer behaves; `settings.rules` govern every request.
    pub settings: Settings,
    /// The chunk size asked for (`-k`), if any.
    pub chunk_size: Option<u64>,
    /// Free bytes where a file goes, when the host measured them.
    pub free_space: Option<u64>,
    /// The run's `--max-speed`, shared with the other files of a batch.
    pub rate_limit: Option<SharedRateLimiter>,
    /// Other sources of the same file (a file only), and what proves
    /// their bytes; `url` is the first source.
    pub mirrors: Mirrors,
}

/// Where the bytes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A file, written at offsets into its `.part`; progress recorded in
    /// its meta, resumable; what stands at its name judged, and the file
    /// published (see [`FileTarget`]).
    File(FileTarget),
    /// A stream written in order (`-o -`, a device), named `name`.
    InOrder { name: String },
    /// A client of the proxy, answered with what it asked for.
    Client(ClientAsk),
}

/// Something that happened, for [`Fetch::handle`].
#[derive(Debug)]
pub enum Input<'a> {
    /// A response head arrived for request `id` (at `unix_ms`, wall time,
    /// which `Date` and `Expires` are compared with).
    Head {
        id: RequestId,
        status: u16,
        headers: &'a Headers,
        unix_ms: u64,
    },
    /// Body bytes of request `id`, at most its [`Fetch::body_window`].
    Body { id: RequestId, data: Vec<u8> },
    /// The body of request `id` ended.
    BodyEnd { id: RequestId },
    /// Request `id` failed (or could not be sent).
    Failed {
        id: RequestId,
        failure: RequestFailure,
    },
    /// A file: the answer to [`Output::Look`].
    Standing(AtDestination),
    /// A file: the SHA-256 [`Output::Hash`] asked for, in hex.
    Hashed(String),
    /// A file: the answer to [`Output::Locate`]: the destination, at
    /// `path` (the server may have named it), is this run's (locked).
    Locked { path: String },
    /// A file: the answer to [`Output::OpenProgress`]: `meta` is the meta
    /// file's bytes if one is there, and `part_len` the `.part`'s length
    /// when a meta was found.
    Located {
        meta: Option<Vec<u8>>,
        part_len: Option<u64>,
    },
    /// A file: the answer to [`Output::CreatePart`]; `replaced` when a
    /// `.part` stood there.
    PartCreated { replaced: bool },
    /// A file: the bytes [`Output::ReadBack`] asked for (fewer at the
    /// `.part`'s end).
    ReadBack(Vec<u8>),
    /// The last [`Output::SaveMeta`] is done.
    Saved,
    /// A file: the answer to [`Output::Finish`]: the `.part`'s length.
    Synced { len: u64 },
    /// A file: the answer to [`Output::Publish`]: it has its name.
    Published,
    /// Something local failed (a write, a save, the destination's lock):
    /// the fetch stops, saying so.
    LocalFailure(Failure),
    /// The reader took every byte of the last [`Output::Deliver`].
    Taken,
}

/// What to do, from [`Fetch::poll`].
#[must_use = "every output is carried out, in order"]
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this request (its headers after the client's own).
    Send(Request),
    /// Stop reading request `id` and drop it.
    Close(RequestId),
    /// A file: these bytes are all written; hand them to the disk.
    Flush(ByteRange),
    /// A file: one stream starts over; truncate the `.part`.
    Truncate,
    /// Tell the user (progress, retries).
    Event(Event),
    /// Tell the user (what the fetch does about the object).
    Notice(Notice),
    /// A file: look at what stands at its name; with `progress`, also
    /// whether its meta is there and (when both are) its `.part`; answer
    /// [`Input::Standing`].
    Look { progress: bool },
    /// A file: the SHA-256 of the file standing at its name, or of the
    /// `.part` when `part`; answer [`Input::Hashed`].
    Hash { part: bool },
    /// A file: the object is known; name the file from it
    /// (`Content-Disposition`), claim the name in the run, lock the
    /// destination; answer [`Input::Locked`].
    Locate(RemoteObject),
    /// A file: read what a previous run left (its meta, and its `.part`
    /// when a meta is there); answer [`Input::Located`].
    OpenProgress,
    /// A file: remove the meta (there may be none).
    RemoveMeta,
    /// A file: remove a meta that describes nothing; where it cannot be
    /// removed, it is inert (no answer, whatever happens).
    RemoveStaleMeta,
    /// A file: create (or truncate) the `.part`, sized `size` when given;
    /// answer [`Input::PartCreated`].
    CreatePart { size: Option<u64> },
    /// A file: remove the `.part` and its meta; nothing of them is kept.
    Discard,
    /// A file: read these bytes of the `.part` back; answer [`Input::ReadBack`].
    ReadBack(ByteRange),
    /// A file: replace the meta with `json` atomically, after syncing the
    /// `.part`'s data if `sync_data`, syncing the new meta if `sync_meta`;
    /// answer [`Input::Saved`] (or [`Input::LocalFailure`]).
    SaveMeta {
        json: Vec<u8>,
        sync_data: bool,
        sync_meta: bool,
    },
    /// The next bytes, in order, for the reader; answer [`Input::Taken`]
    /// once it took them all (no more comes before).
    Deliver(Vec<u8>),
    /// A client: send this answer's head (its body follows as deliveries
    /// when it has one).
    Respond(Answer),
    /// A file: every byte is in the `.part`; sync its data when `sync`
    /// (with other files' syncs, if the pump likes), and answer
    /// [`Input::Synced`] with its length.
    Finish { sync: bool },
    /// A file: give the `.part` its name as [`Publish`] says; answer
    /// [`Input::Published`].
    Publish(Publish),
    /// Nothing to do before this moment (`None`: before an input).
    Wait(Option<u64>),
    /// The end; nothing follows.
    End(Ending),
}

/// How a fetch ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every byte is delivered, or (a file) published.
    Finished(Stats),
    /// A client got an answer without the object (a status, a 304, a 416,
    /// the head of a HEAD request).
    Answered,
    /// A file: what stands at its name is kept (complete, current, or
    /// with the expected checksum).
    Skipped(Skip),
    Failed(Failure),
}

/// What the finished fetch tells of itself, for the report.
#[derive(Debug, PartialEq, Eq)]
pub struct Stats {
    pub final_url: String,
    /// The object's size (a stream without one: what came; a file: its
    /// length, checked).
    pub size: u64,
    /// Bytes taken over from a previous run.
    pub reused: u64,
    pub retries: u32,
    pub connections: u32,
    /// A file's SHA-256, when it was computed (a checksum, `--json`).
    pub sha256: Option<String>,
    /// What each source gave, when the file had several.
    pub sources: Vec<SourceReport>,
}

/// Whether a budget of connections the fetch shares (a batch's) has room
/// for a request to [`Fetch::url`]: a new one (`start`), or the spare slot
/// a probe holding an answer may take.
#[derive(Clone, Copy, Debug, Default)]
pub struct Room {
    pub start: bool,
    pub spare: bool,
}

impl Room {
    /// No budget beyond the fetch's own connections.
    pub const UNLIMITED: Room = Room {
        start: true,
        spare: true,
    };
}

/// The object as the probe found it, with the answer it may have left open.
#[derive(Debug)]
struct Probed {
    object: RemoteObject,
    headers: Headers,
    /// A GET's answer whose body is worth reading, body unread: the whole
    /// object, or its first bytes (`first`).
    body: Option<RequestId>,
    first: Option<ByteRange>,
    round_trip_ms: u64,
}

impl Probed {
    /// The status of the answer in `body`: its first bytes, or all of it.
    fn body_status(&self) -> u16 {
        if self.first.is_some() {
            206
        } else {
            200
        }
    }
}

enum Stage {
    /// A file: looking at what stands at its name (see `standing.rs`).
    Looking(standing::Looking),
    Probing(Probe),
    /// A file: waiting for [`Input::Locked`], then [`Input::Located`].
    Locating(Probed),
    /// A file: preparing the `.part` (see `file.rs`).
    Preparing(Prepare),
    Transferring(Transfer),
    /// A file: its last steps (see `publish.rs`).
    Publishing(publish::Publishing),
    Over,
}

/// One object's fetch. See the module documentation for the contract.
pub struct Fetch {
    spec: Spec,
    to: Destination,
    stage: Stage,
    starts: FreshStarts,
    outputs: VecDeque<Output>,
    /// The probe's requests still open at the pump.
    probe_open: Vec<RequestId>,
    /// Ids go on across probes and transfers, so an input is never taken
    /// for another request's.
    next_id: u64,
    /// After a range was answered with the whole object, ranges are over.
    ranges_ignored: bool,
    /// A 200 to a range request, kept as it came: when it is the object
    /// from byte 0, one stream goes on from it.
    whole_answer: Option<(RequestId, Headers)>,
    /// The probe's headers (a client's answer passes some on).
    origin_headers: Headers,
    /// The reader took everything delivered so far.
    reader_ready: bool,
    delivered: u64,
    /// A client's answer went out: nothing can be taken back.
    responded: bool,
    /// A save handed out and not yet answered.
    pending_save: Option<Save>,
    /// A file's destination was located (a start over keeps it).
    located: bool,
    /// A file stands at the name and is to be replaced.
    replacing: bool,
    /// `-N` asked the server with `If-Modified-Since` about the file at
    /// the name: an answer with the file instead of a 304 is judged by
    /// its size and `Last-Modified` before its body is taken.
    asked_if_modified: bool,
    /// Bytes the last probe asked for (from byte 0).
    probe_asked: u64,
    /// A client's answer head, sent once an origin answer passed validation.
    answer_head: Option<ResponseHead>,
    /// The last moment the transfer's timers were checked.
    ticked_ms: Option<u64>,
    ended: bool,
    /// The sources, and the one in use.
    failover: sources::Failover,
}

impl Fetch {
    /// The fetch of `spec.url` into `to`, its probe about to go out.
    pub fn new(spec: Spec, to: Destination) -> Fetch {
        let mut fetch = Fetch {
            stage: Stage::Over,
            starts: FreshStarts::default(),
            outputs: VecDeque::new(),
            probe_open: Vec::new(),
            next_id: 1,
            ranges_ignored: false,
            whole_answer: None,
            origin_headers: Headers::default(),
            reader_ready: true,
            delivered: 0,
            responded: false,
            pending_save: None,
            located: false,
            replacing: false,
            asked_if_modified: false,
            probe_asked: 0,
            answer_head: None,
            ticked_ms: None,
            ended: false,
            failover: sources::Failover::new(&spec.url, &spec.mirrors.urls),
            spec,
            to,
        };
        let bytes = match &fetch.to {
            // What stands at its name is looked at before anything is asked.
            Destination::File(_) => {
                fetch.look_first();
                return fetch;
            }
            // Its answer is the first request of a stream's chunk 0.
            Destination::InOrder { .. } => fetch.first_stream_bytes(),
            // One byte rather than a HEAD: its Content-Range states the
            // size the range answers will agree with (some servers' HEAD
            // states another), and it proves ranges work.
            Destination::Client(_) => 1,
        };
        fetch.probe(bytes, None);
        fetch
    }

    /// Probes again from the start (the object changed, or another source
    /// takes over).
    fn reprobe(&mut self) {
        let bytes = match self.to {
            Destination::Client(_) => 1,
            Destination::InOrder { .. } => self.first_stream_bytes(),
            Destination::File(_) => crate::file_start::probe_bytes(self.spec.chunk_size, false),
        };
        self.probe(bytes, None);
    }

    fn first_stream_bytes(&self) -> u64 {
        let chunk = crate::stream_out::stream_chunk_size(self.spec.chunk_size);
        crate::file_start::probe_bytes(Some(chunk), false)
    }

    fn probe(&mut self, bytes: u64, if_modified_since: Option<String>) {
        let mut rules = self.spec.settings.rules.clone();
        if matches!(self.to, Destination::Client(_)) {
            // An error status is the client's to see at once, not retried.
            rules.retry.max_retries = 0;
        }
        if self.failover.has_next() {
            // Another source waits: a dead one must not slow the file.
            rules.retry.max_retries = 0;
        }
        self.probe_asked = bytes;
        let url = self.failover.current().to_string();
        let mut probe = Probe::first_bytes(&url, rules, bytes).ids_from(self.next_id);
        if let Some(date) = if_modified_since {
            probe = probe.if_modified_since(date);
        }
        self.stage = Stage::Probing(probe);
    }

    /// Where new requests go (the budget counts them by its host).
    pub fn url(&self) -> &str {
        match &self.stage {
            Stage::Probing(probe) => probe.url(),
            Stage::Transferring(transfer) => &transfer.object().url,
            _ => self.failover.current(),
        }
    }

    /// Whether request `id` is one the fetch has open.
    pub fn expects(&self, id: RequestId) -> bool {
        match &self.stage {
            Stage::Transferring(transfer) => transfer.has_open(id),
            _ => self.probe_open.contains(&id),
        }
    }

    /// How many bytes of request `id`'s body to read now, and where they
    /// belong; `None` while its body is not wanted.
    pub fn body_window(&self, id: RequestId, now_ms: u64) -> Option<BodyWindow> {
        match &self.stage {
            Stage::Transferring(transfer) => transfer.body_window(id, now_ms),
            _ => None,
        }
    }

    /// Whether the fetch waits for its answer's head on a request of its
    /// own (rather than for room in a shared budget).
    pub fn is_probing(&self) -> bool {
        matches!(self.stage, Stage::Probing(_))
    }

    /// Bytes received so far (with those verified from a previous run),
    /// and the object's size when known.
    pub fn progress(&self) -> (u64, Option<u64>) {
        match &self.stage {
            Stage::Transferring(transfer) => (transfer.bytes_received(), transfer.object().size),
            Stage::Publishing(publishing) => {
                let size = publishing.size();
                (size, Some(size))
            }
            _ => (0, None),
        }
    }

    /// The moment something is due at `now_ms` with `room` in the budget.
    pub fn deadline(&self, now_ms: u64, room: Room) -> Option<u64> {
        match &self.stage {
            Stage::Probing(probe) => probe
                .poll_timeout()
                .filter(|_| may_probe(probe, &self.probe_open, room)),
            Stage::Transferring(transfer) if room.start => transfer.poll_timeout(now_ms),
            Stage::Transferring(transfer) => transfer.poll_timeout_without_starts(now_ms),
            _ => None,
        }
    }

    /// Feeds what happened at `now_ms`.
    pub fn handle(&mut self, input: Input<'_>, now_ms: u64) {
        match input {
            Input::Head {
                id,
                status,
                headers,
                unix_ms,
            } => self.handle_head(id, status, headers, now_ms, unix_ms),
            Input::Body { id, data } => match &mut self.stage {
                Stage::Transferring(transfer) => transfer.handle_body(id, data, now_ms),
                _ => self.unexpected(id, "a body"),
            },
            Input::BodyEnd { id } => match &mut self.stage {
                Stage::Transferring(transfer) => transfer.handle_body_end(id, now_ms),
                _ => self.unexpected(id, "a body's end"),
            },
            Input::Failed { id, failure } => match &mut self.stage {
                Stage::Transferring(transfer) => transfer.handle_error(id, failure, now_ms),
                Stage::Probing(probe) if self.probe_open.contains(&id) => {
                    self.probe_open.retain(|&open| open != id);
                    probe.handle_error(id, failure, now_ms);
                }
                _ => self.unexpected(id, "a failure"),
            },
            Input::Saved => {
                if let (Some(save), Stage::Transferring(transfer)) =
                    (self.pending_save.take(), &mut self.stage)
                {
                    transfer.handle_saved(save, now_ms);
                }
            }
            Input::LocalFailure(failure) => {
                // A save that failed is over too: the transfer's last save
                // (or its end) must not wait for its answer.
                self.pending_save = None;
                self.local_failure(failure);
            }
            Input::Taken => self.reader_ready = true,
            Input::Located { meta, part_len } => self.located(meta, part_len, now_ms),
            Input::Standing(at) => self.standing(at),
            Input::Hashed(sha256) => self.hashed(sha256),
            Input::Locked { path } => self.locked(path),
            Input::Synced { len } => self.synced(len),
            Input::Published => self.published(),
            Input::PartCreated { replaced } => self.part_created(replaced, now_ms),
            Input::ReadBack(data) => self.read_back(data, now_ms),
        }
    }

    fn handle_head(
        &mut self,
        id: RequestId,
        status: u16,
        headers: &Headers,
        now_ms: u64,
        unix_ms: u64,
    ) {
        match &mut self.stage {
            Stage::Transferring(transfer) => {
                if status == 200 {
                    // Kept only for the rare answer that may be the whole
                    // object to a range request (see `whole_answer`).
                    self.whole_answer = Some((id, headers.clone()));
                }
                transfer.handle_head(id, status, headers, now_ms, unix_ms);
            }
            Stage::Probing(probe) if self.probe_open.contains(&id) => {
                probe.handle_head(id, status, headers.clone(), now_ms, unix_ms);
                if !probe.keeps(id) {
                    self.probe_open.retain(|&open| open != id);
                    self.outputs.push_back(Output::Close(id));
                }
            }
            _ => self.unexpected(id, "a head"),
        }
    }

    fn unexpected(&mut self, id: RequestId, what: &'static str) {
        self.outputs
            .push_back(Output::Event(Event::Unexpected { id, what }));
    }

    fn local_failure(&mut self, failure: Failure) {
        match &mut self.stage {
            Stage::Transferring(transfer) => transfer.handle_local_failure(failure),
            _ => self.fail(failure),
        }
    }

    /// The next thing to do at `now_ms`, with `room` in the budget.
    pub fn poll(&mut self, now_ms: u64, room: Room) -> Output {
        loop {
            if let Some(output) = self.outputs.pop_front() {
                return output;
            }
            if self.ended {
                return Output::Wait(None);
            }
            if let Some(output) = self.step(now_ms, room) {
                return output;
            }
            if !self.outputs.is_empty() {
                continue;
            }
            // Once per moment, when nothing else is to do: stalls are cut,
            // backoffs end.
            if let Stage::Transferring(transfer) = &mut self.stage {
                if self.ticked_ms != Some(now_ms) {
                    self.ticked_ms = Some(now_ms);
                    transfer.handle_timeout(now_ms);
                    continue;
                }
            }
            return Output::Wait(self.deadline(now_ms, room));
        }
    }

    /// One output of the current stage, or `None` (it may have queued
    /// some, or moved on).
    fn step(&mut self, now_ms: u64, room: Room) -> Option<Output> {
        let client = self.is_client();
        match &mut self.stage {
            Stage::Probing(probe) => {
                if let Some(event) = probe.poll_event() {
                    return Some(Output::Event(event));
                }
                if let Some(end) = probe.poll_end() {
                    self.next_id = probe.next_id();
                    self.probed(end, now_ms);
                    return None;
                }
                if !probe.wants_to_send(now_ms) || !may_probe(probe, &self.probe_open, room) {
                    return None;
                }
                let request = probe.poll_request(now_ms)?;
                self.probe_open.push(request.id);
                Some(Output::Send(request))
            }
            Stage::Transferring(transfer) => {
                if let Some(command) = transfer.poll_command() {
                    return Some(match command {
                        Command::Send(request) => Output::Send(request),
                        Command::Close { id, flush } => {
                            if let Some(range) = flush {
                                self.outputs.push_back(Output::Flush(range));
                            }
                            Output::Close(id)
                        }
                        Command::Flush(range) => Output::Flush(range),
                        Command::Truncate => Output::Truncate,
                    });
                }
                if room.start {
                    if let Some(request) = transfer.poll_start(now_ms) {
                        return Some(Output::Send(request));
                    }
                }
                if let Some(event) = transfer.poll_event() {
                    return Some(Output::Event(event));
                }
                if self.pending_save.is_none() {
                    if let Some(save) = transfer.poll_save(now_ms) {
                        self.pending_save = Some(save);
                        let json = transfer.to_meta(&self.spec.url).to_json();
                        return Some(Output::SaveMeta {
                            json,
                            sync_data: save.sync_data,
                            sync_meta: save.sync_meta,
                        });
                    }
                }
                if client && !self.responded && transfer.validated() {
                    self.responded = true;
                    if let Some(head) = self.answer_head.take() {
                        return Some(Output::Respond(Answer::Object(head)));
                    }
                }
                if self.reader_ready && (!client || self.responded) {
                    if let Some(piece) = transfer.poll_delivery() {
                        self.reader_ready = false;
                        self.delivered += piece.len() as u64;
                        return Some(Output::Deliver(piece));
                    }
                }
                let end = transfer.poll_end()?;
                self.transfer_ended(end, now_ms);
                None
            }
            Stage::Looking(_)
            | Stage::Locating(_)
            | Stage::Preparing(_)
            | Stage::Publishing(_)
            | Stage::Over => None,
        }
    }

    fn is_client(&self) -> bool {
        matches!(self.to, Destination::Client(_))
    }

    fn fail(&mut self, mut failure: Failure) {
        let sources = self.source_reports();
        if !sources.is_empty() {
            failure.sources = Some(Box::new(SourceReports(sources)));
        }
        // A client that has no answer yet gets one saying why.
        if let (Destination::Client(ask), false, false) = (&self.to, self.responded, self.ended) {
            self.responded = true;
            self.outputs
                .push_back(Output::Respond(ask.failed(&failure)));
        }
        self.finish(Ending::Failed(failure));
    }

    fn finish(&mut self, ending: Ending) {
        if self.ended {
            // What failed after the end (a meta that could not be
            // removed) does not change how it ended.
            return;
        }
        // Requests the probe left open are the pump's to drop.
        for id in self.probe_open.drain(..) {
            self.outputs.push_back(Output::Close(id));
        }
        self.outputs.push_back(Output::End(ending));
        self.stage = Stage::Over;
        self.ended = true;
    }

    /// The probe's end: the transfer, or what the destination makes of it.
    fn probed(&mut self, end: ProbeEnd, now_ms: u64) {
        let keep = match &end {
            ProbeEnd::Object { body, .. } => *body,
            _ => None,
        };
        for id in std::mem::take(&mut self.probe_open) {
            if Some(id) == keep {
                self.probe_open.push(id);
            } else {
                self.outputs.push_back(Output::Close(id));
            }
        }
        let probed = match end {
            ProbeEnd::Object {
                object,
                headers,
                body,
                first,
                round_trip_ms,
            } => {
                self.outputs.push_back(Output::Event(Event::RoundTrip {
                    url: object.url.clone(),
                    ms: round_trip_ms,
                }));
                Probed {
                    object,
                    headers,
                    body,
                    first,
                    round_trip_ms,
                }
            }
            ProbeEnd::NotModified if matches!(self.to, Destination::File(_)) => {
                return self.finish(Ending::Skipped(Skip::UpToDate))
            }
            ProbeEnd::NotModified => {
                // Only a file's probe sends a condition.
                let unasked = Reason::Status {
                    url: self.spec.url.clone(),
                    status: 304,
                };
                return self.fail(unasked.into());
            }
            ProbeEnd::Refused {
                status, headers, ..
            } if self.is_client() => {
                let Destination::Client(ask) = &self.to else {
                    unreachable!("a client's");
                };
                let answer = ask.origin_status(status, &headers);
                self.outputs.push_back(Output::Respond(answer));
                return self.finish(Ending::Answered);
            }
            ProbeEnd::Refused { failure, .. } | ProbeEnd::Failed(failure) => {
                if self.fail_over(&failure.reason, false) {
                    return;
                }
                return self.fail(failure);
            }
        };
        if let Some(reason) = self.size_refused(&probed.object) {
            if let Some(id) = probed.body {
                self.probe_open.retain(|&open| open != id);
                self.outputs.push_back(Output::Close(id));
            }
            if self.fail_over(&reason, false) {
                return;
            }
            return self.fail(reason.into());
        }
        if let Some(size) = probed.object.size {
            if let Err(reason) =
                check_max_filesize(&self.spec.url, size, self.spec.settings.max_filesize)
            {
                return self.fail(reason.into());
            }
        }
        self.origin_headers = probed.headers.clone();
        match &self.to {
            Destination::File(_) if !self.located => {
                self.outputs
                    .push_back(Output::Locate(probed.object.clone()));
                self.stage = Stage::Locating(probed);
            }
            // Started over: the `.part` and meta are gone already.
            Destination::File(_) => self.prepare(probed, None, None, now_ms),
            Destination::InOrder { .. } => self.stream(probed, now_ms),
            Destination::Client(_) => self.answer(probed, now_ms),
        }
    }

    /// A file's destination is this run's: `meta` and `part_len` are what
    /// a previous run left there.
    fn located(&mut self, meta: Option<Vec<u8>>, part_len: Option<u64>, now_ms: u64) {
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Locating(probed) if self.located => self.prepare(probed, meta, part_len, now_ms),
            // Unasked: a bug of the pump, without effect.
            other => self.stage = other,
        }
    }

    /// In order (a stream or a client): `span` by validated ranges (all
    /// of the object when not given), or one stream.
    fn stream_transfer(&mut self, probed: Probed, span: Option<ByteRange>, now_ms: u64) {
        let settings = self.settings(false);
        let chunk_size = match &self.to {
            Destination::Client(ask) => ask.slice,
            _ => crate::stream_out::stream_chunk_size(self.spec.chunk_size),
        };
        let window = chunk_size * settings.connections as u64;
        let ranged = match probed.object.transfer_mode() {
            TransferMode::Ranged { size } if !self.ranges_ignored => Some(size),
            _ => None,
        };
        let Some(size) = ranged else {
            if probed.object.accepts_ranges && !self.ranges_ignored {
                self.tell_ranges_ignored(&probed.object);
            }
            if let Destination::Client(ask) = &self.to {
                self.answer_head = Some(ask.whole_head(&self.origin_headers, &probed.object));
            }
            return self.one_stream(probed, Some(window), settings, now_ms);
        };
        let mut transfer = match (&self.to, span) {
            // Whole slices, whatever the client's range: a cache in front
            // of the origin can reuse them.
            (Destination::Client(ask), Some(span)) => Transfer::in_order_slices(
                probed.object.clone(),
                span,
                ask.slice,
                size,
                settings,
                now_ms,
            ),
            _ => {
                let span = ByteRange::from_len(0, size).expect("a ranged object is not empty");
                Transfer::in_order(probed.object.clone(), span, chunk_size, settings, now_ms)
            }
        };
        transfer.ids_from(self.next_id);
        transfer.origin_round_trip(probed.round_trip_ms);
        self.take_first_bytes(&mut transfer, &probed, now_ms);
        self.transferring(transfer);
    }

    /// The transfer goes on: with the run's `--max-speed`, and renewing
    /// links reached through redirects when they expire.
    fn transferring(&mut self, mut transfer: Transfer) {
        if let Some(limiter) = &self.spec.rate_limit {
            transfer.share_rate_limit(limiter.clone());
        }
        transfer.renews_links_from(&self.spec.url);
        self.stage = Stage::Transferring(transfer);
    }

    fn stream(&mut self, probed: Probed, now_ms: u64) {
        self.stream_transfer(probed, None, now_ms);
    }

    /// A client's answer: a 304, a 416, a HEAD's head, or the object (its
    /// head sent once an origin answer passed validation).
    fn answer(&mut self, probed: Probed, now_ms: u64) {
        let Destination::Client(ask) = &self.to else {
            unreachable!("a client's");
        };
        let ranges = !self.ranges_ignored;
        match ask.plan(&probed.headers, &probed.object, ranges) {
            client::Plan::Answer(answer) => {
                self.outputs.push_back(Output::Respond(answer));
                self.finish(Ending::Answered);
            }
            client::Plan::Whole => self.stream_transfer(probed, None, now_ms),
            client::Plan::Ranged { span, head } => {
                self.answer_head = Some(head);
                self.stream_transfer(probed, Some(span), now_ms);
            }
        }
    }

    /// The probe's answer carries the first bytes: a ranged transfer takes
    /// it as its first request; otherwise it is dropped.
    fn take_first_bytes(&mut self, transfer: &mut Transfer, probed: &Probed, now_ms: u64) {
        let Some(id) = probed.body else {
            return;
        };
        self.probe_open.retain(|&open| open != id);
        match probed.first {
            Some(range) if transfer.adopt(id, range, now_ms) => {
                transfer.handle_head(id, 206, &probed.headers, now_ms, 0);
            }
            _ => self.outputs.push_back(Output::Close(id)),
        }
    }

    /// One stream from byte 0: from the answer in hand whose body is the
    /// object, or a fresh GET. `window` bounds what waits for a reader.
    fn one_stream(&mut self, probed: Probed, window: Option<u64>, settings: Settings, now_ms: u64) {
        let adopted = probed.body;
        let status = probed.body_status();
        self.probe_open.retain(|&open| Some(open) != adopted);
        let mut transfer = Transfer::whole(probed.object, window, adopted, settings, now_ms);
        transfer.ids_from(self.next_id);
        if let Some(id) = adopted {
            transfer.handle_head(id, status, &probed.headers, now_ms, 0);
        }
        self.transferring(transfer);
    }

    fn settings(&self, file: bool) -> Settings {
        let mut settings = self.spec.settings.clone();
        settings.durable &= file;
        settings
    }

    fn notice(&mut self, notice: Notice) {
        self.outputs.push_back(Output::Notice(notice));
    }

    /// Tells that `object`'s server ignored a range: unless the range
    /// asked for covered the whole object (Apache answers such a range
    /// with a 200), when nothing was lost.
    fn tell_ranges_ignored(&mut self, object: &RemoteObject) {
        if object.size.is_some_and(|size| size <= self.probe_asked) {
            return;
        }
        let then = match self.to {
            Destination::File(_) => "continuing as a single stream",
            Destination::InOrder { .. } => "streaming that answer",
            Destination::Client(_) => "passing its whole answer on",
        };
        let url = object.url.clone();
        self.notice(Notice::RangesIgnored { url, then });
    }

    /// Whether nothing went out for good: a stop may then be recovered from.
    fn recallable(&self) -> bool {
        match self.to {
            Destination::File(_) => true,
            Destination::InOrder { .. } => self.delivered == 0,
            Destination::Client(_) => !self.responded,
        }
    }

    fn transfer_ended(&mut self, end: End, now_ms: u64) {
        let Stage::Transferring(transfer) = std::mem::replace(&mut self.stage, Stage::Over) else {
            unreachable!("a transfer ended");
        };
        self.next_id = transfer.next_id();
        let (stop, saved) = match end {
            End::Finished => {
                let mut stats = Stats {
                    final_url: transfer.object().url.clone(),
                    size: transfer.object().size.unwrap_or(self.delivered),
                    reused: transfer.reused_bytes(),
                    retries: transfer.retries(),
                    connections: transfer.connections_used() as u32,
                    sha256: None,
                    sources: Vec::new(),
                };
                self.failover.counted(&transfer, None);
                stats.sources = self.source_reports();
                if matches!(self.to, Destination::File(_)) {
                    return self.publish(stats, &transfer);
                }
                return self.finish(Ending::Finished(stats));
            }
            End::Stopped { stop, saved } => (stop, saved),
        };
        let failed = match &stop {
            Stop::Failed(failure) => Some(&failure.reason),
            _ => None,
        };
        self.failover.counted(&transfer, failed);
        if let Stop::Failed(failure) = &stop {
            // One source at a time: the next one takes over, from byte 0.
            let written = matches!(self.to, Destination::File(_));
            if transfer.source_reports().is_empty() && self.fail_over(&failure.reason, written) {
                return;
            }
        }
        if let (Stop::Failed(failure), Destination::File(target)) = (&stop, &self.to) {
            let failure = file::explain(failure.clone(), saved, &transfer, &target.path);
            if !transfer.saves_progress() {
                // One stream, which no run can resume (a `.part` without
                // a meta is never trusted): nothing of it is kept, as its
                // messages say (`--max-filesize`).
                self.outputs.push_back(Output::Discard);
            }
            return self.fail(failure);
        }
        let recallable = self.recallable();
        match self.starts.after_stop(&self.spec.url, stop, recallable) {
            AfterStop::StartOver(over) => {
                self.notice(Notice::StartingOver {
                    over,
                    to: self.to.clone(),
                });
                if matches!(self.to, Destination::File(_)) {
                    self.outputs.push_back(Output::Discard);
                }
                self.reprobe();
            }
            AfterStop::OneStreamFrom(id) => {
                self.tell_ranges_ignored(transfer.object());
                self.ranges_ignored = true;
                let headers = match self.whole_answer.take() {
                    Some((answered, headers)) if answered == id => headers,
                    _ => self.origin_headers.clone(),
                };
                let object = RemoteObject {
                    accepts_ranges: false,
                    ..transfer.object().clone()
                };
                self.probe_open.push(id);
                let probed = Probed {
                    object,
                    headers,
                    body: Some(id),
                    first: None,
                    // A single stream: no requests to size.
                    round_trip_ms: 0,
                };
                match self.to {
                    Destination::File(_) => self.prepare(probed, None, None, now_ms),
                    _ => self.stream(probed, now_ms),
                }
            }
            AfterStop::Fail(failure) => self.fail(failure),
        }
    }
}

/// Whether `probe` may send: a new request while the budget has room; the
/// spare slot for one that holds an answer among `open` (probes holding
/// every slot would otherwise wait on each other).
fn may_probe(probe: &Probe, open: &[RequestId], room: Room) -> bool {
    let holds = open.iter().any(|&id| probe.keeps(id));
    room.start || (holds && room.spare)
}
