//! Several sources of one object: chunks spread over them, a source
//! serving another version caught piece by piece and dropped, a dead one
//! dropped at once, and a record that claims only proven pieces.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::*;
use crate::pieces::{HashKind, PieceHashes};

const KIB: u64 = 1024;

fn byte_at(offset: u64) -> u8 {
    (offset * 31 % 251) as u8
}

/// Another version: the same size, other bytes from the middle on.
fn twin_byte_at(offset: u64, size: u64) -> u8 {
    if offset >= size / 2 {
        byte_at(offset) ^ 0x5a
    } else {
        byte_at(offset)
    }
}

fn object(url: &str, size: u64) -> RemoteObject {
    RemoteObject {
        url: url.into(),
        size: Some(size),
        etag: Some("\"e\"".into()),
        last_modified: None,
        accepts_ranges: true,
        content_disposition: None,
    }
}

fn pieces(size: u64, length: u64) -> Arc<PieceHashes> {
    let content: Vec<u8> = (0..size).map(byte_at).collect();
    let digests = content
        .chunks(length as usize)
        .map(|piece| Sha256::digest(piece).to_vec())
        .collect();
    Arc::new(PieceHashes {
        kind: HashKind::Sha256,
        length,
        digests,
    })
}

/// A file transfer from `urls` (the first one probed) in chunks of
/// `chunk`, checked by pieces of `piece`, `connections` requests at once
/// and `per_host` to one host.
fn mixed(
    size: u64,
    chunk: u64,
    piece: u64,
    connections: usize,
    per_host: usize,
    urls: &[&str],
) -> Transfer {
    let mut t = Transfer::to_file(object(urls[0], size), size, chunk, settings(connections), 0);
    t.check_pieces(pieces(size, piece));
    let others: Vec<String> = urls[1..].iter().map(|u| u.to_string()).collect();
    t.add_sources(urls[0], &others, per_host);
    t
}

fn settings(connections: usize) -> Settings {
    Settings {
        connections,
        ..Settings::default()
    }
}

/// What each source does with a request.
#[derive(Clone, Copy, PartialEq)]
enum Server {
    Good,
    Twin,
    Dead,
    /// Good, at a sixty-fourth of the others' speed.
    Slow,
}

struct Run {
    t: Transfer,
    size: u64,
    servers: BTreeMap<String, Server>,
    open: BTreeMap<RequestId, Request>,
    file: Vec<u8>,
    events: Vec<Event>,
    /// Body bytes each URL sent.
    sent: BTreeMap<String, u64>,
    now: u64,
}

impl Run {
    fn new(t: Transfer, size: u64, servers: &[(&str, Server)]) -> Run {
        Run {
            t,
            size,
            servers: servers.iter().map(|(u, s)| (u.to_string(), *s)).collect(),
            open: BTreeMap::new(),
            file: vec![0; size as usize],
            events: Vec::new(),
            sent: BTreeMap::new(),
            now: 0,
        }
    }

    /// Answers everything until the transfer ends, `step` bytes at a time;
    /// `stop_after` cuts the run short after that many turns.
    fn run(&mut self, step: u64, stop_after: usize) -> Option<End> {
        for _ in 0..stop_after {
            while let Some(c) = self
                .t
                .poll_command()
                .or_else(|| self.t.poll_start(self.now).map(Command::Send))
            {
                match c {
                    Command::Send(r) => {
                        self.open.insert(r.id, r);
                    }
                    Command::Close { id, .. } => {
                        self.open.remove(&id);
                    }
                    Command::Flush(_) => {}
                    Command::Truncate => unreachable!(),
                }
            }
            while let Some(e) = self.t.poll_event() {
                self.events.push(e);
            }
            if let Some(save) = self.t.poll_save(self.now) {
                self.t.handle_saved(save, self.now);
            }
            if let Some(end) = self.t.poll_end() {
                return Some(end);
            }
            let ids: Vec<RequestId> = self.open.keys().copied().collect();
            for id in ids {
                let Some(request) = self.open.get(&id).cloned() else {
                    continue;
                };
                let server = self.servers[&request.url];
                if server == Server::Dead {
                    let failure = RequestFailure::NoConnection("refused".into());
                    self.t.handle_error(id, failure, self.now);
                    continue;
                }
                if self.t.body_window(id, self.now).is_none() {
                    let range = request.range.unwrap();
                    let headers = Headers::from_pairs([
                        (
                            "Content-Range".to_string(),
                            format!("bytes {}-{}/{}", range.start(), range.end(), self.size),
                        ),
                        ("Content-Length".to_string(), range.len().to_string()),
                        ("ETag".to_string(), "\"e\"".to_string()),
                    ]);
                    self.t.handle_head(id, 206, &headers, self.now, 0);
                }
                let Some(window) = self.t.body_window(id, self.now) else {
                    continue;
                };
                let step = if server == Server::Slow {
                    step / 64
                } else {
                    step
                };
                let len = step.min(window.len);
                let data: Vec<u8> = (window.offset..window.offset + len)
                    .map(|at| match server {
                        Server::Twin => twin_byte_at(at, self.size),
                        _ => byte_at(at),
                    })
                    .collect();
                self.file[window.offset as usize..(window.offset + len) as usize]
                    .copy_from_slice(&data);
                *self.sent.entry(request.url.clone()).or_default() += len;
                self.t.handle_body(id, data, self.now);
            }
            self.now += 1;
        }
        None
    }
}

#[test]
fn sources_are_mixed_a_twin_is_caught_by_its_pieces_and_a_dead_one_dropped_at_once() {
    let size = 3000 * KIB + 17;
    let t = mixed(
        size,
        256 * KIB,
        64 * KIB,
        4,
        4,
        &["http://a/f", "http://b/f", "http://c/f"],
    );
    let servers = [
        ("http://a/f", Server::Good),
        ("http://b/f", Server::Twin),
        ("http://c/f", Server::Dead),
    ];
    let mut run = Run::new(t, size, &servers);
    assert_eq!(run.run(16 * KIB, 100_000), Some(End::Finished));
    let expected: Vec<u8> = (0..size).map(byte_at).collect();
    assert!(run.file == expected, "byte-exact");
    let dropped: Vec<(&str, &str)> = run
        .events
        .iter()
        .filter_map(|e| match e {
            Event::SourceDropped { url, reason, .. } => Some((url.as_str(), reason.code())),
            _ => None,
        })
        .collect();
    assert!(
        dropped.contains(&("http://c/f", "unreachable")),
        "{dropped:?}"
    );
    assert!(
        dropped.contains(&("http://b/f", "piece-mismatch")),
        "{dropped:?}"
    );
    let reports = run.t.source_reports();
    assert_eq!(reports.len(), 3);
    // Every byte came from one of them; some of the twin's were refetched.
    assert!(reports.iter().map(|r| r.bytes).sum::<u64>() > size);
    assert_eq!(reports[2].bytes, 0);
    assert!(reports[1].dropped.as_deref().unwrap().contains("piece"));
    // The twin served its first half honestly: those bytes were kept.
    assert!(run.sent["http://b/f"] > 0);
}

#[test]
fn good_sources_share_the_work() {
    let size = 4096 * KIB;
    let t = mixed(
        size,
        256 * KIB,
        256 * KIB,
        4,
        4,
        &["http://a/f", "http://b/f", "http://c/f"],
    );
    let servers = [
        ("http://a/f", Server::Good),
        ("http://b/f", Server::Good),
        ("http://c/f", Server::Good),
    ];
    let mut run = Run::new(t, size, &servers);
    assert_eq!(run.run(32 * KIB, 100_000), Some(End::Finished));
    for url in ["http://a/f", "http://b/f", "http://c/f"] {
        assert!(
            run.sent.get(url).copied().unwrap_or(0) >= 256 * KIB,
            "{url}: {:?}",
            run.sent
        );
    }
    let timing_from = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Timing { from: Some(_), .. }))
        .count();
    assert!(timing_from > 0, "-v names the source of each range");
}

#[test]
fn the_record_claims_only_proven_pieces_and_names_them() {
    let size = 1024 * KIB;
    let t = mixed(
        size,
        400 * KIB,
        100 * KIB,
        1,
        1,
        &["http://a/f", "http://b/f"],
    );
    let servers = [("http://a/f", Server::Good), ("http://b/f", Server::Good)];
    let mut run = Run::new(t, size, &servers);
    // A few turns: part-way into a piece.
    assert_eq!(run.run(30 * KIB, 9), None);
    let meta = run.t.to_meta("http://a/f");
    assert_eq!(
        meta.sources,
        vec!["http://a/f".to_string(), "http://b/f".to_string()]
    );
    assert!(meta
        .pieces
        .as_deref()
        .unwrap()
        .starts_with("sha-256:102400:"));
    for chunk in &meta.chunks {
        if let crate::meta::SavedChunk::Pending { received, .. } = chunk.state {
            let end = chunk.start + received;
            assert!(end % (100 * KIB) == 0 || received == 0, "{chunk:?}");
        }
    }
    assert!(meta.chunks.iter().any(
        |c| matches!(c.state, crate::meta::SavedChunk::Pending { received, .. } if received > 0)
    ));
}

#[test]
fn the_last_source_serving_another_version_stops_the_transfer() {
    let size = 512 * KIB;
    let mut t = Transfer::to_file(object("http://b/f", size), size, 512 * KIB, settings(2), 0);
    t.check_pieces(pieces(size, 64 * KIB));
    let mut run = Run::new(t, size, &[("http://b/f", Server::Twin)]);
    let end = run.run(64 * KIB, 10_000).expect("it ends");
    let End::Stopped {
        stop: Stop::Failed(failure),
        ..
    } = end
    else {
        panic!("{end:?}")
    };
    assert_eq!(failure.reason.code(), "piece-mismatch");
    assert!(failure.to_string().contains("piece 4"), "{failure}");
}

#[test]
fn a_host_gets_at_most_its_share_of_requests_however_many_sources_it_serves() {
    let size = 4096 * KIB;
    let mut t = mixed(
        size,
        256 * KIB,
        256 * KIB,
        6,
        2,
        &["http://a/f", "http://a/g", "http://b/f"],
    );
    let mut sent = Vec::new();
    while let Some(request) = t.poll_start(0) {
        sent.push(request.url);
    }
    let on_a = sent.iter().filter(|u| u.starts_with("http://a/")).count();
    let on_b = sent.iter().filter(|u| u.starts_with("http://b/")).count();
    assert_eq!((on_a, on_b), (2, 2), "{sent:?}");
}

#[test]
fn a_request_crawling_from_a_slow_source_is_taken_over_by_a_fast_one() {
    let size = 8 * 1024 * KIB;
    let t = mixed(
        size,
        1024 * KIB,
        256 * KIB,
        4,
        4,
        &["http://a/f", "http://b/f", "http://c/f"],
    );
    let servers = [
        ("http://a/f", Server::Slow),
        ("http://b/f", Server::Good),
        ("http://c/f", Server::Good),
    ];
    let mut run = Run::new(t, size, &servers);
    assert_eq!(run.run(16 * KIB, 100_000), Some(End::Finished));
    let expected: Vec<u8> = (0..size).map(byte_at).collect();
    assert!(run.file == expected, "byte-exact");
    // Alone, the slow source's first request (1 MiB at 256 bytes a
    // millisecond) would take 4 s: it is cut once measured (after 1 s).
    assert!(run.now < 1500, "took {} ms", run.now);
    let reports = run.t.source_reports();
    assert!(
        reports[0].dropped.is_none(),
        "slow is not wrong: {reports:?}"
    );
    assert!(reports[0].bytes < 512 * KIB, "{reports:?}");
}

#[test]
fn a_slow_probe_answer_is_taken_over_too() {
    let size = 16 * 1024 * KIB;
    let mut t = mixed(
        size,
        6 * 1024 * KIB,
        1024 * KIB,
        4,
        4,
        &["http://a/f", "http://b/f", "http://c/f"],
    );
    let first = ByteRange::from_len(0, 1024 * KIB).unwrap();
    assert!(t.adopt(RequestId(1), first, 0));
    let headers = Headers::from_pairs([
        (
            "Content-Range".to_string(),
            format!("bytes 0-{}/{size}", first.end()),
        ),
        ("Content-Length".to_string(), first.len().to_string()),
        ("ETag".to_string(), "\"e\"".to_string()),
    ]);
    t.handle_head(RequestId(1), 206, &headers, 0, 0);
    let servers = [
        ("http://a/f", Server::Slow),
        ("http://b/f", Server::Good),
        ("http://c/f", Server::Good),
    ];
    let mut run = Run::new(t, size, &servers);
    run.open.insert(
        RequestId(1),
        Request::range_of(
            RequestId(1),
            &object("http://a/f", size),
            "http://a/f",
            first,
        ),
    );
    assert_eq!(run.run(16 * KIB, 100_000), Some(End::Finished));
    assert!(run.now < 1500, "took {} ms", run.now);
}
