//! The fetch's contract, driven by hand: what goes out, in which order,
//! and what a stop leads to for each destination.

use super::*;
use crate::batch::ExistingRules;
use crate::request::{Method, RequestFailure};

const SIZE: u64 = 100;

fn spec() -> Spec {
    Spec {
        url: "http://h/f".into(),
        settings: Settings {
            connections: 2,
            durable: false,
            seed: 7,
            ..Settings::default()
        },
        chunk_size: Some(50),
        free_space: None,
        rate_limit: None,
        mirrors: Default::default(),
    }
}

/// A 206 for `range` of version `etag`.
fn partial(range: ByteRange, etag: &str) -> Headers {
    Headers::from_pairs([
        (
            "content-range",
            format!("bytes {}-{}/{SIZE}", range.start(), range.end()).as_str(),
        ),
        ("content-length", range.len().to_string().as_str()),
        ("etag", etag),
    ])
}

/// Every output until the fetch waits or ends.
fn drain(fetch: &mut Fetch, now_ms: u64) -> Vec<Output> {
    let mut outputs = Vec::new();
    loop {
        match fetch.poll(now_ms, Room::UNLIMITED) {
            Output::Wait(_) => return outputs,
            end @ Output::End(_) => {
                outputs.push(end);
                return outputs;
            }
            // A `-v` line, after every probe (see the test below).
            Output::Event(Event::RoundTrip { .. }) => {}
            output => outputs.push(output),
        }
    }
}

#[test]
fn a_probe_tells_its_round_trip_for_verbose_output() {
    let mut fetch = Fetch::new(spec(), Destination::InOrder { name: "-".into() });
    let probe = sent(&drain(&mut fetch, 0));
    answer(&mut fetch, &probe[0], "\"a\"");
    let told = std::iter::from_fn(|| match fetch.poll(0, Room::UNLIMITED) {
        Output::Wait(_) | Output::End(_) => None,
        output => Some(output),
    })
    .find_map(|output| match output {
        Output::Event(Event::RoundTrip { url, .. }) => Some(url),
        _ => None,
    });
    assert_eq!(told.as_deref(), Some(probe[0].url.as_str()));
}

fn sent(outputs: &[Output]) -> Vec<Request> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(request) => Some(request.clone()),
            _ => None,
        })
        .collect()
}

/// Answers `request` with a 206 of version `etag`.
fn answer(fetch: &mut Fetch, request: &Request, etag: &str) {
    let range = request.range.expect("a range request");
    let headers = partial(range, etag);
    let head = Input::Head {
        id: request.id,
        status: 206,
        headers: &headers,
        unix_ms: 0,
    };
    fetch.handle(head, 0);
}

#[test]
fn a_stream_starts_over_when_the_object_changes_before_a_byte_went_out() {
    let to = Destination::InOrder {
        name: "stdout".into(),
    };
    let mut fetch = Fetch::new(spec(), to);
    let probe = sent(&drain(&mut fetch, 0));
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].method, Method::Get);
    answer(&mut fetch, &probe[0], "\"a\"");
    // The probe's answer is chunk 0's; the next chunk goes out.
    let chunks = sent(&drain(&mut fetch, 0));
    assert!(!chunks.is_empty());
    assert!(chunks.iter().all(|r| r.id > probe[0].id), "ids go on");
    // Another version answers: nothing went out yet, so it starts over.
    answer(&mut fetch, &chunks[0], "\"b\"");
    let outputs = drain(&mut fetch, 0);
    assert!(
        outputs.iter().any(|o| matches!(o,
            Output::Notice(n @ Notice::StartingOver { .. })
                if n.to_string().contains("no byte of it had gone out"))),
        "{outputs:?}"
    );
    let again = sent(&outputs);
    assert_eq!(again.len(), 1, "a new probe: {outputs:?}");
    assert!(again[0].id > chunks[0].id);
}

#[test]
fn a_client_gets_its_range_only_after_an_origin_answer_passed_validation() {
    let ask = ClientAsk {
        range: Some("bytes=10-19".into()),
        slice: 50,
        path: "/f".into(),
        ..ClientAsk::default()
    };
    let mut fetch = Fetch::new(spec(), Destination::Client(ask));
    let probe = sent(&drain(&mut fetch, 0));
    assert_eq!(probe[0].range, ByteRange::from_len(0, 1), "one byte");
    answer(&mut fetch, &probe[0], "\"a\"");
    let outputs = drain(&mut fetch, 0);
    assert!(!outputs.iter().any(|o| matches!(o, Output::Respond(_))));
    // One whole slice, whatever the range asked: a cache can reuse it.
    let slices = sent(&outputs);
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0].range, ByteRange::from_len(0, 50));
    answer(&mut fetch, &slices[0], "\"a\"");
    let outputs = drain(&mut fetch, 0);
    let Some(Output::Respond(Answer::Object(head))) = outputs.first() else {
        panic!("{outputs:?}");
    };
    assert_eq!(head.status, 206);
    assert!(head
        .headers
        .contains(&("content-range".into(), "bytes 10-19/100".into())));
    // The slice's bytes: only the ten asked for are delivered.
    fetch.handle(
        Input::Body {
            id: slices[0].id,
            data: (0..50).collect(),
        },
        0,
    );
    let outputs = drain(&mut fetch, 0);
    let delivered: Vec<&Output> = outputs
        .iter()
        .filter(|o| matches!(o, Output::Deliver(_)))
        .collect();
    assert_eq!(
        delivered,
        [&Output::Deliver((10..20).collect())],
        "{outputs:?}"
    );
}

#[test]
fn a_client_copy_that_is_current_gets_a_304_without_a_transfer() {
    let ask = ClientAsk {
        if_none_match: Some("\"a\"".into()),
        slice: 50,
        path: "/f".into(),
        ..ClientAsk::default()
    };
    let mut fetch = Fetch::new(spec(), Destination::Client(ask));
    let probe = sent(&drain(&mut fetch, 0));
    answer(&mut fetch, &probe[0], "\"a\"");
    let outputs = drain(&mut fetch, 0);
    assert!(sent(&outputs).is_empty());
    assert!(
        matches!(
            &outputs[..],
            [Output::Close(_), Output::Respond(Answer::Short { head, .. }), Output::End(Ending::Answered)]
                if head.status == 304
        ),
        "{outputs:?}"
    );
}

#[test]
fn a_client_whose_origin_cannot_be_reached_gets_a_502_naming_the_reason() {
    let ask = ClientAsk {
        slice: 50,
        path: "/f".into(),
        ..ClientAsk::default()
    };
    let mut fetch = Fetch::new(spec(), Destination::Client(ask));
    let probe = sent(&drain(&mut fetch, 0));
    let failure = RequestFailure::NoConnection("connection refused".into());
    fetch.handle(
        Input::Failed {
            id: probe[0].id,
            failure,
        },
        0,
    );
    let outputs = drain(&mut fetch, 0);
    let [Output::Respond(Answer::Short { head, text }), Output::End(Ending::Failed(_))] =
        &outputs[..]
    else {
        panic!("{outputs:?}");
    };
    assert_eq!(head.status, 502);
    assert_eq!(
        head.headers,
        [("rangeget-reason".into(), "unreachable".into())]
    );
    assert!(text.as_deref().unwrap().contains("could not fetch /f"));
}

#[test]
fn an_input_for_a_request_the_fetch_does_not_have_is_reported() {
    let mut fetch = Fetch::new(spec(), Destination::InOrder { name: "x".into() });
    let _ = drain(&mut fetch, 0);
    fetch.handle(
        Input::Body {
            id: RequestId(99),
            data: vec![1],
        },
        0,
    );
    assert_eq!(
        drain(&mut fetch, 0),
        [Output::Event(Event::Unexpected {
            id: RequestId(99),
            what: "a body"
        })]
    );
}

/// A file's target at `d/f`: a single download, nothing to compare.
fn file_target() -> Destination {
    Destination::File(FileTarget {
        path: "d/f".into(),
        rules: ExistingRules {
            batch: false,
            force: false,
            timestamping: false,
        },
        checksum: None,
        report_sha256: false,
        remote_time: true,
        given_up: None,
    })
}

/// A file's fetch with its probe answered, up to its [`Output::Locate`].
fn located_file() -> (Fetch, Request) {
    let mut fetch = Fetch::new(spec(), file_target());
    assert_eq!(drain(&mut fetch, 0), [Output::Look { progress: true }]);
    fetch.handle(Input::Standing(AtDestination::default()), 0);
    let probe = sent(&drain(&mut fetch, 0));
    assert_eq!(
        probe[0].range,
        ByteRange::from_len(0, 50),
        "chunk 0's start"
    );
    answer(&mut fetch, &probe[0], "\"a\"");
    let outputs = drain(&mut fetch, 0);
    assert!(matches!(&outputs[..], [Output::Locate(object)] if object.size == Some(SIZE)));
    fetch.handle(Input::Locked { path: "d/f".into() }, 0);
    assert_eq!(drain(&mut fetch, 0), [Output::Look { progress: false }]);
    fetch.handle(Input::Standing(AtDestination::default()), 0);
    assert_eq!(drain(&mut fetch, 0), [Output::OpenProgress]);
    (fetch, probe[0].clone())
}

#[test]
fn a_file_whose_meta_is_for_another_object_starts_clean_saying_why() {
    let (mut fetch, _) = located_file();
    fetch.handle(
        Input::Located {
            meta: Some(b"not json".to_vec()),
            part_len: Some(3),
        },
        0,
    );
    let outputs = drain(&mut fetch, 0);
    let told: Vec<String> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Notice(n) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        told.iter().any(|t| t.starts_with("ignoring d/f.part.meta")),
        "{told:?}"
    );
    assert_eq!(
        outputs[outputs.len() - 2..],
        [Output::RemoveMeta, Output::CreatePart { size: Some(SIZE) }]
    );
    fetch.handle(Input::PartCreated { replaced: true }, 0);
    // The probe's answer is the first request: nothing is asked twice.
    let outputs = drain(&mut fetch, 0);
    assert!(sent(&outputs)
        .iter()
        .all(|r| r.range.is_some_and(|range| range.start() >= 50)));
}

/// No previous run's progress at a located file: a fresh `.part`.
fn start_fresh(fetch: &mut Fetch) {
    fetch.handle(
        Input::Located {
            meta: None,
            part_len: None,
        },
        0,
    );
    let _ = drain(fetch, 0);
    fetch.handle(Input::PartCreated { replaced: false }, 0);
}

/// A file's fetch with every byte in its `.part`, at its
/// [`Output::Finish`]; `checksum` is what the file must have.
fn finished_file(checksum: Option<&str>) -> Fetch {
    let (mut fetch, probe) = located_file();
    if let Destination::File(target) = &mut fetch.to {
        target.checksum = checksum.map(str::to_string);
    }
    start_fresh(&mut fetch);
    // The probe's answer has its head already; the others get theirs.
    let mut pending = vec![(probe, true)];
    for _ in 0..100 {
        let Some((request, answered)) = pending.pop() else {
            let outputs = drain(&mut fetch, 0);
            if outputs.contains(&Output::Finish { sync: false }) {
                return fetch;
            }
            for output in &outputs {
                if let Output::SaveMeta { .. } = output {
                    fetch.handle(Input::Saved, 0);
                }
            }
            pending.extend(sent(&outputs).into_iter().map(|r| (r, false)));
            continue;
        };
        if !answered {
            answer(&mut fetch, &request, "\"a\"");
        }
        let len = request.range.expect("a range").len() as usize;
        let id = request.id;
        fetch.handle(
            Input::Body {
                id,
                data: vec![0; len],
            },
            0,
        );
        fetch.handle(Input::BodyEnd { id }, 0);
    }
    panic!("the transfer never finished");
}

#[test]
fn a_file_is_named_only_once_its_length_and_checksum_hold() {
    // One byte short: not named.
    let mut short = finished_file(None);
    short.handle(Input::Synced { len: SIZE - 1 }, 0);
    let outputs = drain(&mut short, 0);
    assert!(
        matches!(&outputs[..], [Output::End(Ending::Failed(f))] if f.reason.code() == "part-length"),
        "{outputs:?}"
    );
    // Another digest: the `.part` is kept, its meta dropped, the file not named.
    let mut other = finished_file(Some("ab"));
    other.handle(Input::Synced { len: SIZE }, 0);
    assert_eq!(drain(&mut other, 0), [Output::Hash { part: true }]);
    other.handle(Input::Hashed("cd".into()), 0);
    let outputs = drain(&mut other, 0);
    assert!(
        matches!(&outputs[..], [Output::RemoveMeta, Output::End(Ending::Failed(f))]
            if f.reason.code() == "checksum"),
        "{outputs:?}"
    );
    // The digest expected: named with the server's time, then done.
    let mut good = finished_file(Some("ab"));
    good.handle(Input::Synced { len: SIZE }, 0);
    let _ = drain(&mut good, 0);
    good.handle(Input::Hashed("ab".into()), 0);
    let outputs = drain(&mut good, 0);
    assert!(
        matches!(&outputs[..], [Output::Publish(p)] if !p.replace && !p.sync_dir),
        "{outputs:?}"
    );
    good.handle(Input::Published, 0);
    let outputs = drain(&mut good, 0);
    assert!(
        matches!(&outputs[..], [Output::End(Ending::Finished(stats))]
            if stats.size == SIZE && stats.sha256.as_deref() == Some("ab")),
        "{outputs:?}"
    );
}

#[test]
fn a_save_that_fails_ends_the_file_with_that_failure_instead_of_waiting() {
    let (mut fetch, probe) = located_file();
    start_fresh(&mut fetch);
    let _ = drain(&mut fetch, 0);
    let body = |fetch: &mut Fetch, len: usize, now: u64| {
        let data = vec![0; len];
        fetch.handle(Input::Body { id: probe.id, data }, now);
    };
    // Progress, recorded a moment later; then more, not recorded yet.
    body(&mut fetch, 20, 0);
    let outputs = drain(&mut fetch, 1_000);
    assert!(
        outputs.iter().any(|o| matches!(o, Output::SaveMeta { .. })),
        "{outputs:?}"
    );
    fetch.handle(Input::Saved, 1_000);
    body(&mut fetch, 10, 1_000);
    // The disk is full: a write fails, then the last save the stopping
    // transfer asks for. Time goes on, as while a pump waits: the file
    // ends, and nothing more is saved (or asked again and again).
    let full = Failure::from(Reason::Io {
        operation: "write".into(),
        path: "d/f.part".into(),
        error: crate::failure::IoError::NoSpace,
    });
    fetch.handle(Input::LocalFailure(full.clone()), 1_000);
    for step in 1..=5 {
        let now = 1_000 + step * 100;
        let outputs = drain(&mut fetch, now);
        if let Some(Output::End(ending)) = outputs.last() {
            assert!(
                matches!(ending, Ending::Failed(f) if f.reason.code() == "io"),
                "{ending:?}"
            );
            assert_eq!(step, 2, "the last save, once");
            return;
        }
        assert!(
            outputs.iter().any(|o| matches!(o, Output::SaveMeta { .. })),
            "{outputs:?}"
        );
        fetch.handle(Input::LocalFailure(full.clone()), now);
    }
    panic!("the fetch never ended: it keeps asking to save");
}

#[test]
fn a_complete_file_with_the_expected_checksum_is_skipped_before_any_request() {
    let mut fetch = Fetch::new(spec(), file_target());
    if let Destination::File(target) = &mut fetch.to {
        target.checksum = Some("ab".into());
    }
    let _ = drain(&mut fetch, 0);
    let at = AtDestination {
        file_exists: true,
        file: Some((SIZE, Some(1))),
        ..AtDestination::default()
    };
    fetch.handle(Input::Standing(at), 0);
    assert_eq!(drain(&mut fetch, 0), [Output::Hash { part: false }]);
    fetch.handle(Input::Hashed("ab".into()), 0);
    assert_eq!(
        drain(&mut fetch, 0),
        [Output::End(Ending::Skipped(
            crate::batch::Skip::ChecksumMatches
        ))]
    );
}
