//! The fetch's contract, driven by hand: what goes out, in which order,
//! and what a stop leads to for each destination.

use super::*;
use crate::request::Method;

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
            output => outputs.push(output),
        }
    }
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

#[test]
fn a_file_whose_meta_is_for_another_object_starts_clean_saying_why() {
    let to = Destination::File {
        path: "d/f".into(),
        probe_bytes: 50,
        if_modified_since: None,
    };
    let mut fetch = Fetch::new(spec(), to);
    let probe = sent(&drain(&mut fetch, 0));
    answer(&mut fetch, &probe[0], "\"a\"");
    let outputs = drain(&mut fetch, 0);
    assert!(matches!(&outputs[..], [Output::Locate(object)] if object.size == Some(SIZE)));
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
