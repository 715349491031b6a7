//! The engine driven by a simulated server: requests answered, cut,
//! stalled or faked at will, the clock moved by hand.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::meta::SavedChunk;
use crate::retry::RetryPolicy;

const MIB: u64 = 1 << 20;

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

fn settings(connections: usize, max_retries: u32) -> Settings {
    Settings {
        connections,
        rules: RequestRules {
            retry: RetryPolicy {
                max_retries,
                ..RetryPolicy::default()
            },
            ..RequestRules::default()
        },
        ..Settings::default()
    }
}

/// Deterministic object content.
fn content(size: u64) -> Vec<u8> {
    (0..size).map(byte_at).collect()
}

fn byte_at(offset: u64) -> u8 {
    (offset * 31 % 251) as u8
}

fn partial(range: ByteRange, size: u64) -> Headers {
    Headers::from_pairs([
        (
            "Content-Range".to_string(),
            format!("bytes {}-{}/{size}", range.start(), range.end()),
        ),
        ("Content-Length".to_string(), range.len().to_string()),
        ("ETag".to_string(), "\"e\"".to_string()),
    ])
}

/// The driver's side: requests sent and not closed, and a file.
struct Sim {
    t: Transfer,
    size: u64,
    now: u64,
    /// Open requests: where each one's body has got to.
    open: BTreeMap<RequestId, Request>,
    file: Vec<u8>,
    /// How many times each byte was written.
    writes: Vec<u8>,
    delivered: Vec<u8>,
    flushed: Vec<ByteRange>,
}

impl Sim {
    fn new(t: Transfer, size: u64) -> Sim {
        Sim {
            t,
            size,
            now: 0,
            open: BTreeMap::new(),
            file: vec![0; size as usize],
            writes: vec![0; size as usize],
            delivered: Vec::new(),
            flushed: Vec::new(),
        }
    }

    /// Step 1 of the contract (with deliveries, which may open the window
    /// for more): returns the requests sent.
    fn commands(&mut self) -> Vec<RequestId> {
        let mut sent = Vec::new();
        loop {
            self.commands_once(&mut sent);
            let mut delivered = false;
            while let Some(piece) = self.t.poll_delivery() {
                self.delivered.extend(piece);
                delivered = true;
            }
            if !delivered {
                return sent;
            }
        }
    }

    fn commands_once(&mut self, sent: &mut Vec<RequestId>) {
        while let Some(command) = self
            .t
            .poll_command()
            .or_else(|| self.t.poll_start(self.now).map(Command::Send))
        {
            match command {
                Command::Send(request) => {
                    sent.push(request.id);
                    assert!(self.open.insert(request.id, request).is_none());
                }
                Command::Close { id, flush } => {
                    assert!(self.open.remove(&id).is_some(), "closed twice");
                    self.flushed.extend(flush);
                }
                Command::Flush(range) => self.flushed.push(range),
                Command::Truncate => self.file.iter_mut().for_each(|b| *b = 0),
            }
        }
    }

    /// Answers request `id` with a proper 206.
    fn head_ok(&mut self, id: RequestId) {
        let range = self.open[&id].range.unwrap();
        self.t
            .handle_head(id, 206, &partial(range, self.size), self.now, 0);
    }

    /// Sends up to `len` bytes of request `id`'s body, as the window allows.
    fn body(&mut self, id: RequestId, len: u64) -> u64 {
        let window = self.t.body_window(id, self.now).expect("reading this body");
        let len = len.min(window.len);
        let data: Vec<u8> = (window.offset..window.offset + len).map(byte_at).collect();
        for (i, b) in data.iter().enumerate() {
            let at = window.offset as usize + i;
            self.file[at] = *b;
            self.writes[at] += 1;
        }
        self.t.handle_body(id, data, self.now);
        len
    }

    /// Waits (saving as asked) until a request is sent.
    fn next_send(&mut self) -> RequestId {
        loop {
            if let Some(save) = self.t.poll_save(self.now) {
                self.t.handle_saved(save, self.now);
            }
            if let Some(&id) = self.commands().first() {
                return id;
            }
            self.now = self.t.poll_timeout(self.now).expect("something is due");
        }
    }

    /// Answers every open request in full, until the transfer ends.
    fn run_to_end(&mut self) -> End {
        for _ in 0..100_000 {
            self.commands();
            if let Some(save) = self.t.poll_save(self.now) {
                self.t.handle_saved(save, self.now);
            }
            if let Some(end) = self.t.poll_end() {
                return end;
            }
            let ids: Vec<RequestId> = self.open.keys().copied().collect();
            if ids.is_empty() {
                self.now = self.t.poll_timeout(self.now).unwrap_or(self.now + 1);
                continue;
            }
            for id in ids {
                if !self.open.contains_key(&id) {
                    continue;
                }
                if self.t.body_window(id, self.now).is_none() {
                    self.head_ok(id);
                }
                if self.t.body_window(id, self.now).is_some() {
                    self.body(id, 256 * 1024);
                }
            }
            self.now += 1;
        }
        panic!("the transfer never ended");
    }
}

#[test]
fn a_file_download_writes_every_byte_once_and_records_it() {
    let size = 5 * MIB + 3;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, 2 * MIB, settings(4, 2), 0),
        size,
    );
    assert_eq!(sim.run_to_end(), End::Finished);
    assert!(sim.file == content(size));
    assert!(sim.writes.iter().all(|&w| w == 1));
    let meta = sim.t.to_meta("http://h/f");
    assert!(meta
        .chunks
        .iter()
        .all(|c| matches!(c.state, SavedChunk::Done { .. })));
    assert!(MetaFile::parse(&meta.to_json()).is_ok());
    // Every finished request was handed to the disk.
    assert_eq!(sim.flushed.iter().map(ByteRange::len).sum::<u64>(), size);
}

#[test]
fn a_large_request_hands_its_bytes_to_the_disk_as_they_come() {
    // A far origin: one 16 MiB request per chunk. The final sync must not
    // find a whole request's bytes waiting, so they go in 2 MiB spans.
    let size = 32 * MIB;
    let mut t = Transfer::to_file(object(size), size, 16 * MIB, settings(2, 2), 0);
    t.origin_round_trip(100);
    let mut sim = Sim::new(t, size);
    assert_eq!(sim.run_to_end(), End::Finished);
    let mut spans = sim.flushed.clone();
    spans.sort_by_key(ByteRange::start);
    assert_eq!(spans.len(), 16, "{spans:?}");
    assert!(spans.iter().all(|s| s.len() == 2 * MIB), "{spans:?}");
    assert!(
        spans.windows(2).all(|w| w[1].start() == w[0].end() + 1),
        "each byte once: {spans:?}"
    );
}

#[test]
fn a_probe_answer_carrying_the_first_bytes_is_the_first_request() {
    let size = 5 * MIB;
    let t = Transfer::to_file(object(size), size, 4 * MIB, settings(2, 2), 0);
    let mut sim = Sim::new(t, size);
    let first = ByteRange::from_len(0, 2 * MIB).unwrap();
    let probe_id = RequestId(1);
    assert!(sim.t.adopt(probe_id, first, 0));
    sim.open.insert(
        probe_id,
        Request::range_of(probe_id, &object(size), "http://h/f", first),
    );
    sim.head_ok(probe_id);
    sim.body(probe_id, 2 * MIB);
    // The chunk continues past it; the other chunk starts; ids stay unique.
    let sent = sim.commands();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|id| id.0 > 1));
    assert_eq!(sim.run_to_end(), End::Finished);
    assert!(sim.writes.iter().all(|&w| w == 1));
    // Nothing to take over in a chunk that has started.
    let mut t = Transfer::to_file(object(size), size, MIB, settings(2, 2), 0);
    assert!(
        !t.adopt(RequestId(1), first, 0),
        "does not fit a 1 MiB chunk"
    );
    assert!(t.adopt(RequestId(1), ByteRange::from_len(0, MIB).unwrap(), 0));
}

#[test]
fn a_file_that_comes_whole_in_the_probe_answer_keeps_no_record_unless_it_is_slow() {
    let size = 4000;
    let whole = ByteRange::from_len(0, size).unwrap();
    let start = || {
        let mut t = Transfer::to_file(object(size), size, MIB, settings(2, 2), 0);
        assert!(t.adopt(RequestId(1), whole, 0));
        assert!(t.saves_progress() && t.defers_record());
        let mut sim = Sim::new(t, size);
        let request = Request::range_of(RequestId(1), &object(size), "http://h/f", whole);
        sim.open.insert(RequestId(1), request);
        sim
    };
    let mut sim = start();
    sim.head_ok(RequestId(1));
    sim.body(RequestId(1), size);
    assert_eq!(sim.t.poll_save(sim.now), None);
    assert_eq!(sim.run_to_end(), End::Finished);
    assert!(sim.file == content(size));
    // A local failure ends it at once: no record to keep, no final save.
    let mut sim = start();
    sim.t
        .handle_local_failure(Failure::from(Reason::Destination("disk full".into())));
    sim.commands();
    assert_eq!(sim.t.poll_save(sim.now), None);
    assert!(matches!(
        sim.t.poll_end(),
        Some(End::Stopped { saved: false, .. })
    ));
    // A slow one is recorded once it has taken longer than that.
    let mut sim = start();
    sim.head_ok(RequestId(1));
    sim.body(RequestId(1), size / 2);
    assert_eq!(sim.t.poll_save(sim.now), None);
    sim.now += UNRECORDED_MS;
    assert!(sim.t.poll_save(sim.now).is_some(), "recorded after a while");
    // A larger one keeps its progress from the start.
    let size = UNRECORDED_MAX + 1;
    let mut t = Transfer::to_file(object(size), size, 2 * MIB, settings(2, 2), 0);
    assert!(t.adopt(RequestId(1), ByteRange::from_len(0, size).unwrap(), 0));
    assert!(t.saves_progress() && !t.defers_record());
}

#[test]
fn a_stop_whose_last_save_fails_still_ends() {
    // A finished chunk not yet recorded, then the lock is lost: the last
    // save is refused too (the meta is no longer this run's to write), and
    // the transfer must end all the same, keeping the previous save.
    let size = 2 * MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(2, 2), 0),
        size,
    );
    let first = sim.commands()[0];
    sim.head_ok(first);
    sim.body(first, MIB);
    let lost = || {
        Failure::from(Reason::LockLost {
            lock: "f.part.lock".into(),
        })
    };
    sim.t.handle_local_failure(lost());
    sim.commands();
    let save = sim.t.poll_save(sim.now).expect("a last save is asked for");
    assert_eq!(save.kind, SaveKind::Durable);
    sim.t.handle_local_failure(lost());
    assert!(matches!(
        sim.t.poll_end(),
        Some(End::Stopped { saved: false, .. })
    ));
}

#[test]
fn a_chunk_larger_than_a_request_takes_several_requests_each_bounded() {
    let size = 5 * MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, size, settings(1, 2), 0),
        size,
    );
    let first = sim.commands()[0];
    assert_eq!(sim.open[&first].range, ByteRange::from_len(0, 2 * MIB));
    assert_eq!(
        sim.open[&first].if_range.as_deref(),
        Some("\"e\""),
        "If-Range on every range"
    );
    sim.head_ok(first);
    // A body that runs on past its range: the window never lets it.
    assert_eq!(sim.body(first, 3 * MIB), 2 * MIB);
    let second = sim.commands();
    assert_eq!(second.len(), 1, "the same chunk, next request");
    assert_eq!(
        sim.open[&second[0]].range,
        ByteRange::from_len(2 * MIB, 2 * MIB)
    );
}

#[test]
fn requests_grow_when_every_round_trip_is_slow() {
    let size = 16 * MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, size, settings(1, 2), 0),
        size,
    );
    let first = sim.commands()[0];
    sim.now = 60;
    sim.head_ok(first);
    sim.now = 160;
    sim.body(first, 2 * MIB);
    let next = sim.commands()[0];
    assert_eq!(sim.open[&next].range, ByteRange::from_len(2 * MIB, 4 * MIB));
    assert!(matches!(
        sim.t.poll_event(),
        Some(Event::Timing {
            wait_ms: 60,
            body_ms: 100,
            ..
        })
    ));
}

#[test]
fn an_idle_connection_takes_the_back_half_of_a_busy_chunk() {
    let size = 8 * MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, size, settings(4, 2), 0),
        size,
    );
    let ranges: Vec<ByteRange> = sim
        .commands()
        .iter()
        .map(|id| sim.open[id].range.unwrap())
        .collect();
    assert_eq!(
        ranges,
        [
            ByteRange::from_len(0, 2 * MIB).unwrap(),
            ByteRange::from_len(4 * MIB, 2 * MIB).unwrap(),
            ByteRange::from_len(6 * MIB, 2 * MIB).unwrap(),
            ByteRange::from_len(2 * MIB, 2 * MIB).unwrap(),
        ]
    );
    let meta = sim.t.to_meta("u");
    let starts: Vec<u64> = meta.chunks.iter().map(|c| c.start / MIB).collect();
    assert_eq!(starts, [0, 2, 4, 6], "the meta lists chunks in file order");
}

#[test]
fn a_short_body_continues_inside_its_chunk_and_progress_spares_the_budget() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 1), 0),
        size,
    );
    let mut id = sim.commands()[0];
    // One retry allowed, but attempts that made progress do not use it up.
    for cut in 1..=3 {
        sim.head_ok(id);
        sim.body(id, 1000);
        sim.t.handle_body_end(id, sim.now);
        assert!(matches!(
            sim.t.poll_event(),
            Some(Event::Retrying { retry: 1, .. })
        ));
        id = sim.next_send();
        assert_eq!(sim.open[&id].range, ByteRange::new(cut * 1000, MIB - 1));
    }
}

#[test]
fn gives_up_after_the_retry_budget_without_progress_and_saves() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    for _ in 0..3 {
        let id = sim.commands()[0];
        sim.t.handle_head(id, 500, &Headers::new(), sim.now, 0);
        sim.now = sim.t.poll_timeout(sim.now).unwrap_or(sim.now);
    }
    sim.commands();
    let save = sim
        .t
        .poll_save(sim.now)
        .expect("progress is saved before the end");
    assert_eq!(save.kind, SaveKind::Durable);
    assert!(sim.t.poll_end().is_none(), "not before the save");
    sim.t.handle_saved(save, sim.now);
    match sim.t.poll_end() {
        Some(End::Stopped {
            stop: Stop::Failed(failure),
            saved: true,
        }) => {
            assert_eq!(failure.reason.code(), "gave-up");
            assert_eq!(failure.reason.root().code(), "status");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retry_after_is_obeyed() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    let id = sim.commands()[0];
    sim.now = 100;
    let busy = Headers::from_pairs([("Retry-After", "2")]);
    sim.t.handle_head(id, 503, &busy, sim.now, 0);
    sim.commands();
    assert_eq!(sim.t.poll_timeout(sim.now), Some(2_100));
    sim.now = 2_099;
    assert!(sim.commands().is_empty());
    sim.now = 2_100;
    assert_eq!(sim.commands().len(), 1);
}

#[test]
fn silent_and_trickling_requests_are_cut_fast_ones_are_not() {
    let size = 3 * MIB;
    let mut s = settings(3, 5);
    s.stall = StallRule {
        timeout_ms: 1000,
        min_bytes: 5,
    };
    let mut sim = Sim::new(Transfer::to_file(object(size), size, MIB, s, 0), size);
    let ids = sim.commands();
    for &id in &ids[..2] {
        sim.head_ok(id);
    }
    sim.body(ids[0], 6);
    sim.body(ids[1], 1);
    sim.t.handle_timeout(999);
    assert_eq!(sim.commands().len(), 0);
    sim.t.handle_timeout(1000);
    sim.now = 1000;
    sim.commands();
    assert_eq!(sim.open.len(), 1, "the trickle and the silent one were cut");
    let reasons: Vec<String> = std::iter::from_fn(|| sim.t.poll_event())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("less than 5 B received in 1 s")),
        "{reasons:?}"
    );
}

#[test]
fn a_redirect_is_followed_for_the_same_bytes_and_bounded() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    let mut id = sim.commands()[0];
    for hop in 0..=crate::redirect::MAX_REDIRECTS {
        let moved = Headers::from_pairs([("Location", format!("/f{hop}"))]);
        sim.t.handle_head(id, 302, &moved, sim.now, 0);
        let sent = sim.commands();
        if hop == crate::redirect::MAX_REDIRECTS {
            assert!(sent.is_empty());
            break;
        }
        id = sent[0];
        assert_eq!(sim.open[&id].url, format!("http://h/f{hop}"));
        assert_eq!(sim.open[&id].range, ByteRange::new(0, MIB - 1));
    }
    match sim.t.poll_end() {
        Some(End::Stopped {
            stop: Stop::Failed(f),
            ..
        }) => assert_eq!(f.reason.code(), "too-many-redirects"),
        None => {
            let save = sim.t.poll_save(sim.now).unwrap();
            sim.t.handle_saved(save, sim.now);
            assert!(matches!(sim.t.poll_end(), Some(End::Stopped { .. })));
        }
        other => panic!("{other:?}"),
    }
}

/// A transfer of the object at `http://h/link1`, reached from `http://h/f`.
fn behind_a_link(size: u64, connections: usize) -> Sim {
    let mut linked = object(size);
    linked.url = "http://h/link1".into();
    let mut t = Transfer::to_file(linked, size, MIB, settings(connections, 2), 0);
    t.renews_links_from("http://h/f");
    Sim::new(t, size)
}

#[test]
fn an_expired_link_is_renewed_through_the_requested_url_once_for_all() {
    let size = 4 * MIB;
    let mut sim = behind_a_link(size, 2);
    let sent = sim.commands();
    assert_eq!(sim.open[&sent[0]].url, "http://h/link1");
    // Both requests find the link expired: one renewal, one warning, no retry used.
    for id in sent {
        sim.t.handle_head(id, 403, &Headers::default(), sim.now, 0);
    }
    let events: Vec<Event> = std::iter::from_fn(|| sim.t.poll_event()).collect();
    assert!(
        matches!(&events[..], [Event::LinkExpired { requested, .. }] if requested == "http://h/f")
    );
    let sent = sim.commands();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|id| sim.open[id].url == "http://h/f"));
    // The first to land a fresh link hands it to the requests after it.
    let moved = Headers::from_pairs([("Location", "/link2")]);
    sim.t.handle_head(sent[0], 302, &moved, sim.now, 0);
    let fresh = sim.commands()[0];
    sim.head_ok(fresh);
    assert_eq!(sim.t.object().url, "http://h/link2");
    assert_eq!(sim.t.retries(), 0);
    assert_eq!(sim.run_to_end(), End::Finished);
    assert!(sim.file == content(size));
}

#[test]
fn a_fresh_link_refused_at_once_stops_the_transfer_saying_so() {
    let mut sim = behind_a_link(2 * MIB, 1);
    let id = sim.commands()[0];
    sim.t.handle_head(id, 410, &Headers::default(), sim.now, 0);
    let id = sim.commands()[0];
    let moved = Headers::from_pairs([("Location", "/link2")]);
    sim.t.handle_head(id, 302, &moved, sim.now, 0);
    let id = sim.commands()[0];
    sim.t.handle_head(id, 403, &Headers::default(), sim.now, 0);
    // A stopped file closes its requests and saves its progress, then ends.
    sim.commands();
    if let Some(save) = sim.t.poll_save(sim.now) {
        sim.t.handle_saved(save, sim.now);
    }
    match sim.t.poll_end() {
        Some(End::Stopped {
            stop: Stop::Failed(f),
            ..
        }) => {
            assert_eq!(f.reason.code(), "link-expired");
            assert!(f.to_string().contains("refused at once"), "{f}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_requested_url_itself_refused_is_final_and_a_server_error_is_no_expiry() {
    let mut sim = behind_a_link(2 * MIB, 1);
    let id = sim.commands()[0];
    // A 503 of the link is a fault of the server for now: a retry, same link.
    sim.t.handle_head(id, 503, &Headers::default(), sim.now, 0);
    let id = sim.next_send();
    assert_eq!(sim.open[&id].url, "http://h/link1");
    assert_eq!(sim.t.retries(), 1);
    // Without redirects there is no link to renew: a 403 is final.
    let mut direct = Sim::new(
        Transfer::to_file(object(MIB), MIB, MIB, settings(1, 2), 0),
        MIB,
    );
    direct.t.renews_links_from("http://h/f");
    let id = direct.commands()[0];
    direct
        .t
        .handle_head(id, 403, &Headers::default(), direct.now, 0);
    assert!(direct.t.poll_event().is_none());
    assert!(direct.commands().is_empty());
}

#[test]
fn a_changed_object_stops_the_transfer_and_a_whole_answer_is_handed_over() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    let id = sim.commands()[0];
    let changed = Headers::from_pairs([("Content-Length", "1048576"), ("ETag", "\"v2\"")]);
    sim.t.handle_head(id, 200, &changed, 0, 0);
    sim.commands();
    assert!(matches!(
        sim.t.poll_end(),
        Some(End::Stopped {
            stop: Stop::Changed(RemoteChange::Etag { .. }),
            saved: false
        })
    ));

    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    let id = sim.commands()[0];
    let whole = Headers::from_pairs([("Content-Length", "1048576"), ("ETag", "\"e\"")]);
    sim.t.handle_head(id, 200, &whole, 0, 0);
    assert!(sim.t.poll_command().is_none(), "that request is not closed");
    assert_eq!(
        sim.t.poll_end(),
        Some(End::Stopped {
            stop: Stop::RangesIgnored { id },
            saved: false
        })
    );
}

/// Resumes from `meta`, verifying the claims against `disk`.
fn resume_against(meta: &MetaFile, disk: &[u8]) -> Transfer {
    let (mut t, claims) = Transfer::resume_file(object(meta.size), meta, settings(4, 2), 0);
    for claim in &claims {
        t.verify_claim(
            claim,
            &disk[claim.range.start() as usize..=claim.range.end() as usize],
        );
        t.finish_verification(claim);
    }
    t
}

#[test]
fn resume_keeps_only_what_the_disk_proves() {
    let size = 3 * MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(2, 2), 0),
        size,
    );
    let ids = sim.commands();
    sim.head_ok(ids[0]);
    sim.head_ok(ids[1]);
    sim.body(ids[0], MIB);
    sim.body(ids[1], 1000);
    let meta = sim.t.to_meta("http://h/f");

    let resumed = resume_against(&meta, &sim.file);
    assert_eq!(resumed.reused_bytes(), MIB + 1000);
    let mut sim2 = Sim::new(resumed, size);
    let ranges: Vec<ByteRange> = sim2
        .commands()
        .iter()
        .map(|id| sim2.open[id].range.unwrap())
        .collect();
    assert_eq!(ranges[0], ByteRange::new(MIB + 1000, 2 * MIB - 1).unwrap());

    // A torn write (power loss) in the finished chunk: only it is refetched.
    let mut torn = sim.file.clone();
    torn[3] ^= 0xFF;
    let resumed = resume_against(&meta, &torn);
    assert_eq!(resumed.reused_bytes(), 1000);
}

#[test]
fn a_resumed_partial_chunk_finishes_with_the_digest_of_the_whole_chunk() {
    let size = MIB;
    let mut sim = Sim::new(
        Transfer::to_file(object(size), size, MIB, settings(1, 2), 0),
        size,
    );
    let id = sim.commands()[0];
    sim.head_ok(id);
    sim.body(id, 4000);
    let mut sim2 = Sim::new(resume_against(&sim.t.to_meta("u"), &sim.file), size);
    sim2.file = sim.file.clone();
    assert_eq!(sim2.run_to_end(), End::Finished);
    let expected = xxhash_rust::xxh3::xxh3_128(&content(size));
    assert_eq!(
        sim2.t.to_meta("u").chunks[0].state,
        SavedChunk::Done {
            xxh3: crate::meta::digest_hex(expected)
        }
    );
}

#[test]
fn in_order_no_chunk_starts_beyond_the_window_and_bytes_leave_in_order() {
    let span = ByteRange::new(0, 99).unwrap();
    let mut s = settings(3, 2);
    s.durable = false;
    let mut sim = Sim::new(Transfer::in_order(object(100), span, 10, s, 0), 100);
    let ids = sim.commands();
    assert_eq!(ids.len(), 3);
    // Chunks 1 and 2 finishing does not open the window: 0 holds it.
    for &id in &ids[1..] {
        sim.head_ok(id);
        sim.body(id, 10);
    }
    assert!(sim.commands().is_empty());
    assert!(sim.delivered.is_empty());
    sim.head_ok(ids[0]);
    sim.body(ids[0], 10);
    let next = sim.commands();
    assert_eq!(sim.delivered, content(30));
    assert_eq!(next.len(), 3);
    assert_eq!(sim.open[&next[0]].range, ByteRange::new(30, 39));
    assert!(sim.t.validated());
}

#[test]
fn one_stream_to_a_file_restarts_from_zero_and_checks_its_length() {
    let size = 1000;
    let mut sim = Sim::new(
        Transfer::whole(object(size), None, None, settings(4, 2), 0),
        size,
    );
    let id = sim.commands()[0];
    assert_eq!(
        (sim.open[&id].range, sim.open[&id].if_range.clone()),
        (None, None)
    );
    let whole = Headers::from_pairs([("Content-Length", "1000"), ("ETag", "\"e\"")]);
    sim.t.handle_head(id, 200, &whole, 0, 0);
    sim.body(id, 400);
    sim.t.handle_body_end(id, 0);
    // Short: it starts over from byte 0 after a backoff.
    let mut commands = Vec::new();
    while let Some(c) = sim.t.poll_command() {
        commands.push(c);
    }
    assert_eq!(
        commands,
        [Command::Close { id, flush: None }, Command::Truncate]
    );
    sim.open.clear();
    assert!(matches!(sim.t.poll_event(), Some(Event::Restarting { .. })));
    sim.now = sim.t.poll_timeout(0).unwrap();
    let id = sim.commands()[0];
    // Chunked this time: the length the probe announced still holds.
    let chunked = Headers::from_pairs([("ETag", "\"e\"")]);
    sim.t.handle_head(id, 200, &chunked, sim.now, 0);
    assert_eq!(sim.t.body_window(id, sim.now).unwrap().len, 1001);
    sim.body(id, 1000);
    sim.t.handle_body_end(id, sim.now);
    sim.commands();
    assert_eq!(sim.t.poll_end(), Some(End::Finished));
}

#[test]
fn one_stream_running_past_its_length_fails() {
    let mut sim = Sim::new(
        Transfer::whole(object(10), None, None, settings(1, 0), 0),
        100,
    );
    let id = sim.commands()[0];
    sim.t.handle_head(id, 200, &Headers::new(), 0, 0);
    sim.body(id, 11);
    sim.commands();
    match sim.t.poll_end() {
        Some(End::Stopped {
            stop: Stop::Failed(f),
            ..
        }) => assert_eq!(f.reason.root().code(), "ran-past"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn max_speed_bounds_what_may_be_read() {
    let size = 4 * MIB;
    let mut s = settings(1, 2);
    s.max_speed = Some(MIB);
    let mut sim = Sim::new(Transfer::to_file(object(size), size, size, s, 0), size);
    let id = sim.commands()[0];
    sim.head_ok(id);
    assert_eq!(sim.body(id, MIB), MIB / 10, "a tenth of a second's burst");
    assert_eq!(sim.t.body_window(id, 0).unwrap().len, 0);
    let at = sim.t.poll_timeout(0).unwrap();
    assert!(at > 0 && at <= 2, "{at}");
}

proptest! {
    // Megabytes per case: fewer cases keep this quick.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever order bytes arrive and failures happen in, a file download
    /// completes with every byte written exactly once, and the meta parses
    /// at every step.
    #[test]
    fn every_byte_is_written_exactly_once(
        size_kib in 1u64..(6 << 10),
        chunk_kib in 4u64..(3 << 10),
        steps in proptest::collection::vec((any::<u8>(), 1u64..1536, 0u8..30), 1..200),
    ) {
        const KIB: u64 = 1 << 10;
        let size = size_kib * KIB;
        // As a real plan would choose it: never more than 1024 chunks.
        let chunk_size = crate::plan::chunk_size_for(size, Some(chunk_kib * KIB), 4, 0);
        let t = Transfer::to_file(object(size), size, chunk_size, settings(4, u32::MAX), 0);
        let mut sim = Sim::new(t, size);
        for (pick, n_kib, fault) in steps.into_iter().cycle().take(1_000) {
            sim.now += 1;
            sim.commands();
            if let Some(save) = sim.t.poll_save(sim.now) {
                sim.t.handle_saved(save, sim.now);
            }
            if sim.t.poll_end().is_some() { break; }
            let ids: Vec<RequestId> = sim.open.keys().copied().collect();
            if ids.is_empty() {
                sim.now = sim.t.poll_timeout(sim.now).unwrap_or(sim.now);
                continue;
            }
            let id = ids[pick as usize % ids.len()];
            match fault {
                0 => sim.t.handle_error(id, RequestFailure::Broken("reset".into()), sim.now),
                1 if sim.t.body_window(id, sim.now).is_some() => sim.t.handle_body_end(id, sim.now),
                _ => {
                    if sim.t.body_window(id, sim.now).is_none() { sim.head_ok(id); }
                    sim.body(id, n_kib * KIB);
                }
            }
            let meta = MetaFile::parse(&sim.t.to_meta("u").to_json());
            prop_assert!(meta.is_ok(), "{:?}", meta.err());
        }
        sim.run_to_end();
        prop_assert!(sim.writes.iter().all(|&w| w == 1), "a byte written twice or never");
        prop_assert!(sim.file == content(size));
    }

    /// Whole slices (the proxy): every request asks for one whole aligned
    /// slice (a retry continues where an answer broke off), and the client
    /// gets exactly its span, in order, the bytes outside it dropped.
    #[test]
    fn slices_are_whole_and_aligned_and_the_client_gets_exactly_its_span(
        size in 1u64..2000,
        from in 0u64..2000,
        len in 1u64..2000,
        slice in 1u64..300,
        window in 1usize..5,
        steps in proptest::collection::vec((any::<u8>(), 1u64..200, 0u8..8), 0..200),
    ) {
        let start = from % size;
        let len = len.min(size - start);
        let span = ByteRange::from_len(start, len).unwrap();
        let t = Transfer::in_order_slices(object(size), span, slice, size, settings(window, u32::MAX), 0);
        let mut sim = Sim::new(t, size);
        let mut cut: Vec<RequestId> = Vec::new();
        for (pick, n, fault) in steps {
            sim.now += 1;
            for id in sim.commands() {
                let range = sim.open[&id].range.unwrap();
                let whole_slice = range.start().is_multiple_of(slice)
                    && range.end() + 1 == (range.start() + slice).min(size);
                // A retry of a cut answer continues inside its slice.
                let continued = !range.start().is_multiple_of(slice)
                    && range.end() + 1 == (range.start() / slice * slice + slice).min(size);
                prop_assert!(whole_slice || (continued && !cut.is_empty()), "{range:?} of slices of {slice}");
            }
            let ids: Vec<RequestId> = sim.open.keys().copied().collect();
            if ids.is_empty() { sim.now = sim.t.poll_timeout(sim.now).unwrap_or(sim.now); continue; }
            let id = ids[pick as usize % ids.len()];
            if fault == 0 {
                sim.t.handle_error(id, RequestFailure::Broken("cut".into()), sim.now);
                cut.push(id);
            } else {
                if sim.t.body_window(id, sim.now).is_none() { sim.head_ok(id); }
                sim.body(id, n);
            }
        }
        prop_assert_eq!(sim.run_to_end(), End::Finished);
        prop_assert_eq!(sim.delivered, (start..start + len).map(byte_at).collect::<Vec<u8>>());
    }

    /// In order: whatever arrives when, the reader gets the span exactly,
    /// in order, and the buffer never holds more than the window.
    #[test]
    fn bytes_are_delivered_in_order_exactly_once_within_the_memory_bound(
        start in 0u64..1000,
        len in 1u64..400,
        chunk_size in 1u64..64,
        window in 1usize..6,
        steps in proptest::collection::vec((any::<u8>(), 1u64..80, 0u8..8), 0..300),
    ) {
        let size = start + len;
        let span = ByteRange::from_len(start, len).unwrap();
        let t = Transfer::in_order(object(size), span, chunk_size, settings(window, u32::MAX), 0);
        let mut sim = Sim::new(t, size);
        for (pick, n, fault) in steps {
            sim.now += 1;
            sim.commands();
            prop_assert!(sim.t.buffered_bytes() <= window as u64 * chunk_size);
            prop_assert!(sim.open.len() <= window);
            let ids: Vec<RequestId> = sim.open.keys().copied().collect();
            if ids.is_empty() { sim.now = sim.t.poll_timeout(sim.now).unwrap_or(sim.now); continue; }
            let id = ids[pick as usize % ids.len()];
            if fault == 0 {
                sim.t.handle_error(id, RequestFailure::Broken("cut".into()), sim.now);
            } else {
                if sim.t.body_window(id, sim.now).is_none() { sim.head_ok(id); }
                sim.body(id, n);
            }
        }
        prop_assert_eq!(sim.run_to_end(), End::Finished);
        prop_assert_eq!(sim.delivered, (start..start + len).map(byte_at).collect::<Vec<u8>>());
    }
}
